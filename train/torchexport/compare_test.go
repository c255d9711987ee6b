package torchexport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/train"
)

// Tolerances of the comparison with PyTorch (issue 3): the loss within 1e-5 relative, every
// parameter gradient within 1e-4 relative, where the relative error of a tensor is
// ||ours - ref||₂ / max(||ref||₂, 1e-30) over all its elements. The reference is the exported module
// run in float64 on the same weights and batch, so the difference measures the engine's float32
// error (and any disagreement in the math).
const (
	lossTol = 1e-5
	gradTol = 1e-4
	tiny    = 1e-30
)

// compareCases are the architectures of issue 3's acceptance list, at sizes that keep the test
// quick, plus one that covers LayerNorm, learned positions and an untied head.
var compareCases = []struct {
	name, spec string
	B, T       int
}{
	{"transformer", "width=64 vocab=64 : (A(heads=4) M)x2", 2, 24},
	{"gqa-window", "width=64 vocab=64 : A(heads=4,kv=1,win=16) M A(heads=4,kv=2,win=5,rot=8) M", 2, 32},
	{"mamba-hybrid", "width=32 vocab=64 : A(heads=2) S(state=4) M", 2, 24},
	{"gelu", "width=64 vocab=64 : A(heads=4) G", 2, 24},
	{"layernorm-learned-untied", "width=32 vocab=48 norm=layer pos=learned context=24 untied=true : A(heads=2) G S(state=8,conv=3)", 2, 20},
}

// splitmix is the test's deterministic generator.
type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += 0x9E3779B97F4A7C15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// normal returns a standard normal sample (Box-Muller; test data only, bits need not be portable).
func (s *splitmix) normal() float64 {
	u1 := (float64(s.next()>>11) + 0.5) / (1 << 53)
	u2 := float64(s.next()>>11) / (1 << 53)
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// caseFiles are the files of one case, shared with the Python side.
type caseFiles struct {
	Name     string `json:"name"`
	Module   string `json:"module"`
	Weights  string `json:"weights"`
	Batch    string `json:"batch"`
	GradsOut string `json:"grads_out"`
	Ours     string `json:"ours"`
}

// engineResult is the engine's loss and gradients for one case.
type engineResult struct {
	loss  float64
	grads map[string][]float32
}

// prepareCase builds the case's model on the CPU device from a seed, perturbs the initial weights
// (so that no gradient is zero by construction: zero-initialised projections, unit norms), runs one
// forward and backward pass, and writes the module, weights, batch and our gradients into dir.
func prepareCase(t *testing.T, dir string, spec string, B, T int, seed uint64) (caseFiles, engineResult) {
	t.Helper()
	a := mustArch(t, spec)
	dev, err := cpu.New(2)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	m, err := train.NewModel(dev, a, train.Shape{Batch: B, Seq: T})
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	defer m.Close()
	if err := m.Init(seed); err != nil {
		t.Fatal(err)
	}
	rng := splitmix(seed)
	params := make([]float32, m.NumParams())
	if err := m.ReadParams(params); err != nil {
		t.Fatal(err)
	}
	for i := range params {
		params[i] += float32(0.05 * rng.normal())
	}
	if err := m.WriteParams(params); err != nil {
		t.Fatal(err)
	}

	tokens := make([]int32, B*T)
	targets := make([]int32, B*T)
	for i := range tokens {
		tokens[i] = int32(rng.next() % uint64(a.Vocab))
		targets[i] = int32(rng.next() % uint64(a.Vocab))
		if rng.next()%5 == 0 {
			targets[i] = -1 // ignored positions
		}
	}
	targets[0] = 3 // at least one target
	loss, err := m.LossAndGrad(tokens, targets)
	if err != nil {
		t.Fatalf("LossAndGrad: %v", err)
	}
	flat := make([]float32, m.NumParams())
	if err := m.ReadGrads(flat); err != nil {
		t.Fatal(err)
	}
	res := engineResult{loss: loss, grads: map[string][]float32{}}
	var ours train.Safetensors
	ours.Metadata = map[string]string{"loss": strconv.FormatFloat(loss, 'g', -1, 64)}
	for _, tn := range m.Tensors() {
		g := flat[tn.Offset : tn.Offset+tn.Len]
		res.grads[tn.Name] = g
		ours.Tensors = append(ours.Tensors, train.NamedTensor{Name: tn.Name, Shape: tn.Shape, Data: g})
	}

	f := caseFiles{
		Module:   writeModule(t, dir, a),
		Weights:  filepath.Join(dir, "weights.safetensors"),
		Batch:    filepath.Join(dir, "batch.json"),
		GradsOut: filepath.Join(dir, "ref.safetensors"),
		Ours:     filepath.Join(dir, "ours.safetensors"),
	}
	var w bytes.Buffer
	if err := m.SaveWeights(&w); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.Weights, w.Bytes())
	w.Reset()
	if err := ours.Encode(&w); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.Ours, w.Bytes())
	batch := map[string][][]int32{"tokens": nil, "targets": nil}
	for b := range B {
		batch["tokens"] = append(batch["tokens"], tokens[b*T:(b+1)*T])
		batch["targets"] = append(batch["targets"], targets[b*T:(b+1)*T])
	}
	bj, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.Batch, bj)
	return f, res
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pyReport is one line of test/torch/compare.py's output.
type pyReport struct {
	Name       string             `json:"name"`
	Loss       float64            `json:"loss"`
	DType      string             `json:"dtype"`
	LossRel    float64            `json:"loss_rel"`
	GradRel    map[string]float64 `json:"grad_rel"`
	GradRelMax float64            `json:"grad_rel_max"`
}

