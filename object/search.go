package object

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Bounds of searches and proposals. They bound what a peer's Search or Proposal can make a node
// store, show or run.
const (
	// MaxSearchName is the longest search name.
	MaxSearchName = 64
	// MaxDescription is the longest search description, in bytes.
	MaxDescription = 2048
	// MaxBudget bounds Search.Budget, the number of candidate evaluations.
	MaxBudget = 1_000_000
	// MaxAgents bounds the agents of a search; MaxAgentParams the parameters of one agent.
	MaxAgents      = 8
	MaxAgentParams = 16
	// MaxAgentName is the longest agent or agent-parameter name.
	MaxAgentName = 32
	// MaxAgentParam bounds the absolute value of an agent parameter (2^53: exact in any JSON
	// reader).
	MaxAgentParam = 1 << 53
	// MaxSpacePrimitives bounds SearchSpace.Primitives; MaxPrimitiveName one entry's length.
	MaxSpacePrimitives = 32
	MaxPrimitiveName   = 32
	// MaxSearchDepth and MaxSearchWidth are the architecture language's depth and width bounds
	// (arch.MaxDepth, arch.MaxWidth; package object cannot import arch, a test keeps them equal).
	MaxSearchDepth = 64
	MaxSearchWidth = 4096
	// MinSearchWidth is arch.MinWidth.
	MinSearchWidth = 16
	// MaxSearchParams is arch.MaxParams.
	MaxSearchParams = 1_000_000_000
	// MaxParents bounds Proposal.Parents; MaxRationale the rationale's length in bytes.
	MaxParents   = 8
	MaxRationale = 1024
	// MaxSearchEnvelope caps the envelope of a search or a proposal: they are small, and a larger
	// one is rejected before its signature is checked.
	MaxSearchEnvelope = 16 << 10
)

// SearchSpace is the search space of a Search: the primitives allowed, the depth and width ranges
// and the parameter budget. It mirrors arch.Space (without the vocabulary: task architectures are
// stored with their vocabulary unbound, and the protocol binds it per setting), so the parameter
// budget counts every parameter but the token embeddings and the tied head.
type SearchSpace struct {
	// Primitives are the allowed primitives (names, letters or aliases, as arch.Lookup takes
	// them); empty allows every registered one.
	Primitives []string `cbor:"primitives,omitempty" json:"primitives,omitempty"`
	// MinDepth and MaxDepth bound the number of layers (1-MaxSearchDepth, both required).
	MinDepth int64 `cbor:"min_depth" json:"min_depth"`
	MaxDepth int64 `cbor:"max_depth" json:"max_depth"`
	// MinWidth and MaxWidth bound the model width: both 0 leaves it free, else both are set
	// (MinSearchWidth-MaxSearchWidth).
	MinWidth int64 `cbor:"min_width,omitempty" json:"min_width,omitempty"`
	MaxWidth int64 `cbor:"max_width,omitempty" json:"max_width,omitempty"`
	// MaxParams is the parameter budget (0: only the language's bound).
	MaxParams int64 `cbor:"max_params,omitempty" json:"max_params,omitempty"`
}

// Validate checks the space's bounds. Whether the primitives exist is the arch package's call
// (search.Check).
func (s SearchSpace) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: search space: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if len(s.Primitives) > MaxSpacePrimitives {
		return bad("%d primitives, want at most %d", len(s.Primitives), MaxSpacePrimitives)
	}
	seen := make(map[string]bool, len(s.Primitives))
	for i, p := range s.Primitives {
		if p == "" || len(p) > MaxPrimitiveName || !printable(p, false) {
			return bad("primitive %d: %q", i, p)
		}
		if seen[p] {
			return bad("primitive %q listed twice", p)
		}
		seen[p] = true
	}
	if s.MinDepth < 1 || s.MaxDepth < s.MinDepth || s.MaxDepth > MaxSearchDepth {
		return bad("depth %d-%d, want 1 <= min <= max <= %d", s.MinDepth, s.MaxDepth, MaxSearchDepth)
	}
	if s.MinWidth != 0 || s.MaxWidth != 0 {
		if s.MinWidth < MinSearchWidth || s.MaxWidth < s.MinWidth || s.MaxWidth > MaxSearchWidth {
			return bad("width %d-%d, want %d <= min <= max <= %d (or both 0)", s.MinWidth, s.MaxWidth,
				MinSearchWidth, MaxSearchWidth)
		}
	}
	if s.MaxParams < 0 || s.MaxParams > MaxSearchParams {
		return bad("parameter budget %d, want 0-%d", s.MaxParams, MaxSearchParams)
	}
	return nil
}

