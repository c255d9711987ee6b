package devnet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/node/devnet"
	"github.com/airanode/airanode/node/nodetest"
)

func TestMain(m *testing.M) {
	if nodetest.IsChild() {
		os.Exit(nodetest.ChildMain())
	}
	os.Exit(m.Run())
}

// childCommand runs this test binary as the node `run` would start, with the data directory and
// bootstrap address taken from the run arguments.
func childCommand(t *testing.T) func(int, []string) *exec.Cmd {
	return func(_ int, args []string) *exec.Cmd {
		if len(args) == 0 || args[0] != "run" {
			t.Errorf("node command %v does not start with run", args)
		}
		flag := func(name string) string {
			if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
				return args[i+1]
			}
			return ""
		}
		var boot []string
		if b := flag("--bootstrap"); b != "" {
			boot = []string{b}
		}
		return nodetest.ChildCommand(flag("--data-dir"), boot...)
	}
}

// TestDevnet starts three node processes, checks that they find each other and execute tasks
// submitted to the first, and that Close stops them all and removes the temporary directory.
func TestDevnet(t *testing.T) {
	ctx := context.Background()
	d, err := devnet.Start(ctx, devnet.Options{Nodes: 3, Command: childCommand(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	nodes := d.Nodes()
	if len(nodes) != 3 {
		t.Fatalf("%d nodes", len(nodes))
	}
	nodetest.WaitFor(t, 60*time.Second, func() error {
		for _, s := range d.Status(ctx) {
			if s.Err != nil {
				return s.Err
			}
			if s.Status.TaskPeers < 2 {
				return fmt.Errorf("node %d knows %d task peers", s.Index, s.Status.TaskPeers)
			}
		}
		return nil
	})
	proto, err := json.Marshal(node.SmokeProtocol(8))
	if err != nil {
		t.Fatal(err)
	}
	var tasks []string
	for seed := range 3 {
		r, err := nodes[0].API.Submit(ctx, api.SubmitRequest{Arch: "width=16: A M", ProtocolObject: proto, Seed: uint64(seed), Replicas: 1})
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, r.Task)
	}
	nodetest.WaitFor(t, 90*time.Second, func() error {
		for _, n := range nodes {
			for _, tc := range tasks {
				d, err := n.API.Task(ctx, tc)
				if err != nil {
					return err
				}
				if d.State != "done" {
					return fmt.Errorf("node %d: task %s %s", n.Index, tc, d.State)
				}
			}
		}
		return nil
	})
	dir := d.Dir()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if exited, err := n.Exited(); !exited || err != nil {
			t.Errorf("node %d: exited %v, %v (want a clean exit)", n.Index, exited, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("devnet directory left behind: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestDevnetFailedStart: a node that exits at once makes Start fail, stop the others and remove
// the directory; bad options are refused.
func TestDevnetFailedStart(t *testing.T) {
	keep := t.TempDir()
	_, err := devnet.Start(context.Background(), devnet.Options{Nodes: 2, Dir: keep, Command: func(i int, args []string) *exec.Cmd {
		if i == 1 {
			return exec.Command(os.Args[0], "-test.run=^$", "-no-such-flag")
		}
		return childCommand(t)(i, args)
	}})
	if !errors.Is(err, devnet.ErrExited) {
		t.Fatalf("Start: %v, want ErrExited", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("a given directory was removed: %v", err)
	}
	if _, err := node.ReadInfo(keep + "/node-0"); !errors.Is(err, node.ErrNoInfo) {
		t.Fatalf("node 0 still running after a failed start: %v", err)
	}
	for _, o := range []devnet.Options{{Nodes: 0}, {Nodes: devnet.MaxNodes + 1}, {Nodes: 1, Threads: -1}} {
		if _, err := devnet.Start(context.Background(), o); !errors.Is(err, devnet.ErrOptions) {
			t.Errorf("Start(%+v): %v, want ErrOptions", o, err)
		}
	}
}
