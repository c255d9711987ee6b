package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runArch executes the arch command with args and returns stdout, stderr and the error.
func runArch(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newArchCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(stdin))
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func field(out, name string) string {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

func TestArchParse(t *testing.T) {
	out, _, err := runArch(t, "", "parse", "A M A M")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"spec     A M A M\n", "cid      bafyrei", "width 128, 4 layers, norm rms, pos none, vocab unbound",
		"params   402,048 (vocabulary unbound", "flops    2,803,200 per token for training (3 × forward) at T=256"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Two spellings of one model print one CID; the arguments may come unquoted.
	cid := field(out, "cid")
	for _, spelling := range [][]string{{"(A M)x2"}, {"attention", "swiglu", "attention", "swiglu"}, {"AMAM"},
		{`{"layers":[{"kind":"A"},{"kind":"M"},{"kind":"A"},{"kind":"M"}]}`}} {
		out2, _, err := runArch(t, "", append([]string{"parse"}, spelling...)...)
		if err != nil {
			t.Fatal(err)
		}
		if got := field(out2, "cid"); got != cid {
			t.Errorf("%v: cid %s, want %s", spelling, got, cid)
		}
	}
	// Binding a vocabulary changes the model, hence the CID, and counts the embeddings.
	out3, _, err := runArch(t, "", "parse", "A M A M", "--vocab", "256")
	if err != nil {
		t.Fatal(err)
	}
	if field(out3, "cid") == cid || !strings.Contains(out3, "params   434,816\n") || !strings.Contains(out3, "spec     vocab=256 : A M A M") {
		t.Errorf("--vocab 256:\n%s", out3)
	}
}

func TestArchParseJSONOutput(t *testing.T) {
	out, _, err := runArch(t, "", "parse", "vocab=256 norm=layer pos=learned context=256 : (A(heads=4) G)x4", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Spec   string  `json:"spec"`
		CID    string  `json:"cid"`
		Params int64   `json:"params"`
		Seq    int     `json:"seq"`
		FLOPs  float64 `json:"train_flops_per_token"`
		Depth  int     `json:"depth"`
		Arch   struct {
			Width  int `json:"width"`
			Layers []struct {
				Kind string         `json:"kind"`
				Opts map[string]int `json:"opts"`
			} `json:"layers"`
		} `json:"arch"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Params != 854_272 || r.Seq != 256 || r.FLOPs != 5_704_704 || r.Depth != 8 || r.Arch.Width != 128 ||
		r.Arch.Layers[1].Kind != "gelu" || r.Arch.Layers[1].Opts["hidden"] != 512 || !strings.HasPrefix(r.CID, "bafyrei") {
		t.Fatalf("JSON report: %+v", r)
	}
}

func TestArchShow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.json")
	if err := os.WriteFile(path, []byte(`{"width":64,"vocab":16,"layers":[{"kind":"attention","opts":{"kv":1}},{"kind":"mamba"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runArch(t, "", "show", path, "--batch", "8", "--seq", "128")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"spec     width=64 vocab=16 : A(kv=1) S", "attention  heads=2 kv=1 rot=32 win=0 rbase=10000",
		"mamba      state=16 expand=2 conv=4 dtrank=4", "L0.wqkv[128,64]", "L1.A_log[128,16]", "head       ",
		"memory   batch 8 × 128 tokens, fp32: weights"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	// The same model from standard input, as notation.
	out2, _, err := runArch(t, "width=64 vocab=16 : A(kv=1) S\n", "show", "-", "--seq", "128", "--batch", "8")
	if err != nil {
		t.Fatal(err)
	}
	if field(out2, "cid") != field(out, "cid") {
		t.Errorf("stdin and file give different CIDs:\n%s\n%s", out, out2)
	}
	js, _, err := runArch(t, "", "show", path, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Layout []struct{ Name string } `json:"layout"`
		Parts  []struct{ Name string } `json:"parts"`
		Memory struct {
			Batch, Seq         int
			Weights, Optimizer int64
			Activations, Total int64
		} `json:"memory"`
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Layout) != 15 || len(r.Parts) != 4 || r.Memory.Batch != 16 || r.Memory.Optimizer != 3*r.Memory.Weights ||
		r.Memory.Total != r.Memory.Weights+r.Memory.Optimizer+r.Memory.Activations {
		t.Errorf("show --json: %+v", r)
	}
}

func TestArchMutate(t *testing.T) {
	out, _, err := runArch(t, "", "mutate", "A M A M", "--seed", "7", "--n", "3")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "mutant   seed ") != 3 || !strings.Contains(out, "mutant   seed 9: ") {
		t.Fatalf("mutate output:\n%s", out)
	}
	// Mutant i of --seed N is the mutant of --seed N+i.
	one, _, err := runArch(t, "", "mutate", "A M A M", "--seed", "8")
	if err != nil {
		t.Fatal(err)
	}
	block := one[strings.Index(one, "mutant"):]
	if !strings.Contains(out, block) {
		t.Fatalf("--seed 8 alone:\n%s\nis not within --seed 7 --n 3:\n%s", block, out)
	}
	// A search space restricts the mutants.
	dir := t.TempDir()
	sp := filepath.Join(dir, "space.json")
	if err := os.WriteFile(sp, []byte(`{"primitives":["A","M"],"min_depth":4,"max_depth":4}`), 0o600); err != nil {
		t.Fatal(err)
	}
	js, _, err := runArch(t, "", "mutate", "A M A M", "--seed", "1", "--n", "20", "--space", sp, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Parent  struct{ CID string } `json:"parent"`
		Mutants []struct {
			Spec     string `json:"spec"`
			CID      string `json:"cid"`
			Depth    int    `json:"depth"`
			Seed     uint64 `json:"seed"`
			Mutation struct{ Op, Detail string }
		} `json:"mutants"`
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Mutants) != 20 {
		t.Fatalf("%d mutants", len(r.Mutants))
	}
	for i, m := range r.Mutants {
		if m.Depth != 4 || strings.ContainsAny(m.Spec, "SG") || m.CID == r.Parent.CID || m.Seed != uint64(1+i) || m.Mutation.Op == "" {
			t.Errorf("mutant %d: %+v", i, m)
		}
	}
}

func TestArchScale(t *testing.T) {
	tests := []struct {
		args []string
		spec string
	}{
		{[]string{"A*2 M*4", "--stretch", "2"}, "A A A A M M M M M M M M"},
		{[]string{"A*2 M*4", "--stretch", "1.5"}, "A A A M M M M M M"},
		{[]string{"A*2 M*4", "--stretch", "3/2"}, "A A A M M M M M M"},
		{[]string{"A M", "--stack", "3"}, "A M A M A M"},
		{[]string{"A(kv=1) M", "--stack", "2", "--width", "256"}, "width=256 : A(kv=1) M A(kv=1) M"},
		{[]string{"A M", "--width", "64"}, "width=64 : A M"},
	}
	for _, tc := range tests {
		out, _, err := runArch(t, "", append([]string{"scale"}, tc.args...)...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := field(out, "spec"); got != tc.spec {
			t.Errorf("%v: spec %q, want %q", tc.args, got, tc.spec)
		}
	}
}

func TestArchBadInput(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"parse", "A M X"}, `column 5: "X" is not a primitive`},
		{[]string{"parse", "A(kv=3) M"}, "layer 0 (attention), option kv: kv=3 does not divide heads=4"},
		{[]string{"parse", "A(foo=1)"}, `attention has no option "foo"`},
		{[]string{"parse", "(A M"}, "missing ')'"},
		{[]string{"parse", "A*100"}, "more than 64"},
		{[]string{"parse", "width=100 : A"}, "not a multiple of 8"},
		{[]string{"parse", "width=4096 : G(hidden=65536)*4"}, "too many parameters"},
		{[]string{"parse", `{"layers": [{"kind": "A"}], "extra": 1}`}, "unknown field"},
		{[]string{"parse"}, "requires at least 1 arg"},
		{[]string{"parse", "A", "--seq", "0"}, "--seq 0"},
		{[]string{"parse", "pos=learned context=64 : A", "--seq", "128"}, "exceeds the context"},
		{[]string{"parse", "A", "--vocab", "-2"}, "setting vocab"},
		{[]string{"show", "/nonexistent/model.json"}, "no such file"},
		{[]string{"show", "A", "--batch", "0"}, "--batch 0"},
		{[]string{"mutate", "A", "--n", "0"}, "--n 0"},
		{[]string{"mutate", "A", "--space", "/nonexistent.json"}, "no such file"},
		{[]string{"scale", "A M"}, "give --stretch S, --stack N or --width W"},
		{[]string{"scale", "A M", "--stretch", "2", "--stack", "2"}, "not both"},
		{[]string{"scale", "A M", "--stretch", "-1"}, "positive number"},
		{[]string{"scale", "A M", "--stretch", "abc"}, "positive number"},
		{[]string{"scale", "A*8 M*8", "--stretch", "5"}, "more than 64 layers"},
		{[]string{"scale", "A*8 M*8", "--stack", "5"}, "want 1 to 64 layers"},
		{[]string{"scale", "A M", "--width", "100"}, "--width 100"},
	}
	for _, tc := range tests {
		out, errOut, err := runArch(t, "", tc.args...)
		if err == nil {
			t.Errorf("%v: no error; output:\n%s", tc.args, out)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: error %q lacks %q", tc.args, err, tc.msg)
		}
		if !strings.Contains(errOut, "Error:") || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: stderr %q does not report the error", tc.args, errOut)
		}
		if strings.Contains(errOut, "Usage:") {
			t.Errorf("%v: usage printed on a bad-input error", tc.args)
		}
	}
	// A space file with an unknown field or bad values.
	dir := t.TempDir()
	for name, body := range map[string]string{"unknown.json": `{"depth": 3}`, "bad.json": `{"min_depth": 9, "max_depth": 2}`} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := runArch(t, "", "mutate", "A", "--space", p); err == nil {
			t.Errorf("space %s accepted", body)
		}
	}
}

func TestParseRatio(t *testing.T) {
	for in, want := range map[string][2]int{"2": {2, 1}, "1.5": {3, 2}, "3/2": {3, 2}, "0.25": {1, 4}, " 4/6 ": {2, 3}} {
		n, d, err := parseRatio(in)
		if err != nil || n != want[0] || d != want[1] {
			t.Errorf("parseRatio(%q) = %d/%d %v", in, n, d, err)
		}
	}
	for _, in := range []string{"", "0", "-2", "x", "1/0", "99999999/1", "1e400"} {
		if _, _, err := parseRatio(in); err == nil {
			t.Errorf("parseRatio(%q) accepted", in)
		}
	}
}

func TestBytesAndGroup(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := bytesStr(n); got != want {
			t.Errorf("bytesStr(%d) = %s", n, got)
		}
	}
	for n, want := range map[int64]string{7: "7", 1234: "1,234", 854272: "854,272", -1000: "-1,000"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %s", n, got)
		}
	}
}
