package cuda

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/airanode/airanode/gpu"
)

// The GPU run's scripts (scripts/gpu-pick.py, scripts/gpu-summary.py) checked on every machine: the
// lines TestMatMulTiles and TestAttentionTimes log (times_test.go, on a GPU), which gpu-pick.py
// reads, are written here, untagged, so that TestGPUPick checks the script against the very format.

// tilesLine names the tiles of the table's columns.
func tilesLine(names []string) string { return fmt.Sprintf("tiles: %v", names) }

// tileTimesLine is one shape's row: each tile's µs per call, the tile matmulTile picks (index pick)
// marked *, the fastest marked <.
func tileTimesLine(config, linear string, m, n, k int, times []float64, pick int) string {
	best := 0
	for i := range times {
		if times[i] < times[best] {
			best = i
		}
	}
	line := fmt.Sprintf("%s %-3s %4dx%4dx%4d:", config, linear, m, n, k)
	for i, us := range times {
		mark := " "
		if i == pick {
			mark = "*"
		}
		if i == best {
			mark += "<"
		}
		line += fmt.Sprintf(" %6.1f%s", us, mark)
	}
	return line
}

// tileDifferLine reports that tile's bits differ from the reference tile ref's on a shape.
func tileDifferLine(config, linear string, m, n, k int, tile, ref string) string {
	return fmt.Sprintf("%s %-3s %4dx%4dx%4d: %s: bits differ from %s's", config, linear, m, n, k, tile, ref)
}

// tileCPUDifferLine reports (TestMatMulTilesAgainstCPU) that tile's bits are not the CPU device's.
func tileCPUDifferLine(tile string, m, n, k int, ta, tb, acc bool) string {
	return fmt.Sprintf("%s %dx%dx%d ta=%v tb=%v acc=%v: not the CPU device's bits", tile, m, n, k, ta, tb, acc)
}

// attnTimesLine is one kernel set's attention forward and backward times on a config's shape.
func attnTimesLine(config string, s gpu.AttnShape, kind string, fwd, bwd float64) string {
	return fmt.Sprintf("config %s attention %+v, %s kernels: forward %.1f µs, backward %.1f µs", config, s, kind, fwd, bwd)
}

// attnDifferLine reports which attention kernel sets' bits equal the reference kernels'.
func attnDifferLine(config string, regOK, tiledOK bool) string {
	return fmt.Sprintf("config %s: the attention kernels' bits differ (register-tiled %v, tiled %v, against the reference)", config, regOK, tiledOK)
}

// pickTiledAttention is gpu-pick.py's choice of the tiled attention kernels (when the
// register-tiled ones' bits differ).
const pickTiledAttention = "k_attn_dkv_r=k_attn_dkv_t,k_attn_dq_r=k_attn_dq_t,k_attn_fwd_c=k_attn_fwd_t"

// runPick runs scripts/gpu-pick.py with args on log and returns its choice line.
func runPick(t *testing.T, log string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	cmd := exec.Command("python3", append([]string{"../../scripts/gpu-pick.py"}, args...)...)
	cmd.Stdin = strings.NewReader(log)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpu-pick.py: %v\n%s", err, stderr.String())
	}
	return strings.TrimSuffix(string(out), "\n")
}

