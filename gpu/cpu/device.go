package cpu

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu/gemm"
)

// Class is the reproducibility class of this device's kernels.
const Class = "cpu-v1"

// MaxAlloc is the largest buffer, in elements, that Alloc and AllocInts hand out (16 GiB of float32).
const MaxAlloc = 1 << 32

// Sentinel errors recorded by the kernels (see Device.Err).
var (
	// ErrShape means a kernel was given buffers whose lengths do not match its shape arguments.
	ErrShape = errors.New("cpu: shape mismatch")
	// ErrForeignBuffer means a kernel was given a buffer this device did not allocate.
	ErrForeignBuffer = errors.New("cpu: buffer of another device")
	// ErrIndex means a token id or target is outside the table or vocabulary.
	ErrIndex = errors.New("cpu: index out of range")
)

// Buffer is a span of float32s in host memory, allocated by a Device.
type Buffer struct {
	dev  *Device
	data []float32
}

var _ gpu.Buffer = (*Buffer)(nil)

// Len is the number of elements.
func (b *Buffer) Len() int { return len(b.data) }

// Slice returns a view of elements [off, off+n); it panics if the range is out of bounds. It allocates
// the small view header: take views once, at set-up.
func (b *Buffer) Slice(off, n int) gpu.Buffer {
	return &Buffer{dev: b.dev, data: b.data[off : off+n : off+n]}
}

// Floats returns the elements themselves (not a copy): the CPU device's memory is host memory.
func (b *Buffer) Floats() []float32 { return b.data }

// Ints is a span of int32s in host memory, allocated by a Device.
type Ints struct {
	dev  *Device
	data []int32
}

var _ gpu.Ints = (*Ints)(nil)

// Len is the number of elements.
func (b *Ints) Len() int { return len(b.data) }

// Slice returns a view of elements [off, off+n); it panics if the range is out of bounds.
func (b *Ints) Slice(off, n int) gpu.Ints {
	return &Ints{dev: b.dev, data: b.data[off : off+n : off+n]}
}

// Int32s returns the elements themselves (not a copy).
func (b *Ints) Int32s() []int32 { return b.data }

// Device is the CPU device. See the package documentation for its rules.
type Device struct {
	eng     *gemm.Engine
	vec     *vecImpl // the vector primitives, on the path matching eng's
	threads int
	grain   int // work below which a kernel runs on the caller alone
	log     *slog.Logger

	err       error
	closed    bool
	closeOnce sync.Once

	k   kernels     // per-kernel task structs, reused by every call
	scr scratchPool // scratch memory for the kernels that need it
}

var _ gpu.Device = (*Device)(nil)

// Option configures New.
type Option func(*Device)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(d *Device) {
		if l != nil {
			d.log = l
		}
	}
}

// WithPath forces a kernel path: gemm's, and for the other kernels the portable Go code when p is
// gemm.Portable (tests use it to check that every path gives the same bits).
func WithPath(p gemm.Path) Option {
	return func(d *Device) {
		if err := d.eng.SetPath(p); err != nil {
			d.err = err
		}
	}
}

// WithGrain sets the amount of work (roughly, element-operations) below which a kernel runs on the
// calling goroutine alone instead of waking the workers (default 16384). Tests set 0 so that every
// kernel splits its work across threads, even on tiny shapes.
func WithGrain(n int) Option {
	return func(d *Device) { d.grain = max(0, n) }
}

// New returns a CPU device that uses threads threads (at least 1) for matrix multiplies and kernels.
func New(threads int, opts ...Option) (*Device, error) {
	if threads < 1 {
		return nil, fmt.Errorf("cpu: threads must be at least 1, got %d", threads)
	}
	d := &Device{eng: gemm.New(threads), threads: threads, grain: defaultGrain, log: slog.Default()}
	for _, o := range opts {
		o(d)
	}
	if d.err != nil {
		d.eng.Close()
		return nil, d.err
	}
	d.vec = vecFor(d.eng.Path())
	d.scr.init(d)
	d.log.Debug("cpu device ready", "threads", threads, "path", d.eng.Path().String())
	return d, nil
}

// Name describes the device, e.g. "cpu (avx512, 2 threads)".
func (d *Device) Name() string {
	t := "threads"
	if d.threads == 1 {
		t = "thread"
	}
	return fmt.Sprintf("cpu (%s, %d %s)", d.eng.Path(), d.threads, t)
}

// Class returns "cpu-v1".
func (d *Device) Class() string { return Class }

// Threads is the number of threads the device uses.
func (d *Device) Threads() int { return d.threads }

// Engine returns the matrix-multiply engine (its Parallel is the device's worker pool).
func (d *Device) Engine() *gemm.Engine { return d.eng }

// Alloc returns a zeroed buffer of n float32s.
func (d *Device) Alloc(n int) (gpu.Buffer, error) {
	if d.closed {
		return nil, gpu.ErrClosed
	}
	if n < 0 || n > MaxAlloc {
		return nil, fmt.Errorf("%w: %d float32s", gpu.ErrOutOfMemory, n)
	}
	return &Buffer{dev: d, data: make([]float32, n)}, nil
}

