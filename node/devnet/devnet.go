// Package devnet runs a development network on one machine: N `airanode run` processes on
// loopback, each with its own data directory and a share of the machine's cores, the first one
// the bootstrap peer of the others. Start waits until every node has written its info file (so
// its API answers); Close stops them with SIGINT (SIGKILL after a grace period) and removes the
// temporary directory it made. `airanode devnet` is the command built on it.
//
// A Devnet is safe for concurrent use.
package devnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/node"
)

// ErrOptions means Options that cannot describe a devnet.
var ErrOptions = errors.New("devnet: invalid options")

// ErrExited means a node process ended before it started.
var ErrExited = errors.New("devnet: node process exited")

// MaxNodes bounds the nodes of one devnet.
const MaxNodes = 64

// Options describe a devnet.
type Options struct {
	// Nodes is how many nodes to run (1..MaxNodes).
	Nodes int
	// Dir holds node-<i>/ data directories; empty makes a temporary directory that Close removes.
	Dir string
	// Network is the network name (default "devnet").
	Network string
	// Threads is each node's --threads (0: the machine's CPUs divided among the nodes, at least 1).
	Threads int
	// Args are extra arguments for every node's `run` command.
	Args []string
	// NodeArgs, when not nil, returns more arguments for node i's `run` command (after Args).
	NodeArgs func(i int) []string
	// Command makes the process of node i from its `run` arguments. Nil runs this executable.
	Command func(i int, args []string) *exec.Cmd
	// StartTimeout bounds the start of each node (default 60s).
	StartTimeout time.Duration
	// StopTimeout is how long Close waits after SIGINT before SIGKILL (default 20s).
	StopTimeout time.Duration
	// Logger receives the devnet's logs (nil: discard).
	Logger *slog.Logger
}

// Node is one node process of a devnet.
type Node struct {
	Index int
	// Dir is its data directory and Log the file its output goes to.
	Dir, Log string
	Cmd      *exec.Cmd
	// Info is what it wrote into its info file; API is a client of its control API.
	Info node.Info
	API  *api.Client

	done chan struct{}
	err  error
}

// Exited reports whether the process has ended, and its exit error.
func (n *Node) Exited() (bool, error) {
	select {
	case <-n.done:
		return true, n.err
	default:
		return false, nil
	}
}

// Devnet is a running development network.
type Devnet struct {
	o     Options
	dir   string
	temp  bool
	log   *slog.Logger
	mu    sync.Mutex
	nodes []*Node
	once  sync.Once
	err   error
}

// Start starts the nodes one after the other (node 0 first, the others bootstrapping through
// it) and waits until each has started. On error, what was started is stopped and removed.
func Start(ctx context.Context, o Options) (*Devnet, error) {
	if o.Nodes < 1 || o.Nodes > MaxNodes {
		return nil, fmt.Errorf("%w: %d nodes, want 1-%d", ErrOptions, o.Nodes, MaxNodes)
	}
	if o.Threads < 0 || o.Threads > 1024 {
		return nil, fmt.Errorf("%w: %d threads per node", ErrOptions, o.Threads)
	}
	if o.Network == "" {
		o.Network = "devnet"
	}
	if o.Threads == 0 {
		o.Threads = max(1, runtime.NumCPU()/o.Nodes)
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 20 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Command == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("devnet: find this executable: %w", err)
		}
		o.Command = func(_ int, args []string) *exec.Cmd { return exec.Command(exe, args...) }
	}
	d := &Devnet{o: o, dir: o.Dir, log: o.Logger}
	if d.dir == "" {
		dir, err := os.MkdirTemp("", "airanode-devnet-")
		if err != nil {
			return nil, fmt.Errorf("devnet: %w", err)
		}
		d.dir, d.temp = dir, true
	} else if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	for i := range o.Nodes {
		var boot string
		if i > 0 {
			boot = d.nodes[0].Info.Addrs[0]
		}
		if _, err := d.startNode(ctx, i, boot); err != nil {
			_ = d.Close()
			return nil, err
		}
	}
	return d, nil
}

