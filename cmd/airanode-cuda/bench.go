//go:build cuda || cudaemu

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/gpu/cuda"
	"github.com/airanode/airanode/train"
)

// perfConfigs are the model shapes of shared/perf/torch_lm_bench.py (the engine's reference): a
// byte-level pre-norm transformer with learned positions, tied embeddings, LayerNorm and a 4d GELU MLP.
var perfConfigs = map[string]perfConfig{
	"A": {128, 4, 4, 256, 16},
	"B": {256, 6, 8, 256, 16},
	"C": {64, 2, 2, 128, 32},
}

// perfConfig is one model shape of the reference benchmark.
type perfConfig struct{ d, layers, heads, seq, batch int }

// line is the benchmark line of a timed run of config name (arch a) on device: steps steps in el,
// ending on digest final. FLOPs per token are the reference script's: 6·N + 12·L·T·d, N without
// the position table.
func (c perfConfig) line(impl, device, name string, a arch.Arch, steps int, el time.Duration, final train.Digest) (benchLine, error) {
	params, err := arch.Params(a)
	if err != nil {
		return benchLine{}, err
	}
	fpt := 6*(params-int64(c.seq*c.d)) + int64(12*c.layers*c.seq*c.d)
	tok := float64(steps * c.batch * c.seq)
	return benchLine{
		Impl: impl, Device: device, Config: name, Params: params,
		MsStep:     float64(el.Microseconds()) / 1e3 / float64(steps),
		TokensPerS: tok / el.Seconds(), GFLOPs: float64(fpt) * tok / el.Seconds() / 1e9,
		DigestFinal: fmt.Sprintf("%x", final[:8]),
	}, nil
}

type benchLine struct {
	Impl        string  `json:"impl"`
	Device      string  `json:"device"`
	Config      string  `json:"config"`
	Params      int64   `json:"params"`
	MsStep      float64 `json:"ms_step"`
	TokensPerS  float64 `json:"tokens_per_s"`
	GFLOPs      float64 `json:"gflops"`
	DigestFinal string  `json:"digest_final"`
	// Kernels is the kernel choice of --kernels (cuda.FormatKernels), "" for the defaults (and
	// with --reference-kernels, which --kernels may not go with).
	Kernels string `json:"kernels,omitempty"`
}

// randomTokens is the benchmark's data: bytes from a splitmix64 stream, a new batch every step.
type randomTokens struct{ seq int }