// AllocInts returns a zeroed buffer of n int32s.
func (d *Device) AllocInts(n int) (gpu.Ints, error) {
	if d.closed {
		return nil, gpu.ErrClosed
	}
	if n < 0 || n > MaxAlloc {
		return nil, fmt.Errorf("%w: %d int32s", gpu.ErrOutOfMemory, n)
	}
	return &Ints{dev: d, data: make([]int32, n)}, nil
}

// Upload copies src into dst; their lengths must match.
func (d *Device) Upload(dst gpu.Buffer, src []float32) error {
	b, err := d.floats(dst)
	if err != nil {
		return err
	}
	if len(b) != len(src) {
		return fmt.Errorf("%w: upload of %d floats into %d", ErrShape, len(src), len(b))
	}
	copy(b, src)
	return nil
}

// Download copies src into dst; their lengths must match.
func (d *Device) Download(dst []float32, src gpu.Buffer) error {
	b, err := d.floats(src)
	if err != nil {
		return err
	}
	if len(b) != len(dst) {
		return fmt.Errorf("%w: download of %d floats into %d", ErrShape, len(b), len(dst))
	}
	copy(dst, b)
	return nil
}

// UploadInts copies src into dst; their lengths must match.
func (d *Device) UploadInts(dst gpu.Ints, src []int32) error {
	b, err := d.ints(dst)
	if err != nil {
		return err
	}
	if len(b) != len(src) {
		return fmt.Errorf("%w: upload of %d ints into %d", ErrShape, len(src), len(b))
	}
	copy(b, src)
	return nil
}

// DownloadInts copies src into dst; their lengths must match.
func (d *Device) DownloadInts(dst []int32, src gpu.Ints) error {
	b, err := d.ints(src)
	if err != nil {
		return err
	}
	if len(b) != len(dst) {
		return fmt.Errorf("%w: download of %d ints into %d", ErrShape, len(b), len(dst))
	}
	copy(dst, b)
	return nil
}

// Sync returns Err: kernels run synchronously, so there is nothing to wait for.
func (d *Device) Sync() error { return d.err }

// Err returns the first error a kernel recorded.
func (d *Device) Err() error { return d.err }

// Close stops the worker threads and releases the device's scratch memory. It is idempotent. Buffers
// stay readable from Go (they are ordinary slices) but every later kernel records gpu.ErrClosed.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.closed = true
		d.eng.Close()
		d.scr.release()
	})
	return nil
}

// floats returns the slice behind b, or an error if b is not one of this device's buffers.
func (d *Device) floats(b gpu.Buffer) ([]float32, error) {
	if d.closed {
		return nil, gpu.ErrClosed
	}
	cb, ok := b.(*Buffer)
	if !ok || cb == nil || cb.dev != d {
		return nil, fmt.Errorf("%w: %T", ErrForeignBuffer, b)
	}
	return cb.data, nil
}

func (d *Device) ints(b gpu.Ints) ([]int32, error) {
	if d.closed {
		return nil, gpu.ErrClosed
	}
	cb, ok := b.(*Ints)
	if !ok || cb == nil || cb.dev != d {
		return nil, fmt.Errorf("%w: %T", ErrForeignBuffer, b)
	}
	return cb.data, nil
}

// fail records err as the device's error if it is the first.
func (d *Device) fail(err error) {
	if d.err == nil {
		d.err = err
		d.log.Error("cpu kernel failed", "err", err)
	}
}

// f returns the slice behind a kernel argument; on a foreign buffer (or after Close) it records the
// error and returns ok=false.
func (d *Device) f(b gpu.Buffer) ([]float32, bool) {
	if cb, ok := b.(*Buffer); ok && cb != nil && cb.dev == d && !d.closed {
		return cb.data, true
	}
	_, err := d.floats(b)
	d.fail(err)
	return nil, false
}

func (d *Device) i(b gpu.Ints) ([]int32, bool) {
	if cb, ok := b.(*Ints); ok && cb != nil && cb.dev == d && !d.closed {
		return cb.data, true
	}
	_, err := d.ints(b)
	d.fail(err)
	return nil, false
}

// shape records an ErrShape naming the kernel and returns false when ok is false.
func (d *Device) shape(ok bool, kernel string) bool {
	if !ok {
		d.fail(fmt.Errorf("%w: %s", ErrShape, kernel))
	}
	return ok
}

// defaultGrain is the number of element-operations below which a kernel runs on the calling
// goroutine: waking the workers costs a few microseconds.
const defaultGrain = 1 << 14

// parallel runs t over [0,n) on the worker pool, or inline when the total work (n·cost) is small.
func (d *Device) parallel(n, cost int, t gemm.Task) {
	if n <= 0 {
		return
	}
	if d.threads == 1 || n == 1 || n*cost < d.grain {
		t.Run(0, n)
		return
	}
	d.eng.Parallel(n, t)
}
