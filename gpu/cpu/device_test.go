package cpu_test

import (
	"errors"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/gpu/cpu/gemm"
	"github.com/airanode/airanode/gpu/devicetest"
)

// quiet discards the device's log (the error tests provoke kernel errors on purpose).
var quiet = cpu.WithLogger(slog.New(slog.DiscardHandler))

func newDevice(t testing.TB, threads int, opts ...cpu.Option) *cpu.Device {
	t.Helper()
	d, err := cpu.New(threads, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// threadCounts returns the thread counts a test covers: fewer under the race detector, which slows
// the suite ten-fold (the concurrent cases are the ones it needs).
func threadCounts(all ...int) []int {
	if raceEnabled {
		return all[len(all)-1:]
	}
	return all
}

func TestConformance(t *testing.T) {
	for _, threads := range threadCounts(1, 2) {
		t.Run(map[int]string{1: "threads=1", 2: "threads=2"}[threads], func(t *testing.T) {
			// grain 0: every kernel splits its work across the threads, even on the suite's small shapes.
			d := newDevice(t, threads, cpu.WithGrain(0))
			devicetest.Run(t, d, devicetest.DefaultTol())
			if err := d.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestThreadCountsBitIdentical runs every kernel on 1, 2 and 3 threads and requires identical bits.
func TestThreadCountsBitIdentical(t *testing.T) {
	one := newDevice(t, 1)
	for _, threads := range threadCounts(3, 2) {
		t.Run(map[int]string{2: "threads=2", 3: "threads=3"}[threads], func(t *testing.T) {
			devicetest.Compare(t, one, newDevice(t, threads, cpu.WithGrain(0)), devicetest.Exact)
		})
	}
}

// TestPathsBitIdentical runs every kernel on every gemm path this machine has and requires identical
// bits (the portable path against each SIMD path).
func TestPathsBitIdentical(t *testing.T) {
	portable := newDevice(t, 2, cpu.WithPath(gemm.Portable), cpu.WithGrain(0))
	paths := gemm.Available()
	if raceEnabled {
		paths = paths[len(paths)-1:] // the fastest only
	}
	for _, p := range paths {
		if p == gemm.Portable {
			continue
		}
		t.Run(p.String(), func(t *testing.T) {
			devicetest.Compare(t, portable, newDevice(t, 2, cpu.WithPath(p)), devicetest.Exact)
		})
	}
}

func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	d := newDevice(t, 2, cpu.WithGrain(0))
	for _, k := range devicetest.Kernels(t, d) {
		if n := testing.AllocsPerRun(5, k.Exec); n != 0 {
			t.Errorf("%s: %v allocations per call", k.Name, n)
		}
	}
	if err := d.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestNameAndClass(t *testing.T) {
	d := newDevice(t, 2)
	if !strings.HasPrefix(d.Name(), "cpu (") || !strings.HasSuffix(d.Name(), ", 2 threads)") {
		t.Errorf("Name() = %q", d.Name())
	}
	if d.Class() != "cpu-v1" {
		t.Errorf("Class() = %q", d.Class())
	}
	if got := newDevice(t, 1).Name(); !strings.HasSuffix(got, "1 thread)") {
		t.Errorf("Name() = %q", got)
	}
	if _, err := cpu.New(0); err == nil {
		t.Error("New(0) succeeded")
	}
}

func TestMemory(t *testing.T) {
	d := newDevice(t, 1)
	b, err := d.Alloc(10)
	if err != nil {
		t.Fatal(err)
	}
	src := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if err := d.Upload(b, src); err != nil {
		t.Fatal(err)
	}
	v := b.Slice(2, 3)
	got := make([]float32, 3)
	if err := d.Download(got, v); err != nil || got[0] != 3 || got[2] != 5 {
		t.Fatalf("Download(view) = %v, %v", got, err)
	}
	if err := d.Upload(b, src[:3]); !errors.Is(err, cpu.ErrShape) {
		t.Errorf("short Upload: %v", err)
	}
	if err := d.Download(got, b); !errors.Is(err, cpu.ErrShape) {
		t.Errorf("short Download: %v", err)
	}
	if _, err := d.Alloc(-1); !errors.Is(err, gpu.ErrOutOfMemory) {
		t.Errorf("Alloc(-1): %v", err)
	}
	if _, err := d.Alloc(cpu.MaxAlloc + 1); !errors.Is(err, gpu.ErrOutOfMemory) {
		t.Errorf("Alloc(huge): %v", err)
	}
	ib, err := d.AllocInts(4)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.UploadInts(ib, []int32{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	gi := make([]int32, 2)
	if err := d.DownloadInts(gi, ib.Slice(2, 2)); err != nil || gi[0] != 3 || gi[1] != 4 {
		t.Fatalf("DownloadInts = %v, %v", gi, err)
	}
	if err := d.UploadInts(ib, []int32{1}); !errors.Is(err, cpu.ErrShape) {
		t.Errorf("short UploadInts: %v", err)
	}
	// buffers of another device are refused
	other := newDevice(t, 1)
	ob, _ := other.Alloc(10)
	if err := d.Upload(ob, src); !errors.Is(err, cpu.ErrForeignBuffer) {
		t.Errorf("Upload to a foreign buffer: %v", err)
	}
}

func TestKernelErrors(t *testing.T) {
	tests := []struct {
		name string
		run  func(d *cpu.Device, other gpu.Buffer) // other is a buffer of another device
		want error
	}{
		{"Add length mismatch", func(d *cpu.Device, _ gpu.Buffer) {
			a, _ := d.Alloc(4)
			b, _ := d.Alloc(5)
			d.Add(a, a, b)
		}, cpu.ErrShape},
		{"MatMul too small", func(d *cpu.Device, _ gpu.Buffer) {
			a, _ := d.Alloc(4)
			d.MatMul(a, a, a, 3, 3, 3, false, false, false)
		}, cpu.ErrShape},
		{"Embed token out of range", func(d *cpu.Device, _ gpu.Buffer) {
			out, _ := d.Alloc(8)
			tab, _ := d.Alloc(8)
			tok, _ := d.AllocInts(2)
			_ = d.UploadInts(tok, []int32{0, 2})
			d.Embed(out, tab, tok, 4)
		}, cpu.ErrIndex},
		{"Embed negative token", func(d *cpu.Device, _ gpu.Buffer) {
			out, _ := d.Alloc(8)
			tab, _ := d.Alloc(8)
			tok, _ := d.AllocInts(2)
			_ = d.UploadInts(tok, []int32{-1, 0})
			d.EmbedBackward(tab, out, tok, 4)
		}, cpu.ErrIndex},
		{"CrossEntropy target out of range", func(d *cpu.Device, _ gpu.Buffer) {
			l, _ := d.Alloc(1)
			x, _ := d.Alloc(4)
			tg, _ := d.AllocInts(1)
			_ = d.UploadInts(tg, []int32{4})
			d.CrossEntropy(l, x, x, tg, 1, 4, 1)
		}, cpu.ErrIndex},
		{"foreign buffer", func(d *cpu.Device, other gpu.Buffer) { d.Fill(other, 1) }, cpu.ErrForeignBuffer},
		{"nil buffer", func(d *cpu.Device, _ gpu.Buffer) { d.Scale(nil, 1) }, cpu.ErrForeignBuffer},
		{"attention heads not a multiple", func(d *cpu.Device, _ gpu.Buffer) {
			b, _ := d.Alloc(64)
			d.Attention(b, b, b, b, b, gpu.AttnShape{B: 1, T: 2, H: 3, KVH: 2, D: 2, Scale: 1})
		}, cpu.ErrShape},
		{"rotary odd dimension", func(d *cpu.Device, _ gpu.Buffer) {
			b, _ := d.Alloc(64)
			d.Rotary(b, 1, 2, 2, 8, 3, 10000)
		}, cpu.ErrShape},
		{"AdamW step 0", func(d *cpu.Device, _ gpu.Buffer) {
			b, _ := d.Alloc(4)
			d.AdamWStep(b, b, b, b, nil, gpu.AdamW{LR: 1, Beta1: 0.9, Beta2: 0.9})
		}, cpu.ErrShape},
		{"scan states too small", func(d *cpu.Device, _ gpu.Buffer) {
			b, _ := d.Alloc(8)
			d.SelectiveScan(b, b, b, b, b, b, b, b, gpu.ScanShape{B: 1, T: 2, C: 2, N: 4})
		}, cpu.ErrShape},
	}
	other := newDevice(t, 1)
	ob, _ := other.Alloc(4)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice(t, 2, quiet)
			tc.run(d, ob)
			if err := d.Err(); !errors.Is(err, tc.want) {
				t.Fatalf("Err() = %v, want %v", err, tc.want)
			}
			if err := d.Sync(); !errors.Is(err, tc.want) {
				t.Fatalf("Sync() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEmbedBadTokenChangesNothing(t *testing.T) {
	d := newDevice(t, 1, quiet)
	out, _ := d.Alloc(8)
	tab, _ := d.Alloc(8)
	_ = d.Upload(tab, []float32{1, 2, 3, 4, 5, 6, 7, 8})
	tok, _ := d.AllocInts(2)
	_ = d.UploadInts(tok, []int32{1, 9})
	d.Embed(out, tab, tok, 4)
	got := make([]float32, 8)
	_ = d.Download(got, out)
	for _, v := range got {
		if v != 0 {
			t.Fatalf("out = %v after a rejected call", got)
		}
	}
}

func TestClose(t *testing.T) {
	d, err := cpu.New(2, quiet)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := d.Alloc(4)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	d.Fill(b, 1)
	if !errors.Is(d.Err(), gpu.ErrClosed) {
		t.Fatalf("kernel after Close: Err() = %v", d.Err())
	}
	if _, err := d.Alloc(1); !errors.Is(err, gpu.ErrClosed) {
		t.Fatalf("Alloc after Close: %v", err)
	}
}

// TestCrossEntropyIgnore checks the ignore rule directly: a negative target gives loss 0 and gradient 0.
func TestCrossEntropyIgnore(t *testing.T) {
	d := newDevice(t, 1)
	x, _ := d.Alloc(6)
	_ = d.Upload(x, []float32{1, 2, 3, 3, 2, 1})
	l, _ := d.Alloc(2)
	dl, _ := d.Alloc(6)
	d.Fill(dl, 7)
	tg, _ := d.AllocInts(2)
	_ = d.UploadInts(tg, []int32{-1, 0})
	d.CrossEntropy(l, dl, x, tg, 2, 3, 0.5)
	loss, g := make([]float32, 2), make([]float32, 6)
	_ = d.Download(loss, l)
	_ = d.Download(g, dl)
	if loss[0] != 0 || g[0] != 0 || g[1] != 0 || g[2] != 0 {
		t.Fatalf("ignored row: loss %v grad %v", loss[0], g[:3])
	}
	want := math.Log(math.Exp(3)+math.Exp(2)+math.Exp(1)) - 3
	if math.Abs(float64(loss[1])-want) > 1e-6 {
		t.Fatalf("loss = %v, want %v", loss[1], want)
	}
	if err := d.Err(); err != nil {
		t.Fatal(err)
	}
}

// goldenDigest pins the outputs of every kernel of the conformance suite (devicetest.Digest): every
// machine, build (GOAMD64 level, purego, GOARCH) and thread count of the cpu-v1 class must reproduce it.
// It changes when a kernel's definition changes, and then the class must too, or when the suite
// gains a case (NegExp, 2026-11-26: a new kernel with the bits the trainer computed on the host
// before; Mamba training digests unchanged).
const goldenDigest = "a9b577eadb0ce3baf7e122b43399eda6280fcdabc7ddea5ee828abaa14efab8a"

func TestGoldenDigest(t *testing.T) {
	for _, threads := range []int{1, 2} {
		if got := devicetest.Digest(t, newDevice(t, threads, cpu.WithGrain(0))); got != goldenDigest {
			t.Errorf("threads=%d: digest %s, want %s", threads, got, goldenDigest)
		}
	}
}

// TestCloseStopsWorkers checks that Close stops the device's worker goroutines.
func TestCloseStopsWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	d, err := cpu.New(4)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := d.Alloc(1 << 16)
	d.GELU(x, x) // wake the workers
	if runtime.NumGoroutine() <= before {
		t.Fatalf("no worker goroutines: %d before, %d after New(4)", before, runtime.NumGoroutine())
	}
	_ = d.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before New", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}
