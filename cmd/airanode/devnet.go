package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/node/devnet"
	"github.com/airanode/airanode/search"
)

// devnetFlags are the options of `airanode devnet`.
type devnetFlags struct {
	nodes, threads, submit, steps, replicas int
	liars, searchInFlight                   int
	dir, network, arch, protocol, protoFile string
	search                                  string
	seed                                    uint64
	exitWhenDone                            bool
	lease, rankDelay, warmup, capability    time.Duration
	status                                  string
	joinTimeout                             time.Duration
}

func newDevnetCmd() *cobra.Command {
	var f devnetFlags
	cmd := &cobra.Command{
		Use:   "devnet --nodes N [--submit K] [--exit-when-done]",
		Short: "Run N nodes on this machine, connected to each other, and show their status",
		Long: "devnet starts N `airanode run` processes on loopback (OS-chosen ports), each with its own\n" +
			"data directory under --dir (a temporary directory by default, removed on exit) and a share of\n" +
			"the machine's cores (--threads-per-node), all bootstrapped to the first node. It shows their\n" +
			"status until Ctrl-C, then stops them (SIGINT, then SIGKILL after 20 s) and cleans up.\n\n" +
			"--submit K submits K tasks (seeds --seed, --seed+1, ...) to the first node: the architecture\n" +
			"--arch under --protocol (a registered name), --protocol-file, or by default the tiny smoke\n" +
			"protocol of --steps steps. --exit-when-done exits once every submitted task is done and prints\n" +
			"what the run measured: tasks per minute, the share of CPU time spent training, claim latency.\n" +
			"Node logs are in <dir>/node-<i>/node.log.",
		Example: "  airanode devnet --nodes 3 --submit 20 --exit-when-done\n" +
			"  airanode devnet --nodes 2 --dir /tmp/dn --submit 4 --arch 'A M A M' --protocol mad-lite",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDevnet(cmd, f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.nodes, "nodes", 3, "how many nodes to run (1-64)")
	fl.StringVar(&f.dir, "dir", "", "directory for the nodes' data directories (default: a temporary one, removed on exit)")
	fl.StringVar(&f.network, "network", "devnet", "network name")
	fl.IntVar(&f.threads, "threads-per-node", 0, "--threads of each node (0: the machine's CPUs divided among the nodes)")
	fl.IntVar(&f.submit, "submit", 0, "submit this many tasks to the first node once the nodes know each other")
	fl.StringVar(&f.arch, "arch", "width=32: A M", "architecture of the submitted tasks")
	fl.StringVar(&f.protocol, "protocol", "", "protocol of the submitted tasks (a registered name; default: the smoke protocol)")
	fl.StringVar(&f.protoFile, "protocol-file", "", "read the protocol of the submitted tasks from a JSON file")
	fl.IntVar(&f.steps, "steps", 200, "training steps of the smoke protocol")
	fl.IntVar(&f.replicas, "replicas", 1, "R of the submitted tasks")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the first submitted task")
	fl.BoolVar(&f.exitWhenDone, "exit-when-done", false, "exit when every submitted task is done, printing the measures")
	fl.DurationVar(&f.lease, "lease", 10*time.Second, "the nodes' --lease")
	fl.DurationVar(&f.rankDelay, "rank-delay", time.Second, "the nodes' --rank-delay")
	fl.DurationVar(&f.warmup, "warmup", 2*time.Second, "the nodes' --warmup")
	fl.DurationVar(&f.capability, "capability-interval", 2*time.Second, "the nodes' --capability-interval")
	fl.DurationVar(&f.joinTimeout, "join-timeout", time.Minute, "how long to wait for the nodes to know each other")
	fl.StringVar(&f.status, "status", "auto", "status display: table (redrawn), log (lines), auto (table on a terminal)")
	fl.StringVar(&f.search, "search", "", "launch this search on node 0 (a preset: "+strings.Join(search.Presets(), ", ")+"; or a spec file) and show its verified leaderboard")
	fl.IntVar(&f.searchInFlight, "search-in-flight", 0, "with --search: tasks the search keeps in flight (0: the node's default, 4)")
	fl.IntVar(&f.liars, "liars", 0, "DEMO AND TESTS ONLY: start this many more nodes with --demo-liar (they report fabricated results)")
	return cmd
}

func runDevnet(cmd *cobra.Command, f devnetFlags) error {
	req, err := devnetRequest(f)
	if err != nil {
		return err
	}
	// The search is read before any node starts: a bad --search fails at once.
	var launch api.LaunchRequest
	if f.search != "" {
		if launch, err = searchLaunch(f.search); err != nil {
			return err
		}
	}
	out := cmd.OutOrStdout()
	table := f.status == "table"
	switch f.status {
	case "auto", "":
		if fd, ok := out.(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
			table = true
		}
	case "table", "log":
	default:
		return fmt.Errorf("--status %q: want table, log or auto", f.status)
	}
	ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := []string{"--lease", f.lease.String(), "--rank-delay", f.rankDelay.String(),
		"--warmup", f.warmup.String(), "--capability-interval", f.capability.String()}
	if f.liars > 0 {
		fmt.Fprintf(out, "starting %d nodes and %d demo liar(s)...\n", f.nodes, f.liars)
	} else {
		fmt.Fprintf(out, "starting %d nodes...\n", f.nodes)
	}
	if f.search != "" {
		args = append(args, "--search-poll", "1s")
		if f.searchInFlight > 0 {
			args = append(args, "--search-in-flight", fmt.Sprint(f.searchInFlight))
		}
	}
	honest := f.nodes
	nodeArgs := func(i int) []string {
		if i >= honest {
			return []string{"--demo-liar"}
		}
		return nil
	}
	total := f.nodes + f.liars
	d, err := devnet.Start(ctx, devnet.Options{Nodes: total, Dir: f.dir, Network: f.network, Threads: f.threads,
		Args: args, NodeArgs: nodeArgs})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "stopping the nodes...")
		if err := d.Close(); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "devnet:", err)
		}
	}()
	for _, n := range d.Nodes() {
		role := ""
		if n.Index >= honest {
			role = "  DEMO LIAR"
		}
		fmt.Fprintf(out, "node %d  %s  api %s  %s%s\n", n.Index, n.Info.PeerID, n.Info.API, n.Dir, role)
	}
	fmt.Fprintf(out, "bootstrap address: %s\n", d.Nodes()[0].Info.Addrs[0])
	if err := waitJoined(ctx, d, total, f.warmup, f.joinTimeout); err != nil {
		return err
	}
	if f.search != "" {
		return runSearchDemo(ctx, out, d, f, launch)
	}
	var (
		tasks    []string
		before   []devnet.NodeStatus
		start    time.Time
		first    = d.Nodes()[0]
		progress = func() (int, error) { return 0, nil }
	)
	if f.submit > 0 {
		before = d.Status(ctx)
		start = time.Now()
		for i := range f.submit {
			req.Seed = f.seed + uint64(i)
			r, err := first.API.Submit(ctx, req)
			if err != nil {
				return fmt.Errorf("submit task %d: %w", i, err)
			}
			tasks = append(tasks, r.Task)
		}
		fmt.Fprintf(out, "submitted %d tasks (R=%d) to node 0\n", len(tasks), f.replicas)
		progress = func() (int, error) {
			ts, err := first.API.Tasks(ctx)
			if err != nil {
				return 0, err
			}
			state := make(map[string]string, len(ts))
			for _, t := range ts {
				state[t.CID] = t.State
			}
			done := 0
			for _, tc := range tasks {
				if state[tc] == "done" {
					done++
				}
			}
			return done, nil
		}
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var lastShow time.Time
	drawn := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		done, err := progress()
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("node 0: %w", err)
		}
		finished := f.submit > 0 && done == len(tasks)
		if finished && f.exitWhenDone {
			elapsed := time.Since(start)
			after := d.Status(ctx)
			if drawn > 0 {
				fmt.Fprintln(out)
			}
			if err := printDevnetSummary(out, f, before, after, elapsed); err != nil {
				return err
			}
			return printReplication(ctx, out, first.API, tasks)
		}
		every := 5 * time.Second
		if table {
			every = time.Second
		}
		if time.Since(lastShow) < every {
			continue
		}
		lastShow = time.Now()
		sts := d.Status(ctx)
		if table {
			if drawn > 0 {
				fmt.Fprintf(out, "\033[%dA\033[J", drawn)
			}
			drawn = printDevnetTable(out, sts, done, len(tasks))
		} else {
			printDevnetLines(out, sts, done, len(tasks))
		}
	}
}

