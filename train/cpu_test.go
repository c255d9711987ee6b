package train

import (
	"testing"

	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
)

// cpuDev is the CPU device with the given number of threads.
var cpuDev = testDevice{"cpu", func(t testing.TB, threads int) gpu.Device {
	d, err := cpu.New(threads)
	if err != nil {
		t.Fatalf("cpu.New(%d): %v", threads, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}}

func init() { devices = append(devices, cpuDev) }
