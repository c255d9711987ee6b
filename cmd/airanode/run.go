package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/tasks"
)

// runFlags are the tuning flags of `airanode run` that are not part of the config file.
type runFlags struct {
	lease, rankDelay, warmup, capability time.Duration
	modelThreads                         int
	status                               string
	demoLiar                             bool
	liarDelay                            time.Duration
	searchInFlight                       int
	searchPoll                           time.Duration
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the node: join the network, claim and train tasks, serve the control API",
		Long: "run starts the node daemon on the data directory: it joins the network (bootstrap peers,\n" +
			"mDNS, the DHT), advertises what it can take, claims training tasks by rendezvous rank, trains\n" +
			"them with one model per CPU thread (--threads), and publishes signed results. The control API\n" +
			"(--api, loopback only) serves `airanode task`, `peers` and `worker`.\n\n" +
			"On a terminal it shows a live status line; otherwise it writes plain log lines. Ctrl-C or\n" +
			"SIGTERM stops it cleanly: running tasks keep their lease and last checkpoint, and a restart\n" +
			"within the lease resumes them. To finish the running tasks first, run\n" +
			"`airanode worker drain --wait` before stopping.",
		Example: "  airanode run\n" +
			"  airanode run --threads 4 --bootstrap /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...\n" +
			"  airanode run --data-dir /tmp/n1 --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			mode, err := statusMode(f.status, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := cmd.ErrOrStderr()
			var sl *statusLine
			logOut := out
			if mode == "line" {
				sl = &statusLine{w: out}
				logOut = sl
			}
			log := newLoggerTo(logOut, c.LogLevel)
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts := []node.Option{
				node.WithLogger(log), node.WithVersion(Version), node.WithModelThreads(f.modelThreads),
				node.WithTasks(func(tc *tasks.Config) {
					tc.Lease, tc.RankDelay, tc.CapabilityInterval = f.lease, f.rankDelay, f.capability
					if f.warmup != 0 {
						tc.Warmup = f.warmup
					}
				}),
			}
			if mode == "log" {
				opts = append(opts, node.WithEvents(func(e tasks.Event) { logEvent(log, e) }))
			}
			if f.demoLiar {
				opts = append(opts, node.WithDemoLiar(f.liarDelay))
			}
			if f.searchInFlight != 0 || f.searchPoll != 0 {
				opts = append(opts, node.WithSearchRunner(f.searchInFlight, f.searchPoll))
			}
			n, err := node.New(ctx, c, opts...)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "airanode %s: peer %s on network %q\n", Version, n.ID(), c.Network)
			for _, a := range n.Addrs() {
				fmt.Fprintf(out, "  listening on %s\n", a)
			}
			fmt.Fprintf(out, "  control API on %s, %d workers; Ctrl-C to stop\n", n.APIAddr(), n.Workers())
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			last := time.Now()
		loop:
			for {
				select {
				case <-ctx.Done():
					break loop
				case <-tick.C:
					switch {
					case sl != nil:
						sl.set(formatStatus(n.Status()))
					case mode == "log" && time.Since(last) >= 30*time.Second:
						last = time.Now()
						logStatus(log, n.Status())
					}
				}
			}
			if sl != nil {
				sl.clear()
			}
			fmt.Fprintln(out, "stopping: running tasks keep their lease and last checkpoint")
			return n.Close()
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&f.lease, "lease", 0, "lease of a claim, renewed by heartbeats (0: 60s)")
	fl.DurationVar(&f.rankDelay, "rank-delay", 0, "wait per rank below the top R before claiming (0: 10s)")
	fl.DurationVar(&f.warmup, "warmup", 0, "listen this long after start before claiming new tasks (0: one heartbeat, a quarter of the lease)")
	fl.DurationVar(&f.capability, "capability-interval", 0, "how often the node re-advertises what it can take (0: 30s)")
	fl.IntVar(&f.modelThreads, "model-threads", 1, "CPU threads per model; the node trains threads/model-threads models at once")
	fl.StringVar(&f.status, "status", "auto", "status display: line (live status line), log (log lines), auto (line on a terminal)")
	fl.IntVar(&f.searchInFlight, "search-in-flight", 0, "tasks each search launched here keeps in flight (0: 4)")
	fl.DurationVar(&f.searchPoll, "search-poll", 0, "how often the agents of the searches launched here look at verdicts (0: 2s)")
	fl.BoolVar(&f.demoLiar, "demo-liar", false, "DEMO AND TESTS ONLY: never train, report fabricated results (the network must reject them)")
	fl.DurationVar(&f.liarDelay, "demo-liar-delay", time.Second, "with --demo-liar: how long each fabricated run pretends to take")
	return cmd
}