// AgentSpec names one search agent and its integer parameters (e.g. evolution's population and
// tournament sizes). Agents are built-in code: a spec only selects and tunes one.
type AgentSpec struct {
	// Name is the agent's name, e.g. "random" or "evolution": [a-z][a-z0-9-]*, at most
	// MaxAgentName bytes. The names of one search's agents are distinct.
	Name string `cbor:"name" json:"name"`
	// Params are the agent's parameters by name (same charset as Name, plus '_'); values within
	// ±MaxAgentParam.
	Params map[string]int64 `cbor:"params,omitempty" json:"params,omitempty"`
}

// Validate checks the spec's bounds.
func (a AgentSpec) Validate() error {
	if !agentName(a.Name, false) {
		return fmt.Errorf("%w: agent name %q: want [a-z][a-z0-9-]*, at most %d bytes", ErrInvalid, a.Name, MaxAgentName)
	}
	if len(a.Params) > MaxAgentParams {
		return fmt.Errorf("%w: agent %s: %d parameters, want at most %d", ErrInvalid, a.Name, len(a.Params), MaxAgentParams)
	}
	for k, v := range a.Params {
		if !agentName(k, true) {
			return fmt.Errorf("%w: agent %s: parameter name %q", ErrInvalid, a.Name, k)
		}
		if v > MaxAgentParam || v < -MaxAgentParam {
			return fmt.Errorf("%w: agent %s: parameter %s = %d out of range", ErrInvalid, a.Name, k, v)
		}
	}
	return nil
}

// Search is a community search: what to search (the space), how candidates are judged (the
// protocol and the verification policy), how much to spend (the budget) and who proposes
// candidates (the agents). It travels in an envelope of KindSearch signed by Launcher; the sealed
// CID (SealedCID) names the search, and every task of the search carries it (Task.Search).
type Search struct {
	// Name is a short label ([a-z0-9][a-z0-9._-]*, at most MaxSearchName bytes). Names are not
	// unique across the network: the CID is the search's identity.
	Name string `cbor:"name" json:"name"`
	// Description says what the search is for (at most MaxDescription bytes).
	Description string `cbor:"description,omitempty" json:"description,omitempty"`
	// Launcher is the peer ID of the launching node; it must equal the envelope's signer.
	Launcher string `cbor:"launcher" json:"launcher"`
	// Space is the search space.
	Space SearchSpace `cbor:"space" json:"space"`
	// Protocol is the CID of the evaluation protocol object; ProtocolName its label (e.g.
	// "mad-lite"), informative only.
	Protocol     string `cbor:"protocol" json:"protocol"`
	ProtocolName string `cbor:"protocol_name,omitempty" json:"protocol_name,omitempty"`
	// Budget is the number of candidate evaluations (tasks) the search may start (1-MaxBudget).
	Budget int64 `cbor:"budget" json:"budget"`
	// Policy is the verification policy of every task of the search.
	Policy Policy `cbor:"policy" json:"policy"`
	// Agents are the agents that propose candidates (1-MaxAgents, distinct names).
	Agents []AgentSpec `cbor:"agents" json:"agents"`
	// Seed seeds the agents and is the training seed of every task of the search, so the same
	// candidate proposed twice is one task.
	Seed uint64 `cbor:"seed" json:"seed"`
}

// Validate checks bounds and formats.
func (s Search) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: search: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if !ValidSearchName(s.Name) {
		return bad("name %q: want [a-z0-9][a-z0-9._-]*, at most %d bytes", s.Name, MaxSearchName)
	}
	if len(s.Description) > MaxDescription || !printable(s.Description, true) {
		return bad("description of %d bytes (at most %d, printable text)", len(s.Description), MaxDescription)
	}
	if err := validPeer(s.Launcher); err != nil {
		return bad("launcher: %v", err)
	}
	if err := s.Space.Validate(); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if _, err := ParseCID(s.Protocol); err != nil {
		return bad("protocol: %v", err)
	}
	if len(s.ProtocolName) > maxName || !printable(s.ProtocolName, false) {
		return bad("protocol name %q", s.ProtocolName)
	}
	if s.Budget < 1 || s.Budget > MaxBudget {
		return bad("budget %d, want 1-%d evaluations", s.Budget, MaxBudget)
	}
	if err := s.Policy.Validate(); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if len(s.Agents) < 1 || len(s.Agents) > MaxAgents {
		return bad("%d agents, want 1-%d", len(s.Agents), MaxAgents)
	}
	seen := make(map[string]bool, len(s.Agents))
	for _, a := range s.Agents {
		if err := a.Validate(); err != nil {
			return fmt.Errorf("search: %w", err)
		}
		if seen[a.Name] {
			return bad("agent %q listed twice", a.Name)
		}
		seen[a.Name] = true
	}
	return nil
}

