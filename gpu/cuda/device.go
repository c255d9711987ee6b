//go:build cuda || cudaemu

package cuda

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/airanode/airanode/gpu"
)

// Class is the reproducibility class of this device's kernels.
const Class = "cuda-v1"

// elemBlock is the threads per block of elementwise kernels, chainBlock of the kernels whose
// threads each run a long chain (chains); the staged chain kernels' geometry is in ptx.go.
const (
	elemBlock  = 256
	chainBlock = 32
)

// Sentinel errors of the device's kernels (the CPU device's have the same meaning).
var (
	// ErrShape means a kernel was given buffers whose lengths do not match its shape arguments.
	ErrShape = errors.New("cuda: shape mismatch")
	// ErrIndex means a token id or target was outside the table or vocabulary.
	ErrIndex = errors.New("cuda: index out of range")
)

// Info describes a device.
type Info struct {
	Ordinal     int
	Name        string
	MemoryBytes int64
	Driver      int
}

// dptr is an address in the device's memory.
type dptr uint64

// driver is what a Device needs of the machine under it: the CUDA driver API (driver_cu.go, build tag
// cuda) or the host emulation of the kernels (driver_emu.go, build tag cudaemu, for tests without a
// GPU). Allocations are zeroed, and a failed allocation's error wraps gpu.ErrOutOfMemory; launch runs
// the kernel of kernels.cu named name with 8-byte parameters.
type driver interface {
	alloc(bytes int64) (dptr, error)
	free(p dptr) error
	htod(dst dptr, src unsafe.Pointer, bytes int64) error
	dtoh(dst unsafe.Pointer, src dptr, bytes int64) error
	dtod(dst, src dptr, bytes int64) error
	// launch runs a kernel on the main stream, or on the side stream (side).
	launch(name string, gx, gy, threads, shared int, side bool, args []arg) error
	// fork makes the side stream wait for everything issued on the main stream so far; join makes
	// the main stream wait for everything issued on the side stream so far.
	fork() error
	join() error
	sync() error
	close() error
}

type buffer struct {
	ptr dptr
	n   int
}

func (b buffer) Len() int { return b.n }
func (b buffer) Slice(off, n int) gpu.Buffer {
	if off < 0 || n < 0 || off+n > b.n {
		panic(fmt.Sprintf("cuda: slice [%d:%d] of buffer of %d", off, off+n, b.n))
	}
	return buffer{ptr: b.ptr + dptr(off*4), n: n}
}

type ints struct {
	ptr dptr
	n   int
}

func (b ints) Len() int { return b.n }
func (b ints) Slice(off, n int) gpu.Ints {
	if off < 0 || n < 0 || off+n > b.n {
		panic(fmt.Sprintf("cuda: slice [%d:%d] of ints of %d", off, off+n, b.n))
	}
	return ints{ptr: b.ptr + dptr(off*4), n: n}
}

// Device is one NVIDIA GPU (or, built with cudaemu, its kernels run on the host).
type Device struct {
	name   string
	drv    driver
	allocs []dptr
	err    error
	closed bool

	// status is the device's status record (SumSquares' result, the kernels' bad-index flag); host
	// is where it is read to, allocated once and apart from the Device, which holds Go pointers
	// that cgo may not be handed.
	status  dptr
	host    *status
	scratch []dptr
	scrLen  []int

	// rope names the rotary tables held in the scratch spaces scratchRopeCos and scratchRopeSin
	// (reallocated only for a larger T·rotDim, which changes the key).
	rope ropeKey
	// argv holds the parameters of the launch in progress.
	argv [maxArgs]arg

	// reference runs the first, untiled kernels (SetReferenceKernels).
	reference bool
	// choice maps default kernels to the alternatives launched in their place (SetKernels).
	choice map[string]string
	// prof, when not nil, times every launch (SetProfile).
	prof map[string]*KernelTime
	// overlap lets Side use the side stream (SetOverlap; on by default); onSide is set between
	// Side(true) and Side(false) then, and pending while side work has not been joined.
	overlap, onSide, pending bool
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
// switch exists to measure the gain and to check that identity on a GPU. The reference kernels run
// in order, on one stream, whatever SetOverlap says: turning them on ends a side region and joins.
func (d *Device) SetReferenceKernels(on bool) {
	if on {
		d.Side(false)
		d.Join()
	}
	d.reference = on
}

var _ gpu.Overlapper = (*Device)(nil)

// SetOverlap lets Side run launches on a second stream, beside the main one (gpu.Overlapper): on
// by default. Off, or with the reference kernels, Side does nothing and every launch runs in order.
// Turning it off ends a side region and joins first.
func (d *Device) SetOverlap(on bool) {
	if !on {
		d.Side(false)
		d.Join()
	}
	d.overlap = on
}

// Side starts (on) or ends the launches that run beside the main sequence: see gpu.Overlapper. It
// does nothing after SetOverlap(false) or with the reference kernels.
func (d *Device) Side(on bool) {
	if !d.overlap || (on && d.reference) || on == d.onSide || d.err != nil {
		return
	}
	d.onSide = on
	if on {
		d.pending = true
		d.fail(d.drv.fork())
	}
}

// Join makes every launch after it wait for the side launches so far: see gpu.Overlapper.
func (d *Device) Join() {
	if !d.pending || d.err != nil {
		return
	}
	d.fail(d.drv.join())
	d.pending = d.onSide // joined inside a side region: what follows in it is pending again
}

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
	d.fail(d.drv.sync())
	k := d.prof[name]
	if k == nil {
		k = &KernelTime{Name: name}
		d.prof[name] = k
	}
	k.Calls++
	k.Seconds += time.Since(t0).Seconds()
}

