package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/object"
)

// Sentinel errors. Errors returned by this package wrap one of them, or an error of the package
// they come from (object, arch, bench, store, registry).
var (
	// ErrSpec means a search spec (file, preset or Search object) that cannot be launched.
	ErrSpec = errors.New("search: invalid spec")
	// ErrAgent means an unknown agent or bad agent parameters.
	ErrAgent = errors.New("search: invalid agent")
	// ErrConfig means a Runner configuration that is missing something or out of range.
	ErrConfig = errors.New("search: invalid runner config")
)

// MaxSpecSize bounds a spec file.
const MaxSpecSize = 256 << 10

// Spec is a search as a researcher writes it (spec.json): Launch turns it into a signed
// object.Search. Exactly one of Protocol and ProtocolObject names the evaluation protocol.
type Spec struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Space is the search space: primitives, depth and width ranges, parameter budget.
	Space object.SearchSpace `json:"space"`
	// Protocol is a registered protocol name (bench.Names: "mad-lite", "mad", "text") or the CID of
	// a protocol object held in the store.
	Protocol string `json:"protocol,omitempty"`
	// ProtocolObject is a whole protocol object (bench.Protocol's JSON) instead.
	ProtocolObject *bench.Protocol `json:"protocol_object,omitempty"`
	// Data is the dataset manifest CID the text protocol needs.
	Data string `json:"data,omitempty"`
	// Budget is the number of candidate evaluations.
	Budget int64 `json:"budget"`
	// Policy is the verification policy; fields left out keep object.DefaultPolicy's values.
	Policy object.Policy `json:"policy"`
	// Agents are the agents to run, with their parameters (see Agents).
	Agents []object.AgentSpec `json:"agents"`
	// Seed seeds the agents and every task's training.
	Seed uint64 `json:"seed"`
}

// ParseSpec decodes a spec from JSON: unknown fields and trailing data are errors, policy fields
// left out take their defaults. It does not validate (Build does). Errors wrap ErrSpec.
func ParseSpec(b []byte) (Spec, error) {
	if len(b) > MaxSpecSize {
		return Spec{}, fmt.Errorf("%w: %d bytes, at most %d", ErrSpec, len(b), MaxSpecSize)
	}
	s := Spec{Policy: object.DefaultPolicy()}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("%w: %s", ErrSpec, jsonError(b, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return Spec{}, fmt.Errorf("%w: trailing data after the spec object", ErrSpec)
	}
	return s, nil
}

// jsonError turns a JSON error into a message with the line and column.
func jsonError(b []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
		if te.Field != "" {
			return fmt.Sprintf("line %s: field %q: want %s, got JSON %s", lineCol(b, off), te.Field, te.Type, te.Value)
		}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated JSON"
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if off >= 0 {
		return fmt.Sprintf("line %s: %s", lineCol(b, off), msg)
	}
	return msg
}

func lineCol(b []byte, off int64) string {
	off = min(max(off, 0), int64(len(b)))
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(b[:off], '\n'))
	return fmt.Sprintf("%d:%d", line, col)
}

// LoadSpec reads and parses a spec file.
func LoadSpec(path string) (Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return Spec{}, fmt.Errorf("%w: %w", ErrSpec, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSpecSize+1))
	if err != nil {
		return Spec{}, fmt.Errorf("%w: read %s: %w", ErrSpec, path, err)
	}
	s, err := ParseSpec(b)
	if err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ResolveProtocol returns the spec's protocol: a registered one by name, a protocol object held
