package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/airanode/airanode/arch"
)

// archFlags are the flags shared by the arch subcommands.
type archFlags struct {
	json  bool
	seq   int
	vocab int
}

func newArchCmd() *cobra.Command {
	f := &archFlags{}
	cmd := &cobra.Command{
		Use:   "arch",
		Short: "Parse, inspect, mutate and scale model architectures",
		Long: `Architectures are written in a compact notation (docs/arch.md has the reference):

  [settings :] layers

  settings  width=128 vocab=256 norm=rms|layer pos=none|learned context=256 untied
  layers    A (attention) M (swiglu) G (gelu) S (mamba), or their names, with options:
            A(kv=2,win=64) M(hidden=512) S(state=4); repeat with (A M)x2 or A*3

A SPEC may be given as several arguments (they are joined with spaces), as a JSON object, as a
file whose name ends in .json, or as - (read from standard input).

Every command prints the normalised form, its CID, the parameter count and the training FLOPs per
token (at --seq); --json prints the same as JSON.`,
		SilenceUsage: true,
	}
	pf := cmd.PersistentFlags()
	pf.BoolVar(&f.json, "json", false, "print JSON")
	pf.IntVar(&f.seq, "seq", 256, "sequence length T for FLOPs and memory (at most the context with pos=learned)")
	pf.IntVar(&f.vocab, "vocab", 0, "bind the vocabulary size (default: as the spec says, unbound if it says nothing)")
	cmd.AddCommand(newArchParseCmd(f), newArchShowCmd(f), newArchMutateCmd(f), newArchScaleCmd(f))
	return cmd
}

func newArchParseCmd(f *archFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "parse SPEC",
		Short: "Print the normalised model, its CID, parameters and FLOPs per token",
		Example: `  airanode arch parse 'A M A M'
  airanode arch parse 'width=256 : (A(kv=2) M)x4 S(state=4)' --vocab 256 --json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := loadArch(cmd, f, args)
			if err != nil {
				return err
			}
			r, err := report(cmd, f, a, false, 0)
			if err != nil {
				return err
			}
			return emit(cmd, f, r, printSummary)
		},
	}
}

func newArchShowCmd(f *archFlags) *cobra.Command {
	var batch int
	c := &cobra.Command{
		Use:   "show SPEC|FILE.json",
		Short: "Print a model in detail: every layer's options, parameters and FLOPs, the parameter tensors and the training memory",
		Example: `  airanode arch show 'A M A M' --vocab 256 --batch 16
  airanode arch show model.json --json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := loadArch(cmd, f, args)
			if err != nil {
				return err
			}
			r, err := report(cmd, f, a, true, batch)
			if err != nil {
				return err
			}
			return emit(cmd, f, r, printDetail)
		},
	}
	c.Flags().IntVar(&batch, "batch", 16, "batch size B for the memory estimate")
	return c
}

func newArchMutateCmd(f *archFlags) *cobra.Command {
	var (
		seed      uint64
		n         int
		spaceFile string
	)
	c := &cobra.Command{
		Use:   "mutate SPEC",
		Short: "Print random neighbours of a model (deterministic given --seed)",
		Long: `Mutate applies one random change — replace, insert, delete or swap a layer, change one option, or
change the width when the space allows — and prints the result. Mutant i uses seed N+i, so
--seed N --n K prints the same models as K runs with seeds N..N+K-1. The result always lies in the
search space: by default any valid model; --space FILE.json reads an arch.Space
({"primitives": ["A","M"], "min_depth": 2, "max_depth": 16, "min_width": 64, "max_width": 256,
"max_params": 1000000, "vocab": 16}).`,
		Example: `  airanode arch mutate 'A M A M' --seed 7 --n 3`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 1 || n > 1000 {
				return fmt.Errorf("--n %d: want 1 to 1000 mutants", n)
			}
			a, err := loadArch(cmd, f, args)
			if err != nil {
				return err
			}
			var sp arch.Space
			if spaceFile != "" {
				if sp, err = loadSpace(spaceFile); err != nil {
					return err
				}
			}
			parent, err := report(cmd, f, a, false, 0)
			if err != nil {
				return err
			}
			out := mutateReport{Parent: parent}
			for i := range n {
				s := seed + uint64(i)
				m, mut, err := arch.Mutate(sp, a, s)
				if err != nil {
					return fmt.Errorf("mutate (seed %d): %w", s, err)
				}
				r, err := report(cmd, f, m, false, 0)
				if err != nil {
					return err
				}
				r.Seed, r.Mutation = &s, &mut
				out.Mutants = append(out.Mutants, r)
			}
			if f.json {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "parent   %s\n         %s\n", parent.Spec, parent.CID)
			for _, r := range out.Mutants {
				fmt.Fprintf(w, "\nmutant   seed %d: %s\n", *r.Seed, r.Mutation)
				printSummary(w, r)
			}
			return nil
		},
	}
	c.Flags().Uint64Var(&seed, "seed", 0, "random seed N")
	c.Flags().IntVar(&n, "n", 1, "number of mutants K (seeds N to N+K-1)")
	c.Flags().StringVar(&spaceFile, "space", "", "search space (JSON file of an arch.Space)")
	return c
}