// Agent returns the spec of the agent named name, if the search runs it.
func (s Search) Agent(name string) (AgentSpec, bool) {
	for _, a := range s.Agents {
		if a.Name == name {
			return a, true
		}
	}
	return AgentSpec{}, false
}

// Proposal is an agent's signed statement that it proposed the architecture Arch for Search,
// derived from Parents, and why. Proposals are what lineage queries follow. It travels in an
// envelope of KindProposal signed by Proposer. The task it leads to is (Search, Arch, the search's
// protocol, the search's seed): identical candidates are one task whoever proposes them.
type Proposal struct {
	// Search is the CID of the search (the SealedCID of its envelope).
	Search string `cbor:"search" json:"search"`
	// Arch is the CID of the normalised architecture object (vocabulary unbound).
	Arch string `cbor:"arch" json:"arch"`
	// Parents are the CIDs of the architectures it derives from (0-MaxParents, distinct, not Arch).
	Parents []string `cbor:"parents,omitempty" json:"parents,omitempty"`
	// Agent is the name of the proposing agent (one of the search's agents).
	Agent string `cbor:"agent" json:"agent"`
	// Rationale says in a line why (at most MaxRationale bytes of printable text).
	Rationale string `cbor:"rationale,omitempty" json:"rationale,omitempty"`
	// Proposer is the peer ID of the node whose agent proposed it; it must equal the envelope's
	// signer.
	Proposer string `cbor:"proposer" json:"proposer"`
}

// Validate checks bounds and formats.
func (p Proposal) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: proposal: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if _, err := ParseCID(p.Search); err != nil {
		return bad("search: %v", err)
	}
	if _, err := ParseCID(p.Arch); err != nil {
		return bad("arch: %v", err)
	}
	if len(p.Parents) > MaxParents {
		return bad("%d parents, want at most %d", len(p.Parents), MaxParents)
	}
	seen := make(map[string]bool, len(p.Parents))
	for i, c := range p.Parents {
		if _, err := ParseCID(c); err != nil {
			return bad("parent %d: %v", i, err)
		}
		if c == p.Arch {
			return bad("parent %d is the proposed architecture itself", i)
		}
		if seen[c] {
			return bad("parent %s listed twice", c)
		}
		seen[c] = true
	}
	if !agentName(p.Agent, false) {
		return bad("agent %q", p.Agent)
	}
	if len(p.Rationale) > MaxRationale || !printable(p.Rationale, true) {
		return bad("rationale of %d bytes (at most %d, printable text)", len(p.Rationale), MaxRationale)
	}
	if err := validPeer(p.Proposer); err != nil {
		return bad("proposer: %v", err)
	}
	return nil
}

// SearchOf decodes the search inside an opened envelope (see OpenAny): kind, size cap, strict
// decoding, Validate, and the signer must be the launcher. Errors wrap ErrKind, ErrTooLarge, a
// decoding sentinel, ErrInvalid or ErrSigner.
func SearchOf(s Signed) (Search, error) {
	return signedOf(s, KindSearch, MaxSearchEnvelope, func(v *Search) string { return v.Launcher })
}

// ProposalOf decodes the proposal inside an opened envelope, as SearchOf does a search; the
// signer must be the proposer.
func ProposalOf(s Signed) (Proposal, error) {
	return signedOf(s, KindProposal, MaxSearchEnvelope, func(v *Proposal) string { return v.Proposer })
}

// OpenSearch opens a search envelope: size cap, signature, then SearchOf.
func OpenSearch(env []byte) (Search, error) {
	s, err := openCapped(env, KindSearch, MaxSearchEnvelope)
	if err != nil {
		return Search{}, err
	}
	return SearchOf(s)
}

// OpenProposal opens a proposal envelope: size cap, signature, then ProposalOf.
func OpenProposal(env []byte) (Proposal, error) {
	s, err := openCapped(env, KindProposal, MaxSearchEnvelope)
	if err != nil {
		return Proposal{}, err
	}
	return ProposalOf(s)
}

// ValidSearchName reports whether s is a valid search name: [a-z0-9][a-z0-9._-]*, at most
// MaxSearchName bytes.
func ValidSearchName(s string) bool {
	if s == "" || len(s) > MaxSearchName {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case i > 0 && (r == '.' || r == '_' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// agentName reports whether s is a valid agent name ([a-z][a-z0-9-]*) or, with param, a valid
// parameter name ([a-z][a-z0-9_-]*), at most MaxAgentName bytes.
func agentName(s string, param bool) bool {
	if s == "" || len(s) > MaxAgentName {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || param && r == '_'):
		default:
			return false
		}
	}
	return true
}

// printable reports whether s is valid UTF-8 of printable characters (and, with lines, also
// newlines and tabs).
func printable(s string, lines bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if lines && (r == '\n' || r == '\t') {
			continue
		}
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
