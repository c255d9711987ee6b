//go:build cuda

package cuda

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/airanode/airanode/gpu"
)

// Class is the reproducibility class of this device's kernels.
const Class = "cuda-v1"

// elemBlock is the threads per block of elementwise kernels.
const elemBlock = 256

type buffer struct {
	ptr cu.DevicePtr
	n   int
}

func (b buffer) Len() int { return b.n }
func (b buffer) Slice(off, n int) gpu.Buffer {
	if off < 0 || n < 0 || off+n > b.n {
		panic(fmt.Sprintf("cuda: slice [%d:%d] of buffer of %d", off, off+n, b.n))
	}
	return buffer{ptr: b.ptr + cu.DevicePtr(off*4), n: n}
}

type ints struct {
	ptr cu.DevicePtr
	n   int
}

func (b ints) Len() int { return b.n }
func (b ints) Slice(off, n int) gpu.Ints {
	if off < 0 || n < 0 || off+n > b.n {
		panic(fmt.Sprintf("cuda: slice [%d:%d] of ints of %d", off, off+n, b.n))
	}
	return ints{ptr: b.ptr + cu.DevicePtr(off*4), n: n}
}

// Device is one NVIDIA GPU.
type Device struct {
	ordinal int
	name    string
	dev     cu.Device
	ctx     cu.CUContext
	mod     cu.Module
	fns     map[string]cu.Function
	allocs  []cu.DevicePtr
	err     error
	closed  bool

	sumsq   cu.DevicePtr // one float64
	scratch []cu.DevicePtr
	scrLen  []int

	// rope names the rotary tables held in scratch ropeCos and ropeSin.
	rope             ropeKey
	ropeCos, ropeSin cu.DevicePtr

	// reference runs the first, untiled kernels (SetReferenceKernels).
	reference bool
	// prof, when not nil, times every launch (SetProfile).
	prof map[string]*KernelTime
	// argv and ptrs hold the parameters of the launch in progress, so that a launch allocates
	// nothing on the Go heap.
	argv [maxArgs]arg
	ptrs [maxArgs]unsafe.Pointer
}

// Internal scratch spaces (scratchBuf): 0 to 3 are the selective scan backward's.
const (
	scratchSumSq   = 4 // SumSquares' block sums (float64)
	scratchRopeCos = 5 // rotary tables [T, rotDim/2]
	scratchRopeSin = 6
)

// ropeKey identifies the rotary tables the device holds.
type ropeKey struct {
	T, rotDim int
	base      float32
}

// maxArgs is the most parameters a kernel takes.
const maxArgs = 24

// KernelTime is the time spent in one kernel while profiling: Calls launches taking Seconds in all,
// each measured from its launch to the end of a synchronisation right after it.
type KernelTime struct {
	Name    string
	Calls   int
	Seconds float64
}

// SetReferenceKernels makes the device run its first kernels instead of the tuned ones: one 64×64
// matmul tile for every shape, the attention forward with one block per query row and the attention
// backward with one thread per output element. Their
// results are bit-identical (the tuned kernels compute the same fmaf chains in the same order); the
// switch exists to measure the gain and to check that identity on a GPU.
func (d *Device) SetReferenceKernels(on bool) { d.reference = on }

// SetProfile turns per-kernel timing on or off (on clears the previous figures). While it is on,
// every launch and copy is followed by a synchronisation, so the device runs slower; use it to see
// where a training step's time goes, not to measure its speed.
func (d *Device) SetProfile(on bool) {
	d.prof = nil
	if on {
		d.prof = map[string]*KernelTime{}
	}
}