// in st by CID, or the inline object. st may be nil when no CID is used.
func (s Spec) ResolveProtocol(st bench.BlockStore) (*bench.Protocol, error) {
	var data cid.Cid
	if s.Data != "" {
		c, err := object.ParseCID(s.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: data: %w", ErrSpec, err)
		}
		data = c
	}
	switch {
	case s.Protocol != "" && s.ProtocolObject != nil:
		return nil, fmt.Errorf("%w: give protocol or protocol_object, not both", ErrSpec)
	case s.ProtocolObject != nil:
		p := *s.ProtocolObject
		if data.Defined() {
			if p.Data.Defined() && !p.Data.Equals(data) {
				return nil, fmt.Errorf("%w: data %s differs from the protocol object's dataset %s", ErrSpec, data, p.Data)
			}
			p.Data = data
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("%w: protocol_object: %w", ErrSpec, err)
		}
		return &p, nil
	case s.Protocol == "":
		return nil, fmt.Errorf("%w: no protocol: give \"protocol\" (one of %s, or a protocol CID) or \"protocol_object\"",
			ErrSpec, strings.Join(bench.Names(), ", "))
	}
	if c, err := object.ParseCID(s.Protocol); err == nil {
		if st == nil {
			return nil, fmt.Errorf("%w: protocol %s: no store to read it from", ErrSpec, c)
		}
		b, err := st.Get(c)
		if err != nil {
			return nil, fmt.Errorf("%w: protocol %s is not held: %w", ErrSpec, c, err)
		}
		p, err := bench.DecodeProtocol(c, b)
		if err != nil {
			return nil, fmt.Errorf("%w: protocol %s: %w", ErrSpec, c, err)
		}
		return p, nil
	}
	p, err := bench.Lookup(s.Protocol, data)
	if err != nil {
		return nil, fmt.Errorf("%w: protocol: %w", ErrSpec, err)
	}
	return p, nil
}

// Build resolves the spec into the Search object launcher signs and its protocol object, and
// checks both (Check). st reads a protocol named by CID (may be nil otherwise).
func (s Spec) Build(launcher peer.ID, st bench.BlockStore) (object.Search, *bench.Protocol, error) {
	p, err := s.ResolveProtocol(st)
	if err != nil {
		return object.Search{}, nil, err
	}
	pc, err := p.CID()
	if err != nil {
		return object.Search{}, nil, fmt.Errorf("%w: protocol: %w", ErrSpec, err)
	}
	out := object.Search{
		Name: s.Name, Description: s.Description, Launcher: launcher.String(), Space: s.Space,
		Protocol: pc.String(), ProtocolName: p.Name, Budget: s.Budget, Policy: s.Policy,
		Agents: s.Agents, Seed: s.Seed,
	}
	if err := Check(out, p); err != nil {
		return object.Search{}, nil, err
	}
	return out, p, nil
}

// Space converts a search's space to the architecture language's.
func Space(s object.SearchSpace) arch.Space {
	return arch.Space{
		Primitives: append([]string(nil), s.Primitives...),
		MinDepth:   int(s.MinDepth), MaxDepth: int(s.MaxDepth),
		MinWidth: int(s.MinWidth), MaxWidth: int(s.MaxWidth),
		MaxParams: s.MaxParams,
	}
}

// Check validates a Search beyond its object bounds: the primitives exist, the space is valid
// and not empty (a member can be sampled and builds under every setting of p), p is the protocol
// the search names, and every agent is built in with valid parameters. p may be nil when the
// protocol object is not held (then only the rest is checked). Errors wrap ErrSpec.
func Check(s object.Search, p *bench.Protocol) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrSpec, err)
	}
	for _, name := range s.Space.Primitives {
		if _, ok := arch.Lookup(name); !ok {
			known := []string{}
			for _, pr := range arch.Primitives() {
				known = append(known, pr.Letter+" ("+pr.Name+")")
			}
			return fmt.Errorf("%w: space: unknown primitive %q (known: %s)", ErrSpec, name, strings.Join(known, ", "))
		}
	}
	sp := Space(s.Space)
	if err := sp.Validate(); err != nil {
		return fmt.Errorf("%w: space: %w", ErrSpec, err)
	}
	for _, a := range s.Agents {
		if _, err := NewAgent(a); err != nil {
			return fmt.Errorf("%w: %w", ErrSpec, err)
		}
	}
	a, err := arch.Sample(sp, s.Seed)
	if err != nil {
		return fmt.Errorf("%w: space: no architecture fits it (depth %d-%d, width %d-%d, at most %d parameters): %w",
			ErrSpec, s.Space.MinDepth, s.Space.MaxDepth, s.Space.MinWidth, s.Space.MaxWidth, s.Space.MaxParams, err)
	}
	if p == nil {
		return nil
	}
	pc, err := p.CID()
	if err != nil {
		return fmt.Errorf("%w: protocol: %w", ErrSpec, err)
	}
	if pc.String() != s.Protocol {
		return fmt.Errorf("%w: the protocol object is %s, the search names %s", ErrSpec, pc, s.Protocol)
	}
	if err := bench.Binds(a, p); err != nil {
		return fmt.Errorf("%w: %w", ErrSpec, err)
	}
	return nil
}

