package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airanode/airanode/api"
)

// run executes the CLI with args and returns stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func TestInitCreatesAndKeeps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	out, _, err := run(t, "init", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "identity: created 12D3KooW") {
		t.Fatalf("output: %s", out)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "config.toml"))
	if err != nil || !strings.Contains(string(cfg), "# Name of the network") {
		t.Fatalf("config file: %v\n%s", err, cfg)
	}
	st, err := os.Stat(filepath.Join(dir, "identity.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v %v", err, st)
	}
	id := strings.Fields(out)[2]
	out2, _, err := run(t, "init", "--data-dir", dir)
	if err != nil || !strings.Contains(out2, "kept existing "+id) || !strings.Contains(out2, "kept existing "+filepath.Join(dir, "config.toml")) {
		t.Fatalf("second init: %v\n%s", err, out2)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := run(t, "init", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.toml")
	b, _ := os.ReadFile(path)
	b = []byte(strings.Replace(string(b), `network = "main"`, `network = "fromfile"`, 1))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newRootCmd()
	if err := cmd.ParseFlags([]string{"--data-dir", dir}); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(cmd)
	if err != nil || c.Network != "fromfile" {
		t.Fatalf("file: %v %q", err, c.Network)
	}
	t.Setenv("AIRANODE_NETWORK", "fromenv")
	c, err = loadConfig(cmd)
	if err != nil || c.Network != "fromenv" {
		t.Fatalf("env: %v %q", err, c.Network)
	}
	cmd = newRootCmd()
	if err := cmd.ParseFlags([]string{"--data-dir", dir, "--network", "fromflag"}); err != nil {
		t.Fatal(err)
	}
	c, err = loadConfig(cmd)
	if err != nil || c.Network != "fromflag" {
		t.Fatalf("flag: %v %q", err, c.Network)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"bad threads", []string{"init", "--data-dir", "DIR", "--threads", "0"}, "threads"},
		{"missing explicit config", []string{"init", "--data-dir", "DIR", "--config", "/nonexistent/x.toml"}, "read config"},
		{"version takes no args", []string{"version", "x"}, "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			for i, a := range tc.args {
				if a == "DIR" {
					tc.args[i] = dir
				}
			}
			_, _, err := run(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
			if _, statErr := os.Stat(dir); statErr == nil {
				t.Fatal("bad input created the data directory")
			}
		})
	}
}

// Commands that talk to a running node find its API through one resolver: --api with port 0 is bad
// input; a configured port 0 with no node running says no node runs; the store-backed queries
// then read the store instead.
func TestResolveAPI(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"explicit port 0", []string{"task", "list", "--data-dir", dir, "--api", "127.0.0.1:0"}, api.ErrInvalid},
		{"configured port 0, no node", []string{"task", "list", "--data-dir", dir, "--api-from-config"}, api.ErrUnavailable},
		{"store query, configured port 0", []string{"search", "list", "--data-dir", dir, "--api-from-config"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args[len(args)-1] == "--api-from-config" {
				t.Setenv("AIRANODE_API", "127.0.0.1:0")
				args = args[:len(args)-1]
			}
			_, _, err := run(t, args...)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("%v: got %v, want %v", args, err, tc.want)
			}
		})
	}
}