func (r randomTokens) Batch(step int, tokens, targets []int32) error {
	s := uint64(step)*0x9E3779B97F4A7C15 + 1
	next := func() int32 {
		s += 0x9E3779B97F4A7C15
		z := s
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		return int32((z ^ (z >> 31)) & 255)
	}
	for i := range tokens {
		tokens[i] = next()
	}
	for i := range targets {
		if (i+1)%r.seq == 0 {
			targets[i] = next()
		} else {
			targets[i] = tokens[i+1]
		}
	}
	return nil
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	configs := fs.String("configs", "A,B", "configs of shared/perf (A, B, C), comma-separated")
	steps := fs.Int("steps", 30, "timed steps")
	warmup := fs.Int("warmup", 10, "untimed warm-up steps")
	reference := fs.Bool("reference-kernels", false, "run the first, untiled kernels (same bits; to measure the tuned ones' gain)")
	profile := fs.Int("profile", 0, "after the timed steps, train this many more with per-kernel timing and print where the time goes")
	overlap := fs.Bool("overlap", true, "run the weight gradients on a second stream, beside the rest of the backward; --overlap=false runs every launch in order (the same bits; the reference kernels always do)")
	onCPU := fs.Bool("cpu", false, "train each config on the CPU device too (all cores) and compare the final digests: the kernels compute the CPU device's bits")
	kernels := fs.String("kernels", "", kernelsUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	choice, err := parseKernels(*kernels)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	if *steps < 1 || *warmup < 0 || *profile < 0 {
		return fmt.Errorf("bench: want --steps >= 1, --warmup >= 0, --profile >= 0")
	}
	if *reference && choice != nil {
		return fmt.Errorf("bench: --kernels chooses among the tuned kernels, which --reference-kernels does not run")
	}
	names := strings.Split(*configs, ",")
	for _, name := range names {
		if _, ok := perfConfigs[name]; !ok {
			return fmt.Errorf("unknown config %q (want A, B or C)", name)
		}
	}
	dev, err := openCUDA(*reference, choice)
	if err != nil {
		return err
	}
	defer dev.Close()
	dev.SetOverlap(*overlap)
	for _, name := range names {
		c := perfConfigs[name]
		spec := fmt.Sprintf("width=%d norm=layer pos=learned context=%d vocab=256 : (A(heads=%d) G)x%d", c.d, c.seq, c.heads, c.layers)
		a, err := arch.Parse(spec)
		if err == nil {
			a, err = arch.Normalize(a)
		}
		if err != nil {
			return err
		}
		// The model is closed before the CPU comparison, which needs no GPU memory.
		final, err := func() (train.Digest, error) {
			m, el, final, err := trainConfig(dev, a, c, *warmup, *steps)
			if err != nil {
				return final, err
			}
			defer m.Close()
			impl := "airanode-cuda"
			if *reference {
				impl += " (reference kernels)"
			}
			if !*overlap && !*reference {
				impl += " (one stream)"
			}
			line, err := c.line(impl, dev.Name(), name, a, *steps, el, final)
			if err == nil {
				line.Kernels = cuda.FormatKernels(choice) // nil with --reference-kernels: ""
				err = json.NewEncoder(os.Stdout).Encode(line)
			}
			if err != nil || *profile == 0 {
				return final, err
			}
			// A trainer of its own, so that the timed run's schedule and final digest do not
			// depend on --profile (the digest is what the tuned and reference runs compare).
			ptr, err := train.NewTrainer(m, train.DefaultHyper(*profile))
			if err == nil {
				err = profileSteps(context.Background(), dev, ptr, randomTokens{seq: c.seq}, name, *profile)
			}
			return final, err
		}()
		if err != nil {
			return err
		}
		if *onCPU {
			if err := compareCPU(a, name, c, *warmup, *steps, final); err != nil {
				return err
			}
		}
	}
	return nil
}

// kernelsUsage is the --kernels flag's help, bench's and eval's.
const kernelsUsage = "launch these kernels in place of the defaults, with the same bits: default=alternative pairs, comma-separated (scripts/gpu-pick.py picks them from the kernel tables; docs/gpu.md)"

// parseKernels reads and checks a --kernels flag.
func parseKernels(spec string) (map[string]string, error) {
	choice, err := cuda.ParseKernels(spec)
	if err == nil {
		err = cuda.CheckKernels(choice)
	}
	if err != nil {
		return nil, fmt.Errorf("--kernels: %w", err)
	}
	return choice, nil
}

// openCUDA opens GPU 0 with the reference kernels or with a kernel choice that parseKernels has
// checked.
func openCUDA(reference bool, choice map[string]string) (*cuda.Device, error) {
	d, err := cuda.New(0)
	if err != nil {
		return nil, err
	}
	d.SetReferenceKernels(reference)
	if err := d.SetKernels(choice); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// trainConfig trains a (of shape c) on dev for warmup untimed steps, then steps timed ones, on the
// benchmark's data, and returns the model, the time of the timed steps and the final digest.
func trainConfig(dev gpu.Device, a arch.Arch, c perfConfig, warmup, steps int) (*train.Model, time.Duration, train.Digest, error) {
	seq := c.seq
	m, err := train.NewModel(dev, a, train.Shape{Batch: c.batch, Seq: seq})
	if err != nil {
		return nil, 0, train.Digest{}, err
	}
	h := train.DefaultHyper(warmup + steps)
	h.Segments = 1
	tr, err := train.NewTrainer(m, h)
	if err == nil {
		err = tr.RunUntil(context.Background(), randomTokens{seq: seq}, warmup)
	}
	if err == nil {
		err = dev.Sync()
	}
	if err != nil {
		m.Close()
		return nil, 0, train.Digest{}, err
	}
	t0 := time.Now()
	err = tr.RunUntil(context.Background(), randomTokens{seq: seq}, warmup+steps)
	if err == nil {
		err = dev.Sync()
	}
	el := time.Since(t0)
	chain := tr.Chain()
	if err == nil && len(chain) == 0 {
		err = errors.New("the training recorded no digest")
	}
	if err != nil {
		m.Close()
		return nil, 0, train.Digest{}, err
	}
	return m, el, chain[len(chain)-1].Digest, nil
}

// compareCPU trains config name on the CPU device exactly as on the GPU, prints its line, and
// returns an error unless its final digest is want, the GPU run's.
func compareCPU(a arch.Arch, name string, c perfConfig, warmup, steps int, want train.Digest) error {
	dev, err := cpu.New(runtime.NumCPU())
	if err != nil {
		return err
	}
	defer dev.Close()
	m, el, got, err := trainConfig(dev, a, c, warmup, steps)
	if err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	m.Close()
	line, err := c.line("airanode cpu", dev.Name(), name, a, steps, el, got)
	if err == nil {
		err = json.NewEncoder(os.Stdout).Encode(line)
	}
	if err != nil {
		return err
	}
	if got != want {
		fmt.Printf("config %s: cpu and cuda digests DIFFER after %d steps (%s vs %s)\n", name, warmup+steps, got, want)
		return fmt.Errorf("config %s: the CPU device's digest differs from the GPU's", name)
	}
	fmt.Printf("config %s: cpu and cuda digests identical after %d steps, bit for bit (%s)\n", name, warmup+steps, got)
	return nil
}

// profileSteps trains tr's first n steps with per-kernel timing on and prints the kernels by total
// time.
func profileSteps(ctx context.Context, dev *cuda.Device, tr *train.Trainer, data randomTokens, config string, n int) error {
	dev.SetProfile(true)
	defer dev.SetProfile(false)
	t0 := time.Now()
	if err := tr.RunUntil(ctx, data, n); err != nil {
		return err
	}
	if err := dev.Sync(); err != nil {
		return err
	}
	wall := time.Since(t0).Seconds()
	prof := dev.Profile()
	var total float64
	for _, k := range prof {
		total += k.Seconds
	}
	fmt.Printf("profile of config %s: %d steps, %.2f ms/step with a sync after every launch, %.2f ms/step in kernels\n",
		config, n, wall*1e3/float64(n), total*1e3/float64(n))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "kernel\tcalls/step\tms/step\tshare\t")
	for _, k := range prof {
		fmt.Fprintf(w, "%s\t%.1f\t%.3f\t%.1f%%\t\n", k.Name, float64(k.Calls)/float64(n), k.Seconds*1e3/float64(n), 100*k.Seconds/total)
	}
	return w.Flush()
}