// status is the record at Device.status: SumSquares' result, and a flag the kernels that index by
// token ids set when one is out of range.
type status struct {
	sumsq float64
	bad   int32
}

// bad is the address of the kernels' bad-index flag.
func (d *Device) bad() dptr { return d.status + dptr(unsafe.Offsetof(status{}.bad)) }

// checkBad records ErrIndex when the kernels flagged an index (bad, read from the device).
func (d *Device) checkBad(bad int32) {
	if bad != 0 {
		d.fail(fmt.Errorf("%w: a token id or target outside the table or vocabulary", ErrIndex))
	}
}

// shape records ErrShape for kernel unless ok, and reports ok (false also after an earlier error).
func (d *Device) shape(ok bool, kernel string) bool {
	if !ok {
		d.fail(fmt.Errorf("%w: %s", ErrShape, kernel))
	}
	return ok && d.err == nil
}

// newDevice completes a Device on drv: the status record, on the device and its host copy.
func newDevice(name string, drv driver) (*Device, error) {
	// The weight gradients on the side stream by default: an H100 trains configs A and B faster so
	// (docs/gpu.md), with the same bits.
	d := &Device{name: name, drv: drv, host: new(status), overlap: true}
	var err error
	if d.status, err = drv.alloc(int64(unsafe.Sizeof(status{}))); err != nil {
		d.Close()
		return nil, fmt.Errorf("cuda alloc: %w", err)
	}
	return d, nil
}

// Name describes the device.
func (d *Device) Name() string { return d.name }

// Class is "cuda-v1".
func (d *Device) Class() string { return Class }

// Err returns the first recorded error.
func (d *Device) Err() error { return d.err }

func (d *Device) fail(err error) {
	if d.err == nil && err != nil {
		d.err = err
	}
}

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

func (d *Device) alloc(n int) (dptr, error) {
	if d.closed {
		return 0, gpu.ErrClosed
	}
	if n < 0 {
		return 0, fmt.Errorf("cuda alloc %d: negative size", n)
	}
	size := int64(max(n, 1)) * 4
	p, err := d.drv.alloc(size)
	if err != nil {
		return 0, fmt.Errorf("cuda alloc %d bytes: %w", size, err)
	}
	d.allocs = append(d.allocs, p)
	return p, nil
}

// scratchBuf returns internal scratch space i of at least n floats.
func (d *Device) scratchBuf(i, n int) dptr {
	if d.err != nil {
		return 0
	}
	for len(d.scratch) <= i {
		d.scratch = append(d.scratch, 0)
		d.scrLen = append(d.scrLen, 0)
	}
	if d.scrLen[i] < n {
		if d.scratch[i] != 0 {
			d.fail(d.drv.free(d.scratch[i]))
		}
		p, err := d.drv.alloc(int64(max(n, 1)) * 4)
		if err != nil {
			d.fail(fmt.Errorf("cuda scratch %d floats: %w", n, err))
			d.scratch[i], d.scrLen[i] = 0, 0
			return 0
		}
		d.scratch[i], d.scrLen[i] = p, n
	}
	return d.scratch[i]
}