// devnetRequest builds the submit request of the tasks --submit sends.
func devnetRequest(f devnetFlags) (api.SubmitRequest, error) {
	req := api.SubmitRequest{Arch: f.arch, Replicas: f.replicas}
	switch {
	case f.protocol != "" && f.protoFile != "":
		return req, fmt.Errorf("%w: --protocol and --protocol-file exclude each other", api.ErrInvalid)
	case f.protocol != "":
		req.Protocol = f.protocol
	case f.protoFile != "":
		b, err := readSmallFile(f.protoFile, api.MaxProtocolObject)
		if err != nil {
			return req, fmt.Errorf("--protocol-file: %w", err)
		}
		req.ProtocolObject = b
	default:
		if f.steps < 1 || f.steps > 1_000_000 {
			return req, fmt.Errorf("%w: --steps %d, want 1-1000000", api.ErrInvalid, f.steps)
		}
		b, err := json.Marshal(node.SmokeProtocol(f.steps))
		if err != nil {
			return req, err
		}
		req.ProtocolObject = b
	}
	if f.submit < 0 {
		return req, fmt.Errorf("%w: --submit %d", api.ErrInvalid, f.submit)
	}
	if f.submit > 0 {
		if err := req.Check(); err != nil {
			return req, err
		}
		if _, err := node.ResolveArch(req.Arch); err != nil {
			return req, err
		}
	}
	switch {
	case f.search != "" && f.submit > 0:
		return req, fmt.Errorf("%w: --search and --submit exclude each other", api.ErrInvalid)
	case f.exitWhenDone && f.submit == 0 && f.search == "":
		return req, fmt.Errorf("%w: --exit-when-done needs --submit or --search", api.ErrInvalid)
	case f.liars < 0 || f.nodes < 1 || f.nodes+f.liars > devnet.MaxNodes:
		return req, fmt.Errorf("%w: --nodes %d and --liars %d: want at least one honest node and at most %d in all",
			api.ErrInvalid, f.nodes, f.liars, devnet.MaxNodes)
	}
	return req, nil
}