// args returns the `run` arguments of node i in dir, bootstrapping through boot ("" for none).
func (d *Devnet) args(i int, dir, boot string) []string {
	a := []string{"run", "--data-dir", dir, "--network", d.o.Network,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0", "--mdns=false",
		"--threads", strconv.Itoa(d.o.Threads), "--status", "log"}
	if boot != "" {
		a = append(a, "--bootstrap", boot)
	}
	a = append(a, d.o.Args...)
	if d.o.NodeArgs != nil {
		a = append(a, d.o.NodeArgs(i)...)
	}
	return a
}

// startNode starts node i and waits for its info file.
func (d *Devnet) startNode(ctx context.Context, i int, boot string) (*Node, error) {
	dir := filepath.Join(d.dir, fmt.Sprintf("node-%d", i))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("devnet: node %d: %w", i, err)
	}
	_ = os.Remove(filepath.Join(dir, node.InfoFile)) // left by a killed node
	logPath := filepath.Join(dir, "node.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("devnet: node %d: %w", i, err)
	}
	defer logf.Close()
	cmd := d.o.Command(i, d.args(i, dir, boot))
	cmd.Stdout, cmd.Stderr = logf, logf
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("devnet: start node %d: %w", i, err)
	}
	n := &Node{Index: i, Dir: dir, Log: logPath, Cmd: cmd, done: make(chan struct{})}
	go func() {
		n.err = cmd.Wait()
		close(n.done)
	}()
	d.mu.Lock()
	d.nodes = append(d.nodes, n)
	d.mu.Unlock()
	deadline := time.NewTimer(d.o.StartTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		if info, err := node.ReadInfo(dir); err == nil && info.PID == cmd.Process.Pid && len(info.Addrs) > 0 {
			n.Info = info
			break
		}
		select {
		case <-n.done:
			return nil, fmt.Errorf("%w: node %d: %v (its log: %s)", ErrExited, i, n.err, logPath)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("devnet: node %d did not start within %s (its log: %s)", i, d.o.StartTimeout, logPath)
		case <-poll.C:
		}
	}
	cl, err := api.NewClient(n.Info.API)
	if err != nil {
		return nil, err
	}
	n.API = cl
	d.log.Info("devnet node started", "node", i, "peer", n.Info.PeerID, "api", n.Info.API, "dir", dir)
	return n, nil
}

// Dir returns the directory holding the nodes' data directories.
func (d *Devnet) Dir() string { return d.dir }

// Nodes returns the nodes, in start order.
func (d *Devnet) Nodes() []*Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*Node(nil), d.nodes...)
}

// NodeStatus is one node's status, or why it is not available.
type NodeStatus struct {
	Index  int
	Status api.Status
	Err    error
}

// Status asks every node for its status.
func (d *Devnet) Status(ctx context.Context) []NodeStatus {
	nodes := d.Nodes()
	out := make([]NodeStatus, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		out[i].Index = n.Index
		if exited, err := n.Exited(); exited {
			out[i].Err = fmt.Errorf("%w: %v", ErrExited, err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Status, out[i].Err = n.API.Status(ctx)
		}()
	}
	wg.Wait()
	return out
}

// Close stops every node: SIGINT, then SIGKILL for those still running after StopTimeout. It
// removes the directory when Start made it. It is idempotent.
func (d *Devnet) Close() error {
	d.once.Do(func() {
		nodes := d.Nodes()
		for _, n := range nodes {
			if exited, _ := n.Exited(); !exited {
				_ = n.Cmd.Process.Signal(os.Interrupt)
			}
		}
		deadline := time.Now().Add(d.o.StopTimeout)
		var errs []error
		for _, n := range nodes {
			select {
			case <-n.done:
			case <-time.After(time.Until(deadline)):
				_ = n.Cmd.Process.Signal(syscall.SIGKILL)
				<-n.done
				errs = append(errs, fmt.Errorf("devnet: node %d did not stop in %s: killed", n.Index, d.o.StopTimeout))
			}
			if n.API != nil {
				n.API.CloseIdle()
			}
		}
		if d.temp {
			if err := os.RemoveAll(d.dir); err != nil {
				errs = append(errs, err)
			}
		}
		d.err = errors.Join(errs...)
		d.log.Info("devnet stopped", "nodes", len(nodes))
	})
	return d.err
}