// Upload copies src into dst.
func (d *Device) Upload(dst gpu.Buffer, src []float32) error {
	if d.closed {
		return gpu.ErrClosed
	}
	b := dst.(buffer)
	if b.n != len(src) {
		return fmt.Errorf("cuda upload: %d floats into buffer of %d", len(src), b.n)
	}
	if len(src) == 0 {
		return nil
	}
	return d.drv.htod(b.ptr, unsafe.Pointer(&src[0]), int64(len(src))*4)
}

// Download copies src into dst.
func (d *Device) Download(dst []float32, src gpu.Buffer) error {
	if d.closed {
		return gpu.ErrClosed
	}
	b := src.(buffer)
	if b.n != len(dst) {
		return fmt.Errorf("cuda download: buffer of %d into %d floats", b.n, len(dst))
	}
	if len(dst) == 0 {
		return nil
	}
	return d.drv.dtoh(unsafe.Pointer(&dst[0]), b.ptr, int64(len(dst))*4)
}

// UploadInts copies src into dst.
func (d *Device) UploadInts(dst gpu.Ints, src []int32) error {
	if d.closed {
		return gpu.ErrClosed
	}
	b := dst.(ints)
	if b.n != len(src) {
		return fmt.Errorf("cuda upload: %d ints into buffer of %d", len(src), b.n)
	}
	if len(src) == 0 {
		return nil
	}
	return d.drv.htod(b.ptr, unsafe.Pointer(&src[0]), int64(len(src))*4)
}

// DownloadInts copies src into dst.
func (d *Device) DownloadInts(dst []int32, src gpu.Ints) error {
	if d.closed {
		return gpu.ErrClosed
	}
	b := src.(ints)
	if b.n != len(dst) {
		return fmt.Errorf("cuda download: ints of %d into %d", b.n, len(dst))
	}
	if len(dst) == 0 {
		return nil
	}
	return d.drv.dtoh(unsafe.Pointer(&dst[0]), b.ptr, int64(len(dst))*4)
}

// Sync waits for the device, checks the kernels' bad-index flag and returns Err.
func (d *Device) Sync() error {
	if d.err == nil {
		d.fail(d.drv.sync())
	}
	if d.err == nil {
		d.fail(d.drv.dtoh(unsafe.Pointer(&d.host.bad), d.bad(), 4))
		d.checkBad(d.host.bad)
	}
	return d.err
}

// Close frees every allocation and the driver's resources (the context). It is idempotent.
func (d *Device) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	if d.overlap || d.pending {
		// Side launches the device never joined (after an error) may still run: finish them before
		// their memory is freed.
		errs = append(errs, d.drv.sync())
	}
	for _, p := range append(append([]dptr{}, d.allocs...), d.scratch...) {
		if p != 0 {
			errs = append(errs, d.drv.free(p))
		}
	}
	if d.status != 0 {
		errs = append(errs, d.drv.free(d.status))
	}
	errs = append(errs, d.drv.close())
	d.fail(gpu.ErrClosed) // every later kernel is a no-op, Err and Sync say why
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
func raw(q dptr) arg { return arg(q) }

// launch runs kernel name on a 1-D grid of blocks×threads with shared bytes of dynamic memory.
func (d *Device) launch(name string, blocks, threads, shared int, args ...arg) {
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
	// A copy in the Device: args passed on through the driver interface would escape, and every
	// launch would allocate its parameter slice.
	n := copy(d.argv[:], args)
	var t0 time.Time
	if d.prof != nil {
		t0 = time.Now()
	}
	if err := d.drv.launch(name, gx, gy, threads, shared, d.onSide, d.argv[:n]); err != nil {
		d.fail(fmt.Errorf("cuda launch %s: %w", name, err))
	}
	d.timed(name, t0)
}

// chains launches a kernel whose n threads each run one long sequential chain (the convolution's
// column sums, the scan's recurrences) in blocks of chainBlock threads: few threads, so
// small blocks spread them over more multiprocessors, each with its own memory bandwidth. The
// threads compute the same values whatever the block size.
func (d *Device) chains(name string, n int, args ...arg) {
	d.launch(name, (n+chainBlock-1)/chainBlock, chainBlock, 0, args...)
}

// staged launches a staged chain kernel (kernels.cu norm_cols, k_sumsq_part) over n chains: every
// block's threads load for chainCols chains, and one warp carries the chains.
func (d *Device) staged(name string, n int, args ...arg) {
	d.launch(name, (n+chainCols-1)/chainCols, stagedBlock, 0, args...)
}

// elem launches an elementwise kernel over n items.
func (d *Device) elem(name string, n int, args ...arg) {
	d.launch(name, (n+elemBlock-1)/elemBlock, elemBlock, 0, args...)
}