// waitJoined waits until every node knows the capabilities of all the others and is past its
// warm-up (so it claims at once).
func waitJoined(ctx context.Context, d *devnet.Devnet, n int, warmup, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		for _, s := range d.Status(ctx) {
			switch {
			case s.Err != nil:
				missing = append(missing, fmt.Sprintf("node %d: %v", s.Index, s.Err))
			case s.Status.TaskPeers < n-1:
				missing = append(missing, fmt.Sprintf("node %d knows %d of %d peers", s.Index, s.Status.TaskPeers, n-1))
			case s.Status.Uptime < warmup.Seconds():
				missing = append(missing, fmt.Sprintf("node %d is warming up", s.Index))
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devnet: the nodes did not find each other within %s: %s", timeout, strings.Join(missing, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// printDevnetTable prints the status table and returns how many lines it used.
func printDevnetTable(w io.Writer, sts []devnet.NodeStatus, done, total int) int {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPEER\tPEERS\tWORKER\tRUNNING\tDONE HERE\tKNOWN\tDONE\tTRAINING CPU")
	for _, s := range sts {
		if s.Err != nil {
			fmt.Fprintf(tw, "%d\t-\t-\t%v\t\t\t\t\t\n", s.Index, s.Err)
			continue
		}
		st := s.Status
		run := "-"
		if len(st.Running) > 0 {
			var parts []string
			for _, p := range st.Running {
				parts = append(parts, fmt.Sprintf("%s %d/%d", short(p.Task), p.Step, p.Of))
			}
			run = strings.Join(parts, ", ")
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s %d/%d\t%s\t%d\t%d\t%d\t%.0f%%\n", s.Index, short(st.PeerID), st.Peers,
			st.Worker.State, st.Worker.Running, st.Worker.Workers, run, st.Worker.Completed, st.Tasks.Known,
			st.Tasks.Done, 100*st.Measures.TrainingShare)
	}
	_ = tw.Flush()
	if total > 0 {
		fmt.Fprintf(&b, "submitted tasks done: %d/%d\n", done, total)
	}
	fmt.Fprint(w, b.String())
	return strings.Count(b.String(), "\n")
}

func printDevnetLines(w io.Writer, sts []devnet.NodeStatus, done, total int) {
	ts := time.Now().Format("15:04:05")
	for _, s := range sts {
		if s.Err != nil {
			fmt.Fprintf(w, "%s node %d: %v\n", ts, s.Index, s.Err)
			continue
		}
		fmt.Fprintf(w, "%s node %d: %s\n", ts, s.Index, formatStatus(s.Status))
	}
	if total > 0 {
		fmt.Fprintf(w, "%s submitted tasks done: %d/%d\n", ts, done, total)
	}
}

// printReplication checks, on node 0, that every submitted task has exactly R results.
func printReplication(ctx context.Context, w io.Writer, cl *api.Client, tasks []string) error {
	ts, err := cl.Tasks(ctx)
	if err != nil {
		return err
	}
	want := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		want[t] = true
	}
	results, over := 0, 0
	for _, t := range ts {
		if !want[t.CID] {
			continue
		}
		results += len(t.Results)
		if len(t.Results) > t.Replicas {
			over++
		}
	}
	fmt.Fprintf(w, "results: %d for %d tasks; %d tasks with more than R results\n", results, len(tasks), over)
	return nil
}

// printDevnetSummary prints what the run measured between before and after.
func printDevnetSummary(w io.Writer, f devnetFlags, before, after []devnet.NodeStatus, elapsed time.Duration) error {
	var trainCPU, procCPU, trainWall, latSum, latMax, gossipMean, gossipMax float64
	var runs, claims, completed, abandoned uint64
	fmt.Fprintf(w, "%d tasks (R=%d, %d executions) on %d nodes in %.1f s: %.1f tasks/min\n",
		f.submit, f.replicas, f.submit*f.replicas, f.nodes, elapsed.Seconds(), float64(f.submit)/elapsed.Minutes())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRUNS\tDONE\tABANDONED\tTRAIN CPU\tPROCESS CPU\tTRAINING SHARE\tCLAIMS\tCLAIM LATENCY mean/max")
	for i, a := range after {
		if a.Err != nil || i >= len(before) || before[i].Err != nil {
			fmt.Fprintf(tw, "%d\tunavailable\t\t\t\t\t\t\t\n", i)
			continue
		}
		m0, m1 := before[i].Status.Measures, a.Status.Measures
		tc, pc := m1.TrainCPU-m0.TrainCPU, m1.ProcessCPU-m0.ProcessCPU
		r, c := m1.Runs-m0.Runs, m1.Claims-m0.Claims
		share := 0.0
		if pc > 0 {
			share = tc / pc
		}
		dn := a.Status.Worker.Completed - before[i].Status.Worker.Completed
		ab := a.Status.Worker.Abandoned - before[i].Status.Worker.Abandoned
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%.2fs\t%.2fs\t%.1f%%\t%d\t%.0f/%.0f ms\n", i, r, dn, ab, tc, pc, 100*share, c, m1.ClaimLatencyMeanMS, m1.ClaimLatencyMaxMS)
		completed, abandoned = completed+dn, abandoned+ab
		trainCPU, procCPU, trainWall = trainCPU+tc, procCPU+pc, trainWall+(m1.TrainWall-m0.TrainWall)
		runs, claims = runs+r, claims+c
		latSum += m1.ClaimLatencyMeanMS * float64(c)
		latMax = max(latMax, m1.ClaimLatencyMaxMS)
		gossipMean += m1.GossipLatencyMeanMS / float64(len(after))
		gossipMax = max(gossipMax, m1.GossipLatencyMaxMS)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	share := 0.0
	if procCPU > 0 {
		share = trainCPU / procCPU
	}
	mean := 0.0
	if claims > 0 {
		mean = latSum / float64(claims)
	}
	fmt.Fprintf(w, "all nodes: %d runs (%d done, %d abandoned), training %.2f s of %.2f s CPU (%.1f%%; overhead %.1f%%), run wall time %.1f s, claim latency mean %.0f ms, max %.0f ms; gossip latency mean %.0f ms, max %.0f ms\n",
		runs, completed, abandoned, trainCPU, procCPU, 100*share, 100*(1-share), trainWall, mean, latMax, gossipMean, gossipMax)
	return nil
}