// TestGPUPick: scripts/gpu-pick.py keeps the defaults where they are fastest or within 2%, swaps
// in the fastest alternative per group of shapes otherwise, compares attention only on configs
// timed with both kernel sets, never picks kernels whose bits differed, and keeps the defaults
// where a table is missing or cut short, and with --failed all but those whose bits differed.
func TestGPUPick(t *testing.T) {
	names := []string{"k_matmul", "k_mm_32x32_2x4_k64_pf2_f", "k_mm_32x16_2x2_k64_pf2_f", "k_mm_64x64_4x4_k16_pf2_f", "k_mm_128x64_8x4_k16_pf2_f"}
	const f32x16, f128x64 = 2, 4 // the picked tiles' columns
	sB := gpu.AttnShape{B: 16, T: 256, H: 8, KVH: 8, D: 32, Scale: 0.17}
	sA := gpu.AttnShape{B: 16, T: 256, H: 4, KVH: 4, D: 32, Scale: 0.17}
	const done = "--- PASS: TestMatMulTiles (1.00s)"
	// tiles is TestMatMulTiles' table: two 32×16 shapes and one 128×64 shape with the times given.
	tiles := func(t32a, t32b, t128 []float64) []string {
		return []string{"    times_test.go:98: " + tilesLine(names),
			"    times_test.go:139: " + tileTimesLine("B", "dw", 256, 256, 4096, t32a, f32x16),
			"    times_test.go:139: " + tileTimesLine("B", "dw", 1024, 256, 4096, t32b, f32x16),
			"    times_test.go:139: " + tileTimesLine("B", "fwd", 4096, 1024, 256, t128, f128x64)}
	}
	// attn is TestAttentionTimes' lines for config B: register-tiled and tiled forward, backward.
	attn := func(a [4]float64) []string {
		return []string{"    times_test.go:54: " + attnTimesLine("B", sB, "register-tiled", a[0], a[1]),
			"    times_test.go:54: " + attnTimesLine("B", sB, "tiled", a[2], a[3]),
			"    times_test.go:54: " + attnTimesLine("B", sB, "reference", 900, 9000)}
	}
	log := func(parts ...[]string) string {
		var lines []string
		for _, p := range parts {
			lines = append(lines, p...)
		}
		return strings.Join(lines, "\n") + "\n"
	}
	fast := []float64{200, 90, 80, 85, 300}
	fast128 := []float64{110, 100, 100, 200, 88}
	attnFast := [4]float64{200, 300, 350, 590}
	ok := tiles(fast, fast, fast128)
	for _, c := range []struct {
		name, log, want string
		failed          bool
	}{
		{name: "defaults fastest", log: log(ok, []string{done}, attn(attnFast)), want: ""},
		{name: "another tile faster over the group",
			log:  log(tiles([]float64{200, 70, 80, 85, 300}, []float64{200, 150, 160, 170, 300}, fast128), []string{done}, attn(attnFast)),
			want: "k_mm_32x16_2x2_k64_pf2_f=k_mm_32x32_2x4_k64_pf2_f"},
		{name: "faster over the group, by less than 2%",
			log:  log(tiles([]float64{200, 78.9, 80, 85, 300}, []float64{200, 78.9, 80, 85, 300}, fast128), []string{done}, attn(attnFast)),
			want: ""},
		{name: "the fastest on one shape is not the fastest over the group",
			log:  log(tiles([]float64{200, 70, 80, 85, 300}, []float64{200, 100, 80, 95, 300}, fast128), []string{done}, attn(attnFast)),
			want: ""},
		{name: "tiled attention backward faster", log: log(ok, []string{done}, attn([4]float64{200, 600, 350, 500})),
			want: "k_attn_dkv_r=k_attn_dkv_t,k_attn_dq_r=k_attn_dq_t"},
		{name: "tiled attention forward faster", log: log(ok, []string{done}, attn([4]float64{400, 300, 350, 590})),
			want: "k_attn_fwd_c=k_attn_fwd_t"},
		{name: "tiled attention faster, by less than 2%", log: log(ok, []string{done}, attn([4]float64{200, 300, 199, 295})), want: ""},
		{name: "attention compared only where both sets were timed",
			log: log(ok, []string{done,
				"    times_test.go:54: " + attnTimesLine("A", sA, "register-tiled", 120, 300),
				"    times_test.go:54: " + attnTimesLine("A", sA, "tiled", 200, 400),
				"    times_test.go:54: " + attnTimesLine("B", sB, "register-tiled", 240, 600)}),
			want: ""},
		{name: "only the register-tiled attention timed",
			log:  log(ok, []string{done, "    times_test.go:54: " + attnTimesLine("A", sA, "register-tiled", 120, 300)}),
			want: ""},
		{name: "the picked tile's bits differ",
			log:  log(ok, []string{tileDifferLine("B", "dw", 256, 256, 4096, names[f32x16], names[0]), done}, attn(attnFast)),
			want: "k_mm_32x16_2x2_k64_pf2_f=k_mm_64x64_4x4_k16_pf2_f"},
		{name: "the picked tile is not the CPU device's bits",
			log:  log([]string{"    device_test.go:80: " + tileCPUDifferLine(names[f32x16], 37, 45, 29, true, false, true)}, ok, []string{done}, attn(attnFast)),
			want: "k_mm_32x16_2x2_k64_pf2_f=k_mm_64x64_4x4_k16_pf2_f"},
		{name: "a faster alternative's bits differ",
			log: log(tiles([]float64{200, 70, 80, 85, 300}, []float64{200, 70, 80, 85, 300}, fast128),
				[]string{tileDifferLine("B", "dw", 256, 256, 4096, names[1], names[0]), done}, attn(attnFast)),
			want: ""},
		{name: "the register-tiled attention's bits differ", log: log(ok, []string{done}, attn(attnFast), []string{attnDifferLine("B", false, true)}),
			want: pickTiledAttention},
		{name: "the tiled attention's bits differ", log: log(ok, []string{done}, attn([4]float64{400, 600, 350, 500}), []string{attnDifferLine("B", true, false)}),
			want: ""},
		{name: "the matmul table cut short",
			log:  log(tiles([]float64{200, 70, 80, 85, 300}, []float64{200, 70, 80, 85, 300}, fast128)[:3], attn(attnFast)),
			want: "k_mm_32x16_2x2_k64_pf2_f=k_mm_32x32_2x4_k64_pf2_f"}, // the 128×64 shape's default kept
		{name: "a row that is not read", log: log(ok, []string{"    times_test.go:139: B dw  256x 256x4096:  NaN 1.0* 2.0 3.0 4.0", done}, attn(attnFast)), want: ""},
		{name: "no tables", log: "=== kernels\n--- FAIL: TestConformance\n", want: ""},
		{name: "the kernel tests failed: the defaults, though another tile is faster", failed: true,
			log:  log(tiles([]float64{200, 70, 80, 85, 300}, []float64{200, 150, 160, 170, 300}, fast128), []string{done}, attn([4]float64{200, 600, 350, 500})),
			want: ""},
		{name: "the kernel tests failed: a default whose bits differ is still replaced", failed: true,
			log:  log(ok, []string{tileDifferLine("B", "dw", 256, 256, 4096, names[f32x16], names[0]), done}, attn(attnFast)),
			want: "k_mm_32x16_2x2_k64_pf2_f=k_mm_64x64_4x4_k16_pf2_f"},
		{name: "the kernel tests failed: the register-tiled attention's bits differ", failed: true,
			log:  log(ok, []string{done}, attn(attnFast), []string{attnDifferLine("B", false, true)}),
			want: pickTiledAttention},
	} {
		t.Run(c.name, func(t *testing.T) {
			var args []string
			if c.failed {
				args = append(args, "--failed")
			}
			if got := runPick(t, c.log, args...); got != c.want {
				t.Errorf("gpu-pick.py chose %q, want %q", got, c.want)
			}
		})
	}
}

