package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/airanode/airanode/arch"
)

// TestCalibrateMADLite is the MAD-lite calibration harness, a measurement rather than a test: it
// runs the MAD-lite suite through Evaluate for each architecture and reports, per task, the setting,
// steps, wall and CPU seconds, accuracy and chance (docs/protocols.md publishes the table). It is
// skipped unless AIRANODE_CALIBRATE lists architectures, separated by ';':
//
//	AIRANODE_CALIBRATE='A M A M;S M S M;M M M M' \
//	AIRANODE_CALIBRATE_THREADS=2 AIRANODE_CALIBRATE_TASKS=0,1,2 \
//	AIRANODE_CALIBRATE_OUT=/tmp/calib.jsonl \
//	go test ./bench -run TestCalibrateMADLite -timeout 0 -v
//
// AIRANODE_CALIBRATE_TASKS picks settings by index (every setting trains alone from the protocol's
// seed, so a subset gives the same numbers as the whole suite); AIRANODE_CALIBRATE_OUT appends one
// JSON line per run; AIRANODE_CALIBRATE_SEED sets the task seed (default 0).
func TestCalibrateMADLite(t *testing.T) {
	spec := os.Getenv("AIRANODE_CALIBRATE")
	if spec == "" {
		t.Skip("set AIRANODE_CALIBRATE to run the MAD-lite calibration (a measurement, minutes per architecture)")
	}
	threads := envInt(t, "AIRANODE_CALIBRATE_THREADS", 2)
	seed := envInt(t, "AIRANODE_CALIBRATE_SEED", 0)
	p := MADLite()
	if path := os.Getenv("AIRANODE_CALIBRATE_PROTOCOL"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p = new(Protocol)
		if err := json.Unmarshal(b, p); err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if s := os.Getenv("AIRANODE_CALIBRATE_TASKS"); s != "" {
		var sub []Setting
		for _, f := range strings.Split(s, ",") {
			i, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || i < 0 || i >= len(p.Settings) {
				t.Fatalf("AIRANODE_CALIBRATE_TASKS: %q", f)
			}
			sub = append(sub, p.Settings[i])
		}
		p.Settings = sub
	}
	var out *os.File
	if path := os.Getenv("AIRANODE_CALIBRATE_OUT"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		out = f
	}
	for _, s := range strings.Split(spec, ";") {
		a, err := arch.Parse(strings.TrimSpace(s))
		if err != nil {
			t.Fatal(err)
		}
		// One setting at a time, so that every run is reported as soon as it ends.
		var total, cpuTotal float64
		for si, set := range p.Settings {
			one := *p
			one.Settings = []Setting{set}
			one.Sweep = nil
			load := loadAvg()
			rep, err := Evaluate(context.Background(), EvalOptions{Arch: a, Protocol: &one, Seed: uint64(seed), Threads: threads})
			if err != nil {
				t.Fatal(err)
			}
			r := rep.Runs[0]
			total += r.Seconds
			cpuTotal += r.CPUSeconds
			row := map[string]any{
				"arch": arch.Print(a), "task": r.Task, "setting": set.String(), "index": si, "params": r.Params,
				"steps": r.Steps, "batch": set.Batch, "tokens": r.Tokens, "seconds": r.Seconds, "cpu_seconds": r.CPUSeconds,
				"accuracy_ppm": r.Value, "chance_ppm": r.Chance, "threads": threads, "load_at_start": load, "load_at_end": loadAvg(),
				"seed": seed, "lr": one.LR, "warmup": one.Warmup, "min_lr": one.MinLR, "partials": rep.Scores.Runs[0].Segments,
			}
			t.Logf("%-10s %-26s %-48s steps %5d×%-3d %6.1f s (cpu %6.1f s)  acc %5.1f%%  chance %4.1f%%  load %s",
				arch.Print(a), r.Task, set, r.Steps, set.Batch, r.Seconds, r.CPUSeconds, float64(r.Value)/1e4, float64(r.Chance)/1e4, load)
			if out != nil {
				b, _ := json.Marshal(row)
				fmt.Fprintf(out, "%s\n", b)
			}
		}
		t.Logf("%s: %d settings in %.0f s (cpu %.0f s), %s", arch.Print(a), len(p.Settings), total, cpuTotal, loadAvg())
	}
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// loadAvg returns the 1-minute load average, or "?" where /proc/loadavg is missing.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
