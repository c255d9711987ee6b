package cuda

import (
	"os"
	"regexp"
	"slices"
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
		for name, n := range map[string]int{"fwd": attnFwdShared(d), "dq": attnDqShared(d), "dkv": attnDkvShared(d)} {
			if n > maxShared {
				t.Errorf("k_attn_%s_t at D=%d asks for %d bytes of shared memory, more than %d", name, d, n, maxShared)
			}
		}
	}
}