func newArchScaleCmd(f *archFlags) *cobra.Command {
	var (
		stretch string
		stack   int
		width   int
	)
	c := &cobra.Command{
		Use:   "scale SPEC --stretch S | --stack N [--width W]",
		Short: "Scale a model up or down: Composer's stretching and stacking, and width changes",
		Long: `Stretching multiplies every run of equal layers by S, rounding up (A A M M M M --stretch 2 gives
4 A and 8 M); S is an integer, a decimal (1.5) or a fraction (3/2). Stacking repeats the whole
pattern N times. --width re-derives the options left at their defaults (heads, hidden, dtrank) for
the new width and keeps the explicit ones; it is applied first.`,
		Example: `  airanode arch scale 'A*2 M*5 A*2 M*3 A M*3' --stretch 2
  airanode arch scale 'A A M M M M' --stack 4 --width 256`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hasStretch, hasStack, hasWidth := cmd.Flags().Changed("stretch"), cmd.Flags().Changed("stack"), cmd.Flags().Changed("width")
			if hasStretch && hasStack {
				return errors.New("give --stretch or --stack, not both")
			}
			if !hasStretch && !hasStack && !hasWidth {
				return errors.New("give --stretch S, --stack N or --width W")
			}
			a, err := loadArch(cmd, f, args)
			if err != nil {
				return err
			}
			if hasWidth {
				if a, err = arch.Resize(a, width); err != nil {
					return fmt.Errorf("--width %d: %w", width, err)
				}
			}
			switch {
			case hasStretch:
				num, den, err := parseRatio(stretch)
				if err != nil {
					return fmt.Errorf("--stretch %q: %w", stretch, err)
				}
				if a, err = arch.Stretch(a, num, den); err != nil {
					return fmt.Errorf("--stretch %s: %w", stretch, err)
				}
			case hasStack:
				if a, err = arch.Stack(a, stack); err != nil {
					return fmt.Errorf("--stack %d: %w", stack, err)
				}
			}
			r, err := report(cmd, f, a, false, 0)
			if err != nil {
				return err
			}
			return emit(cmd, f, r, printSummary)
		},
	}
	c.Flags().StringVar(&stretch, "stretch", "", "stretch factor S (2, 1.5 or 3/2)")
	c.Flags().IntVar(&stack, "stack", 0, "stack the pattern N times")
	c.Flags().IntVar(&width, "width", 0, "change the width to W")
	return c
}

