package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/search"
)

func TestDevnetRequest(t *testing.T) {
	base := devnetFlags{nodes: 3, steps: 200, replicas: 1, arch: "width=32: A M"}
	tests := []struct {
		name string
		edit func(f *devnetFlags)
		want string // "" for no error
	}{
		{"nothing to do", func(f *devnetFlags) {}, ""},
		{"submit", func(f *devnetFlags) { f.submit, f.exitWhenDone = 4, true }, ""},
		{"search with liars", func(f *devnetFlags) { f.search, f.liars, f.exitWhenDone = "demo", 1, true }, ""},
		{"search and submit", func(f *devnetFlags) { f.search, f.submit = "demo", 2 }, "exclude each other"},
		{"exit without work", func(f *devnetFlags) { f.exitWhenDone = true }, "needs --submit or --search"},
		{"negative liars", func(f *devnetFlags) { f.liars = -1 }, "--liars -1"},
		{"no honest node", func(f *devnetFlags) { f.nodes, f.liars = 0, 2 }, "at least one honest node"},
		{"too many nodes", func(f *devnetFlags) { f.nodes, f.liars = 60, 10 }, "at most 64"},
		{"negative submit", func(f *devnetFlags) { f.submit = -1 }, "--submit -1"},
		{"bad steps", func(f *devnetFlags) { f.steps, f.submit = 0, 1 }, "--steps 0"},
		{"bad arch", func(f *devnetFlags) { f.arch, f.submit = "Q Q", 1 }, "arch"},
		{"protocol twice", func(f *devnetFlags) { f.protocol, f.protoFile = "mad-lite", "x.json" }, "exclude each other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			tc.edit(&f)
			_, err := devnetRequest(f)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want api.ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}

func TestSearchLaunchRequest(t *testing.T) {
	r, err := searchLaunch(search.PresetDemo)
	if err != nil || r.Preset != search.PresetDemo || r.Spec != nil {
		t.Fatalf("preset: %+v, %v", r, err)
	}
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, []byte(`{"name": "mine", "space": {"primitives": ["A","M"], "min_depth": 2, "max_depth": 3},
		"protocol": "mad-lite", "budget": 5, "agents": [{"name": "random"}], "seed": 4}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err = searchLaunch(path)
	if err != nil || r.Spec == nil || r.Spec.Name != "mine" || r.Preset != "" {
		t.Fatalf("spec file: %+v, %v", r, err)
	}
	for _, bad := range []string{"no-such-preset", filepath.Join(t.TempDir(), "missing.json")} {
		if _, err := searchLaunch(bad); err == nil || !strings.Contains(err.Error(), "neither a preset") {
			t.Errorf("searchLaunch(%q) = %v", bad, err)
		}
	}
}

// A --search that is neither a preset nor a readable spec fails before any node starts.
func TestDevnetBadSearchFailsFirst(t *testing.T) {
	dir := t.TempDir()
	_, _, err := run(t, "devnet", "--nodes", "1", "--dir", dir, "--search", filepath.Join(dir, "missing.json"))
	if err == nil || !strings.Contains(err.Error(), "neither a preset") {
		t.Fatalf("devnet with a missing spec: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("nodes were started before the search was read: %v", ents)
	}
}
