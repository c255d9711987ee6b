package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/search"
	"github.com/airanode/airanode/store"
)

// runKey is the meta key that records that this node runs the agents of a search, so that a
// restarted node resumes them.
func runKey(c cid.Cid) string { return "node/search-run/" + c.String() }

// searches is the node's part in community searches: it follows every search it hears of (joins
// its topic and syncs it, so the worker sees and claims its tasks), stores the search and
// proposal objects gossip and sync bring, and runs the agents (a search.Runner) of the searches
// this node launched or joined (JoinSearch). It is safe for concurrent use.
type searches struct {
	n   *Node
	reg *registry.Registry

	mu      sync.Mutex
	runners map[string]*runnerEntry // by search CID
	closed  bool
}

type runnerEntry struct {
	r    *search.Runner
	done chan struct{}
}

func newSearches(n *Node, reg *registry.Registry) *searches {
	return &searches{n: n, reg: reg, runners: map[string]*runnerEntry{}}
}

// resume follows every search the store holds, lists it for sync, and starts the runners of the
// searches this node launched or joined.
func (s *searches) resume() error {
	infos, err := registry.Searches(s.n.store)
	if err != nil {
		return fmt.Errorf("list searches: %w", err)
	}
	for _, info := range infos {
		c, err := object.ParseCID(info.CID)
		if err != nil {
			continue
		}
		s.n.indexForSync("", c)
		if err := s.n.FollowSearch(c); err != nil {
			return err
		}
		// Run the agents of the searches this node launched (also offline, with `airanode search
		// launch` while the node was stopped: same identity) and of those it joined.
		_, err = s.n.store.GetMeta(runKey(c))
		if err == nil || info.Search.Launcher == s.n.id.String() {
			if err := s.start(c, info.Search); err != nil {
				s.n.log.Warn("resume search runner", "search", info.Search.Name, "err", err)
			}
		}
	}
	return nil
}

// ingest takes a search or proposal envelope from gossip or sync: stored, indexed, and, for a
// search, followed.
func (s *searches) ingest(env []byte) error {
	kind, c, err := registry.Ingest(s.n.store, env)
	if err != nil {
		return err
	}
	if kind == object.KindSearch {
		s.n.indexForSync("", c)
		if err := s.n.FollowSearch(c); err != nil && !errors.Is(err, ErrClosed) {
			return err
		}
	}
	return nil
}

// launch signs, stores, gossips and runs a search.
func (s *searches) launch(ctx context.Context, req api.LaunchRequest) (api.LaunchResponse, error) {
	if err := req.Check(); err != nil {
		return api.LaunchResponse{}, err
	}
	spec := req.Spec
	if spec == nil {
		p, err := search.Preset(req.Preset) // known: Check looked it up
		if err != nil {
			return api.LaunchResponse{}, apiError(err)
		}
		spec = &p
	}
	if req.DryRun {
		l, err := search.Prepare(s.n.store, s.n.key, *spec)
		if err != nil {
			return api.LaunchResponse{}, apiError(err)
		}
		return api.LaunchResponse{CID: l.CID.String(), Search: l.Search, Protocol: l.Protocol.String()}, nil
	}
	l, err := search.Launch(s.n.store, s.n.key, *spec)
	if err != nil {
		return api.LaunchResponse{}, apiError(err)
	}
	if err := s.n.store.PutMetaWith(runKey(l.CID), []byte{1}, store.PutOptions{Sync: true}); err != nil {
		return api.LaunchResponse{}, fmt.Errorf("record search run: %w", err)
	}
	s.n.indexForSync("", l.CID)
	if err := s.n.FollowSearch(l.CID); err != nil {
		return api.LaunchResponse{}, err
	}
	// The search goes out on the network topic, which every node follows.
	if err := s.n.bus.Publish(ctx, "", object.KindSearch, l.Envelope); err != nil {
		s.n.log.Warn("publish search: peers will get it by sync", "search", l.CID, "err", err)
	}
	if err := s.start(l.CID, l.Search); err != nil {
		return api.LaunchResponse{}, err
	}
	s.n.log.Info("search launched", "search", l.Search.Name, "cid", l.CID, "budget", l.Search.Budget)
	return api.LaunchResponse{CID: l.CID.String(), Search: l.Search, Protocol: l.Protocol.String(),
		Stored: true, Running: true}, nil
}

