package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/registry/registrytest"
	"github.com/airanode/airanode/search"
	"github.com/airanode/airanode/store"
)

// runSearchCLI executes the CLI with the search and registry commands (added to the root when
// the root does not have them yet) and returns stdout and the error.
func runSearchCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	have := map[string]bool{}
	for _, c := range root.Commands() {
		have[c.Name()] = true
	}
	for _, c := range []*cobra.Command{newSearchCmd(), newRegistryCmd()} {
		if !have[c.Name()] {
			root.AddCommand(c)
		}
	}
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.Execute()
	return out.String(), err
}

func initDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "node")
	if _, err := runSearchCLI(t, "init", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSearchLaunchListStatus(t *testing.T) {
	dir := initDataDir(t)
	out, err := runSearchCLI(t, "search", "launch", "--preset", "demo", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "search demo launched") || !strings.Contains(out, "budget   30 evaluations") ||
		!strings.Contains(out, "agents   evolution(population=6, tournament=3)") {
		t.Fatalf("launch output:\n%s", out)
	}
	var launched struct {
		CID    string        `json:"cid"`
		Search object.Search `json:"search"`
		Stored bool          `json:"stored"`
	}
	out, err = runSearchCLI(t, "search", "launch", "--preset", "demo", "--data-dir", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &launched); err != nil || !launched.Stored || launched.Search.Name != "demo" {
		t.Fatalf("launch --json: %v\n%s", err, out)
	}
	// A spec file, then a dry run that stores nothing.
	spec := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(spec, []byte(`{"name": "mine", "space": {"primitives": ["A","M"], "min_depth": 2, "max_depth": 3},
		"protocol": "mad-lite", "budget": 5, "agents": [{"name": "random"}], "seed": 4}`), 0o600)
	if _, err := runSearchCLI(t, "search", "launch", spec, "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	out, err = runSearchCLI(t, "search", "launch", "--preset", "mad-lite-small", "--dry-run", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "not stored") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}

	out, err = runSearchCLI(t, "search", "list", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "demo") || !strings.Contains(out, "mine") || strings.Contains(out, "mad-lite-small") ||
		!strings.Contains(out, "0/30") || !strings.Contains(out, launched.CID) {
		t.Fatalf("list:\n%s", out)
	}
	var sts []search.Status
	out, _ = runSearchCLI(t, "search", "list", "--data-dir", dir, "--json")
	if err := json.Unmarshal([]byte(out), &sts); err != nil || len(sts) != 2 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	for _, ref := range []string{"demo", launched.CID} {
		out, err = runSearchCLI(t, "search", "status", ref, "--data-dir", dir)
		if err != nil || !strings.Contains(out, "0/30 evaluations started") || !strings.Contains(out, "none verified yet") {
			t.Fatalf("status %s: %v\n%s", ref, err, out)
		}
	}
	out, err = runSearchCLI(t, "search", "presets")
	if err != nil || !strings.Contains(out, "mad-lite-small") || !strings.Contains(out, "tournament (default 4)") {
		t.Fatalf("presets: %v\n%s", err, out)
	}
}

func TestSearchBadInput(t *testing.T) {
	dir := initDataDir(t)
	empty := filepath.Join(t.TempDir(), "empty")
	badSpec := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(badSpec, []byte("{\n  \"name\": \"x\",\n  \"bugdet\": 3\n}"), 0o600)
	invalid := filepath.Join(t.TempDir(), "invalid.json")
	os.WriteFile(invalid, []byte(`{"name": "x", "space": {"primitives": ["Q"], "min_depth": 1, "max_depth": 2},
		"protocol": "mad-lite", "budget": 3, "agents": [{"name": "random"}]}`), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no spec", []string{"search", "launch", "--data-dir", dir}, "give a spec file or --preset"},
		{"both", []string{"search", "launch", badSpec, "--preset", "demo", "--data-dir", dir}, "not both"},
		{"unknown preset", []string{"search", "launch", "--preset", "huge", "--data-dir", dir}, `unknown preset "huge"`},
		{"missing file", []string{"search", "launch", "/no/such/spec.json", "--data-dir", dir}, "no such file"},
		{"unknown field", []string{"search", "launch", badSpec, "--data-dir", dir}, `unknown field "bugdet"`},
		{"invalid spec", []string{"search", "launch", invalid, "--data-dir", dir}, `unknown primitive "Q"`},
		{"no identity", []string{"search", "launch", "--preset", "demo", "--data-dir", empty}, "airanode init"},
		{"unknown search", []string{"search", "status", "nosuch", "--data-dir", dir}, `no search named "nosuch"`},
		{"no store", []string{"search", "status", "demo", "--data-dir", empty}, "not found"},
		{"status args", []string{"search", "status", "--data-dir", dir}, "accepts 1 arg"},
		{"top n", []string{"registry", "top", "--n", "0", "--data-dir", dir}, "--n 0"},
		{"top protocol", []string{"registry", "top", "--protocol", "mad-lite", "--data-dir", dir}, "--protocol"},
		{"top unknown search", []string{"registry", "top", "--search", "nosuch", "--data-dir", dir}, "nosuch"},
		{"show garbage", []string{"registry", "show", "A(", "--data-dir", dir}, "neither an architecture CID nor"},
		{"show unknown", []string{"registry", "show", "A M Q", "--data-dir", dir}, "neither"},
		{"show not held", []string{"registry", "show", "A M", "--data-dir", dir}, "not held"},
		{"lineage not held", []string{"registry", "lineage", "A M", "--data-dir", dir}, "not found"},
		{"lineage args", []string{"registry", "lineage", "--data-dir", dir}, "requires at least 1 arg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runSearchCLI(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	// Nothing was stored by the failures, and the queries created no store.
	if _, err := os.Stat(filepath.Join(empty, "store")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a query created a store: %v", err)
	}
	out, err := runSearchCLI(t, "search", "list", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "no searches") {
		t.Fatalf("list after failures: %v\n%s", err, out)
	}
}

// TestRegistryCLI: the registry commands on a store populated with real signed objects.
func TestRegistryCLI(t *testing.T) {
	dir := initDataDir(t)
	out, err := runSearchCLI(t, "search", "launch", "--preset", "demo", "--data-dir", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		CID    string        `json:"cid"`
		Search object.Search `json:"search"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	peers := registrytest.NewPeers(t, 3)
	put := func(spec string, scores ...int64) string {
		ac, _ := registrytest.PutArch(t, st, spec)
		task := object.Task{Search: l.CID, Arch: ac.String(), Protocol: l.Search.Protocol, Seed: l.Search.Seed}
		tc := registrytest.PutTask(t, st, task)
		for i, s := range scores {
			registrytest.PutResult(t, st, peers[i], task, tc, s)
		}
		return ac.String()
	}
	parent := put("width=32: A M", 600_000, 600_000)
	child := put("width=32: A M A", 700_000, 700_000)
	lie := put("width=32: M M", 990_000)
	registrytest.PutProposal(t, st, peers[0], object.Proposal{Search: l.CID, Arch: parent, Agent: "evolution", Rationale: "initial population"})
	registrytest.PutProposal(t, st, peers[0], object.Proposal{Search: l.CID, Arch: child, Parents: []string{parent},
		Agent: "evolution", Rationale: "mutated the winner"})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	out, err = runSearchCLI(t, "registry", "top", "--search", "demo", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	if !strings.Contains(lines[0], "demo") || !strings.Contains(lines[0], "2 verified, 1 unverified") ||
		!strings.HasPrefix(lines[2], "1 ") || !strings.Contains(lines[2], "0.7000") || !strings.Contains(lines[3], "0.6000") ||
		strings.Contains(out, "0.9900") {
		t.Fatalf("top:\n%s", out)
	}
	out, err = runSearchCLI(t, "registry", "top", "--unverified", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "0.9900 (unverified: pending)") {
		t.Fatalf("top --unverified: %v\n%s", err, out)
	}
	var boards []registry.Board
	out, _ = runSearchCLI(t, "registry", "top", "--json", "--n", "1", "--data-dir", dir)
	if err := json.Unmarshal([]byte(out), &boards); err != nil || len(boards) != 1 || len(boards[0].Entries) != 1 ||
		boards[0].Entries[0].Arch != child {
		t.Fatalf("top --json: %v\n%s", err, out)
	}

	out, err = runSearchCLI(t, "registry", "show", "width=32: A M A", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "verified score 0.7000") || !strings.Contains(out, "executed by "+peers[0].ID.String()) ||
		!strings.Contains(out, "accepted") || !strings.Contains(out, "mutated the winner") || !strings.Contains(out, "search demo") {
		t.Fatalf("show:\n%v\n%s", err, out)
	}
	out, err = runSearchCLI(t, "registry", "show", lie, "--data-dir", dir)
	if err != nil || !strings.Contains(out, "pending: not verified, claimed 0.9900") {
		t.Fatalf("show unverified:\n%v\n%s", err, out)
	}
	var d registry.ArchDetail
	out, _ = runSearchCLI(t, "registry", "show", child, "--json", "--data-dir", dir)
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Arch != child || len(d.Tasks) != 1 || !d.Tasks[0].Verified {
		t.Fatalf("show --json: %v\n%s", err, out)
	}

	out, err = runSearchCLI(t, "registry", "lineage", child, "--search", "demo", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "A M A") || !strings.Contains(lines[0], "[evolution] mutated the winner") ||
		!strings.HasPrefix(lines[1], "└─ ") || !strings.Contains(lines[1], parent) {
		t.Fatalf("lineage:\n%s", out)
	}
	var n registry.LineageNode
	out, _ = runSearchCLI(t, "registry", "lineage", child, "--json", "--data-dir", dir)
	if err := json.Unmarshal([]byte(out), &n); err != nil || len(n.Parents) != 1 || n.Parents[0].Arch != parent {
		t.Fatalf("lineage --json: %v\n%s", err, out)
	}
	out, err = runSearchCLI(t, "search", "status", "demo", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "3/30") || !strings.Contains(out, "2 verified") || !strings.Contains(out, "best     0.7000") ||
		!strings.Contains(out, "evolution: 2 proposed") {
		t.Fatalf("status:\n%v\n%s", err, out)
	}
}