// runScript runs python3 script (under scripts/) on input and returns its output and exit status
// (skipping without python3).
func runScript(t *testing.T, script, input string) (string, int) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	cmd := exec.Command("python3", "../../scripts/"+script)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out), 0
}

// TestGPUSummary: scripts/gpu-summary.py pairs each run of ours (and of ours on one stream,
// --overlap=false) with the next PyTorch run of its config, gives their ratios' median, names the
// kernel choice, and fails when a one-stream or reference run ends on another digest than the
// tuned run.
func TestGPUSummary(t *testing.T) {
	line := func(impl, config string, tps float64, digest, kernels string) string {
		return fmt.Sprintf(`{"impl":%q,"device":"d","config":%q,"ms_step":1,"tokens_per_s":%g,"digest_final":%q,"kernels":%q}`,
			impl, config, tps, digest, kernels)
	}
	torch := func(config string, tps float64) string {
		return fmt.Sprintf(`{"impl": "pytorch-eager", "device": "card", "config": %q, "tokens_per_s": %g}`, config, tps)
	}
	const k = "k_attn_fwd_c=k_attn_fwd_t"
	log := []string{
		"=== training throughput", line("airanode-cuda", "B", 200, "d1", k), "noise {not json",
		line("airanode-cuda (reference kernels)", "B", 60, "d1", ""), torch("B", 250),
		"=== rounds",
		line("airanode-cuda", "B", 210, "d1", k), line("airanode-cuda (one stream)", "B", 230, "d1", k), torch("B", 200),
		line("airanode-cuda", "B", 205, "d1", k), line("airanode-cuda (one stream)", "B", 220, "d1", k), torch("B", 190),
		line("airanode-cuda", "B", 190, "d1", k), // no PyTorch run after it: unpaired
	}
	out, rc := runScript(t, "gpu-summary.py", strings.Join(log, "\n")+"\n")
	for _, want := range []string{
		"kernels: " + k,
		"B: ours/PyTorch over 3 pairs: 0.80x 1.05x 1.08x; median 1.05x, at or above parity",
		"B: ours on one stream/PyTorch over 2 pairs: 1.15x 1.16x; median 1.15x, at or above parity",
		"equal",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("gpu-summary.py's output lacks %q:\n%s", want, out)
		}
	}
	if rc != 0 {
		t.Errorf("gpu-summary.py exited %d with equal digests:\n%s", rc, out)
	}
	// The labels the summary keys on are the ones bench writes (cmd/airanode-cuda/bench.go builds
	// them from these pieces).
	bench, err := os.ReadFile("../../cmd/airanode-cuda/bench.go")
	if err != nil {
		t.Fatal(err)
	}
	summary, err := os.ReadFile("../../scripts/gpu-summary.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ piece, label string }{
		{`impl := "airanode-cuda"`, `"airanode-cuda"`},
		{`impl += " (reference kernels)"`, `"airanode-cuda (reference kernels)"`},
		{`impl += " (one stream)"`, `"airanode-cuda (one stream)"`},
	} {
		if !strings.Contains(string(bench), c.piece) || !strings.Contains(string(summary), c.label) {
			t.Errorf("bench.go's %s and gpu-summary.py's %s: one is missing", c.piece, c.label)
		}
	}
	log[6] = line("airanode-cuda (one stream)", "B", 230, "d2", k)
	if out, rc := runScript(t, "gpu-summary.py", strings.Join(log, "\n")+"\n"); rc != 1 || !strings.Contains(out, "DIFFERS") {
		t.Errorf("gpu-summary.py with a one-stream digest differing: exit %d, want 1:\n%s", rc, out)
	}
}

