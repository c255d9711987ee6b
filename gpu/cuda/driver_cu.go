//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/airanode/airanode/gpu"
)

// cuDriver is the CUDA driver API through gorgonia.org/cu: one context, the kernels loaded from
// kernelsPTX, the null stream, and a side stream for the launches Device.Side sends there.
type cuDriver struct {
	ctx cu.CUContext
	mod cu.Module
	fns map[string]cu.Function
	// argv and ptrs hold the parameters of the launch in progress, so that a launch allocates
	// nothing on the Go heap.
	argv [maxArgs]arg
	ptrs [maxArgs]unsafe.Pointer
	// The side stream (non-blocking: it does not wait for the main, null stream on its own) and the
	// events that order the two (fork, join), made at the first fork.
	stream         cu.Stream
	forked, joined cu.Event
}

// Count returns the number of CUDA devices.
func Count() (int, error) { return cu.NumDevices() }

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

// New opens device ordinal: a context, the kernels loaded.
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
	drv := &cuDriver{ctx: ctx, fns: map[string]cu.Function{}}
	if err := cu.SetCurrentContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("cuda set context: %w", err), drv.close())
	}
	if drv.mod, err = cu.LoadData(kernelsPTX); err != nil {
		return nil, errors.Join(fmt.Errorf("cuda load kernels: %w", err), drv.close())
	}
	for _, k := range kernelNames {
		f, err := drv.mod.Function(k)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("cuda kernel %s: %w", k, err), drv.close())
		}
		drv.fns[k] = f
	}
	return newDevice(fmt.Sprintf("cuda:%d (%s)", ordinal, name), drv)
}

// do runs f with the goroutine pinned to its OS thread and the context current there. Every driver
// call runs this way, so the device works from any goroutine (one at a time).
func (c *cuDriver) do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(c.ctx); err != nil {
		return fmt.Errorf("cuda set context: %w", err)
	}
	return f()
}

func (c *cuDriver) alloc(bytes int64) (dptr, error) {
	var p cu.DevicePtr
	err := c.do(func() error {
		var err error
		if p, err = cu.MemAlloc(bytes); err != nil {
			return fmt.Errorf("%w: %w", gpu.ErrOutOfMemory, err)
		}
		if err := cu.MemsetD8(p, 0, bytes); err != nil {
			cu.MemFree(p)
			return fmt.Errorf("cuda memset: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return dptr(p), nil
}

func (c *cuDriver) free(p dptr) error {
	return c.do(func() error { return cu.MemFree(cu.DevicePtr(p)) })
}

func (c *cuDriver) htod(dst dptr, src unsafe.Pointer, bytes int64) error {
	return c.do(func() error { return cu.MemcpyHtoD(cu.DevicePtr(dst), src, bytes) })
}

func (c *cuDriver) dtoh(dst unsafe.Pointer, src dptr, bytes int64) error {
	return c.do(func() error { return cu.MemcpyDtoH(dst, cu.DevicePtr(src), bytes) })
}

func (c *cuDriver) dtod(dst, src dptr, bytes int64) error {
	return c.do(func() error { return cu.Memcpy(cu.DevicePtr(dst), cu.DevicePtr(src), bytes) })
}

// launch copies the parameters into argv first, so that a launch allocates nothing on the Go heap
// (launch3 has checked their count).
func (c *cuDriver) launch(name string, gx, gy, threads, shared int, side bool, args []arg) error {
	for k, a := range args {
		c.argv[k] = a
		c.ptrs[k] = unsafe.Pointer(&c.argv[k])
	}
	stream := cu.Stream{}
	if side {
		stream = c.stream
	}
	return c.do(func() error {
		return c.fns[name].Launch(gx, gy, 1, threads, 1, 1, shared, stream, c.ptrs[:len(args)])
	})
}

// fork: the side stream (made at the first fork) waits for an event recorded on the main stream.
func (c *cuDriver) fork() error {
	return c.do(func() error {
		if c.stream == (cu.Stream{}) {
			var err error
			if c.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
				return fmt.Errorf("cuda side stream: %w", err)
			}
			if c.forked, err = cu.MakeEvent(cu.DisableTiming); err != nil {
				return fmt.Errorf("cuda event: %w", err)
			}
			if c.joined, err = cu.MakeEvent(cu.DisableTiming); err != nil {
				return fmt.Errorf("cuda event: %w", err)
			}
		}
		if err := c.forked.Record(cu.Stream{}); err != nil {
			return fmt.Errorf("cuda event record: %w", err)
		}
		if err := c.stream.Wait(c.forked, 0); err != nil {
			return fmt.Errorf("cuda stream wait: %w", err)
		}
		return nil
	})
}

// join: the main stream waits for an event recorded on the side stream.
func (c *cuDriver) join() error {
	if c.stream == (cu.Stream{}) {
		return nil
	}
	return c.do(func() error {
		if err := c.joined.Record(c.stream); err != nil {
			return fmt.Errorf("cuda event record: %w", err)
		}
		if err := (cu.Stream{}).Wait(c.joined, 0); err != nil {
			return fmt.Errorf("cuda stream wait: %w", err)
		}
		return nil
	})
}

func (c *cuDriver) sync() error { return c.do(cu.Synchronize) }

func (c *cuDriver) close() error {
	var errs []error
	// Device.Close has synchronised when side work could be running.
	for _, ev := range []*cu.Event{&c.forked, &c.joined} {
		if *ev != (cu.Event{}) {
			errs = append(errs, c.do(func() error { return cu.DestroyEvent(ev) }))
		}
	}
	if c.stream != (cu.Stream{}) {
		errs = append(errs, c.do(c.stream.Destroy))
		c.stream = cu.Stream{}
	}
	if c.mod != (cu.Module{}) {
		errs = append(errs, c.do(c.mod.Unload))
	}
	return errors.Join(append(errs, c.ctx.Destroy())...)
}