// Preset names.
const (
	PresetMADLiteSmall = "mad-lite-small"
	PresetDemo         = "demo"
)

// Presets lists the preset names.
func Presets() []string {
	out := make([]string, 0, len(presets))
	for k := range presets {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Preset returns a copy of a built-in spec. Errors wrap ErrSpec.
func Preset(name string) (Spec, error) {
	f, ok := presets[name]
	if !ok {
		return Spec{}, fmt.Errorf("%w: unknown preset %q (presets: %s)", ErrSpec, name, strings.Join(Presets(), ", "))
	}
	return f(), nil
}

var presets = map[string]func() Spec{
	PresetMADLiteSmall: func() Spec {
		return Spec{
			Name: PresetMADLiteSmall,
			Description: "Hybrid language models over attention (A), SwiGLU MLP (M) and Mamba (S): 2-6 layers, " +
				"width 64-128, under 1M non-embedding parameters, scored by MAD-lite.",
			Space: object.SearchSpace{Primitives: []string{"A", "M", "S"}, MinDepth: 2, MaxDepth: 6,
				MinWidth: 64, MaxWidth: 128, MaxParams: 1_000_000},
			Protocol: bench.NameMADLite,
			Budget:   40,
			Policy:   object.DefaultPolicy(),
			Agents: []object.AgentSpec{{Name: AgentEvolution,
				Params: map[string]int64{"population": 8, "tournament": 4}}},
			Seed: 1,
		}
	},
	PresetDemo: func() Spec {
		p := DemoProtocol()
		return Spec{
			Name: PresetDemo,
			Description: "The demo: a deliberately tiny protocol (four MAD tasks, a few hundred steps) over " +
				"A, M and S at width 32, 2-4 layers, so that dozens of candidates are verified in minutes.",
			Space:          object.SearchSpace{Primitives: []string{"A", "M", "S"}, MinDepth: 2, MaxDepth: 4, MinWidth: 32, MaxWidth: 32},
			ProtocolObject: p,
			Budget:         30,
			Policy:         object.DefaultPolicy(),
			Agents: []object.AgentSpec{{Name: AgentEvolution,
				Params: map[string]int64{"population": 6, "tournament": 3}}},
			Seed: 1,
		}
	},
}

// DemoProtocolName is the Name of DemoProtocol.
const DemoProtocolName = "demo"

// DemoProtocol is the demo's deliberately tiny protocol: in-context recall with 4 keys, selective
// copying, compression and memorisation at sequence lengths 16-32, a few hundred steps each, two
// segments per run. docs/search.md has its calibration: a few CPU-seconds for a 4-layer
// attention model at width 32, more with Mamba layers. It separates attention, recurrent and
// MLP-only candidates, but it is not a benchmark: real searches use MAD-lite.
func DemoProtocol() *bench.Protocol {
	const train, test = 1024, 128
	set := func(task string, vocab, seq, steps int) bench.Setting {
		return bench.Setting{Task: task, Vocab: vocab, SeqLen: seq, TrainExamples: train, TestExamples: test,
			Steps: steps, Batch: 16}
	}
	cr := set(bench.TaskRecall, 8, 32, 500)
	cr.MultiQuery = true
	sc := set(bench.TaskSelCopy, 16, 32, 500)
	sc.CopyTokens = 4
	c := set(bench.TaskCompression, 16, 16, 200)
	m := set(bench.TaskMemorize, 64, 16, 150)
	m.TrainExamples = 64
	return &bench.Protocol{
		Type: bench.ProtocolType, Name: DemoProtocolName, Settings: []bench.Setting{cr, sc, c, m},
		LR: 3000, Schedule: bench.ScheduleCosine, Warmup: 10, MinLR: 10, EvalExamples: 64,
		Seed: bench.DefaultSeed, Segments: 2,
	}
}