// loadArch reads the SPEC arguments: notation, JSON, a .json file or - for standard input. It
// applies --vocab and normalises.
func loadArch(cmd *cobra.Command, f *archFlags, args []string) (arch.Arch, error) {
	spec := strings.Join(args, " ")
	src := "spec"
	if len(args) == 1 && (strings.HasSuffix(args[0], ".json") || args[0] == "-") {
		var r io.Reader
		if args[0] == "-" {
			r, src = cmd.InOrStdin(), "standard input"
		} else {
			file, err := os.Open(args[0])
			if err != nil {
				return arch.Arch{}, err
			}
			defer file.Close()
			r, src = file, args[0]
		}
		b, err := io.ReadAll(io.LimitReader(r, arch.MaxJSONLen+1))
		if err != nil {
			return arch.Arch{}, fmt.Errorf("%s: %w", src, err)
		}
		if len(b) > arch.MaxJSONLen {
			return arch.Arch{}, fmt.Errorf("%s: longer than %d bytes: %w", src, arch.MaxJSONLen, arch.ErrBounds)
		}
		spec = string(b)
	}
	a, err := arch.ParseAny(spec)
	if err != nil {
		return arch.Arch{}, fmt.Errorf("%s %s: %w", src, quoteSpec(spec), err)
	}
	if cmd.Flags().Changed("vocab") {
		a.Vocab = f.vocab
	}
	n, err := arch.Normalize(a)
	if err != nil {
		return arch.Arch{}, fmt.Errorf("%s %s: %w", src, quoteSpec(spec), err)
	}
	return n, nil
}

func quoteSpec(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return strconv.Quote(s)
}

func loadSpace(path string) (arch.Space, error) {
	file, err := os.Open(path)
	if err != nil {
		return arch.Space{}, err
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, 1<<16+1))
	if err != nil {
		return arch.Space{}, err
	}
	if len(b) > 1<<16 {
		return arch.Space{}, fmt.Errorf("space %s: too large", path)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var sp arch.Space
	if err := dec.Decode(&sp); err != nil {
		return arch.Space{}, fmt.Errorf("space %s: %w", path, err)
	}
	if err := sp.Validate(); err != nil {
		return arch.Space{}, fmt.Errorf("space %s: %w", path, err)
	}
	return sp, nil
}

// parseRatio parses "2", "1.5" or "3/2" into a positive fraction.
func parseRatio(s string) (num, den int, err error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || r.Sign() <= 0 {
		return 0, 0, errors.New("want a positive number such as 2, 1.5 or 3/2")
	}
	if !r.Num().IsInt64() || !r.Denom().IsInt64() || r.Num().Int64() > 1<<20 || r.Denom().Int64() > 1<<20 {
		return 0, 0, errors.New("too large a numerator or denominator")
	}
	return int(r.Num().Int64()), int(r.Denom().Int64()), nil
}

// archReport is what the commands print about one model.
type archReport struct {
	Spec          string    `json:"spec"`
	CID           string    `json:"cid"`
	Arch          arch.Arch `json:"arch"`
	Depth         int       `json:"depth"`
	Params        int64     `json:"params"`
	Seq           int       `json:"seq"`
	FLOPsPerToken float64   `json:"train_flops_per_token"`
	TrainFLOPs    int64     `json:"train_flops_per_seq"`

	// show
	Parts  []arch.Part   `json:"parts,omitempty"`
	Layout []arch.Tensor `json:"layout,omitempty"`
	Memory *memReport    `json:"memory,omitempty"`

	// mutate
	Seed     *uint64        `json:"seed,omitempty"`
	Mutation *arch.Mutation `json:"mutation,omitempty"`
}

type memReport struct {
	Batch int `json:"batch"`
	Seq   int `json:"seq"`
	arch.Memory
	Total int64 `json:"total"`
}

type mutateReport struct {
	Parent  archReport   `json:"parent"`
	Mutants []archReport `json:"mutants"`
}

// report computes the report of a normalised model. The default --seq is capped at the context of
// learned positions.
func report(cmd *cobra.Command, f *archFlags, a arch.Arch, detail bool, batch int) (archReport, error) {
	seq := f.seq
	if !cmd.Flags().Changed("seq") && a.Pos == arch.PosLearned && a.Context < seq {
		seq = a.Context
	}
	c, err := arch.CID(a)
	if err != nil {
		return archReport{}, err
	}
	cost, err := arch.Estimate(a, seq)
	if err != nil {
		return archReport{}, fmt.Errorf("--seq %d: %w", seq, err)
	}
	r := archReport{
		Spec: arch.Print(a), CID: c.String(), Arch: a, Depth: len(a.Layers), Params: cost.Params,
		Seq: seq, FLOPsPerToken: cost.TrainPerToken(), TrainFLOPs: cost.Train,
	}
	if detail {
		r.Parts = cost.Parts
		if r.Layout, err = arch.Layout(a); err != nil {
			return archReport{}, err
		}
		m, err := arch.MemoryAt(a, batch, seq)
		if err != nil {
			return archReport{}, fmt.Errorf("--batch %d: %w", batch, err)
		}
		r.Memory = &memReport{Batch: batch, Seq: seq, Memory: m, Total: m.Total()}
	}
	return r, nil
}

