//go:build cudaemu

package node_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/airanode/airanode/gpu/cuda"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/node/nodetest"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks/gpucore"
)

// emuCoreEnv names the airanode-cuda binary built with the tag cudaemu (make cuda-emu builds it and
// sets it): the real compute core, its CUDA device running the kernels on the host.
const emuCoreEnv = "AIRANODE_EMU_CORE"

// TestEmuCore runs a task the way a GPU node does, without a GPU: the node finds one (fake) NVIDIA
// device, spawns the real compute core (airanode-cuda serve, the CUDA device's own code on
// emulated kernels), the task runs on it, and its Result is the CPU trainer's, bit for bit — digests,
// losses, metrics, score — but for the class the device declares and the checkpoints (a core keeps
// its own state format).
func TestEmuCore(t *testing.T) {
	bin := os.Getenv(emuCoreEnv)
	if bin == "" {
		t.Skipf("%s is not set (make cuda-emu sets it)", emuCoreEnv)
	}
	const steps, seed = 8, 11
	n, err := node.New(context.Background(), gpuConfig(t), append(nodetest.Options("emu", nodetest.Fast),
		node.WithGPUCores(func(c *gpucore.Config) {
			c.Binary, c.ProcRoot = bin, fakeProc(t, 1)
			c.HandshakeTimeout, c.ShutdownTimeout, c.CancelGrace = 60*time.Second, 10*time.Second, 10*time.Second
		}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := n.Workers(); got != 2 {
		t.Fatalf("workers %d, want 2 (1 CPU + the core)", got)
	}
	cl := nodetest.Client(t, n)
	r, err := cl.Submit(context.Background(), smokeRequest(t, steps, seed, 1))
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, cl, r.Task, 5*time.Minute, isDone)
	got, _ := localResult(t, n, r.Task)
	if got.Class != cuda.Class {
		t.Fatalf("result class %q, want %q: the task did not run on the core", got.Class, cuda.Class)
	}
	want := reference(t, steps, seed).Result
	want.Executor, want.Class = got.Executor, got.Class
	if len(want.Segments) != len(got.Segments) {
		t.Fatalf("%d segments, the CPU trainer's %d", len(got.Segments), len(want.Segments))
	}
	for i := range want.Segments {
		if !bytes.Equal(got.Segments[i].Digest, want.Segments[i].Digest) {
			t.Errorf("segment %d: digest %x, the CPU trainer's %x", i, got.Segments[i].Digest, want.Segments[i].Digest)
		}
		want.Segments[i].Checkpoint = got.Segments[i].Checkpoint
	}
	gb, err := object.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := object.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gb, wb) {
		t.Fatalf("the core's result\n%+v\nthe CPU trainer's (class, executor and checkpoints aside)\n%+v", got, want)
	}
}
