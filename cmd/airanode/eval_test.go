package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/identity"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// runEval runs `airanode eval ...` on a root carrying the config flags (so it works before the eval
// command is registered on the real root).
func runEval(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := &cobra.Command{Use: "airanode", SilenceUsage: true, SilenceErrors: true}
	addConfigFlags(root.PersistentFlags())
	root.AddCommand(newEvalCmd())
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append([]string{"eval", "--log-level", "error"}, args...))
	err := root.Execute()
	return out.String(), errb.String(), err
}

// tinyProtocolFile writes a protocol that trains in well under a second and returns its path.
func tinyProtocolFile(t *testing.T, edit func(*bench.Protocol)) string {
	t.Helper()
	set := func(task string, vocab, seq int) bench.Setting {
		return bench.Setting{Task: task, Vocab: vocab, SeqLen: seq, TrainExamples: 64, TestExamples: 12, Steps: 6, Batch: 4}
	}
	rc := set(bench.TaskRecall, 8, 16)
	rc.MultiQuery = true
	mem := set(bench.TaskMemorize, 16, 8)
	mem.TrainExamples = 16
	p := &bench.Protocol{
		Type: bench.ProtocolType, Name: "tiny", Settings: []bench.Setting{rc, mem},
		LR: 3000, Schedule: bench.ScheduleCosine, Warmup: 1, MinLR: 10, EvalExamples: 8, Seed: 7, Segments: 2,
	}
	if edit != nil {
		edit(p)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "protocol.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func decodeEval(t *testing.T, out string) evalOutput {
	t.Helper()
	var o evalOutput
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return o
}

func TestEvalStoresSignedResult(t *testing.T) {
	pf := tinyProtocolFile(t, nil)
	dd := filepath.Join(t.TempDir(), "node")
	out, stderr, err := runEval(t, "--data-dir", dd, "--arch", "width=16: A M", "--protocol-file", pf, "--seed", "5", "--threads", "1", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	o := decodeEval(t, out)
	// Progress went to stderr, one line per segment (not a terminal).
	if n := strings.Count(stderr, "loss"); n != 4 || !strings.Contains(stderr, "[2/2] memorization") {
		t.Errorf("progress output (%d lines):\n%s", n, stderr)
	}
	sk, err := identity.Load(filepath.Join(dd, identity.FileName))
	if err != nil {
		t.Fatalf("identity not created: %v", err)
	}
	pid := identity.PeerID(sk).String()
	if o.Result.Executor != pid || o.Task.Seed != 5 || len(o.Result.Segments) != 4 || len(o.Scores.Tasks) != 2 {
		t.Fatalf("output %+v", o)
	}
	st, err := store.Open(filepath.Join(dd, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rc, _ := object.ParseCID(o.ResultCID)
	env, err := st.Get(rc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := object.OpenResult(env)
	if err != nil {
		t.Fatal(err)
	}
	if r.Executor != pid || r.Task != o.TaskCID || r.Score != o.Scores.Overall || !slices.EqualFunc(r.DigestChain(), o.Result.DigestChain(), bytes.Equal) {
		t.Fatalf("stored result %+v", r)
	}
	// The task, architecture, protocol, scores and every checkpoint are in the store and indexed.
	var task object.Task
	tc, _ := object.ParseCID(o.TaskCID)
	tb, err := st.Get(tc)
	if err != nil || object.Decode(tc, tb, &task) != nil || task != o.Task {
		t.Fatalf("task object: %v %+v", err, task)
	}
	ab, err := st.Get(mustCID(t, task.Arch))
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := arch.Decode(ab)
	if err != nil || arch.Print(a) != o.Arch {
		t.Fatalf("arch object %v: %s vs %s", err, arch.Print(a), o.Arch)
	}
	pb, err := st.Get(mustCID(t, task.Protocol))
	if err != nil {
		t.Fatal(err)
	}
	p, err := bench.DecodeProtocol(mustCID(t, task.Protocol), pb)
	if err != nil || p.Name != "tiny" {
		t.Fatalf("protocol object %v", err)
	}
	sb, err := st.Get(mustCID(t, o.ScoresCID))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := bench.UnmarshalScores(sb)
	if err != nil || sc.Check(p, mustCID(t, task.Protocol)) != nil {
		t.Fatalf("scores object: %v", err)
	}
	byTask, _, err := st.Scan(store.IndexTask, o.TaskCID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range r.Segments {
		ck := mustCID(t, g.Checkpoint)
		if _, err := st.Get(ck); err != nil {
			t.Errorf("checkpoint %s: %v", ck, err)
		}
		if !slices.ContainsFunc(byTask, ck.Equals) {
			t.Errorf("checkpoint %s not indexed", ck)
		}
	}
	if !slices.ContainsFunc(byTask, rc.Equals) {
		t.Error("result not indexed by task")
	}
	byAuthor, _, _ := st.Scan(store.IndexAuthor, pid, "", 10)
	byArch, _, _ := st.Scan(store.IndexArch, task.Arch, "", 10)
	if !slices.ContainsFunc(byAuthor, rc.Equals) || !slices.ContainsFunc(byArch, tc.Equals) {
		t.Errorf("author index %v, arch index %v", byAuthor, byArch)
	}
}

func mustCID(t *testing.T, s string) cid.Cid {
	t.Helper()
	c, err := object.ParseCID(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEvalReproducible: two runs of the same eval give the same digest chain (and, on one node, the
// same Result CID); another node gets the same chain under its own signature.
func TestEvalReproducible(t *testing.T) {
	pf := tinyProtocolFile(t, nil)
	dd := filepath.Join(t.TempDir(), "node")
	args := []string{"--arch", "width=16: A M", "--protocol-file", pf, "--json", "--quiet"}
	out1, _, err := runEval(t, append(args, "--data-dir", dd, "--threads", "1")...)
	if err != nil {
		t.Fatal(err)
	}
	out2, _, err := runEval(t, append(args, "--data-dir", dd, "--threads", "2")...)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	out3, _, err := runEval(t, append(args, "--data-dir", other)...)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := decodeEval(t, out1), decodeEval(t, out2), decodeEval(t, out3)
	if a.ResultCID != b.ResultCID || a.TaskCID != c.TaskCID {
		t.Fatalf("result %s vs %s, task %s vs %s", a.ResultCID, b.ResultCID, a.TaskCID, c.TaskCID)
	}
	if !slices.EqualFunc(a.Result.DigestChain(), c.Result.DigestChain(), bytes.Equal) || a.Result.Score != c.Result.Score {
		t.Fatal("digest chains differ between nodes")
	}
	if a.Result.Executor == c.Result.Executor || a.ResultCID == c.ResultCID {
		t.Fatal("two nodes signed as one")
	}
}

func TestEvalTable(t *testing.T) {
	pf := tinyProtocolFile(t, nil)
	out, stderr, err := runEval(t, "--data-dir", t.TempDir(), "--arch", "width=16: A M", "--protocol-file", pf, "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if stderr != "" {
		t.Errorf("--quiet printed %q", stderr)
	}
	for _, s := range []string{"ACCURACY", "CHANCE", "STEPS", "SECONDS", "in-context-recall", "memorization", "25.0%", "score:", "result:", "signed by 12D3KooW"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
}

// TestEvalBadInput: every bad input gives a clear error and writes nothing: no data directory when
// there was none, and no identity, objects or index entries in an existing store.
func TestEvalBadInput(t *testing.T) {
	dir := t.TempDir()
	// A node with a dataset whose block was lost, and one with a manifest that breaks its rules.
	node := filepath.Join(dir, "node")
	corpus := filepath.Join(dir, "corpus.txt")
	if err := os.WriteFile(corpus, []byte(strings.Repeat("the cat sat on the mat. ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(node, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dc, m, err := bench.ImportFiles(st, []string{corpus}, 256)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(m.Blocks[1].CID); err != nil {
		t.Fatal(err)
	}
	bad := *m
	bad.Blocks = slices.Clone(m.Blocks)
	for i := range bad.Blocks {
		bad.Blocks[i].Val = !bad.Blocks[i].Val // not the deterministic split
	}
	bb, err := object.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	badCID := object.ObjectCID(bb)
	if err := st.Put(badCID, bb); err != nil {
		t.Fatal(err)
	}
	st.Close()

	pf := tinyProtocolFile(t, nil)
	badProto := tinyProtocolFile(t, func(p *bench.Protocol) { p.Segments = 100 })
	junk := filepath.Join(dir, "junk.json")
	os.WriteFile(junk, []byte(`{"type": 3}`), 0o600)
	fresh := filepath.Join(dir, "fresh")
	tests := []struct {
		name string
		dd   string
		args []string
		want error
		msg  string
	}{
		{"no arch", fresh, []string{}, errEvalUsage, "--arch"},
		{"bad arch syntax", fresh, []string{"--arch", "A M ("}, arch.ErrSyntax, "--arch"},
		{"unknown primitive", fresh, []string{"--arch", "A Q"}, nil, "--arch"},
		{"invalid width", fresh, []string{"--arch", "width=3: A M"}, nil, "--arch"},
		{"unknown protocol", fresh, []string{"--arch", "A M", "--protocol", "nosuch"}, bench.ErrUnknownProtocol, "nosuch"},
		{"text without data", fresh, []string{"--arch", "A M", "--protocol", "text"}, bench.ErrNeedData, "--protocol"},
		{"bad data cid", fresh, []string{"--arch", "A M", "--protocol", "text", "--data", "xyz"}, object.ErrBadCID, "--data"},
		{"dataset on no node", fresh, []string{"--arch", "A M", "--protocol", "text", "--data", dc.String()}, bench.ErrMissingBlock, "does not exist"},
		{"missing dataset", node, []string{"--arch", "A M", "--protocol", "text", "--data", object.ObjectCID([]byte("x")).String()}, bench.ErrMissingBlock, "manifest"},
		{"missing block", node, []string{"--arch", "A M", "--protocol", "text", "--data", dc.String()}, bench.ErrMissingBlock, m.Blocks[1].CID.String()},
		{"corrupt manifest", node, []string{"--arch", "A M", "--protocol", "text", "--data", badCID.String()}, bench.ErrInvalidManifest, "split"},
		{"invalid protocol file", fresh, []string{"--arch", "A M", "--protocol-file", badProto}, bench.ErrInvalidProtocol, "segments"},
		{"junk protocol file", fresh, []string{"--arch", "A M", "--protocol-file", junk}, bench.ErrInvalidProtocol, "junk.json"},
		{"missing protocol file", fresh, []string{"--arch", "A M", "--protocol-file", filepath.Join(dir, "none.json")}, os.ErrNotExist, "none.json"},
		{"both protocols", fresh, []string{"--arch", "A M", "--protocol", "mad", "--protocol-file", pf}, errEvalUsage, "exclude"},
		{"bad ttl", fresh, []string{"--arch", "A M", "--checkpoint-ttl", "1ms"}, errEvalUsage, "checkpoint-ttl"},
		{"extra args", fresh, []string{"--arch", "A M", "extra"}, nil, "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runEval(t, append(tc.args, "--data-dir", tc.dd, "--quiet")...)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v mentioning %q\n%s", err, tc.want, tc.msg, stderr)
			}
			if _, err := os.Stat(fresh); !os.IsNotExist(err) {
				t.Fatalf("data dir created: %v", err)
			}
			if _, err := os.Stat(filepath.Join(node, identity.FileName)); !os.IsNotExist(err) {
				t.Fatalf("identity created: %v", err)
			}
		})
	}
	st, err = store.Open(filepath.Join(node, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, ix := range []store.IndexName{store.IndexTask, store.IndexArch, store.IndexAuthor} {
		if es, _, err := st.ScanAll(ix, "", 10); err != nil || len(es) != 0 {
			t.Errorf("index %s: %v %v", ix, es, err)
		}
	}
}

// FuzzEvalProtocolJSON feeds arbitrary --protocol-file contents to the decoder: it must return a valid
// protocol or an error, never panic.
func FuzzEvalProtocolJSON(f *testing.F) {
	for _, p := range []*bench.Protocol{bench.MADLite(), bench.MAD()} {
		b, _ := json.Marshal(p)
		f.Add(b)
	}
	f.Add([]byte(`{"type":"airanode/protocol/1","settings":[{"task":"text"}],"data":{"/":"x"}}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseProtocolJSON(b, cid.Undef)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted an invalid protocol: %v", err)
		}
	})
}

// TestEvalText evaluates the text protocol on a dataset imported into the node's store.
func TestEvalText(t *testing.T) {
	dir := t.TempDir()
	node := filepath.Join(dir, "node")
	corpus := filepath.Join(dir, "corpus.txt")
	if err := os.WriteFile(corpus, []byte(strings.Repeat("the cat sat on the mat. ", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(node, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dc, _, err := bench.ImportFiles(st, []string{corpus}, 512)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	pf := tinyProtocolFile(t, func(p *bench.Protocol) {
		*p = *bench.Text(dc)
		p.Data = cid.Undef // given with --data
		s := &p.Settings[0]
		s.SeqLen, s.Batch, s.Steps, s.TestExamples = 32, 2, 4, 4
		p.Warmup, p.EvalExamples, p.Segments = 1, 2, 2
	})
	out, stderr, err := runEval(t, "--data-dir", node, "--arch", "width=16: A M", "--protocol-file", pf, "--data", dc.String(), "--quiet")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, s := range []string{"BITS/BYTE", "text", "bits per byte", "signed by"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
}
