//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/gpu/devicetest"
)

// These tests run on a GPU (build tag cuda: scripts/gpu-check.sh) and on the host emulation of the
// kernels (build tag cudaemu: make cuda-emu), the device's own launches either way.

// open opens device 0: the GPU, or the emulated device.
func open(t *testing.T) *Device {
	t.Helper()
	d, err := New(0)
	if err != nil {
		t.Fatalf("open cuda device: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	t.Logf("device: %s", d.Name())
	return d
}

// TestAgainstCPU runs every kernel on the device and on the CPU device with the same inputs and
// requires the same bits: every kernel has the CPU device's arithmetic and order (docs/gpu.md).
func TestAgainstCPU(t *testing.T) {
	compareCPU(t, false)
}

// TestReferenceAgainstCPU: the reference kernels (SetReferenceKernels) too.
func TestReferenceAgainstCPU(t *testing.T) {
	compareCPU(t, true)
}

func compareCPU(t *testing.T, reference bool) {
	c, err := cpu.New(2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := open(t)
	d.SetReferenceKernels(reference)
	devicetest.Compare(t, d, c, devicetest.Exact)
}

// TestMatMulTilesAgainstCPU launches every matmul tile (mmTiles) through the device, each with its
// own grid and thread count, on shapes that are not multiples of any tile, for every transpose and
// accumulate flag, and requires the CPU device's bits: the launch geometry as well as the kernels.
func TestMatMulTilesAgainstCPU(t *testing.T) {
	c, err := cpu.New(2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := open(t)
	for _, s := range []struct{ m, n, k int }{{37, 45, 29}, {130, 70, 67}, {3, 1, 5}} {
		for flags := range 8 {
			ta, tb, acc := flags&1 != 0, flags&2 != 0, flags&4 != 0
			seed := uint64(flags) * 3
			cc := randomBuffer(t, c, s.m*s.n, seed)
			c.MatMul(cc, randomBuffer(t, c, s.m*s.k, seed+1), randomBuffer(t, c, s.k*s.n, seed+2), s.m, s.n, s.k, ta, tb, acc)
			want := downloadBits(t, c, cc)
			a, b := randomBuffer(t, d, s.m*s.k, seed+1), randomBuffer(t, d, s.k*s.n, seed+2)
			for _, tile := range mmTiles {
				dc := randomBuffer(t, d, s.m*s.n, seed)
				d.matmul(tile, dc, a, b, s.m, s.n, s.k, ta, tb, acc)
				if got := downloadBits(t, d, dc); !slices.Equal(got, want) {
					t.Error(tileCPUDifferLine(tile.name, s.m, s.n, s.k, ta, tb, acc))
				}
			}
		}
	}
}

// TestMatMulTilePicks: matmulTile picks only tiles of mmPicked, and each of them for some output
// shape (the tiles left out of mmPicked run only in the tile tests).
func TestMatMulTilePicks(t *testing.T) {
	seen := map[string]bool{}
	for m := 1; m <= 16384; m *= 2 {
		for n := 1; n <= 16384; n *= 2 {
			for _, s := range [][2]int{{m, n}, {m + m/2, n}, {m, n + n/2}} {
				tile := matmulTile(s[0], s[1])
				if !slices.Contains(mmPicked, tile) {
					t.Fatalf("matmulTile(%d, %d) = %s, not in mmPicked", s[0], s[1], tile.name)
				}
				seen[tile.name] = true
			}
		}
	}
	for _, tile := range mmPicked {
		if !seen[tile.name] {
			t.Errorf("matmulTile never picks %s", tile.name)
		}
	}
}

// TestKernelChoice: SetKernels launches the chosen alternatives in place of the defaults (seen in
// the profile) with the same bits, keeps its previous choice when a choice is refused, and nil
// restores the defaults.
func TestKernelChoice(t *testing.T) {
	d := open(t)
	const m, n, k = 200, 200, 16 // matmulTile: the 32×16 tile (m·n up to 128K)
	s := gpu.AttnShape{B: 1, T: 40, H: 2, KVH: 2, D: 32, Scale: 0.25}
	nq := s.B * s.T * s.H * s.D
	a, b, c := randomBuffer(t, d, m*k, 1), randomBuffer(t, d, k*n, 2), randomBuffer(t, d, m*n, 3)
	q, kk, v, dout := randomBuffer(t, d, nq, 4), randomBuffer(t, d, nq, 5), randomBuffer(t, d, nq, 6), randomBuffer(t, d, nq, 7)
	out, lse, ws := randomBuffer(t, d, nq, 8), randomBuffer(t, d, s.B*s.H*s.T, 9), randomBuffer(t, d, d.AttentionWorkspace(s), 10)
	dq, dk, dv := randomBuffer(t, d, nq, 11), randomBuffer(t, d, nq, 12), randomBuffer(t, d, nq, 13)
	// run launches one matmul, the attention forward and backward, and returns the kernels launched
	// and the outputs' bits.
	run := func() (map[string]bool, []uint32) {
		d.SetProfile(true)
		defer d.SetProfile(false)
		d.MatMul(c, a, b, m, n, k, false, false, false)
		d.Attention(out, lse, q, kk, v, s)
		d.AttentionBackward(dq, dk, dv, dout, out, lse, q, kk, v, ws, s)
		if err := d.Sync(); err != nil {
			t.Fatal(err)
		}
		launched := map[string]bool{}
		for _, kt := range d.Profile() {
			launched[kt.Name] = true
		}
		var bits []uint32
		for _, buf := range []gpu.Buffer{c, out, lse, dq, dk, dv} {
			bits = append(bits, downloadBits(t, d, buf)...)
		}
		return launched, bits
	}
	defaults := []string{"k_mm_32x16_2x2_k64_pf2_f", "k_attn_fwd_c", "k_attn_dq_r", "k_attn_dkv_r"}
	launched, want := run()
	for _, name := range defaults {
		if !launched[name] {
			t.Fatalf("by default the device did not launch %s (launched %v)", name, launched)
		}
	}
	choice := map[string]string{"k_mm_32x16_2x2_k64_pf2_f": "k_mm_32x32_2x4_k64_pf2_f", "k_attn_fwd_c": "k_attn_fwd_t", "k_attn_dkv_r": "k_attn_dkv_t"}
	if err := d.SetKernels(choice); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]string{
		{"k_nope": "k_matmul"},                                  // not a kernel
		{"k_matmul": "k_mm_128x128_8x8_k16_f"},                  // the reference tile is no default
		{"k_attn_fwd_c": "k_matmul"},                            // not an alternative to it
		{"k_mm_32x32_2x4_k64_pf2_f": "k_nope"},                  // no such tile
		{"k_mm_32x16_2x2_k64_pf2_f": "k_mm_32x16_2x2_k32_db_f"}, // a tile deleted after its GPU run
		{"k_attn_dq_r": "k_attn_dq_r"},                          // itself
	} {
		if err := d.SetKernels(bad); !errors.Is(err, ErrKernels) {
			t.Errorf("SetKernels(%v) = %v, want an ErrKernels error", bad, err)
		}
	}
	if got := d.Kernels(); !maps.Equal(got, choice) {
		t.Fatalf("after refused choices Kernels() = %v, want %v", got, choice)
	}
	launched, got := run()
	for _, name := range []string{"k_mm_32x32_2x4_k64_pf2_f", "k_attn_fwd_t", "k_attn_dq_r", "k_attn_dkv_t"} {
		if !launched[name] {
			t.Errorf("with %v the device did not launch %s (launched %v)", choice, name, launched)
		}
	}
	for from := range choice {
		if launched[from] {
			t.Errorf("with %v the device launched %s", choice, from)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("with %v the bits differ from the defaults'", choice)
	}
	// scripts/gpu-pick.py's choice of the tiled attention names kernels the device may swap.
	if tiled, err := ParseKernels(pickTiledAttention); err != nil || CheckKernels(tiled) != nil {
		t.Errorf("gpu-pick.py's tiled attention %q: %v, %v", pickTiledAttention, err, CheckKernels(tiled))
	}
	if err := d.SetKernels(nil); err != nil || d.Kernels() != nil {
		t.Fatalf("SetKernels(nil) = %v, Kernels() = %v", err, d.Kernels())
	}
	launched, _ = run()
	for _, name := range defaults {
		if !launched[name] {
			t.Errorf("after SetKernels(nil) the device did not launch %s (launched %v)", name, launched)
		}
	}
}

// randomBuffer allocates n floats on d holding seed's values, uniform in [-1, 1).
func randomBuffer(t *testing.T, d gpu.Device, n int, seed uint64) gpu.Buffer {
	t.Helper()
	return uploadBuffer(t, d, randomValues(n, seed))
}

// uploadBuffer allocates len(v) floats on d holding v.
func uploadBuffer(t *testing.T, d gpu.Device, v []float32) gpu.Buffer {
	t.Helper()
	b, err := d.Alloc(len(v))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Upload(b, v); err != nil {
		t.Fatal(err)
	}
	return b
}

func randomValues(n int, seed uint64) []float32 {
	v := make([]float32, n)
	s := seed*0x9E3779B97F4A7C15 + 1
	for i := range v {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		v[i] = float32(s>>40)/float32(1<<24)*2 - 1
	}
	return v
}

// downloadBits returns b's contents as float32 bit patterns.
func downloadBits(t *testing.T, d gpu.Device, b gpu.Buffer) []uint32 {
	t.Helper()
	v := make([]float32, b.Len())
	if err := d.Download(v, b); err != nil {
		t.Fatal(err)
	}
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}

// mmTiles, kernels.cu's matmul kernels and the emulation harness's list of them agree: every tile
// kernel is in mmTiles with its output tile and with the thread count its template gives (and, for
// the MM(...) kernels, its BOUNDS), and the harness checks each with that geometry.
func TestMatMulTilesMatchKernels(t *testing.T) {
	src, err := os.ReadFile("kernels.cu")
	if err != nil {
		t.Fatal(err)
	}
	type geom struct{ bm, bn, threads int }
	atoi := func(b []byte) int { n, _ := strconv.Atoi(string(b)); return n }
	cu := map[string]geom{}
	// MM(name, BOUNDS(threads, blocks), BM, BN, RM, RN, ...) and the kernels written out in full.
	for _, m := range regexp.MustCompile(`(?m)^MM\((\w+), BOUNDS\((\d+), \d+\), (\d+), (\d+), (\d+), (\d+),`).FindAllSubmatch(src, -1) {
		bm, bn, rm, rn := atoi(m[3]), atoi(m[4]), atoi(m[5]), atoi(m[6])
		if th := (bm / rm) * (bn / rn); th != atoi(m[2]) {
			t.Errorf("kernels.cu: %s: BOUNDS says %s threads, its tile %d", m[1], m[2], th)
		}
		cu[string(m[1])] = geom{bm, bn, atoi(m[2])}
	}
	for _, m := range regexp.MustCompile(`void (?:BLOCKS\(\d+\) )?(k_matmul\w*)\([^)]*\) \{\s+matmul_tile<(\d+), (\d+), (\d+), (\d+),`).FindAllSubmatch(src, -1) {
		bm, bn, rm, rn := atoi(m[2]), atoi(m[3]), atoi(m[4]), atoi(m[5])
		cu[string(m[1])] = geom{bm, bn, (bm / rm) * (bn / rn)}
	}
	harness, err := os.ReadFile("emu/kernels_test.cc")
	if err != nil {
		t.Fatal(err)
	}
	emu := map[string]geom{}
	for _, m := range regexp.MustCompile(`\{"(k_\w+)", k_\w+, (\d+), (\d+), (\d+)\}`).FindAllSubmatch(harness, -1) {
		emu[string(m[1])] = geom{atoi(m[2]), atoi(m[3]), atoi(m[4])}
	}
	if len(cu) != len(mmTiles) || len(emu) != len(mmTiles) {
		t.Errorf("%d matmul kernels in kernels.cu, %d in the harness, %d in mmTiles", len(cu), len(emu), len(mmTiles))
	}
	for _, tile := range mmTiles {
		want := geom{tile.bm, tile.bn, tile.threads}
		if g, ok := cu[tile.name]; !ok || g != want {
			t.Errorf("%s: mmTiles says %+v, kernels.cu %+v (found %v)", tile.name, want, g, ok)
		}
		if g, ok := emu[tile.name]; !ok || g != want {
			t.Errorf("%s: mmTiles says %+v, the harness %+v (found %v)", tile.name, want, g, ok)
		}
	}
}