// Profile returns the per-kernel times gathered since SetProfile(true), the most time first.
func (d *Device) Profile() []KernelTime {
	out := make([]KernelTime, 0, len(d.prof))
	for _, k := range d.prof {
		out = append(out, *k)
	}
	slices.SortFunc(out, func(a, b KernelTime) int {
		if c := cmp.Compare(b.Seconds, a.Seconds); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// timed records, when profiling, the time from t0 to the end of a synchronisation now.
func (d *Device) timed(name string, t0 time.Time) {
	if d.prof == nil || d.err != nil {
		return
	}
	d.fail(cu.Synchronize())
	k := d.prof[name]
	if k == nil {
		k = &KernelTime{Name: name}
		d.prof[name] = k
	}
	k.Calls++
	k.Seconds += time.Since(t0).Seconds()
}

// Count returns the number of CUDA devices.
func Count() (int, error) { return cu.NumDevices() }

// Info describes a device.
type Info struct {
	Ordinal     int
	Name        string
	MemoryBytes int64
	Driver      int
}

// Describe returns the name and memory of device ordinal.
func Describe(ordinal int) (Info, error) {
	d, err := cu.GetDevice(ordinal)
	if err != nil {
		return Info{}, fmt.Errorf("cuda device %d: %w", ordinal, err)
	}
	name, err := d.Name()
	if err != nil {
		return Info{}, err
	}
	mem, err := d.TotalMem()
	if err != nil {
		return Info{}, err
	}
	return Info{Ordinal: ordinal, Name: name, MemoryBytes: mem, Driver: cu.Version()}, nil
}

// New opens device ordinal, creates a context bound to the calling goroutine's OS thread and loads
// the kernels.
func New(ordinal int) (*Device, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("cuda device %d of %d: %w", ordinal, n, gpu.ErrNoDevice)
	}
	d, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("cuda device %d: %w", ordinal, err)
	}
	name, _ := d.Name()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx, err := d.MakeContext(cu.SchedBlockingSync)
	if err != nil {
		return nil, fmt.Errorf("cuda context: %w", err)
	}
	dv := &Device{ordinal: ordinal, name: name, dev: d, ctx: ctx, fns: map[string]cu.Function{}}
	if err := cu.SetCurrentContext(ctx); err != nil {
		dv.Close()
		return nil, fmt.Errorf("cuda set context: %w", err)
	}
	if dv.mod, err = cu.LoadData(kernelsPTX); err != nil {
		dv.Close()
		return nil, fmt.Errorf("cuda load kernels: %w", err)
	}
	for _, k := range kernelNames {
		f, err := dv.mod.Function(k)
		if err != nil {
			dv.Close()
			return nil, fmt.Errorf("cuda kernel %s: %w", k, err)
		}
		dv.fns[k] = f
	}
	if dv.sumsq, err = cu.MemAlloc(8); err != nil {
		dv.Close()
		return nil, fmt.Errorf("cuda alloc: %w", err)
	}
	return dv, nil
}

// Name describes the device.
func (d *Device) Name() string { return fmt.Sprintf("cuda:%d (%s)", d.ordinal, d.name) }

// Class is "cuda-v1".
func (d *Device) Class() string { return Class }

// Err returns the first recorded error.
func (d *Device) Err() error { return d.err }

func (d *Device) fail(err error) {
	if d.err == nil && err != nil {
		d.err = err
	}
}

// enter pins the goroutine to its OS thread and makes the device's context current there; leave undoes
// the pin. Every driver call happens between the two, so the device works from any goroutine (one at a
// time).
func (d *Device) enter() {
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		d.fail(fmt.Errorf("cuda set context: %w", err))
	}
}

func (d *Device) leave() { runtime.UnlockOSThread() }

// Alloc returns a zeroed buffer of n float32s.
func (d *Device) Alloc(n int) (gpu.Buffer, error) {
	p, err := d.alloc(n)
	return buffer{ptr: p, n: n}, err
}

// AllocInts returns a zeroed buffer of n int32s.
func (d *Device) AllocInts(n int) (gpu.Ints, error) {
	p, err := d.alloc(n)
	return ints{ptr: p, n: n}, err
}

func (d *Device) alloc(n int) (cu.DevicePtr, error) {
	if d.closed {
		return 0, gpu.ErrClosed
	}
	if n < 0 {
		return 0, fmt.Errorf("cuda alloc %d: negative size", n)
	}
	d.enter()
	defer d.leave()
	size := int64(max(n, 1)) * 4
	p, err := cu.MemAlloc(size)
	if err != nil {
		return 0, fmt.Errorf("cuda alloc %d bytes: %w: %w", size, gpu.ErrOutOfMemory, err)
	}
	if err := cu.MemsetD32(p, 0, int64(max(n, 1))); err != nil {
		cu.MemFree(p)
		return 0, fmt.Errorf("cuda memset: %w", err)
	}
	d.allocs = append(d.allocs, p)
	return p, nil
}

// scratchBuf returns internal scratch space i of at least n floats.
func (d *Device) scratchBuf(i, n int) cu.DevicePtr {
	for len(d.scratch) <= i {
		d.scratch = append(d.scratch, 0)
		d.scrLen = append(d.scrLen, 0)
	}
	if d.scrLen[i] < n {
		d.enter()
		defer d.leave()
		if d.scratch[i] != 0 {
			cu.MemFree(d.scratch[i])
		}
		p, err := cu.MemAlloc(int64(max(n, 1)) * 4)
		if err != nil {
			d.fail(fmt.Errorf("cuda scratch %d floats: %w: %w", n, gpu.ErrOutOfMemory, err))
			d.scratch[i], d.scrLen[i] = 0, 0
			return 0
		}
		d.scratch[i], d.scrLen[i] = p, n
	}
	return d.scratch[i]
}

