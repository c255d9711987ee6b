package object

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func searchFixture(id peer.ID) Search {
	return Search{
		Name: "mad-lite-small", Description: "A small space over A, M, S.\nDepth 2-6.",
		Launcher: id.String(),
		Space: SearchSpace{Primitives: []string{"A", "M", "S"}, MinDepth: 2, MaxDepth: 6, MinWidth: 64, MaxWidth: 128,
			MaxParams: 2_000_000},
		Protocol: ObjectCID([]byte("protocol")).String(), ProtocolName: "mad-lite",
		Budget: 40, Policy: DefaultPolicy(),
		Agents: []AgentSpec{{Name: "evolution", Params: map[string]int64{"population": 16, "tournament": 4}}, {Name: "random"}},
		Seed:   7,
	}
}

func proposalFixture(id peer.ID) Proposal {
	return Proposal{
		Search: ObjectCID([]byte("search")).String(), Arch: ObjectCID([]byte("arch")).String(),
		Parents: []string{ObjectCID([]byte("parent")).String()}, Agent: "evolution",
		Rationale: "mutated the tournament winner: layer 2: swiglu -> mamba", Proposer: id.String(),
	}
}

func TestSearchValidate(t *testing.T) {
	_, id := newKey(t, crypto.Ed25519)
	runValidate(t, func() Search { return searchFixture(id) }, []validateCase[Search]{
		{"ok", func(*Search) {}, ""},
		{"free width, no budget", func(s *Search) { s.Space.MinWidth, s.Space.MaxWidth, s.Space.MaxParams = 0, 0, 0 }, ""},
		{"every primitive", func(s *Search) { s.Space.Primitives = nil }, ""},
		{"no name", func(s *Search) { s.Name = "" }, "name"},
		{"upper-case name", func(s *Search) { s.Name = "Demo" }, "name"},
		{"name with slash", func(s *Search) { s.Name = "a/b" }, "name"},
		{"name starting with dash", func(s *Search) { s.Name = "-x" }, "name"},
		{"long name", func(s *Search) { s.Name = strings.Repeat("a", MaxSearchName+1) }, "name"},
		{"long description", func(s *Search) { s.Description = strings.Repeat("a", MaxDescription+1) }, "description"},
		{"control in description", func(s *Search) { s.Description = "a\x00b" }, "description"},
		{"bad launcher", func(s *Search) { s.Launcher = "nobody" }, "launcher"},
		{"depth zero", func(s *Search) { s.Space.MinDepth = 0 }, "depth"},
		{"depth reversed", func(s *Search) { s.Space.MinDepth, s.Space.MaxDepth = 5, 4 }, "depth"},
		{"too deep", func(s *Search) { s.Space.MaxDepth = MaxSearchDepth + 1 }, "depth"},
		{"half a width range", func(s *Search) { s.Space.MinWidth = 0 }, "width"},
		{"narrow width", func(s *Search) { s.Space.MinWidth = 8 }, "width"},
		{"wide width", func(s *Search) { s.Space.MaxWidth = MaxSearchWidth + 8 }, "width"},
		{"negative params", func(s *Search) { s.Space.MaxParams = -1 }, "parameter budget"},
		{"huge params", func(s *Search) { s.Space.MaxParams = MaxSearchParams + 1 }, "parameter budget"},
		{"duplicate primitive", func(s *Search) { s.Space.Primitives = []string{"A", "A"} }, "twice"},
		{"empty primitive", func(s *Search) { s.Space.Primitives = []string{""} }, "primitive 0"},
		{"too many primitives", func(s *Search) { s.Space.Primitives = make([]string, MaxSpacePrimitives+1) }, "primitives"},
		{"bad protocol", func(s *Search) { s.Protocol = "mad-lite" }, "protocol"},
		{"control in protocol name", func(s *Search) { s.ProtocolName = "\x01" }, "protocol name"},
		{"no budget", func(s *Search) { s.Budget = 0 }, "budget"},
		{"budget too large", func(s *Search) { s.Budget = MaxBudget + 1 }, "budget"},
		{"bad policy", func(s *Search) { s.Policy.Quorum = 3 }, "quorum"},
		{"no agents", func(s *Search) { s.Agents = nil }, "agents"},
		{"too many agents", func(s *Search) {
			s.Agents = nil
			for i := 0; i <= MaxAgents; i++ {
				s.Agents = append(s.Agents, AgentSpec{Name: "a" + strings.Repeat("b", i)})
			}
		}, "agents"},
		{"duplicate agent", func(s *Search) { s.Agents = []AgentSpec{{Name: "random"}, {Name: "random"}} }, "twice"},
		{"bad agent name", func(s *Search) { s.Agents[0].Name = "Evolution" }, "agent name"},
		{"bad param name", func(s *Search) { s.Agents[0].Params = map[string]int64{"Pop": 1} }, "parameter name"},
		{"param out of range", func(s *Search) { s.Agents[0].Params = map[string]int64{"p": MaxAgentParam + 1} }, "out of range"},
		{"too many params", func(s *Search) {
			s.Agents[0].Params = map[string]int64{}
			for i := 0; i <= MaxAgentParams; i++ {
				s.Agents[0].Params["p"+strings.Repeat("x", i)] = 1
			}
		}, "parameters"},
	})
}

