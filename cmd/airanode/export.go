package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/train/torchexport"
)

// defaultExportVocab is the vocabulary used when neither the spec nor --vocab gives one: bytes.
const defaultExportVocab = 256

func newExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export an architecture to another framework",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newExportTorchCmd())
	return cmd
}

func newExportTorchCmd() *cobra.Command {
	var (
		out   string
		vocab int
	)
	cmd := &cobra.Command{
		Use:   "torch SPEC",
		Short: "Write an architecture as a self-contained PyTorch module file",
		Long: `Write an architecture as one self-contained Python file defining it as a PyTorch module
(torch >= 1.13), with the parameter names of airanode's safetensors weights files, a loader for those
files and a loss_and_grads helper. SPEC is the compact notation (e.g. 'width=128 : (A M)x2') or the
JSON form; '-' reads it from standard input. The vocabulary comes from the spec, else from --vocab.`,
		Example: `  airanode export torch '(A M)x2' -o model.py
  airanode export torch 'width=256 norm=layer : A(kv=2,win=64) M S M' --vocab 50257 > model.py`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := args[0]
			if spec == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
				if err != nil {
					return fmt.Errorf("read spec: %w", err)
				}
				spec = string(b)
			}
			a, err := arch.ParseAny(strings.TrimSpace(spec))
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("vocab") || a.Vocab == 0 {
				if vocab < 1 {
					return fmt.Errorf("--vocab %d: must be at least 1", vocab)
				}
				a.Vocab = vocab
			}
			src, err := torchexport.Generate(a)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err := cmd.OutOrStdout().Write(src)
				return err
			}
			if err := exportWriteFile(out, src, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d bytes)\n", out, len(src))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file (default: standard output)")
	cmd.Flags().IntVar(&vocab, "vocab", defaultExportVocab, "vocabulary size, when the spec has none (or to override it)")
	return cmd
}

// exportWriteFile writes data to path through a temporary file in the same directory and a rename,
// so that a reader never sees a partial file.
func exportWriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
