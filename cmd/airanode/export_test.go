package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/airanode/airanode/train/torchexport"
)

// execCmd runs a command tree with args and stdin and returns stdout, stderr and the error.
func execCmd(t *testing.T, newCmd func() *cobra.Command, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newCmd()
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func TestExportTorch(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "m.py")
	tests := []struct {
		name    string
		stdin   string
		args    []string
		wantOut []string // substrings of the module (stdout or file)
		file    bool
		wantErr error // nil: success; errAny: any error
	}{
		{name: "stdout", args: []string{"torch", "(A M)x2"}, wantOut: []string{"class Model(nn.Module)", `"vocab": 256`}},
		{name: "file and vocab", args: []string{"torch", "width=64 : A(kv=2) S G", "-o", file, "--vocab", "17"}, file: true,
			wantOut: []string{`"kind": "mamba"`, `"vocab": 17`}},
		{name: "spec vocab kept", args: []string{"torch", "vocab=99 : A M"}, wantOut: []string{`"vocab": 99`}},
		{name: "json spec", args: []string{"torch", `{"width":32,"layers":[{"kind":"gelu"}]}`}, wantOut: []string{`"kind": "gelu"`}},
		{name: "stdin", stdin: "A M\n", args: []string{"torch", "-"}, wantOut: []string{`"kind": "swiglu"`}},
		{name: "syntax error", args: []string{"torch", "A M ((("}, wantErr: errAny},
		{name: "unknown primitive", args: []string{"torch", "A Q"}, wantErr: errAny},
		{name: "bad vocab", args: []string{"torch", "A M", "--vocab", "0"}, wantErr: errAny},
		{name: "no spec", args: []string{"torch"}, wantErr: errAny},
		{name: "unwritable output", args: []string{"torch", "A M", "-o", filepath.Join(dir, "no", "such", "m.py")}, wantErr: errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := execCmd(t, newExportCmd, tc.stdin, tc.args...)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error; output %d bytes", len(out))
				}
				if tc.wantErr != errAny && !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.file {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if out != "" {
					t.Errorf("stdout not empty with -o: %q", out)
				}
				out = string(b)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(strings.ReplaceAll(out, `":`, `": `), w) {
					t.Errorf("output lacks %s", w)
				}
			}
		})
	}
}

func TestExportTorchBadArchIsErrArch(t *testing.T) {
	_, _, err := execCmd(t, newExportCmd, "", "torch", `{"width":32,"layers":[]}`)
	if err == nil {
		t.Fatal("no error for an architecture without layers")
	}
	if !errors.Is(err, torchexport.ErrArch) && !strings.Contains(err.Error(), "layer") {
		t.Errorf("unclear error: %v", err)
	}
}

// errAny stands for "some error" in the tables.
var errAny = errors.New("any error")