func TestProposalValidate(t *testing.T) {
	_, id := newKey(t, crypto.Ed25519)
	runValidate(t, func() Proposal { return proposalFixture(id) }, []validateCase[Proposal]{
		{"ok", func(*Proposal) {}, ""},
		{"no parents, no rationale", func(p *Proposal) { p.Parents, p.Rationale = nil, "" }, ""},
		{"bad search", func(p *Proposal) { p.Search = "" }, "search"},
		{"bad arch", func(p *Proposal) { p.Arch = "x" }, "arch"},
		{"bad parent", func(p *Proposal) { p.Parents = []string{"x"} }, "parent 0"},
		{"self parent", func(p *Proposal) { p.Parents = []string{p.Arch} }, "itself"},
		{"duplicate parent", func(p *Proposal) { p.Parents = append(p.Parents, p.Parents[0]) }, "twice"},
		{"too many parents", func(p *Proposal) {
			p.Parents = nil
			for i := 0; i <= MaxParents; i++ {
				p.Parents = append(p.Parents, ObjectCID([]byte{byte(i)}).String())
			}
		}, "parents"},
		{"bad agent", func(p *Proposal) { p.Agent = "" }, "agent"},
		{"long rationale", func(p *Proposal) { p.Rationale = strings.Repeat("x", MaxRationale+1) }, "rationale"},
		{"control in rationale", func(p *Proposal) { p.Rationale = "\x1b[31m" }, "rationale"},
		{"bad proposer", func(p *Proposal) { p.Proposer = "x" }, "proposer"},
	})
}

func TestOpenSearchAndProposal(t *testing.T) {
	sk, id := newKey(t, crypto.Ed25519)
	other, _ := newKey(t, crypto.Ed25519)
	s, p := searchFixture(id), proposalFixture(id)
	if got, err := OpenSearch(seal(t, sk, KindSearch, s)); err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("OpenSearch = %+v, %v", got, err)
	}
	if got, err := OpenProposal(seal(t, sk, KindProposal, p)); err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("OpenProposal = %+v, %v", got, err)
	}
	if a, ok := s.Agent("evolution"); !ok || a.Params["population"] != 16 {
		t.Fatalf("Agent(evolution) = %+v, %v", a, ok)
	}
	if _, ok := s.Agent("llm"); ok {
		t.Fatal("Agent(llm) found")
	}

	badSearch := s
	badSearch.Budget = 0
	big := s
	big.Description = strings.Repeat("x", MaxSearchEnvelope)
	tampered := seal(t, sk, KindProposal, p)
	tampered[len(tampered)-3] ^= 1
	runErrors(t, []errCase{
		{"search wrong signer", func() error { _, err := OpenSearch(seal(t, other, KindSearch, s)); return err }, ErrSigner},
		{"proposal wrong signer", func() error { _, err := OpenProposal(seal(t, other, KindProposal, p)); return err }, ErrSigner},
		{"search as proposal", func() error { _, err := OpenProposal(seal(t, sk, KindSearch, s)); return err }, ErrKind},
		{"result as search", func() error { _, err := OpenSearch(seal(t, sk, KindResult, validResult())); return err }, ErrKind},
		{"invalid search", func() error { _, err := OpenSearch(seal(t, sk, KindSearch, badSearch)); return err }, ErrInvalid},
		{"tampered", func() error { _, err := OpenProposal(tampered); return err }, ErrSignature},
		{"garbage", func() error { _, err := OpenSearch([]byte("garbage")); return err }, ErrSignature},
		{"empty", func() error { _, err := OpenProposal(nil); return err }, ErrSignature},
		{"oversized", func() error { _, err := OpenSearch(seal(t, sk, KindSearch, big)); return err }, ErrTooLarge},
		{"oversized payload", func() error {
			_, err := ProposalOf(Signed{Author: id, Kind: KindProposal, Data: make([]byte, MaxSearchEnvelope+1)})
			return err
		}, ErrTooLarge},
		{"unknown field", func() error {
			env := seal(t, sk, KindProposal, map[string]any{"search": p.Search, "arch": p.Arch, "agent": "x", "proposer": p.Proposer, "evil": 1})
			_, err := OpenProposal(env)
			return err
		}, ErrMalformed},
		{"explicit zero optional", func() error {
			env := seal(t, sk, KindProposal, map[string]any{"search": p.Search, "arch": p.Arch, "agent": "x",
				"proposer": p.Proposer, "rationale": ""})
			_, err := OpenProposal(env)
			return err
		}, ErrNotCanonical},
	})
}

