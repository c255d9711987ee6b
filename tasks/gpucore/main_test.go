package gpucore_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	core "github.com/airanode/airanode/tasks/gpucore"
)

// fakeEnv marks the test binary, re-executed by a Supervisor, as a fake compute core.
const fakeEnv = "AIRANODE_CORE_TEST_FAKE"

// TestMain runs the fake core when the test binary is started as one (fakeEnv set), and the tests
// otherwise.
func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" {
		os.Exit(fakeCore(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeArgs are the arguments a test Supervisor gives the fake core of device ordinal: the mode
// says how it (mis)behaves.
func fakeArgs(modes ...string) func(int) []string {
	return func(ordinal int) []string {
		mode := modes[min(ordinal, len(modes)-1)]
		return []string{"serve", "--device", fmt.Sprint(ordinal), "--mode", mode}
	}
}

// fakeCore is the core binary of the tests: core.Serve with the CPU device and core.EvalRun, as
// cmd/airanode-cuda serve does with the CUDA device, or one of the misbehaviours below.
//
//	serve      a real core
//	exit       prints a reason to stderr and exits 3 before the handshake
//	garbage    answers hello with text
//	hang       never answers hello
//	version    answers hello with a version error
//	badframe   a malformed frame mid-task
//	oversize   a frame header announcing 1 GiB mid-task
//	wrongkind  an Info frame mid-task
//	chatter    an unsolicited Progress while idle
//	stall      a task that sends nothing and ignores cancellation
//	panic      a task that panics
//	flaky      exits 4 on its first start (a marker file in $AIRANODE_CORE_TEST_DIR), then serves
func fakeCore(args []string) int {
	fs := flag.NewFlagSet("fake-core", flag.ContinueOnError)
	device := fs.Int("device", -1, "")
	mode := fs.String("mode", "serve", "")
	if len(args) == 0 || args[0] != "serve" || fs.Parse(args[1:]) != nil || *device < 0 {
		fmt.Fprintln(os.Stderr, "fake core: usage: serve --device N --mode M")
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	out := os.Stdout
	switch *mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "fake core: no device here")
		return 3
	case "flaky":
		marker := os.Getenv("AIRANODE_CORE_TEST_DIR") + "/started"
		if _, err := os.Stat(marker); err != nil {
			_ = os.WriteFile(marker, nil, 0o600)
			fmt.Fprintln(os.Stderr, "fake core: first start fails")
			return 4
		}
	case "garbage", "hang", "version":
		if _, err := core.ReadMessage(os.Stdin, 0); err != nil {
			return 1
		}
		switch *mode {
		case "garbage":
			fmt.Fprintln(out, "Usage: airanode-cuda info | bench")
		case "version":
			_ = core.WriteMessage(out, &core.Error{Code: core.CodeVersion, Message: "this core speaks version 9"}, 0)
		case "hang":
			<-ctx.Done()
		}
		return 1
	}
	dev, err := cpu.New(1, cpu.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake core:", err)
		return 1
	}
	defer dev.Close()
	run := core.EvalRun
	raw := func(b []byte) { _, _ = out.Write(b) }
	switch *mode {
	case "badframe", "oversize", "wrongkind", "stall", "panic":
		run = func(ctx context.Context, _ gpu.Device, job *core.Job) (*core.Report, error) {
			switch *mode {
			case "badframe": // a Progress whose header has a field the kind does not know
				raw([]byte{0, 0, 0, 12, byte(core.KindProgress), 0, 0, 0, 7, 0xa1, 0x64, 'b', 'o', 'g', 'y', 0x01})
			case "oversize":
				raw([]byte{0x40, 0, 0, 0, byte(core.KindCheckpoint), 0, 0, 0, 1})
			case "wrongkind":
				_ = core.WriteMessage(out, &core.Info{Version: 1, Name: "x", Class: "x", MaxFrame: core.MinMaxFrame}, 0)
			case "panic":
				panic("fake core: kernel exploded")
			case "stall":
				time.Sleep(time.Hour)
			}
			<-ctx.Done()
			return nil, ctx.Err()
		}
	case "chatter":
		go func() {
			time.Sleep(200 * time.Millisecond)
			_ = core.WriteMessage(out, &core.Progress{ID: 1, Seq: 1, Step: 1, Of: 2}, 0)
		}()
	}
	err = core.Serve(ctx, os.Stdin, out, dev, run, core.WithLogger(log), core.WithEngine(bench.EvalEngine))
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "fake core:", err)
		return 1
	}
	return 0
}