// start runs the search's agents here, once.
func (s *searches) start(c cid.Cid, obj object.Search) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if _, ok := s.runners[c.KeyString()]; ok {
		return nil
	}
	r, err := search.NewRunner(search.Config{
		Search: obj, CID: c, Key: s.n.key, Store: s.n.store,
		Submitter: s.n.verifier, Results: s.reg, Publisher: s.n.bus,
		InFlight: s.n.o.searchInFlight, Poll: s.n.o.searchPoll,
		Logger: s.n.log.With("component", "search"),
	})
	if err != nil {
		return fmt.Errorf("search runner: %w", err)
	}
	e := &runnerEntry{r: r, done: make(chan struct{})}
	s.runners[c.KeyString()] = e
	s.n.group.Go(func() {
		defer close(e.done)
		if err := r.Run(s.n.ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.n.log.Warn("search runner stopped", "search", obj.Name, "err", err)
		}
	})
	return nil
}

// running returns the runner of a search, if this node runs it.
func (s *searches) running(c cid.Cid) *search.Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.runners[c.KeyString()]; e != nil {
		return e.r
	}
	return nil
}

// close stops starting runners (the node's context stops the running ones).
func (s *searches) close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// status is a search's progress from the store (current, where the runner's is as of its last
// poll), with the runner's own view (in flight, agents, state) when this node runs it.
func (s *searches) status(ctx context.Context, info registry.SearchInfo) (search.Status, bool, error) {
	c, err := object.ParseCID(info.CID)
	if err != nil {
		return search.Status{}, false, err
	}
	st, err := search.StatusOf(ctx, s.n.store, s.reg, info)
	if err != nil {
		return st, false, err
	}
	r := s.running(c)
	if r != nil {
		rs := r.Status()
		st.InFlight, st.Agents, st.State = rs.InFlight, rs.Agents, rs.State
	}
	return st, r != nil, nil
}

// LaunchSearch signs a search with the node's identity, stores it, gossips it to the network and
// runs its agents here (api.LaunchRequest; DryRun only checks). Bad specs wrap api.ErrInvalid.
func (n *Node) LaunchSearch(ctx context.Context, req api.LaunchRequest) (api.LaunchResponse, error) {
	if n.closed.Load() {
		return api.LaunchResponse{}, ErrClosed
	}
	return n.searches.launch(ctx, req)
}

// Verification reports the verification state of every task the node holds results for, with
// the reputation of every peer it has a record of.
func (n *Node) Verification(ctx context.Context) (api.VerificationReport, error) {
	if n.closed.Load() {
		return api.VerificationReport{}, ErrClosed
	}
	return n.verifier.report(ctx)
}

// JoinSearch makes this node run the agents of a search it holds but did not launch (a volunteer
// opting in to propose candidates too), now and after restarts. Their proposals merge with the
// launcher's by CID, and the search's budget counts every node's tasks. ref is a search name or
// CID; an unknown one wraps api.ErrNotFound.
func (n *Node) JoinSearch(ctx context.Context, ref string) (api.SearchDetail, error) {
	if n.closed.Load() {
		return api.SearchDetail{}, ErrClosed
	}
	info, err := registry.FindSearch(n.store, ref)
	if err != nil {
		return api.SearchDetail{}, apiError(err)
	}
	c, err := object.ParseCID(info.CID)
	if err != nil {
		return api.SearchDetail{}, err
	}
	if err := n.store.PutMetaWith(runKey(c), []byte{1}, store.PutOptions{Sync: true}); err != nil {
		return api.SearchDetail{}, fmt.Errorf("record search run: %w", err)
	}
	if err := n.FollowSearch(c); err != nil {
		return api.SearchDetail{}, err
	}
	if err := n.searches.start(c, info.Search); err != nil {
		return api.SearchDetail{}, err
	}
	return n.searches.detail(ctx, info)
}

// detail is a search's API detail: its progress, its spec, and whether this node runs its agents.
func (s *searches) detail(ctx context.Context, info registry.SearchInfo) (api.SearchDetail, error) {
	st, running, err := s.status(ctx, info)
	if err != nil {
		return api.SearchDetail{}, apiError(err)
	}
	return api.SearchDetail{Status: st, Search: info.Search, Running: running}, nil
}