// TestSearchCIDStable: the sealed CID of a search depends on its content only (not on map
// iteration order or on the signature), so a re-launch of the same spec by the same node is the
// same search.
func TestSearchCIDStable(t *testing.T) {
	sk, id := newKey(t, crypto.Ed25519)
	s := searchFixture(id)
	s.Agents[0].Params = map[string]int64{"a": 1, "bb": 2, "c": 3, "population": 4, "tournament": 5}
	var first string
	for i := 0; i < 10; i++ {
		env, err := Seal(sk, KindSearch, s)
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := SealedCID(env)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = c.String()
		} else if c.String() != first {
			t.Fatalf("CID changed: %s vs %s", c, first)
		}
	}
	s.Seed++
	c, err := CID(s)
	if err != nil || c.String() == first {
		t.Fatalf("another seed gave the same CID %s (%v)", c, err)
	}
}

// FuzzOpenSearch: the search and proposal decoders never panic on arbitrary envelopes or
// payloads, everything they accept is valid and signed by its author, and it re-encodes to the
// payload it came from.
func FuzzOpenSearch(f *testing.F) {
	sk, id := newKey(f, crypto.Ed25519)
	s, p := searchFixture(id), proposalFixture(id)
	for _, v := range []struct {
		kind Kind
		v    any
	}{{KindSearch, s}, {KindProposal, p}} {
		env, err := Seal(sk, v.kind, v.v)
		if err != nil {
			f.Fatal(err)
		}
		payload, err := Marshal(v.v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(env, payload)
		f.Add(env[:len(env)/2], payload[:len(payload)/2])
	}
	f.Add([]byte{}, h("a1 61 61 f9 3c 00"))
	f.Add([]byte("\x0a\x00"), h("a2 64 6e 61 6d 65 60 66 61 67 65 6e 74 73 80"))
	f.Fuzz(func(t *testing.T, env, payload []byte) {
		if got, err := OpenSearch(env); err == nil {
			if got.Validate() != nil {
				t.Fatalf("accepted an invalid search %+v", got)
			}
			if sg, err := OpenAny(env); err != nil || sg.Author.String() != got.Launcher {
				t.Fatalf("accepted a search not signed by its launcher: %v", err)
			}
		}
		if got, err := OpenProposal(env); err == nil {
			if got.Validate() != nil {
				t.Fatalf("accepted an invalid proposal %+v", got)
			}
			if sg, err := OpenAny(env); err != nil || sg.Author.String() != got.Proposer {
				t.Fatalf("accepted a proposal not signed by its proposer: %v", err)
			}
		}
		if got, err := SearchOf(Signed{Author: id, Kind: KindSearch, Data: payload}); err == nil {
			if got.Launcher != id.String() || got.Validate() != nil {
				t.Fatalf("accepted %+v", got)
			}
			if re, err := Marshal(got); err != nil || !bytes.Equal(re, payload) {
				t.Fatalf("accepted a non-canonical search payload (%v)", err)
			}
		}
		if got, err := ProposalOf(Signed{Author: id, Kind: KindProposal, Data: payload}); err == nil {
			if got.Proposer != id.String() || got.Validate() != nil {
				t.Fatalf("accepted %+v", got)
			}
			if re, err := Marshal(got); err != nil || !bytes.Equal(re, payload) {
				t.Fatalf("accepted a non-canonical proposal payload (%v)", err)
			}
		}
	})
}
