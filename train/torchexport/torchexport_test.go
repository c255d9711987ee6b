package torchexport

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/airanode/airanode/arch"
)

// specs used by the tests: every primitive and global setting the exporter handles.
var testSpecs = []struct {
	name, spec string
}{
	{"transformer", "width=32 vocab=32 : (A M)x2"},
	{"gqa-window", "width=32 vocab=32 : A(heads=4,kv=1,win=16) M"},
	{"mamba-hybrid", "width=32 vocab=32 : A S(state=4) M"},
	{"gelu", "width=32 vocab=32 : A G"},
	{"learned-layernorm-untied", "width=32 vocab=40 norm=layer pos=learned context=24 untied=true : A(rot=0) G S M"},
	{"partial-rotary", "width=64 vocab=20 : A(heads=2,rot=8,rbase=500) M(hidden=48)"},
}

func mustArch(t testing.TB, spec string) arch.Arch {
	t.Helper()
	a, err := arch.Parse(spec)
	if err != nil {
		t.Fatalf("parse %q: %v", spec, err)
	}
	a, err = arch.Normalize(a)
	if err != nil {
		t.Fatalf("normalize %q: %v", spec, err)
	}
	return a
}

func TestGenerate(t *testing.T) {
	for _, tc := range testSpecs {
		t.Run(tc.name, func(t *testing.T) {
			a := mustArch(t, tc.spec)
			src, err := Generate(a)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			for _, want := range []string{"class Model(nn.Module)", "def load_safetensors", "def loss_and_grads", arch.Print(a)} {
				if !bytes.Contains(src, []byte(want)) {
					t.Errorf("output lacks %q", want)
				}
			}
			if bytes.Contains(src, []byte("@@")) {
				t.Errorf("output has an unreplaced placeholder")
			}
			// Equal architectures give equal files, whatever the spelling.
			again, err := Generate(arch.Strip(a))
			if err != nil {
				t.Fatalf("Generate(Strip): %v", err)
			}
			if !bytes.Equal(src, again) {
				t.Errorf("two spellings of one architecture give different files")
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	noVocab := mustArch(t, "width=32 : A M")
	tests := []struct {
		name string
		a    arch.Arch
	}{
		{"no vocabulary", noVocab},
		{"unknown primitive", arch.Arch{Width: 32, Vocab: 16, Layers: []arch.Layer{{Kind: "hyena"}}}},
		{"indivisible heads", arch.Arch{Width: 32, Vocab: 16, Layers: []arch.Layer{{Kind: "attention", Opts: map[string]int{"heads": 5}}}}},
		{"no layers", arch.Arch{Width: 32, Vocab: 16}},
		{"bad norm", arch.Arch{Width: 32, Vocab: 16, Norm: "batch", Layers: []arch.Layer{{Kind: "swiglu"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := Generate(tc.a)
			if !errors.Is(err, ErrArch) {
				t.Fatalf("Generate = %d bytes, %v; want ErrArch", len(src), err)
			}
		})
	}
}

// TestPlanLayout checks the exporter's own tensor list against arch.Layout for every primitive and
// setting, independently of Generate's internal check.
func TestPlanLayout(t *testing.T) {
	for _, tc := range testSpecs {
		a := mustArch(t, tc.spec)
		p, err := makePlan(a)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want, err := arch.Layout(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameTensors(p.layout(), want); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// A disagreement is reported.
	a := mustArch(t, "width=32 vocab=16 : M")
	p, _ := makePlan(a)
	*p.Layers[0].Hidden++
	want, _ := arch.Layout(a)
	if err := sameTensors(p.layout(), want); !errors.Is(err, ErrArch) {
		t.Errorf("sameTensors with a wrong hidden size = %v, want ErrArch", err)
	}
	if err := sameTensors(p.layout()[1:], want); !errors.Is(err, ErrArch) {
		t.Errorf("sameTensors with a missing tensor = %v, want ErrArch", err)
	}
}

func TestPyRaw(t *testing.T) {
	in := `{"a":"it's '''here'''"}`
	out := pyRaw(in)
	if strings.Contains(out, "'") {
		t.Fatalf("pyRaw left a quote: %s", out)
	}
}

// FuzzGenerate feeds arbitrary specs (the CLI's input) through the parser and the exporter: no
// panic, and every success yields a complete file.
func FuzzGenerate(f *testing.F) {
	for _, tc := range testSpecs {
		f.Add(tc.spec)
	}
	f.Add(`{"width":32,"vocab":16,"layers":[{"kind":"gelu"}]}`)
	f.Add("vocab=16 : A(kv=3) M")
	f.Fuzz(func(t *testing.T, spec string) {
		a, err := arch.ParseAny(spec)
		if err != nil {
			return
		}
		src, err := Generate(a)
		if err != nil {
			if !errors.Is(err, ErrArch) {
				t.Fatalf("error %v does not wrap ErrArch", err)
			}
			return
		}
		if !bytes.Contains(src, []byte("class Model(nn.Module)")) || bytes.Contains(src, []byte("@@")) {
			t.Fatalf("incomplete output for %q", spec)
		}
	})
}

// ---- helpers for the tests that run Python ----

var (
	torchOnce sync.Once
	torchErr  error
)

const python = "/usr/bin/python3"

// needTorch skips the test when the system Python cannot import torch (CI installs python3-torch).
func needTorch(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs PyTorch; skipped in -short mode")
	}
	torchOnce.Do(func() {
		out, err := exec.Command(python, "-c", "import torch").CombinedOutput()
		if err != nil {
			torchErr = errors.New(strings.TrimSpace(string(out)) + ": " + err.Error())
		}
	})
	if torchErr != nil {
		t.Skipf("%s cannot import torch (apt-get install python3-torch): %v", python, torchErr)
	}
}

// runPython runs a Python script with args and returns its stdout; stderr goes into the error.
func runPython(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(python, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// writeModule generates the module for a into dir and returns its path.
func writeModule(t *testing.T, dir string, a arch.Arch) string {
	t.Helper()
	src, err := Generate(a)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	path := filepath.Join(dir, "model.py")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestModuleRuns imports every generated module in PyTorch, builds it (which checks its parameters
// against the embedded layout), and runs a loss and a backward pass from its own initialisation.
func TestModuleRuns(t *testing.T) {
	needTorch(t)
	t.Parallel()
	dir := t.TempDir()
	var paths []string
	for i, tc := range testSpecs {
		sub := filepath.Join(dir, tc.name)
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, writeModule(t, sub, mustArch(t, testSpecs[i].spec)))
	}
	// One Python process for all modules: importing torch costs seconds.
	script := `
import importlib.util, json, math, sys, torch
torch.manual_seed(0)
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("m", path)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    model = m.Model()
    V, T = m.PLAN["vocab"], 12
    tok = torch.randint(0, V, (2, T)); tgt = torch.randint(0, V, (2, T)); tgt[0, :3] = -1
    loss, grads = model.loss_and_grads(tok, tgt)
    assert math.isfinite(loss) and abs(loss - math.log(V)) < 0.5, (path, loss)
    assert sorted(grads) == sorted(t["name"] for t in m.LAYOUT), path
    assert all(torch.isfinite(g).all() for g in grads.values()), path
    # no target at all: loss 0, zero gradients
    loss0, g0 = model.loss_and_grads(tok, torch.full_like(tgt, -1))
    assert loss0 == 0.0 and all(float(g.abs().max()) == 0.0 for g in g0.values()), path
print("ok", len(sys.argv) - 1)
`
	out := runPython(t, dir, append([]string{"-c", script}, paths...)...)
	if got := strings.TrimSpace(string(out)); got != "ok "+strconv.Itoa(len(paths)) {
		t.Fatalf("python printed %q", got)
	}
}
