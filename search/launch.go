package search

import (
	"context"
	"fmt"
	"sort"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/store"
)

// Launched is a launched search.
type Launched struct {
	// CID names the search (the sealed CID of Envelope).
	CID cid.Cid
	// Search is the signed object and Envelope its envelope, to gossip.
	Search   object.Search
	Envelope []byte
	// Protocol is the protocol object's CID; Launch stored the object.
	Protocol cid.Cid
}

// Launch builds the spec (Spec.Build, with key's peer as launcher), signs the Search, and stores
// the protocol object and the search durably, indexed (registry.PutSearch), so that the node can
// gossip the envelope and start a Runner. Launching the same spec again with the same key is the
// same search (same CID) and changes nothing. Nothing is stored when the spec is invalid.
func Launch(st *store.Store, key crypto.PrivKey, spec Spec) (Launched, error) {
	l, pb, err := prepare(st, key, spec)
	if err != nil {
		return Launched{}, err
	}
	if err := st.PutWith(l.Protocol, pb, store.PutOptions{Sync: true}); err != nil {
		return Launched{}, fmt.Errorf("store protocol: %w", err)
	}
	if _, _, err := registry.PutSearch(st, l.Envelope, true); err != nil {
		return Launched{}, err
	}
	return l, nil
}

// Prepare is Launch without storing anything (a dry run): the spec built with key's peer as
// launcher and the Search signed, named by the CID Launch would give it. st resolves a protocol the
// spec names by CID; it may be nil when the spec carries its protocol.
func Prepare(st *store.Store, key crypto.PrivKey, spec Spec) (Launched, error) {
	l, _, err := prepare(st, key, spec)
	return l, err
}

// prepare builds and signs the search and encodes its protocol (whose bytes it also returns).
func prepare(st *store.Store, key crypto.PrivKey, spec Spec) (Launched, []byte, error) {
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return Launched{}, nil, fmt.Errorf("%w: key: %w", ErrConfig, err)
	}
	var bs bench.BlockStore // a nil *store.Store must stay a nil interface: Build checks for nil
	if st != nil {
		bs = st
	}
	s, p, err := spec.Build(self, bs)
	if err != nil {
		return Launched{}, nil, err
	}
	pb, pc, err := p.Encode()
	if err != nil {
		return Launched{}, nil, fmt.Errorf("%w: protocol: %w", ErrSpec, err)
	}
	env, err := object.Seal(key, object.KindSearch, s)
	if err != nil {
		return Launched{}, nil, fmt.Errorf("%w: seal: %w", ErrSpec, err)
	}
	c, _, err := object.SealedCID(env)
	if err != nil {
		return Launched{}, nil, fmt.Errorf("%w: %w", ErrSpec, err)
	}
	return Launched{CID: c, Search: s, Envelope: env, Protocol: pc}, pb, nil
}

// StatusOf reports a search's progress from what the store holds (no runner needed): budget
// used (tasks of the search known), settled, verified and disputed tasks, the best verified
// candidate, and the proposals per agent. InFlight is 0; State is done once the budget is spent
// and every task is settled, running otherwise.
func StatusOf(ctx context.Context, st *store.Store, reg *registry.Registry, info registry.SearchInfo) (Status, error) {
	sc, err := object.ParseCID(info.CID)
	if err != nil {
		return Status{}, fmt.Errorf("%w: search CID: %w", ErrSpec, err)
	}
	outs, err := reg.Outcomes(ctx, sc)
	if err != nil {
		return Status{}, err
	}
	lower := false
	if pc, err := object.ParseCID(info.Search.Protocol); err == nil {
		if b, err := st.Get(pc); err == nil {
			if p, err := bench.DecodeProtocol(pc, b); err == nil {
				lower = registry.LowerIsBetter(p)
			}
		}
	}
	out := Status{Search: info.CID, Name: info.Search.Name, Budget: info.Search.Budget, Used: len(outs), Agents: []AgentStatus{}}
	var best *registry.TaskOutcome
	for i, o := range outs {
		switch {
		case o.Verified:
			out.Verified++
			out.Settled++
			if best == nil || registry.Fitness(o.Score, lower) > registry.Fitness(best.Score, lower) {
				best = &outs[i]
			}
		case o.Final():
			out.Disputed++
			out.Settled++
		}
	}
	out.Pending = out.Used - out.Settled
	out.State = StateRunning
	if int64(out.Used) >= out.Budget && out.Pending == 0 {
		out.State = StateDone
	}
	if best != nil {
		out.Best = &Best{Arch: best.Spec.Arch, Task: best.Task, Score: best.Score}
		if ac, err := object.ParseCID(best.Spec.Arch); err == nil {
			if b, err := st.Get(ac); err == nil {
				if m, _, err := arch.Decode(b); err == nil {
					out.Best.Spelling = arch.Print(m)
				}
			}
		}
	}
	// Proposals per agent, from the proposals filed under the search.
	counts := map[string]*AgentStatus{}
	for _, a := range info.Search.Agents {
		counts[a.Name] = &AgentStatus{Name: a.Name}
	}
	after := ""
	for {
		cs, next, err := st.Scan(store.IndexSearch, info.CID, after, store.MaxScanLimit)
		if err != nil {
			return Status{}, fmt.Errorf("scan search: %w", err)
		}
		for _, c := range cs {
			if c.Prefix().Codec == cid.Raw {
				continue
			}
			b, err := st.Get(c)
			if err != nil || object.ObjectCID(b).Equals(c) {
				continue // plain objects (tasks) are not proposals
			}
			s, err := object.OpenAny(b)
			if err != nil || s.Kind != object.KindProposal {
				continue
			}
			p, err := object.ProposalOf(s)
			if err != nil || p.Search != info.CID {
				continue
			}
			a := counts[p.Agent]
			if a == nil {
				a = &AgentStatus{Name: p.Agent}
				counts[p.Agent] = a
			}
			a.Proposed++
		}
		if next == "" {
			break
		}
		after = next
	}
	for _, a := range info.Search.Agents {
		out.Agents = append(out.Agents, *counts[a.Name])
		delete(counts, a.Name)
	}
	var extra []AgentStatus // agents the search does not list (a forged or foreign proposal)
	for _, a := range counts {
		extra = append(extra, *a)
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].Name < extra[j].Name })
	out.Agents = append(out.Agents, extra...)
	return out, nil
}
