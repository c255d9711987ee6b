//go:build cuda || cudaemu

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/consensus"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/gpu/cuda"
	"github.com/airanode/airanode/object"
)

// evalLine is one evaluation `airanode-cuda eval` ran.
type evalLine struct {
	Run       string  `json:"run"`
	Device    string  `json:"device"`
	Arch      string  `json:"arch"`
	Protocol  string  `json:"protocol"`
	Seed      uint64  `json:"seed"`
	Score     int64   `json:"score_ppm"`
	Segments  int     `json:"segments"`
	Steps     int64   `json:"steps"`
	ResultCID string  `json:"result_cid"`
	Digest    string  `json:"digest_final"`
	Seconds   float64 `json:"seconds"`
	Kernels   string  `json:"kernels,omitempty"` // the kernel choice of --kernels, on the tuned-kernel runs
}

// runEval evaluates one architecture under a protocol on GPU 0: once, or several times on fresh
// devices (--twice, --reference), requiring byte-identical Results — the GPU's run-to-run
// determinism and the tuned kernels' identity with the reference kernels (which run in order, on
// one stream) on a whole evaluation.
// --cpu adds the same evaluation on the CPU device and fails unless its score and segment digests
// are the GPU's (the kernels compute the CPU device's bits; docs/gpu.md).
func runEval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	archSpec := fs.String("arch", "A M A M", "architecture, in the notation or JSON")
	protoName := fs.String("protocol", bench.NameMADLite, "protocol: mad-lite or mad")
	seed := fs.Uint64("seed", 0, "task seed")
	twice := fs.Bool("twice", false, "evaluate twice, each on a fresh device, and require identical Results")
	reference := fs.Bool("reference", false, "evaluate once more with the reference kernels, in order on one stream, and require the same Result")
	onCPU := fs.Bool("cpu", false, "evaluate on the CPU device too (all cores) and compare the score and digests")
	kernels := fs.String("kernels", "", kernelsUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	choice, err := parseKernels(*kernels)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("eval: unexpected arguments %q", fs.Args())
	}
	a, err := arch.ParseAny(*archSpec)
	if err == nil {
		a, err = arch.Normalize(a)
	}
	if err != nil {
		return fmt.Errorf("--arch: %w", err)
	}
	p, err := bench.Lookup(*protoName, cid.Undef)
	if err != nil {
		return fmt.Errorf("--protocol: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	type run struct {
		name      string
		reference bool
		cpu       bool
	}
	runs := []run{{name: "cuda"}}
	if *twice {
		runs = append(runs, run{name: "cuda again"})
	}
	if *reference {
		runs = append(runs, run{name: "cuda reference kernels, one stream", reference: true})
	}
	if *onCPU {
		runs = append(runs, run{name: "cpu", cpu: true})
	}
	var first []byte
	var firstRes object.Result
	for _, r := range runs {
		var dev gpu.Device
		if r.cpu {
			dev, err = cpu.New(runtime.NumCPU())
		} else {
			var cd *cuda.Device
			if cd, err = openCUDA(r.reference, choice); err == nil {
				dev = cd
			}
		}
		if err != nil {
			return err
		}
		t0 := time.Now()
		rep, err := bench.Evaluate(ctx, bench.EvalOptions{Arch: a, Protocol: p, Seed: *seed, Device: dev, Executor: "airanode-cuda-eval"})
		secs := time.Since(t0).Seconds()
		if cerr := dev.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		b, c, err := object.Encode(rep.Result)
		if err != nil {
			return err
		}
		res := rep.Result
		line := evalLine{Run: r.name, Device: rep.Device, Arch: arch.Print(a), Protocol: p.Name, Seed: *seed,
			Score: res.Score, Segments: len(res.Segments), Steps: res.Steps, ResultCID: c.String(), Seconds: secs}
		if !r.cpu && !r.reference {
			line.Kernels = cuda.FormatKernels(choice)
		}
		if n := len(res.Segments); n > 0 {
			line.Digest = fmt.Sprintf("%x", res.Segments[n-1].Digest)
		}
		if err := json.NewEncoder(os.Stdout).Encode(line); err != nil {
			return err
		}
		switch {
		case first == nil:
			first, firstRes = b, res
		case r.cpu && res.Score == firstRes.Score && consensus.FirstDivergence(firstRes, res) < 0:
			fmt.Printf("cpu: score and segment digests identical to the first run's, bit for bit (%d segment digests)\n", len(res.Segments))
		case r.cpu:
			return fmt.Errorf("cpu: the score or a segment digest differs from the first run's (%s; score %d vs %d ppm)",
				firstDifference(firstRes, res), res.Score, firstRes.Score)
		case !bytes.Equal(b, first):
			return fmt.Errorf("%s: the Result differs from the first run's (%s)", r.name, firstDifference(firstRes, res))
		default:
			fmt.Printf("%s: Result identical to the first run's, bit for bit (%d segment digests)\n", r.name, len(res.Segments))
		}
	}
	return nil
}

// firstDifference names the first segment whose digest differs between two Results of one task.
func firstDifference(a, b object.Result) string {
	switch i := consensus.FirstDivergence(a, b); {
	case i < 0:
		return fmt.Sprintf("same digests; scores %d and %d", a.Score, b.Score)
	case i >= min(len(a.Segments), len(b.Segments)):
		return fmt.Sprintf("%d segments vs %d", len(a.Segments), len(b.Segments))
	default:
		return fmt.Sprintf("first at segment %d, step %d", i, a.Segments[i].Step)
	}
}