func emit(cmd *cobra.Command, f *archFlags, r archReport, text func(io.Writer, archReport)) error {
	if f.json {
		return writeJSON(cmd.OutOrStdout(), r)
	}
	text(cmd.OutOrStdout(), r)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printSummary(w io.Writer, r archReport) {
	a := r.Arch
	vocab := "unbound"
	if a.Vocab > 0 {
		vocab = strconv.Itoa(a.Vocab)
	}
	pos := a.Pos
	if a.Pos == arch.PosLearned {
		pos = fmt.Sprintf("learned (context %d)", a.Context)
	}
	head := "tied"
	if a.Untied {
		head = "untied"
	}
	fmt.Fprintf(w, "spec     %s\n", r.Spec)
	fmt.Fprintf(w, "cid      %s\n", r.CID)
	fmt.Fprintf(w, "model    width %d, %d layers, norm %s, pos %s, vocab %s, head %s\n", a.Width, r.Depth, a.Norm, pos, vocab, head)
	note := ""
	if a.Vocab == 0 {
		note = " (vocabulary unbound: no embedding rows; bind one with --vocab)"
	}
	fmt.Fprintf(w, "params   %s%s\n", group(r.Params), note)
	fmt.Fprintf(w, "flops    %s per token for training (3 × forward) at T=%d\n", group(int64(r.FLOPsPerToken+0.5)), r.Seq)
}

func printDetail(w io.Writer, r archReport) {
	printSummary(w, r)
	fmt.Fprintf(w, "\n%-4s %-10s %-44s %12s %16s\n", "", "part", "options", "params", "fwd FLOPs/token")
	for i, p := range r.Parts {
		name, opts := p.Name, ""
		if i > 0 && i < len(r.Parts)-1 {
			l := r.Arch.Layers[i-1]
			name = l.Kind
			opts = layerOptions(l)
		}
		idx := ""
		if i > 0 && i < len(r.Parts)-1 {
			idx = strconv.Itoa(i - 1)
		}
		fmt.Fprintf(w, "%-4s %-10s %-44s %12s %16s\n", idx, name, opts, group(p.Params), group(int64(float64(p.Forward)/float64(r.Seq)+0.5)))
	}
	fmt.Fprintf(w, "\ntensors  %d:", len(r.Layout))
	for i, t := range r.Layout {
		if i%6 == 0 {
			fmt.Fprint(w, "\n        ")
		}
		dims := make([]string, len(t.Shape))
		for j, s := range t.Shape {
			dims[j] = strconv.Itoa(s)
		}
		fmt.Fprintf(w, " %s[%s]", t.Name, strings.Join(dims, ","))
	}
	m := r.Memory
	fmt.Fprintf(w, "\n\nmemory   batch %d × %d tokens, fp32: weights %s, gradients+moments %s, activations %s, total %s\n",
		m.Batch, m.Seq, bytesStr(m.Weights), bytesStr(m.Optimizer), bytesStr(m.Activations), bytesStr(m.Total))
}

// layerOptions lists every option of a normalised layer in the primitive's order.
func layerOptions(l arch.Layer) string {
	p, ok := arch.Lookup(l.Kind)
	if !ok {
		return ""
	}
	var s []string
	for _, o := range p.Options {
		s = append(s, fmt.Sprintf("%s=%d", o.Name, l.Opts[o.Name]))
	}
	return strings.Join(s, " ")
}

// group formats n with thousands separators.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + group(-n)
	}
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func bytesStr(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n), ""
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		v /= unit
		suffix = s
		if v < unit {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}
