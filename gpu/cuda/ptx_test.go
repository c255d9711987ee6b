package cuda

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// The committed PTX defines exactly the kernels the device loads, and the device launches no
// kernel it does not load (a kernel missing from the PTX would fail only on a GPU, in New).
func TestPTXKernels(t *testing.T) {
	var entries []string
	for _, m := range regexp.MustCompile(`\.entry (k_\w+)\(`).FindAllStringSubmatch(kernelsPTX, -1) {
		entries = append(entries, m[1])
	}
	if len(entries) == 0 {
		t.Fatal("no kernel in kernels.ptx")
	}
	for _, n := range kernelNames {
		if !slices.Contains(entries, n) {
			t.Errorf("kernel %s is loaded but not in kernels.ptx (run make ptx)", n)
		}
	}
	for _, e := range entries {
		if !slices.Contains(kernelNames, e) {
			t.Errorf("kernel %s is in kernels.ptx but not in kernelNames", e)
		}
	}
	src, err := os.ReadFile("kernels.go")
	if err != nil {
		t.Fatal(err)
	}
	launched := regexp.MustCompile(`"(k_\w+)"`).FindAllStringSubmatch(string(src), -1)
	if len(launched) < 20 {
		t.Fatalf("found %d kernel names in kernels.go", len(launched))
	}
	for _, m := range launched {
		if !slices.Contains(kernelNames, m[1]) {
			t.Errorf("kernels.go launches %s, which New does not load", m[1])
		}
	}
}

// The tiled attention kernels fit the shared memory every card gives without opting in, for every
// head dimension they take (a bigger tile would fail to launch on a GPU, not in the CPU emulation).
func TestAttentionSharedFits(t *testing.T) {
	for d := 1; d <= attnMaxD; d++ {
		for name, n := range map[string]int{"fwd_t": attnFwdShared(d), "dq_t": attnDqShared(d), "dkv_t": attnDkvShared(d),
			"dq_r": attnDqSharedR(d), "dkv_r": attnDkvSharedR(d)} {
			if n > maxShared {
				t.Errorf("k_attn_%s at D=%d asks for %d bytes of shared memory, more than %d", name, d, n, maxShared)
			}
		}
	}
}

// The forward keeps its rows' scores (k_attn_fwd_c) exactly when they fit beside its tiles and the
// head dimension is a multiple of 4: T up to 625 at D = 32, 529 at D = 64. For other head
// dimensions k_attn_fwd_t keeps them where they fit (T up to 687 at D = 5). Whether the sizes cover
// what the kernels touch is the emulation's check: it fails a kernel that writes past them.
func TestAttentionForwardCache(t *testing.T) {
	for _, c := range []struct {
		D, T   int
		cached bool
	}{{32, 256, true}, {32, 625, true}, {32, 626, false}, {64, 529, true}, {64, 530, false}, {16, 600, true}, {8, 4096, false},
		{5, 256, false}, {30, 64, false}} {
		n, cached := attnFwdCached(c.D, c.T)
		if cached != c.cached || cached != (n <= maxShared && c.D%attnVec == 0) {
			t.Errorf("attnFwdCached(D=%d, T=%d) = %d bytes, cached %v; want cached %v, within %d bytes", c.D, c.T, n, cached, c.cached, maxShared)
		}
	}
	for _, c := range []struct {
		D, T   int
		cached bool
	}{{5, 687, true}, {5, 688, false}, {30, 256, true}, {63, 4096, false}} {
		if n, cached := attnFwdWalks(c.D, c.T); cached != c.cached || cached != (n <= maxShared) {
			t.Errorf("attnFwdWalks(D=%d, T=%d) = %d bytes, cached %v; want cached %v", c.D, c.T, n, cached, c.cached)
		}
	}
}

// Every floating-point instruction of the PTX is correctly rounded: no approximate (.approx) or
// flush-to-zero (.ftz) form, whose bits the PTX specification leaves to the card. The kernels'
// transcendentals are our own (kernels.cu "math"), so class cuda-v1 means the same bits on every
// card and driver.
func TestPTXNoApprox(t *testing.T) {
	for _, m := range regexp.MustCompile(`(?m)^\s*([a-z0-9]+(\.[a-z0-9]+)*\.(approx|ftz)(\.[a-z0-9]+)*)\s`).FindAllStringSubmatch(kernelsPTX, -1) {
		t.Errorf("kernels.ptx has %s: use the correctly rounded operations (kernels.cu \"math\")", m[1])
	}
	if !regexp.MustCompile(`\bfma\.rn\.f32\b`).MatchString(kernelsPTX) || !regexp.MustCompile(`\bdiv\.rn\.f32\b`).MatchString(kernelsPTX) {
		t.Error("kernels.ptx has no fma.rn.f32 or div.rn.f32: the check above reads the wrong file")
	}
}

// The launch constants the Go side uses are the ones kernels.cu defines.
func TestGeometryMatchesKernels(t *testing.T) {
	src, err := os.ReadFile("kernels.cu")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"RED": redBlock, "LR": rowsPerBlock, "MAXN": maxState, "SUMSQ_BLOCK": sumSqBlock, "ATT": attnTile, "AFQ": attnRows, "ATT_MAXD": attnMaxD, "ATT_PAD": attnPad,
		"STAGED": stagedBlock, "CHAIN_COLS": chainCols} {
		m := regexp.MustCompile(`(?m)^#define ` + name + ` (\d+)`).FindSubmatch(src)
		if m == nil {
			t.Errorf("kernels.cu does not define %s", name)
			continue
		}
		if got, _ := strconv.Atoi(string(m[1])); got != want {
			t.Errorf("kernels.cu defines %s %d, the Go side uses %d", name, got, want)
		}
	}
}
