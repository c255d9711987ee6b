//go:build cudaemu && !cuda

package cuda

/*
#cgo CXXFLAGS: -std=c++20 -O2 -w
#include <stdint.h>
#include <stdlib.h>
int emu_launch_named(const char* name, unsigned gx, unsigned gy, unsigned threads, size_t shared, const uint64_t* args, int nargs);
int emu_has(const char* name);
uint64_t emu_alloc(size_t bytes);
void emu_free(uint64_t p);
void emu_htod(uint64_t dst, const void* src, size_t bytes);
void emu_dtoh(void* dst, uint64_t src, size_t bytes);
void emu_dtod(uint64_t dst, uint64_t src, size_t bytes);
*/
import "C"

import (
	"embed"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/airanode/airanode/gpu"
)

// emuSources are the files driver_emu.cc includes. Embedding them makes them part of the go
// command's build cache key: a change to a kernel rebuilds the emulation (the go command does not
// follow #include into a .cu file).
//
//go:embed kernels.cu emu/cuda_emu.h
var emuSources embed.FS

// emuMu serialises the emulation: its block and thread indices are process-wide.
var emuMu sync.Mutex

// emuDriver runs kernels.cu on the host (driver_emu.cc, through gpu/cuda/emu): memory is host memory,
// a launch runs to completion. It exists to run kernels.go's launches, and whole trainings, without a
// GPU (make cuda-emu); it is slow.
type emuDriver struct {
	names map[string]*C.char // the kernels' names as C strings, made once (freed by close)
	// argv holds the launch's parameters for C: the args slice points into the Device, which holds
	// Go pointers, so cgo may not be handed it.
	argv [maxArgs]C.uint64_t
	// The side stream: its launches wait in queue and run at the next join or sync, after every
	// launch the main stream took meanwhile — the latest a GPU may run them. A missing join (a
	// buffer they read overwritten, a result they write read) then gives other bits than the CPU
	// device's, which the tests compare.
	queue []emuLaunch
}

// emuLaunch is a queued side launch.
type emuLaunch struct {
	name                    string
	gx, gy, threads, shared int
	args                    [maxArgs]arg
	n                       int
}

// emuMemory is the device memory the emulation reports (Describe): enough for the tasks a test runs.
const emuMemory = 4 << 30

// Count returns 1: the emulation is one device.
func Count() (int, error) { return 1, nil }

// Describe describes the emulated device, ordinal 0.
func Describe(ordinal int) (Info, error) {
	if ordinal != 0 {
		return Info{}, fmt.Errorf("cuda emulation: device %d of 1: %w", ordinal, gpu.ErrNoDevice)
	}
	return Info{Ordinal: 0, Name: "cuda-emu (kernels on the host)", MemoryBytes: emuMemory}, nil
}

// New returns the emulated device for ordinal 0 (NewEmu), so that airanode-cuda built with the tag
// cudaemu runs as a compute core without a GPU, slowly.
func New(ordinal int) (*Device, error) {
	if _, err := Describe(ordinal); err != nil {
		return nil, err
	}
	return NewEmu()
}

// NewEmu returns a Device whose kernels run on the host through the emulation (build tag cudaemu):
// the same launches as a GPU's, the same bits, no speed.
func NewEmu() (*Device, error) {
	e := &emuDriver{names: map[string]*C.char{}}
	for _, k := range kernelNames {
		ck := C.CString(k)
		e.names[k] = ck
		if C.emu_has(ck) == 0 {
			e.close()
			return nil, fmt.Errorf("cuda emulation: kernel %s is missing from driver_emu.cc", k)
		}
	}
	return newDevice("cuda-emu (kernels on the host)", e)
}

func (e *emuDriver) alloc(bytes int64) (dptr, error) {
	p := C.emu_alloc(C.size_t(bytes))
	if p == 0 {
		return 0, fmt.Errorf("%w: host memory", gpu.ErrOutOfMemory)
	}
	return dptr(p), nil
}

func (e *emuDriver) free(p dptr) error { C.emu_free(C.uint64_t(p)); return nil }

func (e *emuDriver) htod(dst dptr, src unsafe.Pointer, bytes int64) error {
	C.emu_htod(C.uint64_t(dst), src, C.size_t(bytes))
	return nil
}

func (e *emuDriver) dtoh(dst unsafe.Pointer, src dptr, bytes int64) error {
	C.emu_dtoh(dst, C.uint64_t(src), C.size_t(bytes))
	return nil
}

func (e *emuDriver) dtod(dst, src dptr, bytes int64) error {
	C.emu_dtod(C.uint64_t(dst), C.uint64_t(src), C.size_t(bytes))
	return nil
}

// launch runs the kernel to completion, or queues it on the side stream (launch3 has checked the
// parameter count).
func (e *emuDriver) launch(name string, gx, gy, threads, shared int, side bool, args []arg) error {
	if side {
		l := emuLaunch{name: name, gx: gx, gy: gy, threads: threads, shared: shared, n: len(args)}
		copy(l.args[:], args)
		e.queue = append(e.queue, l)
		return nil
	}
	return e.run(name, gx, gy, threads, shared, args)
}

// fork has nothing to order: a queued launch runs after everything the main stream took before it.
func (e *emuDriver) fork() error { return nil }

// join runs the side stream's queue.
func (e *emuDriver) join() error {
	q := e.queue
	e.queue = e.queue[:0]
	for i := range q {
		l := &q[i]
		if err := e.run(l.name, l.gx, l.gy, l.threads, l.shared, l.args[:l.n]); err != nil {
			return fmt.Errorf("side launch %s: %w", l.name, err)
		}
	}
	return nil
}

func (e *emuDriver) run(name string, gx, gy, threads, shared int, args []arg) error {
	for k, a := range args {
		e.argv[k] = C.uint64_t(a)
	}
	cn, ok := e.names[name]
	if !ok {
		return errors.New("no such kernel in the emulation")
	}
	emuMu.Lock()
	rc := C.emu_launch_named(cn, C.unsigned(gx), C.unsigned(gy), C.unsigned(threads), C.size_t(shared), &e.argv[0], C.int(len(args)))
	emuMu.Unlock()
	switch rc {
	case 0:
		return nil
	case 1:
		return errors.New("no such kernel in the emulation")
	case 2:
		return fmt.Errorf("%d parameters do not match the kernel's", len(args))
	default:
		return errors.New("the emulation found an error (a divergent barrier, or too much shared memory)")
	}
}

// sync completes the side stream's work too, as cuCtxSynchronize does.
func (e *emuDriver) sync() error { return e.join() }
func (e *emuDriver) close() error {
	for _, c := range e.names {
		C.free(unsafe.Pointer(c))
	}
	clear(e.names)
	return nil
}
