package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/airanode/airanode/arch"
)

// TestBenchArchMatchesPyTorch checks the benchmark models against shared/perf/README.md's parameter
// counts (those of torch_lm_bench.py, LayerNorm + GELU) and the script's SwiGLU width.
func TestBenchArchMatchesPyTorch(t *testing.T) {
	tests := []struct {
		config, norm, mlp string
		params            int64
	}{
		{"A", "ln", "gelu", 854_272},
		{"B", "ln", "gelu", 4_856_320},
		{"C", "ln", "gelu", 123_520},
		// RMSNorm drops the norm biases: (2L+1)·d fewer.
		{"A", "rms", "gelu", 854_272 - 9*128},
		// SwiGLU, hidden 8·((8·128/3+7)/8) = 344: 3·344·128 per block instead of 2·512·128.
		{"A", "ln", "swiglu", 854_272 - 4*(2*512*128) + 4*(3*344*128)},
	}
	for _, tc := range tests {
		a, err := benchArch(benchConfigs[tc.config], tc.norm, tc.mlp)
		if err != nil {
			t.Fatalf("%s %s %s: %v", tc.config, tc.norm, tc.mlp, err)
		}
		p, err := arch.Params(a)
		if err != nil {
			t.Fatal(err)
		}
		if p != tc.params {
			t.Errorf("config %s %s %s: %d params, want %d", tc.config, tc.norm, tc.mlp, p, tc.params)
		}
		if a.Pos != arch.PosLearned || a.Untied || a.Context != benchConfigs[tc.config].Seq {
			t.Errorf("config %s: pos %s context %d untied %v", tc.config, a.Pos, a.Context, a.Untied)
		}
		for i, l := range a.Layers {
			if l.Kind == "attention" && l.Opts["rot"] != 0 {
				t.Errorf("config %s layer %d: rotary %d, want none (learned positions)", tc.config, i, l.Opts["rot"])
			}
		}
	}
	// The script's FLOPs/token for config A: 6·(854272 - 256·128) + 12·4·256·128.
	if got, want := benchFlopsPerToken(854_272, benchConfigs["A"]), int64(6*(854_272-256*128)+12*4*256*128); got != want {
		t.Errorf("FLOPs/token %d, want %d", got, want)
	}
}

func TestBenchTrainBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"train", "--config", "D"},
		{"train", "--norm", "batch"},
		{"train", "--mlp", "relu"},
		{"train", "--threads", "0"},
		{"train", "--steps", "0"},
		{"train", "--mode", "fast"},
		{"train", "extra"},
	} {
		_, _, err := execCmd(t, newBenchCmd, "", args...)
		if err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	_, _, err := execCmd(t, newBenchCmd, "", "train", "--config", "Z")
	if !errors.Is(err, errBenchUsage) {
		t.Errorf("bad config: %v, want errBenchUsage", err)
	}
}

// TestBenchTrainFlagUnderRoot checks that bench's own --threads coexists with the root command's
// persistent --threads flag.
func TestBenchTrainFlagUnderRoot(t *testing.T) {
	root := newRootCmd()
	root.AddCommand(newBenchCmd())
	root.SetArgs([]string{"bench", "train", "--threads", "3", "--config", "Z"})
	root.SetOut(new(strings.Builder))
	root.SetErr(new(strings.Builder))
	if err := root.Execute(); !errors.Is(err, errBenchUsage) {
		t.Fatalf("err = %v, want errBenchUsage", err)
	}
}

// TestBenchTrainRuns trains a tiny configuration for a few steps in both arrangements and checks the
// report (configs A-C take seconds per step under the race detector; their shapes are checked above).
func TestBenchTrainRuns(t *testing.T) {
	benchConfigs["tiny"] = benchShape{D: 32, Layers: 1, Heads: 2, Seq: 16, Batch: 4}
	defer delete(benchConfigs, "tiny")
	a, err := benchArch(benchConfigs["tiny"], "ln", "gelu")
	if err != nil {
		t.Fatal(err)
	}
	params, err := arch.Params(a)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, _, err := execCmd(t, newBenchCmd, "", "train", "--config", "tiny", "--threads", "2", "--steps", "3", "--warmup", "1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Params != params || rep.FlopsPerToken != benchFlopsPerToken(params, benchConfigs["tiny"]) || rep.Class == "" || rep.Device == "" {
		t.Errorf("report header: %+v", rep)
	}
	for name, r := range map[string]*benchRun{"single": rep.Single, "per_core": rep.PerCore} {
		if r == nil {
			t.Fatalf("%s missing", name)
		}
		// Random bytes: the loss stays near ln 256 = 5.55.
		if r.TokensPerS <= 0 || r.GFLOPs <= 0 || r.MsStepMedian <= 0 || r.MsStepMin > r.MsStepMedian || r.FinalLoss < 4.5 || r.FinalLoss > 6.5 {
			t.Errorf("%s: %+v", name, r)
		}
	}
	if rep.Single.Models != 1 || rep.Single.ThreadsEach != 2 || rep.PerCore.Models != 2 || rep.PerCore.ThreadsEach != 1 ||
		len(rep.PerCore.MsStepByModel) != 2 {
		t.Errorf("arrangements: single %+v per-core %+v", rep.Single, rep.PerCore)
	}
	t.Logf("tiny config, 4 steps in each arrangement: %v", time.Since(start))

	// The human form.
	out, _, err = execCmd(t, newBenchCmd, "", "train", "--config", "tiny", "--threads", "1", "--steps", "1", "--warmup", "0", "--mode", "single")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "tokens/s") || !strings.Contains(out, "one model, 1×1 thread(s)") || strings.Contains(out, "per core") {
		t.Errorf("human output:\n%s", out)
	}
}
