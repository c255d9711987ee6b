package search

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
)

// TestCalibrateDemo measures the demo protocol on a few architectures (docs/search.md has the
// table). It trains for real, so it runs only with AIRANODE_CALIBRATE=1.
func TestCalibrateDemo(t *testing.T) {
	if os.Getenv("AIRANODE_CALIBRATE") == "" {
		t.Skip("set AIRANODE_CALIBRATE=1 to measure the demo protocol")
	}
	p := DemoProtocol()
	for _, s := range []string{"width=32: A M A M", "width=32: S M S M", "width=32: M M", "width=32: A S"} {
		t0 := time.Now()
		rep, err := bench.Evaluate(context.Background(), bench.EvalOptions{Arch: arch.MustParse(s), Protocol: p, Seed: 1, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		var cpu float64
		for _, r := range rep.Runs {
			cpu += r.CPUSeconds
		}
		t.Logf("%-20s score %s  wall %v  cpu %.1fs  %v", s, FormatScore(rep.Result.Score), time.Since(t0).Round(time.Millisecond), cpu, rep.Result.Metrics)
	}
}
