package node

import (
	"testing"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/p2p"
	"github.com/airanode/airanode/registry/registrytest"
	"github.com/airanode/airanode/search"
)

// gossipSeeds returns valid envelopes of the kinds the node's topics carry, and their signer.
func gossipSeeds(t testing.TB) (srch, proposal, offer []byte, launcher registrytest.Peer) {
	t.Helper()
	launcher = registrytest.NewPeer(t)
	spec, err := search.Preset(search.PresetDemo)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := spec.Build(launcher.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if srch, err = object.Seal(launcher.Key, object.KindSearch, s); err != nil {
		t.Fatal(err)
	}
	sc, _, err := object.SealedCID(srch)
	if err != nil {
		t.Fatal(err)
	}
	arch := object.ObjectCID([]byte("arch")).String()
	p := object.Proposal{Search: sc.String(), Arch: arch, Agent: "random", Proposer: launcher.ID.String()}
	if proposal, err = object.Seal(launcher.Key, object.KindProposal, p); err != nil {
		t.Fatal(err)
	}
	o := object.Offer{Task: object.Task{Search: sc.String(), Arch: arch, Protocol: s.Protocol, Seed: 1},
		Replicas: 2, Submitter: launcher.ID.String(), Time: 1}
	if offer, err = object.Seal(launcher.Key, object.KindOffer, o); err != nil {
		t.Fatal(err)
	}
	return srch, proposal, offer, launcher
}

// TestGossipDecoder: the node's topics accept the task protocol, searches and proposals, each
// decoded to its type, and refuse what another peer signs, other kinds and garbage.
func TestGossipDecoder(t *testing.T) {
	srch, prop, offer, launcher := gossipSeeds(t)
	dec := p2p.EnvelopeDecoder(checkMessage, messageKinds...)
	for _, tc := range []struct {
		name string
		env  []byte
		want any
	}{{"search", srch, object.Search{}}, {"proposal", prop, object.Proposal{}}, {"offer", offer, object.Offer{}}} {
		d, err := dec(tc.env)
		if err != nil {
			t.Fatalf("%s refused: %v", tc.name, err)
		}
		if d.Author != launcher.ID {
			t.Fatalf("%s: author %s", tc.name, d.Author)
		}
		switch tc.want.(type) {
		case object.Search:
			_, ok := d.Value.(object.Search)
			if !ok || !isSearchKind(d.Value) {
				t.Fatalf("search decoded as %T", d.Value)
			}
		case object.Proposal:
			if _, ok := d.Value.(object.Proposal); !ok || !isSearchKind(d.Value) {
				t.Fatalf("proposal decoded as %T", d.Value)
			}
		case object.Offer:
			if _, ok := d.Value.(object.Offer); !ok || isSearchKind(d.Value) {
				t.Fatalf("offer decoded as %T", d.Value)
			}
		}
	}
	// A search signed by someone other than its launcher, another kind, and garbage.
	other := registrytest.NewPeer(t)
	s, err := object.OpenSearch(srch)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := object.Seal(other.Key, object.KindSearch, s)
	if err != nil {
		t.Fatal(err)
	}
	att, err := object.Seal(other.Key, object.KindAttestation, object.Attestation{})
	if err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string][]byte{"forged launcher": forged, "attestation": att,
		"garbage": []byte("not an envelope"), "empty": nil, "truncated": srch[:len(srch)/2]} {
		if _, err := dec(env); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// FuzzGossipDecoder feeds the node's gossip decoder: it never panics, and what it accepts is
// signed by the author it names and is a task protocol message, a search or a proposal.
func FuzzGossipDecoder(f *testing.F) {
	srch, prop, offer, _ := gossipSeeds(f)
	for _, b := range [][]byte{srch, prop, offer, nil, []byte("x")} {
		f.Add(b)
	}
	dec := p2p.EnvelopeDecoder(checkMessage, messageKinds...)
	f.Fuzz(func(t *testing.T, env []byte) {
		d, err := dec(env)
		if err != nil {
			return
		}
		s, err := object.OpenAny(env)
		if err != nil || s.Author != d.Author {
			t.Fatalf("accepted an envelope that does not open to its author: %v", err)
		}
		switch d.Value.(type) {
		case object.Search, object.Proposal, object.Offer, object.Capability, object.Claim, object.Result:
		default:
			t.Fatalf("accepted a %T", d.Value)
		}
	})
}