// runReference runs test/torch/compare.py over every case in one Python process.
func runReference(t *testing.T, dir string, cases []caseFiles) map[string]pyReport {
	t.Helper()
	manifest, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	mpath := filepath.Join(dir, "manifest.json")
	writeFile(t, mpath, manifest)
	script, err := filepath.Abs(filepath.Join("..", "..", "test", "torch", "compare.py"))
	if err != nil {
		t.Fatal(err)
	}
	out := runPython(t, dir, script, "--manifest", mpath)
	reports := map[string]pyReport{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r pyReport
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("compare.py output %q: %v", sc.Text(), err)
		}
		reports[r.Name] = r
	}
	if len(reports) != len(cases) {
		t.Fatalf("compare.py reported %d cases, want %d:\n%s", len(reports), len(cases), out)
	}
	return reports
}

// relErr is ||a-b||₂ / max(||b||₂, tiny), in float64.
func relErr(a, b []float32) float64 {
	var d, n float64
	for i := range b {
		x := float64(a[i]) - float64(b[i])
		d += x * x
		n += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(d) / math.Max(math.Sqrt(n), tiny)
}

// compareGrads checks the engine's gradients against the reference file and returns the relative
// error of each tensor.
func compareGrads(t *testing.T, res engineResult, refPath string) map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(refPath)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := train.DecodeSafetensors(b)
	if err != nil {
		t.Fatalf("reference gradients: %v", err)
	}
	if len(ref.Tensors) != len(res.grads) {
		t.Fatalf("reference has %d gradients, the engine %d", len(ref.Tensors), len(res.grads))
	}
	rels := map[string]float64{}
	for _, rt := range ref.Tensors {
		g, ok := res.grads[rt.Name]
		if !ok || len(g) != len(rt.Data) {
			t.Fatalf("gradient %s: engine has %d elements, reference %d", rt.Name, len(g), len(rt.Data))
		}
		rels[rt.Name] = relErr(g, rt.Data)
	}
	return rels
}

// TestAgainstPyTorch is issue 3's correctness check against PyTorch: for each architecture, the
// engine and the exported PyTorch module (float64) get the same weights and batch; the loss must
// agree to 1e-5 relative and every gradient to 1e-4 relative. A last case feeds PyTorch deliberately
// altered weights to show that the check catches a mismatch.
func TestAgainstPyTorch(t *testing.T) {
	needTorch(t)
	t.Parallel() // most of the time is Python importing torch; overlap it with TestModuleRuns
	dir := t.TempDir()
	var files []caseFiles
	results := map[string]engineResult{}
	for i, c := range compareCases {
		sub := filepath.Join(dir, c.name)
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		f, res := prepareCase(t, sub, c.spec, c.B, c.T, uint64(100+i))
		f.Name = c.name
		files = append(files, f)
		results[c.name] = res
	}
	// The negative control: the first case's weights with one tensor changed by 1%.
	bad := files[0]
	bad.Name = "altered-weights"
	bad.Weights = filepath.Join(dir, "altered.safetensors")
	bad.GradsOut = filepath.Join(dir, "altered-ref.safetensors")
	alterWeights(t, files[0].Weights, bad.Weights, "L0.wqkv", 1.01)
	files = append(files, bad)
	results[bad.Name] = results[files[0].Name]

	reports := runReference(t, dir, files)
	for _, f := range files {
		rep := reports[f.Name]
		res := results[f.Name]
		if rep.DType != "float64" {
			t.Fatalf("%s: reference computed in %s", f.Name, rep.DType)
		}
		lossRel := math.Abs(res.loss-rep.Loss) / math.Max(math.Abs(rep.Loss), tiny)
		rels := compareGrads(t, res, f.GradsOut)
		worst, worstName := 0.0, ""
		for _, n := range sortedKeys(rels) {
			if rels[n] > worst {
				worst, worstName = rels[n], n
			}
		}
		// compare.py computes the same figures from our gradient file against its float64 gradients
		// (the Go side reads them rounded to float32, which moves a figure by up to ~1e-7): both sides
		// must agree.
		if math.Abs(rep.GradRelMax-worst) > 0.05*worst+2e-7 {
			t.Errorf("%s: compare.py's worst gradient error %.3g differs from the Go side's %.3g", f.Name, rep.GradRelMax, worst)
		}
		if f.Name == bad.Name {
			if lossRel <= lossTol && worst <= gradTol {
				t.Errorf("%s: altered weights went unnoticed (loss rel %.3g, worst grad rel %.3g)", f.Name, lossRel, worst)
			}
			continue
		}
		t.Logf("%s: loss %.7f (PyTorch %.7f), rel %.2g; worst gradient %s rel %.2g", f.Name, res.loss, rep.Loss, lossRel, worstName, worst)
		if lossRel > lossTol {
			t.Errorf("%s: loss %.9g vs PyTorch %.9g: relative error %.3g > %g", f.Name, res.loss, rep.Loss, lossRel, lossTol)
		}
		for _, n := range sortedKeys(rels) {
			if rels[n] > gradTol || math.IsNaN(rels[n]) {
				t.Errorf("%s: gradient %s: relative error %.3g > %g", f.Name, n, rels[n], gradTol)
			}
		}
	}
}

// alterWeights copies a weights file, multiplying one tensor by factor.
func alterWeights(t *testing.T, src, dst, name string, factor float32) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	st, err := train.DecodeSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i := range st.Tensors {
		if st.Tensors[i].Name == name {
			for j := range st.Tensors[i].Data {
				st.Tensors[i].Data[j] *= factor
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("%s has no tensor %s", src, name)
	}
	var w bytes.Buffer
	if err := st.Encode(&w); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, w.Bytes())
}

func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