// statusMode resolves --status.
func statusMode(s string, w io.Writer) (string, error) {
	switch s {
	case "line", "log":
		return s, nil
	case "auto", "":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return "line", nil
		}
		return "log", nil
	}
	return "", fmt.Errorf("--status %q: want line, log or auto", s)
}

// newLoggerTo returns a text logger to w at the level.
func newLoggerTo(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// logEvent writes the task events a volunteer wants to see as log lines.
func logEvent(log *slog.Logger, e tasks.Event) {
	switch e.Kind {
	case tasks.EventClaimed, tasks.EventResumed:
		log.Info("task "+string(e.Kind), "task", e.Task, "step", e.Step, "of", e.Of)
	case tasks.EventCheckpoint:
		log.Debug("checkpoint", "task", e.Task, "step", e.Step, "of", e.Of)
	case tasks.EventAbandoned, tasks.EventReleased:
		log.Info("task "+string(e.Kind), "task", e.Task, "step", e.Step)
	case tasks.EventFailed:
		log.Warn("task failed", "task", e.Task, "err", e.Err)
	case tasks.EventResult:
		log.Info("result received", "task", e.Task, "executor", e.Peer, "result", e.Result)
	}
}

func logStatus(log *slog.Logger, s api.Status) {
	args := []any{"peers", s.Peers, "worker", s.Worker.State, "running", s.Worker.Running,
		"tasks", s.Tasks.Known, "done", s.Tasks.Done, "completed_here", s.Worker.Completed}
	for _, p := range s.Running {
		args = append(args, "task", short(p.Task), "step", fmt.Sprintf("%d/%d", p.Step, p.Of))
	}
	log.Info("status", args...)
}

// formatStatus is the one-line status of a node.
func formatStatus(s api.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s | peers %d | tasks %d (%d pending, %d claimed, %d done) | %s %d/%d",
		short(s.PeerID), s.Peers, s.Tasks.Known, s.Tasks.Pending, s.Tasks.Claimed, s.Tasks.Done,
		s.Worker.State, s.Worker.Running, s.Worker.Workers)
	for _, p := range s.Running {
		pct := 0.0
		if p.Of > 0 {
			pct = 100 * float64(p.Step) / float64(p.Of)
		}
		fmt.Fprintf(&b, " | %s %.0f%%", short(p.Task), pct)
		if p.Paused {
			b.WriteString(" (held)")
		}
	}
	fmt.Fprintf(&b, " | done here %d", s.Worker.Completed)
	return b.String()
}

// short abbreviates a CID or peer ID for display.
func short(s string) string {
	if len(s) <= 14 {
		return s
	}
	return s[:6] + "…" + s[len(s)-6:]
}

// statusLine keeps one status line at the bottom of a terminal: log lines written through it
// clear the line first and redraw it after. It is safe for concurrent use.
type statusLine struct {
	mu   sync.Mutex
	w    io.Writer
	line string
}

func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprint(s.w, "\r\033[K")
	n, err := s.w.Write(p)
	if s.line != "" {
		fmt.Fprint(s.w, s.line)
	}
	return n, err
}

