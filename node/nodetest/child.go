package nodetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/node"
)

// Environment of a child node process (see StartChild).
const (
	envChild     = "AIRANODE_TEST_CHILD"
	envDir       = "AIRANODE_TEST_CHILD_DIR"
	envBootstrap = "AIRANODE_TEST_CHILD_BOOTSTRAP"
)

// IsChild reports whether this process is a child node started by StartChild. A test binary
// calls it first thing in TestMain: `if nodetest.IsChild() { os.Exit(nodetest.ChildMain()) }`.
func IsChild() bool { return os.Getenv(envChild) == "1" }

// ChildMain runs a test node as a process: Config and Fast timings, the data directory and
// bootstrap addresses from the environment. It runs until SIGINT or SIGTERM, closes the node and
// returns the exit code.
func ChildMain() int {
	dir := os.Getenv(envDir)
	var boot []string
	if b := os.Getenv(envBootstrap); b != "" {
		boot = strings.Split(b, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.New(ctx, Config(dir, boot...), Options("child", Fast)...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child node:", err)
		return 2
	}
	<-ctx.Done()
	if err := n.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "child node close:", err)
		return 1
	}
	return 0
}

// ChildCommand returns the command that runs this test binary as a child node on dir (see
// ChildMain); the binary's TestMain must call IsChild and ChildMain.
func ChildCommand(dir string, bootstrap ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envDir+"="+dir, envBootstrap+"="+strings.Join(bootstrap, ","))
	return cmd
}

// Child is a node running in a child process: the test binary re-executed as a node.
type Child struct {
	t    testing.TB
	Dir  string
	Cmd  *exec.Cmd
	Info node.Info
	API  *api.Client
	done chan struct{}
	err  error
}

// StartChild starts a child node on dir, bootstrapping through bootstrap, and waits until it
// wrote its info file. The child is killed at the end of the test if still running. Its output
// goes to dir/child.log.
func StartChild(t testing.TB, dir string, bootstrap ...string) *Child {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(dir, "child.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	_ = os.Remove(filepath.Join(dir, node.InfoFile)) // a killed child's file is stale
	cmd := ChildCommand(dir, bootstrap...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	c := &Child{t: t, Dir: dir, Cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(c.Kill)
	deadline := time.Now().Add(60 * time.Second)
	for {
		info, err := node.ReadInfo(dir)
		if err == nil && info.PID == cmd.Process.Pid {
			c.Info = info
			break
		}
		select {
		case <-c.done:
			log, _ := os.ReadFile(filepath.Join(dir, "child.log"))
			t.Fatalf("child exited before it started: %v\n%s", c.err, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Kill()
			t.Fatalf("child did not start within a minute")
		}
	}
	cl, err := api.NewClient(c.Info.API)
	if err != nil {
		t.Fatal(err)
	}
	c.API = cl
	return c
}

// Kill sends SIGKILL and waits for the process to end. It is idempotent.
func (c *Child) Kill() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.Cmd.Process.Kill()
	<-c.done
	if c.API != nil {
		c.API.CloseIdle()
	}
}

// Stop sends SIGTERM and waits up to timeout for a clean exit; it returns the exit error.
func (c *Child) Stop(timeout time.Duration) error {
	_ = c.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return c.err
	case <-time.After(timeout):
		c.Kill()
		return errors.New("child did not stop in time: killed")
	}
}

// Exited reports whether the process has ended.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}