// TestGPUScriptTestPatterns: the -test.run patterns of scripts/gpu-check.sh and gpu-tune.sh select
// exactly the tests they name, and each named test exists in this package: a test renamed away
// would silently stop running on a GPU, and a name that also matched another test would run it
// from the repository root (TestMatMulTilesMatchKernels, which reads kernels.cu from here, failed
// that way).
func TestGPUScriptTestPatterns(t *testing.T) {
	tests := map[string]bool{}
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`).FindAllSubmatch(src, -1) {
			tests[string(m[1])] = true
		}
	}
	for _, script := range []string{"gpu-check.sh", "gpu-tune.sh"} {
		src, err := os.ReadFile("../../scripts/" + script)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`-test\.run '([^']+)'`).FindSubmatch(src)
		if m == nil {
			t.Fatalf("%s: no -test.run pattern", script)
		}
		named := regexp.MustCompile(`^\^\(([\w|]+)\)\$$`).FindSubmatch(m[1])
		if named == nil {
			t.Errorf("%s: -test.run %q is not ^(Name|Name...)$", script, m[1])
			continue
		}
		re := regexp.MustCompile(string(m[1]))
		want := map[string]bool{}
		for _, name := range strings.Split(string(named[1]), "|") {
			want[name] = true
			if !tests[name] {
				t.Errorf("%s runs %s, which no test file here defines", script, name)
			}
		}
		for name := range tests {
			if re.MatchString(name) && !want[name] {
				t.Errorf("%s's pattern also selects %s", script, name)
			}
		}
	}
}
