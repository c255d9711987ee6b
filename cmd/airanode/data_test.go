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

	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/object"
)

// runData runs `airanode data ...` on a root carrying the config flags (so it works before the
// data command is registered on the real root).
func runData(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "airanode", SilenceUsage: true, SilenceErrors: true}
	addConfigFlags(root.PersistentFlags())
	root.AddCommand(newDataCmd())
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestDataImportShow(t *testing.T) {
	dir := t.TempDir()
	var text []byte
	for i := range 3000 {
		text = append(text, []byte("line "+strings.Repeat("x", i%17)+"\n")...)
	}
	f1, f2 := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	os.WriteFile(f1, text, 0o600)
	os.WriteFile(f2, text[:5000], 0o600)
	dd := filepath.Join(dir, "node")
	out, err := runData(t, "data", "import", "--data-dir", dd, "--block-size", "4096", "--json", f1, f2)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var r dataReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Bytes != int64(len(text)+5000) || r.TrainBytes+r.ValBytes != r.Bytes || r.ValBlocks < 1 {
		t.Fatalf("report %+v", r)
	}
	c, err := object.ParseCID(r.CID)
	if err != nil {
		t.Fatal(err)
	}
	// The CID is the one ImportFiles computes for the same files.
	want, _, err := bench.ImportFiles(bench.NewMemStore(), []string{f1, f2}, 4096)
	if err != nil || !want.Equals(c) {
		t.Fatalf("CLI CID %s, library %s (%v)", c, want, err)
	}
	out, err = runData(t, "data", "show", "--data-dir", dd, "--blocks", r.CID)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, s := range []string{r.CID, "a.txt", "b.txt", "validation", "train"} {
		if !strings.Contains(out, s) {
			t.Errorf("show output lacks %q:\n%s", s, out)
		}
	}
}

func TestDataBadInput(t *testing.T) {
	dir := t.TempDir()
	dd := filepath.Join(dir, "node")
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("too small"), 0o600)
	tests := []struct {
		args []string
		want error
		msg  string
	}{
		{[]string{"data", "import"}, nil, "requires at least 1 arg"},
		{[]string{"data", "import", filepath.Join(dir, "missing")}, os.ErrNotExist, "missing"},
		{[]string{"data", "import", small}, bench.ErrDatasetTooSmall, "block size"},
		{[]string{"data", "import", "--block-size", "1", small}, bench.ErrInvalidManifest, "block size"},
		{[]string{"data", "show", "not-a-cid"}, object.ErrBadCID, "not-a-cid"},
		{[]string{"data", "show", object.ObjectCID([]byte("x")).String()}, bench.ErrMissingBlock, "manifest"},
	}
	for _, tt := range tests {
		out, err := runData(t, append(tt.args, "--data-dir", dd)...)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%v: got %v, want %v mentioning %q\n%s", tt.args, err, tt.want, tt.msg, out)
		}
	}
}
