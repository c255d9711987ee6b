package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/identity"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/registry/registrytest"
	"github.com/airanode/airanode/search"
	"github.com/airanode/airanode/store"
)

// storeBackend serves the search and registry endpoints from a store, as a node does (the same
// registry and search calls), so the CLI's API path can be compared with its store path. The task
// and worker endpoints are not part of these tests and answer an error.
type storeBackend struct {
	st  *store.Store
	reg *registry.Registry
	key crypto.PrivKey

	mu       sync.Mutex
	launched int
}

var errNotServed = errors.New("not served by the test backend")

func (b *storeBackend) Status(context.Context) (api.Status, error) { return api.Status{}, errNotServed }
func (b *storeBackend) Peers(context.Context) ([]api.Peer, error)  { return nil, errNotServed }
func (b *storeBackend) Submit(context.Context, api.SubmitRequest) (api.SubmitResponse, error) {
	return api.SubmitResponse{}, errNotServed
}
func (b *storeBackend) Tasks(context.Context) ([]api.Task, error) { return nil, errNotServed }
func (b *storeBackend) Task(context.Context, cid.Cid) (api.TaskDetail, error) {
	return api.TaskDetail{}, errNotServed
}
func (b *storeBackend) Worker(context.Context, api.WorkerRequest) (api.Worker, error) {
	return api.Worker{}, errNotServed
}

func apiErr(err error) error {
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, registry.ErrInvalid), errors.Is(err, search.ErrSpec):
		return fmt.Errorf("%w: %w", api.ErrInvalid, err)
	}
	return err
}

func (b *storeBackend) LaunchSearch(_ context.Context, req api.LaunchRequest) (api.LaunchResponse, error) {
	spec := req.Spec
	if req.Preset != "" {
		p, err := search.Preset(req.Preset)
		if err != nil {
			return api.LaunchResponse{}, apiErr(err)
		}
		spec = &p
	}
	if req.DryRun {
		l, err := search.Prepare(b.st, b.key, *spec)
		if err != nil {
			return api.LaunchResponse{}, apiErr(err)
		}
		return api.LaunchResponse{CID: l.CID.String(), Search: l.Search, Protocol: l.Protocol.String()}, nil
	}
	l, err := search.Launch(b.st, b.key, *spec)
	if err != nil {
		return api.LaunchResponse{}, apiErr(err)
	}
	b.mu.Lock()
	b.launched++
	b.mu.Unlock()
	return api.LaunchResponse{CID: l.CID.String(), Search: l.Search, Protocol: l.Protocol.String(), Stored: true, Running: true}, nil
}

