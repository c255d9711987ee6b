package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/identity"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// errEvalUsage marks bad flags of `airanode eval`.
var errEvalUsage = errors.New("eval: bad usage")

// defaultCheckpointTTL is how long `airanode eval` keeps the checkpoints of a local evaluation.
const defaultCheckpointTTL = 7 * 24 * time.Hour

// evalOutput is what `airanode eval --json` prints.
type evalOutput struct {
	ResultCID string            `json:"result_cid"`
	TaskCID   string            `json:"task_cid"`
	ScoresCID string            `json:"scores_cid"`
	Arch      string            `json:"arch"`
	Protocol  string            `json:"protocol"`
	Device    string            `json:"device"`
	Task      object.Task       `json:"task"`
	Result    object.Result     `json:"result"`
	Scores    *bench.Scores     `json:"scores"`
	Runs      []bench.RunReport `json:"runs"`
}

func newEvalCmd() *cobra.Command {
	var (
		archSpec, protoName, protoFile, dataCID string
		seed                                    uint64
		asJSON, quiet                           bool
		ckTTL                                   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "eval --arch ARCH [--protocol mad-lite|mad|text --data CID] [--seed N] [--json]",
		Short: "Train and score an architecture on an evaluation protocol on this machine",
		Long: "eval trains the architecture on every setting of the protocol with the node's CPU device\n" +
			"(--threads threads), shows a progress bar per task, prints the results table, and stores a\n" +
			"Result signed by the node's key in the node's store, with the task, the scores and a\n" +
			"checkpoint per segment (kept for --checkpoint-ttl). The data directory and the identity are\n" +
			"created if missing. Bad input (unknown protocol, invalid architecture, missing or corrupt\n" +
			"dataset) is reported before anything is written.\n\n" +
			"The default protocol is mad-lite (the six MAD tasks, a few CPU-minutes for a ~0.5M-parameter\n" +
			"model); mad is the full benchmark; text is byte-level language modelling on a dataset\n" +
			"imported with `airanode data import` (--data CID). --protocol-file reads a protocol object\n" +
			"in JSON instead. The same architecture, protocol and seed always give the same Result digests.",
		Example: "  airanode eval --arch 'A M A M'\n" +
			"  airanode eval --arch 'width=64: A M S M' --seed 1 --json\n" +
			"  airanode eval --arch 'A M A M' --protocol text --data bafy...",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if archSpec == "" {
				return fmt.Errorf("%w: --arch is required", errEvalUsage)
			}
			if ckTTL != 0 && ckTTL < 2*time.Second {
				return fmt.Errorf("%w: --checkpoint-ttl %s: want 0 (keep) or at least 2s", errEvalUsage, ckTTL)
			}
			c, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			a, err := arch.ParseAny(archSpec)
			if err == nil {
				a, err = arch.Normalize(a)
			}
			if err != nil {
				return fmt.Errorf("--arch: %w", err)
			}
			p, err := evalProtocol(cmd, protoName, protoFile, dataCID)
			if err != nil {
				return err
			}
			ls := &lazyStore{dir: filepath.Join(c.DataDir, dataStoreDir), dataDir: c.DataDir, ttl: ckTTL}
			defer ls.Close()
			prog := newEvalProgress(cmd.ErrOrStderr(), quiet)
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			// Ctrl-C stops training at the next step; the store is then closed cleanly.
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
			defer stop()
			rep, err := bench.Evaluate(ctx, bench.EvalOptions{
				Arch: a, Protocol: p, Seed: seed, Threads: c.Threads,
				Data: ls, Checkpoints: ls.checkpoints(), Progress: prog.update,
				Logger: newLogger(c.LogLevel),
			})
			prog.finish()
			if err != nil {
				return err
			}
			out, err := evalStore(ls, c.DataDir, a, p, rep)
			if err != nil {
				return err
			}
			if err := ls.Close(); err != nil {
				return fmt.Errorf("close store: %w", err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			return evalPrint(cmd.OutOrStdout(), out, p, ls.dir)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&archSpec, "arch", "", "architecture, in the notation (e.g. 'A M A M') or JSON")
	fl.StringVar(&protoName, "protocol", bench.NameMADLite, "protocol: "+strings.Join(bench.Names(), ", "))
	fl.StringVar(&protoFile, "protocol-file", "", "read the protocol object from a JSON file instead")
	fl.StringVar(&dataCID, "data", "", "dataset manifest CID (text protocol)")
	fl.Uint64Var(&seed, "seed", 0, "task seed: model initialisation")
	fl.BoolVar(&asJSON, "json", false, "print the Result and the scores as JSON")
	fl.BoolVar(&quiet, "quiet", false, "no progress output")
	fl.DurationVar(&ckTTL, "checkpoint-ttl", defaultCheckpointTTL, "how long checkpoints are kept (0: forever)")
	return cmd
}

// evalProtocol resolves --protocol, --protocol-file and --data into a valid protocol.
func evalProtocol(cmd *cobra.Command, name, file, data string) (*bench.Protocol, error) {
	var dc cid.Cid
	if data != "" {
		var err error
		if dc, err = object.ParseCID(data); err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
	}
	if file == "" {
		p, err := bench.Lookup(name, dc)
		if err != nil {
			return nil, fmt.Errorf("--protocol: %w", err)
		}
		return p, nil
	}
	if cmd.Flags().Changed("protocol") {
		return nil, fmt.Errorf("%w: --protocol and --protocol-file exclude each other", errEvalUsage)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--protocol-file: %w", err)
	}
	p, err := parseProtocolJSON(b, dc)
	if err != nil {
		return nil, fmt.Errorf("--protocol-file %s: %w", file, err)
	}
	return p, nil
}

// parseProtocolJSON decodes a protocol object from JSON (strictly: no unknown fields, nothing after
// it), sets its dataset to data when given, and validates it.
func parseProtocolJSON(b []byte, data cid.Cid) (*bench.Protocol, error) {
	var p bench.Protocol
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %w", bench.ErrInvalidProtocol, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the protocol object", bench.ErrInvalidProtocol)
	}
	if data.Defined() {
		if p.Data.Defined() && !p.Data.Equals(data) {
			return nil, fmt.Errorf("%w: --data %s differs from the protocol's dataset %s", errEvalUsage, data, p.Data)
		}
		p.Data = data
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// lazyStore opens the node's store on first use, so that an evaluation that fails its checks
// creates nothing: reads of a store that does not exist yet find nothing, and the directory is
// created by the first write. Checkpoints go in with a TTL. It is safe for concurrent use.
type lazyStore struct {
	dir, dataDir string
	ttl          time.Duration

	mu  sync.Mutex
	st  *store.Store
	err error
}

var errNoStore = errors.New("no store yet")

// get returns the open store, opening it (and creating it if create) on first use.
func (l *lazyStore) get(create bool) (*store.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st != nil || l.err != nil {
		return l.st, l.err
	}
	if !create {
		if _, err := os.Stat(l.dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist", errNoStore, l.dir)
		}
	}
	if err := os.MkdirAll(l.dataDir, 0o700); err != nil {
		l.err = fmt.Errorf("create data dir: %w", err)
		return nil, l.err
	}
	st, err := store.Open(l.dir, store.Options{})
	if err != nil {
		l.err = fmt.Errorf("open store (is a node running on this data directory?): %w", err)
		return nil, l.err
	}
	l.st = st
	return st, nil
}

// Get implements bench.BlockStore.
func (l *lazyStore) Get(c cid.Cid) ([]byte, error) {
	st, err := l.get(false)
	if err != nil {
		return nil, err
	}
	return st.Get(c)
}

// Put implements bench.BlockStore.
func (l *lazyStore) Put(c cid.Cid, data []byte) error {
	st, err := l.get(true)
	if err != nil {
		return err
	}
	return st.Put(c, data)
}

// checkpoints returns the store as a checkpoint store whose blocks expire after the TTL.
func (l *lazyStore) checkpoints() bench.CheckpointStore { return ckStore{l} }

// Close closes the store if it was opened. It is idempotent.
func (l *lazyStore) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st == nil {
		return nil
	}
	return l.st.Close()
}

// ckStore puts checkpoints with the retention TTL.
type ckStore struct{ l *lazyStore }

func (c ckStore) Get(id cid.Cid) ([]byte, error) { return c.l.Get(id) }

func (c ckStore) Put(id cid.Cid, data []byte) error {
	st, err := c.l.get(true)
	if err != nil {
		return err
	}
	return st.PutWith(id, data, store.PutOptions{TTL: c.l.ttl})
}

// evalStore signs the Result with the node's key (creating the identity if needed) and stores it
// durably with the task, the architecture, the protocol and the scores, indexed by task, arch and
// author.
func evalStore(ls *lazyStore, dataDir string, a arch.Arch, p *bench.Protocol, rep *bench.EvalReport) (*evalOutput, error) {
	st, err := ls.get(true)
	if err != nil {
		return nil, err
	}
	sk, _, err := identity.LoadOrCreate(filepath.Join(dataDir, identity.FileName))
	if err != nil {
		return nil, err
	}
	pid := identity.PeerID(sk)
	r := rep.Result
	r.Executor = pid.String()
	if err := r.Validate(); err != nil {
		return nil, err
	}
	env, err := object.Seal(sk, object.KindResult, r)
	if err != nil {
		return nil, fmt.Errorf("sign result: %w", err)
	}
	rc, _, err := object.SealedCID(env)
	if err != nil {
		return nil, err
	}
	a.Vocab = 0
	ab, ac, err := arch.Encode(a)
	if err != nil {
		return nil, err
	}
	if !ac.Equals(rep.ArchCID) {
		return nil, fmt.Errorf("eval: architecture %s, but the task names %s", ac, rep.ArchCID)
	}
	pb, pc, err := p.Encode()
	if err != nil {
		return nil, err
	}
	tb, tc, err := object.Encode(rep.Task)
	if err != nil {
		return nil, err
	}
	sb, sc, err := rep.Scores.Encode()
	if err != nil {
		return nil, err
	}
	for _, o := range []struct {
		c cid.Cid
		b []byte
	}{{ac, ab}, {pc, pb}, {tc, tb}, {sc, sb}} {
		if err := st.Put(o.c, o.b); err != nil {
			return nil, fmt.Errorf("store %s: %w", o.c, err)
		}
	}
	if err := st.PutDurable(rc, env); err != nil {
		return nil, fmt.Errorf("store result: %w", err)
	}
	type entry struct {
		ix  store.IndexName
		key string
		c   cid.Cid
		ttl time.Duration
	}
	idx := []entry{
		{store.IndexTask, tc.String(), rc, 0},
		{store.IndexTask, tc.String(), sc, 0},
		{store.IndexArch, ac.String(), tc, 0},
		{store.IndexArch, ac.String(), rc, 0},
		{store.IndexAuthor, pid.String(), rc, 0},
	}
	for _, g := range r.Segments {
		ck, err := object.ParseCID(g.Checkpoint)
		if err != nil {
			return nil, err
		}
		idx = append(idx, entry{store.IndexTask, tc.String(), ck, ls.ttl})
	}
	for _, e := range idx {
		if err := st.IndexWith(e.ix, e.key, e.c, store.PutOptions{TTL: e.ttl}); err != nil {
			return nil, fmt.Errorf("index %s: %w", e.ix, err)
		}
	}
	if err := st.Sync(); err != nil {
		return nil, fmt.Errorf("sync store: %w", err)
	}
	return &evalOutput{
		ResultCID: rc.String(), TaskCID: tc.String(), ScoresCID: sc.String(),
		Arch: arch.Print(a), Protocol: pc.String(), Device: rep.Device,
		Task: rep.Task, Result: r, Scores: rep.Scores, Runs: rep.Runs,
	}, nil
}

// evalPrint prints the results table.
func evalPrint(w io.Writer, o *evalOutput, p *bench.Protocol, dir string) error {
	fmt.Fprintf(w, "arch:     %s\n", o.Arch)
	fmt.Fprintf(w, "protocol: %s %s, seed %d\n", p.Name, o.Protocol, o.Task.Seed)
	fmt.Fprintf(w, "device:   %s\n", o.Device)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	text := o.Scores.Metric == bench.MetricBPB
	if text {
		fmt.Fprintln(tw, "TASK\tSETTING\tBITS/BYTE\tPARAMS\tSTEPS\tSECONDS")
	} else {
		fmt.Fprintln(tw, "TASK\tSETTING\tACCURACY\tCHANCE\tPARAMS\tSTEPS\tSECONDS")
	}
	var secs float64
	for _, r := range o.Runs {
		name := r.Task
		if len(p.Sweep) > 0 {
			name = fmt.Sprintf("%s (sweep %d)", r.Task, r.Sweep)
		}
		secs += r.Seconds
		if text {
			fmt.Fprintf(tw, "%s\t%d\t%.4f\t%d\t%d\t%.1f\n", name, r.Setting, float64(r.Value)/1e6, r.Params, r.Steps, r.Seconds)
		} else {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%.1f\n", name, r.Setting, pct(r.Value), pct(r.Chance), r.Params, r.Steps, r.Seconds)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if text {
		fmt.Fprintf(w, "score:    %.4f bits per byte", float64(o.Result.Score)/1e6)
	} else {
		fmt.Fprintf(w, "score:    %s mean accuracy over %d tasks", pct(o.Result.Score), len(o.Scores.Tasks))
	}
	fmt.Fprintf(w, " (%d steps, %d tokens, %.1f s)\n", o.Result.Steps, o.Result.Tokens, secs)
	fmt.Fprintf(w, "result:   %s signed by %s\n", o.ResultCID, o.Result.Executor)
	fmt.Fprintf(w, "task:     %s\n", o.TaskCID)
	fmt.Fprintf(w, "digests:  %d segments, last %x\n", len(o.Result.Segments), o.Result.Segments[len(o.Result.Segments)-1].Digest)
	fmt.Fprintf(w, "stored:   %s\n", dir)
	return nil
}

func pct(ppm int64) string { return fmt.Sprintf("%.1f%%", float64(ppm)/1e4) }

// evalProgress shows training progress on w: a progress bar per run on a terminal, one line per
// segment otherwise, nothing when quiet. Its methods run on the evaluation's goroutine.
type evalProgress struct {
	w     io.Writer
	tty   bool
	quiet bool
	bar   *progressbar.ProgressBar
	run   int
	start time.Time
}

func newEvalProgress(w io.Writer, quiet bool) *evalProgress {
	e := &evalProgress{w: w, quiet: quiet, run: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		e.tty = true
	}
	return e
}

func (e *evalProgress) update(p bench.Progress) {
	if e.quiet {
		return
	}
	if p.Run != e.run {
		e.finish()
		e.run, e.start = p.Run, time.Now()
		if e.tty {
			e.bar = progressbar.NewOptions(p.Steps,
				progressbar.OptionSetWriter(e.w),
				progressbar.OptionSetWidth(30),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
			)
		}
	}
	desc := fmt.Sprintf("[%d/%d] %-24s loss %.4f", p.Run+1, p.Runs, p.Task, p.Loss)
	if e.bar != nil {
		e.bar.Describe(desc)
		_ = e.bar.Set(p.Step)
		return
	}
	if p.Segment > 0 {
		fmt.Fprintf(e.w, "%s  step %d/%d  %.1fs\n", desc, p.Step, p.Steps, time.Since(e.start).Seconds())
	}
}

// finish closes the current bar.
func (e *evalProgress) finish() {
	if e.bar != nil {
		if !e.bar.IsFinished() {
			_ = e.bar.Finish()
		}
		fmt.Fprintln(e.w)
		e.bar = nil
	}
}
