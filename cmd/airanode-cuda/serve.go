//go:build cuda || cudaemu

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cuda"
	core "github.com/airanode/airanode/tasks/gpucore"
)

// runServe is `airanode-cuda serve --device N`: the compute core the node spawns per GPU
// (tasks/gpucore.Supervisor). It speaks the core protocol (docs/gpu.md, "Core protocol") on standard
// input and output and logs to standard error; it runs the node's tasks with bench.Evaluate on the
// CUDA device until the node sends Shutdown or closes the pipe (exit 0), or SIGINT/SIGTERM.
func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	device := fs.Int("device", 0, "CUDA device ordinal")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv})).With("device", *device)
	out, err := protocolOutput()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	info, err := cuda.Describe(*device)
	if err != nil {
		return err
	}
	r := &recycler{ordinal: *device, log: log}
	dev, err := r.open()
	if err != nil {
		return err
	}
	defer r.close()
	err = core.Serve(ctx, os.Stdin, out, dev, r.run,
		core.WithMemory(info.MemoryBytes), core.WithEngine(bench.EvalEngine), core.WithLogger(log))
	if errors.Is(err, context.Canceled) {
		log.Info("stopped by a signal")
		return nil
	}
	return err
}

// recycler gives every task a fresh CUDA device: gpu/cuda frees memory only when a Device is
// closed and keeps its first kernel error for good, so a device per task bounds the memory a long
// run of tasks takes and keeps one task's failure from spoiling the next. Serve runs one task at
// a time, so no locking is needed.
type recycler struct {
	ordinal int
	log     *slog.Logger
	dev     *cuda.Device
	used    bool
}

func (r *recycler) open() (*cuda.Device, error) {
	d, err := cuda.New(r.ordinal)
	if err != nil {
		return nil, err
	}
	r.dev, r.used = d, false
	return d, nil
}

func (r *recycler) close() {
	if r.dev != nil {
		if err := r.dev.Close(); err != nil {
			r.log.Warn("close device", "err", err)
		}
		r.dev = nil
	}
}

// run is the core's RunFunc: core.EvalRun on a device no earlier task has used.
func (r *recycler) run(ctx context.Context, _ gpu.Device, job *core.Job) (*core.Report, error) {
	if r.dev == nil || r.used {
		r.close()
		if _, err := r.open(); err != nil {
			return nil, fmt.Errorf("reopen cuda device %d: %w", r.ordinal, err)
		}
	}
	r.used = true
	return core.EvalRun(ctx, r.dev, job)
}
