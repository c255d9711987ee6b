package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// SyntaxError is an error in the notation at a position. Col counts bytes from 1. Err is ErrSyntax,
// or ErrUnknownPrimitive, ErrUnknownOption or ErrBounds for a well-formed but unacceptable token.
type SyntaxError struct {
	Col int
	Msg string
	Err error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("column %d: %s: %v", e.Col, e.Msg, e.Err)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// maxDigits bounds an integer literal (values are range-checked by Normalize; this keeps them far
// from overflow).
const maxDigits = 12

type parser struct {
	s     string
	i     int
	depth int
}

func (p *parser) errAt(pos int, sentinel error, format string, args ...any) error {
	return &SyntaxError{Col: pos + 1, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

func (p *parser) eof() bool { return p.i >= len(p.s) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdent(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' || c == '-' }

func (p *parser) skipSpaces() {
	for !p.eof() && isSpace(p.s[p.i]) {
		p.i++
	}
}

// skipSeps skips spaces and commas (separators between layers and between settings).
func (p *parser) skipSeps() {
	for !p.eof() && (isSpace(p.s[p.i]) || p.s[p.i] == ',') {
		p.i++
	}
}

func (p *parser) ident() string {
	start := p.i
	if p.eof() || !isLetter(p.s[p.i]) {
		return ""
	}
	for !p.eof() && isIdent(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *parser) int() (int, error) {
	start := p.i
	for !p.eof() && isDigit(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return 0, p.errAt(start, ErrSyntax, "expected a non-negative integer, found %s", p.found())
	}
	if p.i-start > maxDigits {
		return 0, p.errAt(start, ErrBounds, "integer %s… is too large", p.s[start:start+maxDigits])
	}
	if !p.eof() && (isLetter(p.s[p.i]) || p.s[p.i] == '.') {
		return 0, p.errAt(p.i, ErrSyntax, "expected an integer, found %s", p.found())
	}
	v, err := strconv.Atoi(p.s[start:p.i])
	if err != nil {
		return 0, p.errAt(start, ErrSyntax, "bad integer %q", p.s[start:p.i])
	}
	return v, nil
}

// found describes the input at the current position for an error message.
func (p *parser) found() string {
	if p.eof() {
		return "end of input"
	}
	r := p.s[p.i:]
	if len(r) > 12 {
		r = r[:12] + "…"
	}
	return strconv.Quote(r)
}

// Parse parses the compact notation (docs/arch.md has the grammar):
//
//	[settings :] layers
//
// settings are key=value pairs (width, vocab, norm, pos, context, untied) separated by spaces or
// commas; layers are primitives — letters (A M G S), names or aliases, case-insensitive — with
// optional options in parentheses, e.g. A(kv=2,win=64), separated by spaces or commas. Groups repeat:
// (A M)x2 or (A M)*2, and A*3. A run of capital letters such as AMAM is one layer per letter. The
// result is not normalised: Normalize fills in the defaults and validates the values; Parse checks
// the syntax, the primitive and option names and the bounds on input size and repetition.
func Parse(s string) (Arch, error) {
	if len(s) > MaxSpecLen {
		return Arch{}, &SyntaxError{Col: MaxSpecLen + 1, Msg: fmt.Sprintf("spec of %d bytes is longer than %d", len(s), MaxSpecLen), Err: ErrBounds}
	}
	p := &parser{s: s}
	var a Arch
	if k := strings.IndexByte(s, ':'); k >= 0 {
		if err := p.settings(&a, k); err != nil {
			return Arch{}, err
		}
		p.i = k + 1
	}
	layers, err := p.seq(false)
	if err != nil {
		return Arch{}, err
	}
	if len(layers) == 0 {
		return Arch{}, p.errAt(p.i, ErrSyntax, "no layers")
	}
	a.Layers = layers
	return a, nil
}

// settings parses the global settings in s[:end].
func (p *parser) settings(a *Arch, end int) error {
	seen := map[string]bool{}
	for {
		for p.i < end && (isSpace(p.s[p.i]) || p.s[p.i] == ',') {
			p.i++
		}
		if p.i >= end {
			return nil
		}
		start := p.i
		key := strings.ToLower(p.ident())
		if key == "" {
			return p.errAt(p.i, ErrSyntax, "expected a setting such as width=128, found %s", p.found())
		}
		switch key {
		case "dim", "d":
			key = "width"
		case "ctx":
			key = "context"
		case "tied":
			key = "untied"
		}
		if seen[key] {
			return p.errAt(start, ErrSyntax, "setting %s given twice", key)
		}
		seen[key] = true
		afterKey := p.i
		p.skipSpaces()
		var val string
		var num int
		hasVal := p.i < end && p.s[p.i] == '='
		if !hasVal {
			p.i = afterKey
		}
		if hasVal {
			p.i++
			p.skipSpaces()
			vstart := p.i
			if p.i < end && isDigit(p.s[p.i]) {
				v, err := p.int()
				if err != nil {
					return err
				}
				num, val = v, p.s[vstart:p.i]
			} else {
				val = strings.ToLower(p.ident())
				if val == "" {
					return p.errAt(vstart, ErrSyntax, "expected a value for %s, found %s", key, p.found())
				}
			}
		}
		if p.i > end {
			return p.errAt(end, ErrSyntax, "unexpected ':'")
		}
		numeric := func() error {
			if !hasVal || val == "" || !isDigit(val[0]) {
				return p.errAt(start, ErrSyntax, "%s needs an integer value, e.g. %s=128", key, key)
			}
			return nil
		}
		word := func() error {
			if !hasVal || val == "" || isDigit(val[0]) {
				return p.errAt(start, ErrSyntax, "%s needs a name value", key)
			}
			return nil
		}
		switch key {
		case "width":
			if err := numeric(); err != nil {
				return err
			}
			a.Width = num
		case "vocab":
			if err := numeric(); err != nil {
				return err
			}
			a.Vocab = num
		case "context":
			if err := numeric(); err != nil {
				return err
			}
			a.Context = num
		case "norm":
			if err := word(); err != nil {
				return err
			}
			n, ok := normNames[val]
			if !ok {
				return p.errAt(start, ErrInvalid, "norm %q is not one of rms, layer", clip(val))
			}
			a.Norm = n
		case "pos":
			if err := word(); err != nil {
				return err
			}
			v, ok := posNames[val]
			if !ok {
				return p.errAt(start, ErrInvalid, "pos %q is not one of none, learned", clip(val))
			}
			a.Pos = v
		case "untied":
			b := true
			if hasVal {
				switch val {
				case "1", "true", "yes":
				case "0", "false", "no":
					b = false
				default:
					return p.errAt(start, ErrSyntax, "untied takes true or false")
				}
			}
			if strings.EqualFold(p.s[start:start+4], "tied") {
				b = !b
			}
			a.Untied = b
		default:
			return p.errAt(start, ErrUnknownOption, "unknown setting %q (width, vocab, norm, pos, context, untied)", clip(key))
		}
		if p.i < end && !isSpace(p.s[p.i]) && p.s[p.i] != ',' {
			return p.errAt(p.i, ErrSyntax, "unexpected %s after setting %s", p.found(), key)
		}
	}
}

// seq parses layers up to the end of input, or up to a ')' when inGroup (not consumed).
func (p *parser) seq(inGroup bool) ([]Layer, error) {
	var out []Layer
	for {
		p.skipSeps()
		if p.eof() {
			if inGroup {
				return nil, p.errAt(p.i, ErrSyntax, "missing ')'")
			}
			return out, nil
		}
		if p.peek() == ')' {
			if !inGroup {
				return nil, p.errAt(p.i, ErrSyntax, "unexpected ')'")
			}
			return out, nil
		}
		start := p.i
		items, err := p.item()
		if err != nil {
			return nil, err
		}
		if len(out)+len(items) > MaxDepth {
			return nil, p.errAt(start, ErrBounds, "more than %d layers", MaxDepth)
		}
		out = append(out, items...)
	}
}

// item parses one primitive or group with its optional repetition.
func (p *parser) item() ([]Layer, error) {
	start := p.i
	var layers []Layer
	closed := false // the item ended with ')', so "x<N>" may follow directly
	switch c := p.peek(); {
	case c == '(':
		if p.depth >= MaxNesting {
			return nil, p.errAt(p.i, ErrBounds, "groups nested deeper than %d", MaxNesting)
		}
		p.depth++
		p.i++
		inner, err := p.seq(true)
		if err != nil {
			return nil, err
		}
		p.depth--
		p.i++ // ')'
		if len(inner) == 0 {
			return nil, p.errAt(start, ErrSyntax, "empty group")
		}
		layers, closed = inner, true
	case isLetter(c):
		name := p.ident()
		// A run of capital letters is one layer per letter, even where it spells an alias ("MA" is
		// M A, while "mA", MAD's name for attention, is one layer).
		run := isLetterRun(name)
		prim, ok := Lookup(name)
		switch {
		case ok && !run:
			l := Layer{Kind: prim.Name}
			if p.peek() == '(' {
				opts, err := p.options(prim)
				if err != nil {
					return nil, err
				}
				l.Opts, closed = opts, true
			}
			layers = []Layer{l}
		case run:
			if p.peek() == '(' {
				return nil, p.errAt(p.i, ErrSyntax, "options need a single primitive, not the run %q", clip(name))
			}
			for i := range len(name) {
				q, _ := Lookup(name[i : i+1])
				layers = append(layers, Layer{Kind: q.Name})
			}
			if len(layers) > MaxDepth {
				return nil, p.errAt(start, ErrBounds, "more than %d layers", MaxDepth)
			}
		default:
			hint := ""
			if k := strings.LastIndexByte(name, 'x'); k > 0 && k < len(name)-1 && isAllDigits(name[k+1:]) {
				hint = fmt.Sprintf("; to repeat, write %s*%s or (%s)x%s", name[:k], name[k+1:], name[:k], name[k+1:])
			}
			return nil, p.errAt(start, ErrUnknownPrimitive, "%q is not a primitive (known: %s)%s", clip(name), knownList(), hint)
		}
	default:
		return nil, p.errAt(p.i, ErrSyntax, "expected a primitive or '(', found %s", p.found())
	}
	// Repetition: "x<N>" right after ')', or "*<N>" (spaces allowed).
	n, repeated := 0, false
	if closed && p.peek() == 'x' && p.i+1 < len(p.s) && isDigit(p.s[p.i+1]) {
		p.i++
		v, err := p.int()
		if err != nil {
			return nil, err
		}
		n, repeated = v, true
	} else {
		save := p.i
		p.skipSpaces()
		if p.peek() == '*' {
			p.i++
			p.skipSpaces()
			v, err := p.int()
			if err != nil {
				return nil, err
			}
			n, repeated = v, true
		} else {
			p.i = save
		}
	}
	if repeated && n < 1 {
		return nil, p.errAt(start, ErrBounds, "repetition count must be at least 1")
	}
	if repeated {
		if n > MaxDepth || len(layers)*n > MaxDepth {
			return nil, p.errAt(start, ErrBounds, "repetition gives %d×%d layers, more than %d", len(layers), n, MaxDepth)
		}
		rep := make([]Layer, 0, len(layers)*n)
		for range n {
			for _, l := range layers {
				rep = append(rep, l.clone())
			}
		}
		layers = rep
	}
	if !p.eof() && !isSpace(p.peek()) && p.peek() != ',' && p.peek() != ')' && p.peek() != '(' {
		return nil, p.errAt(p.i, ErrSyntax, "unexpected %s", p.found())
	}
	return layers, nil
}

// options parses "(key=value, ...)" for primitive prim.
func (p *parser) options(prim *Primitive) (map[string]int, error) {
	p.i++ // '('
	opts := map[string]int{}
	for {
		p.skipSpaces()
		if p.peek() == ')' {
			p.i++
			return opts, nil
		}
		start := p.i
		key := strings.ToLower(p.ident())
		if key == "" {
			return nil, p.errAt(p.i, ErrSyntax, "expected an option name, found %s", p.found())
		}
		if prim.option(key) == nil {
			return nil, p.errAt(start, ErrUnknownOption, "%s has no option %q (it has %s)", prim.Name, clip(key), prim.optionNames())
		}
		if _, dup := opts[key]; dup {
			return nil, p.errAt(start, ErrSyntax, "option %s given twice", key)
		}
		p.skipSpaces()
		if p.peek() != '=' {
			return nil, p.errAt(p.i, ErrSyntax, "expected '=' after %s, found %s", key, p.found())
		}
		p.i++
		p.skipSpaces()
		v, err := p.int()
		if err != nil {
			return nil, err
		}
		opts[key] = v
		p.skipSpaces()
		switch p.peek() {
		case ',':
			p.i++
		case ')':
		default:
			return nil, p.errAt(p.i, ErrSyntax, "expected ',' or ')', found %s", p.found())
		}
	}
}

// isLetterRun reports whether s (two letters or more) consists of primitives' capital letters only.
func isLetterRun(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c < 'A' || c > 'Z' {
			return false
		}
		if _, ok := Lookup(s[i : i+1]); !ok {
			return false
		}
	}
	return true
}

func isAllDigits(s string) bool {
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// Print returns the canonical notation of a: the settings that differ from their defaults, then
// " : ", then every layer as its letter with, in parentheses, the options that differ from their
// defaults, in the primitive's option order. Parse(Print(a)) normalises to Normalize(a) for every
// valid a. Layers of unknown kinds and unknown options are printed as they are (and will not parse).
func Print(a Arch) string {
	g, err := normalizeGlobals(a)
	if err != nil {
		g = a
		if g.Width == 0 {
			g.Width = DefaultWidth
		}
		if g.Norm == "" {
			g.Norm = DefaultNorm
		}
		if g.Pos == "" {
			g.Pos = DefaultPos
		}
	}
	var b strings.Builder
	var set []string
	if g.Width != DefaultWidth {
		set = append(set, "width="+strconv.Itoa(g.Width))
	}
	if g.Vocab != 0 {
		set = append(set, "vocab="+strconv.Itoa(g.Vocab))
	}
	if g.Norm != "" && g.Norm != DefaultNorm {
		set = append(set, "norm="+g.Norm)
	}
	if g.Pos != "" && g.Pos != DefaultPos {
		set = append(set, "pos="+g.Pos)
	}
	if g.Context != 0 {
		set = append(set, "context="+strconv.Itoa(g.Context))
	}
	if g.Untied {
		set = append(set, "untied")
	}
	if len(set) > 0 {
		b.WriteString(strings.Join(set, " "))
		b.WriteString(" : ")
	}
	d := g.dims()
	for i, l := range a.Layers {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(printLayer(d, l))
	}
	return b.String()
}

// printLayer prints one layer under dims d.
func printLayer(d Dims, l Layer) string {
	p, ok := Lookup(l.Kind)
	var opts []string
	if !ok {
		for _, k := range sortedKeys(l.Opts) {
			opts = append(opts, k+"="+strconv.Itoa(l.Opts[k]))
		}
		if len(opts) == 0 {
			return l.Kind
		}
		return l.Kind + "(" + strings.Join(opts, ",") + ")"
	}
	s := stripLayer(d, l)
	for _, op := range p.Options {
		if v, ok := s.Opts[op.Name]; ok {
			opts = append(opts, op.Name+"="+strconv.Itoa(v))
		}
	}
	for _, k := range sortedKeys(s.Opts) {
		if p.option(k) == nil {
			opts = append(opts, k+"="+strconv.Itoa(s.Opts[k]))
		}
	}
	if len(opts) == 0 {
		return p.Letter
	}
	return p.Letter + "(" + strings.Join(opts, ",") + ")"
}

// ParseJSON decodes the JSON form of an Arch (its struct's JSON: width, vocab, norm, pos, context,
// untied, layers of {kind, opts}). Unknown fields, trailing data and inputs over MaxJSONLen are
// errors. The result is not normalised.
func ParseJSON(b []byte) (Arch, error) {
	if len(b) > MaxJSONLen {
		return Arch{}, fmt.Errorf("json of %d bytes is longer than %d: %w", len(b), MaxJSONLen, ErrBounds)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var a Arch
	if err := dec.Decode(&a); err != nil {
		return Arch{}, fmt.Errorf("json: %w: %w", ErrSyntax, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Arch{}, fmt.Errorf("json: trailing data after the object: %w", ErrSyntax)
	}
	return a, nil
}

// ParseAny parses the JSON form when s starts with '{' (after spaces), the notation otherwise.
func ParseAny(s string) (Arch, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") {
		return ParseJSON([]byte(t))
	}
	return Parse(s)
}

// MustParse is Parse followed by Normalize for specs known to be valid (tests, built-in tables); it
// panics on error and must never be given input from outside the program.
func MustParse(s string) Arch {
	a, err := Parse(s)
	if err == nil {
		a, err = Normalize(a)
	}
	if err != nil {
		panic(fmt.Sprintf("arch.MustParse(%q): %v", s, err))
	}
	return a
}