func (b *storeBackend) Searches(ctx context.Context) ([]search.Status, error) {
	infos, err := registry.Searches(b.st)
	if err != nil {
		return nil, err
	}
	var out []search.Status
	for _, info := range infos {
		s, err := search.StatusOf(ctx, b.st, b.reg, info)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (b *storeBackend) Search(ctx context.Context, ref string) (api.SearchDetail, error) {
	info, err := registry.FindSearch(b.st, ref)
	if err != nil {
		return api.SearchDetail{}, apiErr(err)
	}
	s, err := search.StatusOf(ctx, b.st, b.reg, info)
	return api.SearchDetail{Status: s, Search: info.Search}, apiErr(err)
}

func (b *storeBackend) JoinSearch(ctx context.Context, ref string) (api.SearchDetail, error) {
	d, err := b.Search(ctx, ref)
	d.Running = err == nil
	return d, err
}

func (b *storeBackend) Top(ctx context.Context, q registry.TopQuery, search string) ([]registry.Board, error) {
	boards, err := b.reg.TopIn(ctx, q, search)
	return boards, apiErr(err)
}

func (b *storeBackend) Arch(ctx context.Context, a cid.Cid) (registry.ArchDetail, error) {
	d, err := b.reg.Show(ctx, a)
	return d, apiErr(err)
}

func (b *storeBackend) Lineage(ctx context.Context, a cid.Cid, ref string) (*registry.LineageNode, error) {
	n, err := b.reg.LineageIn(ctx, a, ref)
	return n, apiErr(err)
}

var testReputation = []api.PeerReputation{
	{Peer: "12D3KooWhonest", Verified: 12, Trust: 0.8, AppScore: 1, RankWeight: 1, Self: true},
	{Peer: "12D3KooWliar", Verified: 1, Rejected: 9, Trust: 0.02, AppScore: -10, RankWeight: 0.05},
}

func (b *storeBackend) Reputation(context.Context) ([]api.PeerReputation, error) {
	return testReputation, nil
}

func (b *storeBackend) Verification(context.Context) (api.VerificationReport, error) {
	return api.VerificationReport{Tasks: 13, Verified: 12, Pending: 1, Results: 26, Accepted: 24, Rejected: 2, Extra: 1,
		ComputeAll: 2.6e12, ComputeRejected: 2e11, ComputeVerified: 1.2e12, Overhead: 2,
		VerdictSeconds: api.Quantiles{N: 12, P50: 4.25, P90: 9.5, Max: 12}, Peers: testReputation}, nil
}

// registryFixture is a data directory whose store holds the demo search, three architectures of
// it (two verified, a parent and its child, and one unverified claim) and their proposals.
type registryFixture struct {
	dir                          string
	search, parent, child, claim string
}

func newRegistryFixture(t *testing.T) registryFixture {
	t.Helper()
	dir := initDataDir(t)
	out, err := runSearchCLI(t, "search", "launch", "--preset", "demo", "--data-dir", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var l api.LaunchResponse
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	peers := registrytest.NewPeers(t, 3)
	put := func(spec string, scores ...int64) string {
		ac, _ := registrytest.PutArch(t, st, spec)
		task := object.Task{Search: l.CID, Arch: ac.String(), Protocol: l.Search.Protocol, Seed: l.Search.Seed}
		tc := registrytest.PutTask(t, st, task)
		for i, s := range scores {
			registrytest.PutResult(t, st, peers[i], task, tc, s)
		}
		return ac.String()
	}
	f := registryFixture{dir: dir, search: l.CID}
	f.parent = put("width=32: A M", 600_000, 600_000)
	f.child = put("width=32: A M A", 700_000, 700_000)
	f.claim = put("width=32: M M", 990_000)
	registrytest.PutProposal(t, st, peers[0], object.Proposal{Search: l.CID, Arch: f.parent, Agent: "evolution", Rationale: "initial population"})
	registrytest.PutProposal(t, st, peers[0], object.Proposal{Search: l.CID, Arch: f.child, Parents: []string{f.parent},
		Agent: "evolution", Rationale: "mutated the winner"})
	return f
}

// serveNode opens the fixture's store behind an API server, as a running node holds it, and
// writes the node's info file; the cleanup stops the server, closes the store and removes the
// file (as a node's Close does).
func serveNode(t *testing.T, dir string) (*storeBackend, *api.Server) {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.Load(filepath.Join(dir, identity.FileName))
	if err != nil {
		t.Fatal(err)
	}
	b := &storeBackend{st: st, reg: registry.New(st, nil), key: key}
	srv, err := api.Listen("127.0.0.1:0", b)
	if err != nil {
		t.Fatal(err)
	}
	writeInfo(t, dir, srv.Addr())
	t.Cleanup(func() {
		_ = srv.Close()
		_ = st.Close()
		_ = os.Remove(filepath.Join(dir, node.InfoFile))
	})
	return b, srv
}

func writeInfo(t *testing.T, dir, addr string) {
	t.Helper()
	b, _ := json.Marshal(node.Info{PeerID: "12D3KooWtest", API: addr, PID: os.Getpid()})
	if err := os.WriteFile(filepath.Join(dir, node.InfoFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSearchRegistryViaAPI: with a node running on the data directory, the search and registry
// commands go through its API and print what the store path prints; a stale info file falls back
// to the store; the node-only commands need the node.
func TestSearchRegistryViaAPI(t *testing.T) {
	f := newRegistryFixture(t)
	queries := [][]string{
		{"search", "list"},
		{"search", "list", "--json"},
		{"search", "status", "demo"},
		{"search", "status", f.search, "--json"},
		{"registry", "top", "--search", "demo"},
		{"registry", "top", "--search", f.search, "--unverified", "--n", "2"},
		{"registry", "top", "--json", "--n", "1"},
		{"registry", "show", "width=32: A M A"},
		{"registry", "show", f.claim, "--json"},
		{"registry", "lineage", f.child, "--search", "demo"},
		{"registry", "lineage", f.child, "--json"},
		{"search", "launch", "--preset", "mad-lite-small", "--dry-run", "--json"},
	}
	offline := make([]string, len(queries))
	for i, q := range queries {
		out, err := runSearchCLI(t, append(q, "--data-dir", f.dir)...)
		if err != nil {
			t.Fatalf("%v (store): %v", q, err)
		}
		offline[i] = out
	}
	// Errors say the same on both paths.
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"search", "status", "nosuch"}, `no search named "nosuch"`},
		{[]string{"registry", "top", "--search", "nosuch"}, `no search named "nosuch"`},
		{[]string{"registry", "show", "A M"}, "not held"},
		{[]string{"registry", "lineage", "A M"}, "no object, task or proposal held"},
		{[]string{"registry", "lineage", f.child, "--search", "nosuch"}, `no search named "nosuch"`},
	}
	checkBad := func(path string) {
		t.Helper()
		for _, tc := range bad {
			_, err := runSearchCLI(t, append(tc.args, "--data-dir", f.dir)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v (%s): %v, want an error mentioning %q", tc.args, path, err, tc.want)
			}
		}
	}
	checkBad("store")
	for _, q := range []string{"registry peers", "registry verification", "search join demo"} {
		_, err := runSearchCLI(t, append(strings.Fields(q), "--data-dir", f.dir)...)
		if !errors.Is(err, errNoRunningNode) || !strings.Contains(err.Error(), "no running node on "+f.dir) {
			t.Fatalf("%s without a node: %v", q, err)
		}
	}

	b, srv := serveNode(t, f.dir)
	// The store is locked by the "node": only the API path can answer now.
	if st, err := store.Open(filepath.Join(f.dir, "store"), store.Options{}); err == nil {
		st.Close()
		t.Fatal("the served store is not locked")
	}
	for i, q := range queries {
		out, err := runSearchCLI(t, append(q, "--data-dir", f.dir)...)
		if err != nil {
			t.Fatalf("%v (API): %v", q, err)
		}
		if out != offline[i] {
			t.Errorf("%v: the API path printed\n%s\nthe store path\n%s", q, out, offline[i])
		}
	}
	checkBad("API")
	out, err := runSearchCLI(t, "search", "status", "nosuch", "--data-dir", f.dir)
	if !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("unknown search (API): %v\n%s", err, out)
	}
	// Join: the node runs the search's agents too; an unknown search is not found.
	out, err = runSearchCLI(t, "search", "join", "demo", "--data-dir", f.dir)
	if err != nil || !strings.Contains(out, "now runs the agents of search demo") {
		t.Fatalf("join (API): %v\n%s", err, out)
	}
	if _, err := runSearchCLI(t, "search", "join", "nosuch", "--data-dir", f.dir); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("join unknown (API): %v", err)
	}

	// Launch through the node: it stores and runs the search.
	spec := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(spec, []byte(`{"name": "mine", "space": {"primitives": ["A","M"], "min_depth": 2, "max_depth": 3},
		"protocol": "mad-lite", "budget": 5, "agents": [{"name": "random"}], "seed": 4}`), 0o600)
	out, err = runSearchCLI(t, "search", "launch", spec, "--data-dir", f.dir)
	if err != nil || !strings.Contains(out, "search mine launched") || !strings.Contains(out, "gossips it and runs its agents") ||
		!strings.Contains(out, "agents   random; seed 4") {
		t.Fatalf("launch (API): %v\n%s", err, out)
	}
	out, err = runSearchCLI(t, "search", "launch", "--preset", "demo", "--json", "--data-dir", f.dir)
	var l api.LaunchResponse
	if err != nil || json.Unmarshal([]byte(out), &l) != nil || l.CID != f.search || !l.Running || !l.Stored {
		t.Fatalf("launch --json (API): %v\n%s", err, out)
	}
	if b.launched != 2 {
		t.Fatalf("the node launched %d searches, want 2", b.launched)
	}
	out, err = runSearchCLI(t, "search", "list", "--data-dir", f.dir)
	if err != nil || !strings.Contains(out, "mine") || !strings.Contains(out, "0/5") {
		t.Fatalf("list after launch (API): %v\n%s", err, out)
	}
	// A spec the node refuses.
	invalid := filepath.Join(t.TempDir(), "invalid.json")
	os.WriteFile(invalid, []byte(`{"name": "x", "space": {"primitives": ["Q"], "min_depth": 1, "max_depth": 2},
		"protocol": "mad-lite", "budget": 3, "agents": [{"name": "random"}]}`), 0o600)
	if _, err := runSearchCLI(t, "search", "launch", invalid, "--data-dir", f.dir); !errors.Is(err, api.ErrInvalid) ||
		!strings.Contains(err.Error(), `unknown primitive "Q"`) {
		t.Fatalf("invalid spec (API): %v", err)
	}

	// The node-only commands.
	out, err = runSearchCLI(t, "registry", "peers", "--data-dir", f.dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 3 || !strings.HasPrefix(lines[0], "PEER") || !strings.Contains(lines[1], "12D3KooWhonest (self)") ||
		!strings.Contains(lines[2], "12D3KooWliar") || !strings.Contains(lines[2], " 9 ") || !strings.Contains(lines[2], "0.020") {
		t.Fatalf("peers: %v\n%s", err, out)
	}
	var ps []api.PeerReputation
	out, err = runSearchCLI(t, "registry", "peers", "--json", "--data-dir", f.dir)
	if err != nil || json.Unmarshal([]byte(out), &ps) != nil || len(ps) != 2 || ps[1].Rejected != 9 {
		t.Fatalf("peers --json: %v\n%s", err, out)
	}
	out, err = runSearchCLI(t, "registry", "verification", "--data-dir", f.dir)
	if err != nil || !strings.Contains(out, "13 with results: 12 verified, 0 disputed, 1 pending") ||
		!strings.Contains(out, "26 held: 24 accepted, 2 rejected; 1 extra") || !strings.Contains(out, "overhead 2.00x") ||
		!strings.Contains(out, "4.2s median, 9.5s p90, 12.0s max") || !strings.Contains(out, "12D3KooWliar") {
		t.Fatalf("verification: %v\n%s", err, out)
	}
	var rep api.VerificationReport
	out, err = runSearchCLI(t, "registry", "verification", "--json", "--data-dir", f.dir)
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.Overhead != 2 || len(rep.Peers) != 2 {
		t.Fatalf("verification --json: %v\n%s", err, out)
	}

	// A node killed without Close leaves its info file: the commands fall back to the store (now
	// free), and the node-only ones say that no node runs.
	addr := srv.Addr()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.st.Close(); err != nil {
		t.Fatal(err)
	}
	writeInfo(t, f.dir, addr)
	out, err = runSearchCLI(t, "registry", "top", "--search", "demo", "--data-dir", f.dir)
	if err != nil || out != offline[4] {
		t.Fatalf("top with a stale info file: %v\n%s", err, out)
	}
	if _, err := runSearchCLI(t, "registry", "verification", "--data-dir", f.dir); !errors.Is(err, errNoRunningNode) ||
		!api.IsUnavailable(err) {
		t.Fatalf("verification with a stale info file: %v", err)
	}
	// With --api given there is no fallback.
	if _, err := runSearchCLI(t, "search", "list", "--api", addr, "--data-dir", f.dir); !api.IsUnavailable(err) {
		t.Fatalf("list with a dead --api: %v", err)
	}
}

func TestRegistryPrintVerification(t *testing.T) {
	tests := []struct {
		name string
		r    api.VerificationReport
		want []string
	}{
		{"empty", api.VerificationReport{}, []string{"no results held yet", "no peer has a verification record yet"}},
		{"untimed", api.VerificationReport{Tasks: 1, Pending: 1, Results: 1, ComputeAll: 1e9},
			[]string{"1 with results: 0 verified, 0 disputed, 1 pending", "overhead -", "none timed yet"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sb strings.Builder
			if err := registryPrintVerification(&sb, tc.r); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(sb.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, sb.String())
				}
			}
		})
	}
}
