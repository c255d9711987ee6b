//go:build cudaemu && !cuda

package cuda

import (
	"errors"
	"testing"

	"github.com/airanode/airanode/gpu"
)

// These tests run kernels.go's own launches on the host emulation of the kernels (build tag
// cudaemu; make cuda-emu runs them): what a GPU would compute, without one.

// Bad input to the device's kernels gives an error, as on the CPU device: a target outside the
// vocabulary and a token outside the table (ErrIndex, at the next synchronisation, before an AdamW
// step could use the result), a shape that does not fit the buffers (ErrShape, at once), and any use
// after Close (gpu.ErrClosed).
func TestEmuBadInput(t *testing.T) {
	up := func(d *Device, v []float32) gpu.Buffer { return uploadBuffer(t, d, v) }
	upi := func(d *Device, v []int32) gpu.Ints {
		b, err := d.AllocInts(len(v))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.UploadInts(b, v); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name string
		run  func(d *Device)
		want error
	}{
		{"target outside the vocabulary", func(d *Device) {
			d.CrossEntropy(up(d, make([]float32, 2)), up(d, make([]float32, 8)), up(d, make([]float32, 8)), upi(d, []int32{1, 4}), 2, 4, 0.5)
		}, ErrIndex},
		{"token outside the table", func(d *Device) {
			d.Embed(up(d, make([]float32, 4)), up(d, make([]float32, 6)), upi(d, []int32{0, 3}), 2)
		}, ErrIndex},
		{"negative token, backward", func(d *Device) {
			d.EmbedBackward(up(d, make([]float32, 6)), up(d, make([]float32, 4)), upi(d, []int32{-1, 2}), 2)
		}, ErrIndex},
		{"heads not a multiple of key heads", func(d *Device) {
			b := up(d, make([]float32, 64))
			d.Attention(b, b, b, b, b, gpu.AttnShape{B: 1, T: 2, H: 3, KVH: 2, D: 4, Scale: 1})
		}, ErrShape},
		{"odd rotary dimension", func(d *Device) { d.Rotary(up(d, make([]float32, 16)), 1, 2, 1, 8, 3, 10000) }, ErrShape},
		{"copy between lengths", func(d *Device) { d.Copy(up(d, make([]float32, 3)), up(d, make([]float32, 4))) }, ErrShape},
		{"AdamW step 0", func(d *Device) {
			b := up(d, []float32{1, 2})
			d.AdamWStep(b, b, b, b, nil, gpu.AdamW{LR: 1, Beta1: 0.9, Beta2: 0.9})
		}, ErrShape},
		{"AdamW moments shorter than the parameters", func(d *Device) {
			b := up(d, []float32{1, 2})
			d.AdamWStep(b, b, up(d, []float32{0}), b, nil, gpu.AdamW{LR: 1, Beta1: 0.9, Beta2: 0.9, Step: 1})
		}, ErrShape},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := open(t)
			c.run(d)
			err := d.Sync()
			if !errors.Is(err, c.want) {
				t.Fatalf("Sync() = %v, want %v", err, c.want)
			}
			// the device stays failed: a later kernel does nothing
			x := up(d, []float32{1, 2})
			d.Scale(x, 2)
			got := make([]float32, 2)
			if err := d.Download(got, x); err != nil || got[0] != 1 {
				t.Errorf("after the error, Scale changed %v (%v)", got, err)
			}
		})
	}
	d, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Alloc(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := d.Upload(b, []float32{1, 2}); !errors.Is(err, gpu.ErrClosed) {
		t.Errorf("Upload after Close = %v, want ErrClosed", err)
	}
	if err := d.Sync(); !errors.Is(err, gpu.ErrClosed) {
		t.Errorf("Sync after Close = %v, want ErrClosed", err)
	}
	if _, err := d.Alloc(1); !errors.Is(err, gpu.ErrClosed) {
		t.Errorf("Alloc after Close = %v, want ErrClosed", err)
	}
}

// A kernel launch allocates nothing on the Go heap (kernels.go's launches, the Device's and the
// driver's parameter arrays).
func TestEmuLaunchAllocs(t *testing.T) {
	d := open(t)
	x, err := d.Alloc(1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		run  func()
	}{
		{"a launch (Scale)", func() { d.Scale(x, 1.5) }},
		{"SumSquares (two launches and a read, every training step)", func() { d.SumSquares(x) }},
		{"Sync", func() {
			if err := d.Sync(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		if n := testing.AllocsPerRun(20, c.run); n != 0 {
			t.Errorf("%s allocates %v times", c.name, n)
		}
	}
}

// The side stream's launches run at the latest at the join after them: also those issued after a
// Join inside the side region, at a Sync without a Join, and when SetOverlap(false) or the
// reference kernels end a region. The overlap is on by default, and off with the reference kernels.
func TestEmuOverlapJoin(t *testing.T) {
	d := open(t)
	b, err := d.Alloc(4)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 4)
	read := func() float32 {
		t.Helper()
		if err := d.Download(got, b); err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	d.Side(true) // on by default
	d.Fill(b, 1)
	if v := read(); v != 0 {
		t.Fatalf("before a join the side launch has run (%g): the emulation would hide missing joins", v)
	}
	d.Join()
	if v := read(); v != 1 {
		t.Fatalf("after Join: %g, want 1", v)
	}
	d.Fill(b, 2) // still on the side
	d.Side(false)
	d.Join()
	if v := read(); v != 2 {
		t.Fatalf("a side launch after a Join inside the side region was not joined: %g, want 2", v)
	}
	d.Side(true)
	d.Fill(b, 3)
	d.Side(false)
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	if v := read(); v != 3 {
		t.Fatalf("Sync did not complete the side launches: %g, want 3", v)
	}
	d.Side(true)
	d.Fill(b, 4)
	d.SetOverlap(false) // ends the side region and joins
	if v := read(); v != 4 || d.onSide || d.pending {
		t.Fatalf("after SetOverlap(false) inside a side region: %g (want 4), on the side %v, pending %v", v, d.onSide, d.pending)
	}
	d.Side(true) // does nothing now
	d.Fill(b, 5)
	if v := read(); v != 5 || d.onSide || d.pending {
		t.Fatalf("after SetOverlap(false): %g (want 5), on the side %v, pending %v", v, d.onSide, d.pending)
	}
	d.Side(false)
	d.SetOverlap(true)
	d.Side(true)
	d.Fill(b, 6)
	d.SetReferenceKernels(true) // ends the side region and joins
	if v := read(); v != 6 || d.onSide || d.pending {
		t.Fatalf("after SetReferenceKernels(true) inside a side region: %g (want 6), on the side %v, pending %v", v, d.onSide, d.pending)
	}
	d.Side(true) // the reference kernels run in order
	d.Fill(b, 7)
	if v := read(); v != 7 || d.onSide || d.pending {
		t.Fatalf("with the reference kernels: %g (want 7), on the side %v, pending %v", v, d.onSide, d.pending)
	}
	d.Side(false)
	d.SetReferenceKernels(false)
	d.Side(true) // and the overlap is back
	d.Fill(b, 8)
	if v := read(); v != 7 {
		t.Fatalf("after SetReferenceKernels(false) the side launch ran before a join: %g, want 7", v)
	}
	d.Side(false)
	d.Join()
	if v := read(); v != 8 {
		t.Fatalf("after the join: %g, want 8", v)
	}
}
