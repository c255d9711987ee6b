package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/train"
)

// benchShape is one of the engine benchmark's model configurations: the shapes of
// shared/perf/torch_lm_bench.py, so that both engines train the same model on the same batch.
type benchShape struct {
	D, Layers, Heads, Seq, Batch int
}

// benchConfigs are the configurations A, B and C of shared/perf/README.md.
var benchConfigs = map[string]benchShape{
	"A": {D: 128, Layers: 4, Heads: 4, Seq: 256, Batch: 16},
	"B": {D: 256, Layers: 6, Heads: 8, Seq: 256, Batch: 16},
	"C": {D: 64, Layers: 2, Heads: 2, Seq: 128, Batch: 32},
}

// benchVocab is the byte vocabulary of the PyTorch script.
const benchVocab = 256

// errBenchUsage marks a bad flag value.
var errBenchUsage = errors.New("bench: bad usage")

// benchArch builds the architecture of the PyTorch script's model: learned positions (Context =
// Seq), tied embeddings, LayerNorm ("ln") or RMSNorm ("rms"), and per block attention (no rotary)
// then a GELU MLP of width 4d or a SwiGLU MLP of width 8·((8d/3+7)/8), no biases, vocabulary 256.
func benchArch(s benchShape, norm, mlp string) (arch.Arch, error) {
	a := arch.Arch{Width: s.D, Vocab: benchVocab, Pos: arch.PosLearned, Context: s.Seq}
	switch norm {
	case "ln":
		a.Norm = arch.NormLayer
	case "rms":
		a.Norm = arch.NormRMS
	default:
		return a, fmt.Errorf("%w: --norm %q: want ln or rms", errBenchUsage, norm)
	}
	var m arch.Layer
	switch mlp {
	case "gelu":
		m = arch.Layer{Kind: "gelu", Opts: map[string]int{"hidden": 4 * s.D}}
	case "swiglu":
		m = arch.Layer{Kind: "swiglu", Opts: map[string]int{"hidden": 8 * ((8*s.D/3 + 7) / 8)}}
	default:
		return a, fmt.Errorf("%w: --mlp %q: want gelu or swiglu", errBenchUsage, mlp)
	}
	for range s.Layers {
		a.Layers = append(a.Layers, arch.Layer{Kind: "attention", Opts: map[string]int{"heads": s.Heads, "rot": 0}}, m)
	}
	return arch.Normalize(a)
}

// benchFlopsPerToken is the PyTorch script's count: 6·N + 12·L·T·d, where N is the number of
// parameters without the position table (the tied embedding counted once, as the head's matmul) and
// 12·L·T·d is QKᵀ and PV, forward and backward, over the full T×T score matrix.
func benchFlopsPerToken(params int64, s benchShape) int64 {
	n := params - int64(s.Seq)*int64(s.D)
	return 6*n + 12*int64(s.Layers)*int64(s.Seq)*int64(s.D)
}

// benchRun is the outcome of one arrangement: one model on many threads, or one model per core.
type benchRun struct {
	Models        int       `json:"models"`
	ThreadsEach   int       `json:"threads_per_model"`
	MsStepMedian  float64   `json:"ms_step_median"`
	MsStepMin     float64   `json:"ms_step_min"`
	TokensPerS    float64   `json:"tokens_per_s"`
	GFLOPs        float64   `json:"gflops"`
	FinalLoss     float64   `json:"final_loss"`
	MsStepByModel []float64 `json:"ms_step_median_by_model,omitempty"`
}

// benchReport is what `airanode bench train` prints (as JSON with --json).
type benchReport struct {
	Bench         string    `json:"bench"`
	Config        string    `json:"config"`
	D             int       `json:"d"`
	Layers        int       `json:"layers"`
	Heads         int       `json:"heads"`
	Seq           int       `json:"seq"`
	Batch         int       `json:"batch"`
	Norm          string    `json:"norm"`
	MLP           string    `json:"mlp"`
	Arch          string    `json:"arch"`
	Params        int64     `json:"params"`
	ParamsFLOP    int64     `json:"params_flop"`
	FlopsPerToken int64     `json:"flops_per_token"`
	Device        string    `json:"device"`
	Class         string    `json:"class"`
	CPUs          int       `json:"cpus"`
	Warmup        int       `json:"warmup"`
	Steps         int       `json:"steps"`
	Single        *benchRun `json:"single,omitempty"`
	PerCore       *benchRun `json:"per_core,omitempty"`
}

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure this machine's training throughput",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBenchTrainCmd())
	return cmd
}

