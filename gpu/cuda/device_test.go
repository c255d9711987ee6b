//go:build cuda || cudaemu

package cuda

import (
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
					t.Errorf("%s %dx%dx%d ta=%v tb=%v acc=%v: not the CPU device's bits", tile.name, s.m, s.n, s.k, ta, tb, acc)
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