// Upload copies src into dst.
func (d *Device) Upload(dst gpu.Buffer, src []float32) error {
	b := dst.(buffer)
	if b.n != len(src) {
		return fmt.Errorf("cuda upload: %d floats into buffer of %d", len(src), b.n)
	}
	if len(src) == 0 {
		return nil
	}
	d.enter()
	defer d.leave()
	return cu.MemcpyHtoD(b.ptr, unsafe.Pointer(&src[0]), int64(len(src))*4)
}

// Download copies src into dst.
func (d *Device) Download(dst []float32, src gpu.Buffer) error {
	b := src.(buffer)
	if b.n != len(dst) {
		return fmt.Errorf("cuda download: buffer of %d into %d floats", b.n, len(dst))
	}
	if len(dst) == 0 {
		return nil
	}
	d.enter()
	defer d.leave()
	return cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), b.ptr, int64(len(dst))*4)
}

// UploadInts copies src into dst.
func (d *Device) UploadInts(dst gpu.Ints, src []int32) error {
	b := dst.(ints)
	if b.n != len(src) {
		return fmt.Errorf("cuda upload: %d ints into buffer of %d", len(src), b.n)
	}
	if len(src) == 0 {
		return nil
	}
	d.enter()
	defer d.leave()
	return cu.MemcpyHtoD(b.ptr, unsafe.Pointer(&src[0]), int64(len(src))*4)
}

// DownloadInts copies src into dst.
func (d *Device) DownloadInts(dst []int32, src gpu.Ints) error {
	b := src.(ints)
	if b.n != len(dst) {
		return fmt.Errorf("cuda download: ints of %d into %d", b.n, len(dst))
	}
	if len(dst) == 0 {
		return nil
	}
	d.enter()
	defer d.leave()
	return cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), b.ptr, int64(len(dst))*4)
}

// Sync waits for the device and returns Err.
func (d *Device) Sync() error {
	if d.err == nil {
		d.enter()
		d.fail(cu.Synchronize())
		d.leave()
	}
	return d.err
}

// Close frees every allocation and destroys the context. It is idempotent.
func (d *Device) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	d.enter()
	defer d.leave()
	var errs []error
	for _, p := range append(append([]cu.DevicePtr{}, d.allocs...), d.scratch...) {
		if p != 0 {
			errs = append(errs, cu.MemFree(p))
		}
	}
	if d.sumsq != 0 {
		errs = append(errs, cu.MemFree(d.sumsq))
	}
	if d.mod != (cu.Module{}) {
		errs = append(errs, d.mod.Unload())
	}
	errs = append(errs, d.ctx.Destroy())
	return errors.Join(errs...)
}

// ---- launching ----

// arg is one 8-byte kernel parameter.
type arg = uint64

func p(b gpu.Buffer) arg { return arg(b.(buffer).ptr) }
func pi(b gpu.Ints) arg  { return arg(b.(ints).ptr) }
func i(n int) arg        { return arg(int64(n)) }
func f(v float32) arg    { return arg(math.Float32bits(v)) }
func bl(v bool) arg {
	if v {
		return 1
	}
	return 0
}
func raw(q cu.DevicePtr) arg { return arg(q) }

// launch runs kernel name on a 1-D grid of blocks×threads with shared bytes of dynamic memory.
func (d *Device) launch(name string, blocks, threads, shared int, args ...arg) {
	if d.err != nil || blocks == 0 {
		return
	}
	d.launch3(name, blocks, 1, threads, shared, args...)
}

// launch3 runs kernel name on a gx×gy grid.
func (d *Device) launch3(name string, gx, gy, threads, shared int, args ...arg) {
	if d.err != nil || gx == 0 || gy == 0 {
		return
	}
	if len(args) > maxArgs {
		d.fail(fmt.Errorf("cuda launch %s: %d parameters, at most %d", name, len(args), maxArgs))
		return
	}
	for k, a := range args {
		d.argv[k] = a
		d.ptrs[k] = unsafe.Pointer(&d.argv[k])
	}
	var t0 time.Time
	if d.prof != nil {
		t0 = time.Now()
	}
	d.enter()
	defer d.leave()
	if err := d.fns[name].Launch(gx, gy, 1, threads, 1, 1, shared, cu.Stream{}, d.ptrs[:len(args)]); err != nil {
		d.fail(fmt.Errorf("cuda launch %s: %w", name, err))
	}
	d.timed(name, t0)
}

// elem launches an elementwise kernel over n items.
func (d *Device) elem(name string, n int, args ...arg) {
	d.launch(name, (n+elemBlock-1)/elemBlock, elemBlock, 0, args...)
}