func newBenchTrainCmd() *cobra.Command {
	var (
		config, norm, mlp, mode string
		threads, steps, warmup  int
		seed                    uint64
		asJSON                  bool
	)
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train the reference language model of shared/perf and report tokens/s and GFLOP/s",
		Long: `Train the model of the PyTorch reference (shared/perf/torch_lm_bench.py: byte vocabulary,
learned positions, tied embeddings, pre-norm attention + MLP blocks) on random tokens with AdamW
(lr 1e-3, weight decay 0.1) and report the median step time, tokens/s and GFLOP/s
(FLOPs/token = 6·N + 12·L·T·d, N without the position table), for one model on all threads and for
one single-threaded model per core trained side by side (the arrangement the worker uses).`,
		Example: `  airanode bench train --config A
  airanode bench train --config B --mlp swiglu --norm rms --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			shape, ok := benchConfigs[config]
			if !ok {
				return fmt.Errorf("%w: --config %q: want A, B or C", errBenchUsage, config)
			}
			if threads < 1 || steps < 1 || warmup < 0 {
				return fmt.Errorf("%w: --threads and --steps must be at least 1, --warmup at least 0", errBenchUsage)
			}
			single, perCore := mode == "both" || mode == "single", mode == "both" || mode == "per-core"
			if !single && !perCore {
				return fmt.Errorf("%w: --mode %q: want both, single or per-core", errBenchUsage, mode)
			}
			a, err := benchArch(shape, norm, mlp)
			if err != nil {
				return err
			}
			params, err := arch.Params(a)
			if err != nil {
				return err
			}
			rep := benchReport{
				Bench: "train", Config: config, D: shape.D, Layers: shape.Layers, Heads: shape.Heads,
				Seq: shape.Seq, Batch: shape.Batch, Norm: norm, MLP: mlp, Arch: arch.Print(a),
				Params: params, ParamsFLOP: params - int64(shape.Seq*shape.D),
				FlopsPerToken: benchFlopsPerToken(params, shape), CPUs: runtime.NumCPU(),
				Warmup: warmup, Steps: steps,
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			b := benchTrainer{arch: a, shape: shape, warmup: warmup, steps: steps, seed: seed}
			if single {
				r, name, class, err := b.run(ctx, 1, threads)
				if err != nil {
					return err
				}
				rep.Single, rep.Device, rep.Class = r, name, class
			}
			if perCore {
				r, name, class, err := b.run(ctx, threads, 1)
				if err != nil {
					return err
				}
				rep.PerCore = r
				if rep.Device == "" {
					rep.Device, rep.Class = name, class
				}
			}
			for _, r := range []*benchRun{rep.Single, rep.PerCore} {
				if r != nil {
					r.GFLOPs = benchRound(r.TokensPerS*float64(rep.FlopsPerToken)/1e9, 2)
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				return enc.Encode(rep)
			}
			printBenchReport(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "A", "model configuration: A, B or C (shared/perf/README.md)")
	f.StringVar(&norm, "norm", "ln", "normalisation: ln (LayerNorm) or rms (RMSNorm)")
	f.StringVar(&mlp, "mlp", "gelu", "MLP: gelu (4d) or swiglu (8d/3)")
	f.IntVar(&threads, "threads", runtime.NumCPU(), "threads of the single model, and number of models side by side")
	f.IntVar(&steps, "steps", 20, "timed steps (the median is reported)")
	f.IntVar(&warmup, "warmup", 5, "untimed warm-up steps")
	f.StringVar(&mode, "mode", "both", "arrangements to run: both, single (one model, all threads) or per-core (one 1-thread model per core)")
	f.Uint64Var(&seed, "seed", 0, "seed of the weights and of the random tokens")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// benchTrainer trains copies of one model and times their steps.
type benchTrainer struct {
	arch          arch.Arch
	shape         benchShape
	warmup, steps int
	seed          uint64
}

// run trains models copies side by side, each on its own CPU device of threads threads, and returns
// their combined throughput and the device's description.
func (b benchTrainer) run(ctx context.Context, models, threads int) (*benchRun, string, string, error) {
	type result struct {
		times []time.Duration
		loss  float64
		err   error
	}
	devs := make([]gpu.Device, models)
	for i := range devs {
		d, err := cpu.New(threads)
		if err != nil {
			for _, o := range devs[:i] {
				o.Close()
			}
			return nil, "", "", err
		}
		devs[i] = d
	}
	defer func() {
		for _, d := range devs {
			d.Close()
		}
	}()
	results := make([]result, models)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range models {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			r.times, r.loss, r.err = b.train(ctx, devs[i], uint64(i), start)
		}()
	}
	close(start)
	wg.Wait()
	out := &benchRun{Models: models, ThreadsEach: threads}
	tokens := float64(b.shape.Batch * b.shape.Seq)
	for i, r := range results {
		if r.err != nil {
			return nil, "", "", fmt.Errorf("model %d: %w", i, r.err)
		}
		med, lo := benchMedianMin(r.times[b.warmup:])
		out.MsStepByModel = append(out.MsStepByModel, benchRound(benchMs(med), 2))
		out.TokensPerS += tokens / med.Seconds()
		out.FinalLoss += r.loss / float64(models)
		if i == 0 || benchMs(lo) < out.MsStepMin {
			out.MsStepMin = benchRound(benchMs(lo), 2)
		}
	}
	out.MsStepMedian = benchRound(benchMedian(out.MsStepByModel), 2)
	out.TokensPerS = benchRound(out.TokensPerS, 1)
	out.FinalLoss = benchRound(out.FinalLoss, 4)
	if models == 1 {
		out.MsStepByModel = nil
	}
	return out, devs[0].Name(), devs[0].Class(), nil
}

// train trains one model for warmup+steps steps on random tokens (as the PyTorch script: a [B, T+1]
// block of uniform bytes, inputs its first T columns, targets its last T) and returns the duration
// of every step and the last step's loss. It starts when start is closed.
func (b benchTrainer) train(ctx context.Context, dev gpu.Device, stream uint64, start <-chan struct{}) ([]time.Duration, float64, error) {
	m, err := train.NewModel(dev, b.arch, train.Shape{Batch: b.shape.Batch, Seq: b.shape.Seq})
	if err != nil {
		return nil, 0, err
	}
	total := b.warmup + b.steps
	h := train.Hyper{
		Steps: total, Segments: 1, LR: 1e-3, MinLR: 1e-3, WeightDecay: 0.1,
		Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Seed: b.seed + stream,
	}
	times := make([]time.Duration, 0, total)
	var (
		last time.Time
		loss float64
	)
	tr, err := train.NewTrainer(m, h,
		train.WithLogger(slog.New(slog.DiscardHandler)),
		train.WithEvents(func(e train.Event) {
			if e.Kind == train.EventStep {
				now := time.Now()
				times = append(times, now.Sub(last))
				last, loss = now, e.Loss
			}
		}))
	if err != nil {
		m.Close()
		return nil, 0, err
	}
	defer tr.Close()
	T := b.shape.Seq
	row := make([]int32, T+1)
	data := train.BatcherFunc(func(step int, tokens, targets []int32) error {
		s := benchSplitMix{state: (b.seed+stream)<<32 ^ uint64(step)*0x9E3779B97F4A7C15}
		for r := 0; r < b.shape.Batch; r++ {
			for j := range row {
				row[j] = int32(s.next() % benchVocab)
			}
			copy(tokens[r*T:(r+1)*T], row[:T])
			copy(targets[r*T:(r+1)*T], row[1:])
		}
		return nil
	})
	<-start
	last = time.Now()
	if err := tr.Run(ctx, data); err != nil {
		return nil, 0, err
	}
	if len(times) != total {
		return nil, 0, fmt.Errorf("bench: %d step events for %d steps", len(times), total)
	}
	return times, loss, nil
}

// benchSplitMix is SplitMix64, the random tokens' generator.
type benchSplitMix struct{ state uint64 }

func (s *benchSplitMix) next() uint64 {
	s.state += 0x9E3779B97F4A7C15
	z := s.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func printBenchReport(w io.Writer, r benchReport) {
	fmt.Fprintf(w, "config %s: d=%d layers=%d heads=%d seq=%d batch=%d norm=%s mlp=%s\n",
		r.Config, r.D, r.Layers, r.Heads, r.Seq, r.Batch, r.Norm, r.MLP)
	fmt.Fprintf(w, "arch: %s\n", r.Arch)
	fmt.Fprintf(w, "params %d (%d without positions), %d FLOPs/token\n", r.Params, r.ParamsFLOP, r.FlopsPerToken)
	fmt.Fprintf(w, "device: %s, class %s; %d warm-up + %d timed steps\n\n", r.Device, r.Class, r.Warmup, r.Steps)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "arrangement\tms/step (median)\tms/step (min)\ttokens/s\tGFLOP/s\tfinal loss\t")
	for _, x := range []struct {
		name string
		r    *benchRun
	}{{"one model", r.Single}, {"one model per core", r.PerCore}} {
		if x.r == nil {
			continue
		}
		fmt.Fprintf(tw, "%s, %d×%d thread(s)\t%.2f\t%.2f\t%.0f\t%.1f\t%.4f\t\n",
			x.name, x.r.Models, x.r.ThreadsEach, x.r.MsStepMedian, x.r.MsStepMin, x.r.TokensPerS, x.r.GFLOPs, x.r.FinalLoss)
	}
	tw.Flush()
}

// benchMedianMin returns the median (the mean of the middle two for an even count) and the minimum.
func benchMedianMin(ds []time.Duration) (time.Duration, time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0, 0
	}
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0]
}

func benchMedian(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[n/2]
}

func benchMs(d time.Duration) float64 { return float64(d) / 1e6 }

// benchRound rounds x to the given number of decimals.
func benchRound(x float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(x*p) / p
}