func (s *statusLine) set(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.line = line
	fmt.Fprint(s.w, "\r\033[K"+line)
}

func (s *statusLine) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.line = ""
	fmt.Fprint(s.w, "\r\033[K")
}

// apiClient returns a client of the control API of the node this command talks to: --api when
// given, else the API the node running on the data directory wrote into its info file, else the
// configured api address.
func apiClient(cmd *cobra.Command) (*api.Client, error) {
	a, err := resolveAPI(cmd)
	if err != nil {
		return nil, err
	}
	return api.NewClient(a.addr)
}

// nodeAPI is where the control API of the node on the data directory is: --api when given
// (explicit), else the address the running node wrote in its info file (fromInfo), else the
// configured one. loaded says the configuration was read (dataDir is then its data directory).
type nodeAPI struct {
	addr                       string
	explicit, fromInfo, loaded bool
	dataDir                    string
}

// resolveAPI finds the control API address. Port 0 is an error: ErrInvalid when --api says so,
// ErrUnavailable when it comes from the configuration (no node wrote its real port).
func resolveAPI(cmd *cobra.Command) (nodeAPI, error) {
	c, err := loadConfig(cmd)
	if err != nil {
		return nodeAPI{}, err
	}
	a := nodeAPI{addr: c.API, explicit: cmd.Flags().Changed("api"), loaded: true, dataDir: c.DataDir}
	if !a.explicit {
		if info, err := node.ReadInfo(c.DataDir); err == nil && info.API != "" {
			a.addr, a.fromInfo = info.API, true
		}
	}
	if _, port, err := net.SplitHostPort(a.addr); err == nil && port == "0" {
		if a.explicit {
			return a, fmt.Errorf("%w: the api address %s has port 0", api.ErrInvalid, a.addr)
		}
		return a, fmt.Errorf("%w: the api address %s has port 0 and no node runs on %s", api.ErrUnavailable, a.addr, c.DataDir)
	}
	return a, nil
}

func newWorkerCmd() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "worker pause|resume|drain|workers N",
		Short: "Volunteer controls of a running node: pause, resume, drain, or set the workers",
		Long: "worker controls the node running on the data directory (through its control API):\n" +
			"  pause     claim nothing new and hold the running tasks at their next step (leases are kept\n" +
			"            for up to 10 minutes, then released to other nodes)\n" +
			"  resume    end a pause or a drain\n" +
			"  drain     finish the running tasks, claim nothing new (--wait: until they are done)\n" +
			"  workers N run at most N tasks at once",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.WorkerRequest{Action: args[0]}
			if req.Action == api.ActionWorkers {
				if len(args) != 2 {
					return fmt.Errorf("%w: worker workers N: N is required", api.ErrInvalid)
				}
				if _, err := fmt.Sscanf(args[1], "%d", &req.Workers); err != nil {
					return fmt.Errorf("%w: workers %q: not a number", api.ErrInvalid, args[1])
				}
			} else if len(args) != 1 {
				return fmt.Errorf("%w: worker %s takes no argument", api.ErrInvalid, req.Action)
			}
			if err := req.Check(); err != nil {
				return err
			}
			cl, err := apiClient(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			w, err := cl.Worker(ctx, req)
			if err != nil {
				return err
			}
			for wait && req.Action == api.ActionDrain && w.State == api.WorkerDraining {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(500 * time.Millisecond):
				}
				st, err := cl.Status(ctx)
				if err != nil {
					return err
				}
				w = st.Worker
			}
			fmt.Fprintf(cmd.OutOrStdout(), "worker %s: %d/%d running, %d completed\n", w.State, w.Running, w.Workers, w.Completed)
			if wait && req.Action == api.ActionDrain && w.State != api.WorkerDrained {
				return errors.New("drain did not complete (the node was resumed or paused)")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "with drain: wait until the running tasks are done")
	return cmd
}
