package registry_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/consensus"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/registry/registrytest"
	"github.com/airanode/airanode/store"
)

// world is a store holding one search over MAD-lite with tasks in every verification state.
type world struct {
	st                   *store.Store
	reg                  *registry.Registry
	search               cid.Cid
	protocol             cid.Cid
	launcher, liar       registrytest.Peer
	honest               []registrytest.Peer
	archs                map[string]cid.Cid // by name
	tasks                map[string]cid.Cid
	specs                map[string]object.Task
	searchObj            object.Search
	liarResult           cid.Cid
	attested, attestedBy cid.Cid
}

func searchObject(protocol cid.Cid) object.Search {
	return object.Search{
		Name: "small", Space: object.SearchSpace{Primitives: []string{"A", "M", "S"}, MinDepth: 1, MaxDepth: 6},
		Protocol: protocol.String(), ProtocolName: bench.NameMADLite, Budget: 10, Policy: object.DefaultPolicy(),
		Agents: []object.AgentSpec{{Name: "evolution"}}, Seed: 1,
	}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{st: registrytest.Store(t), archs: map[string]cid.Cid{}, tasks: map[string]cid.Cid{}, specs: map[string]object.Task{}}
	w.reg = registry.New(w.st, nil)
	peers := registrytest.NewPeers(t, 5)
	w.launcher, w.liar, w.honest = peers[0], peers[1], peers[2:]
	w.protocol = registrytest.PutProtocol(t, w.st, bench.MADLite())
	w.searchObj = searchObject(w.protocol)
	w.search = registrytest.PutSearch(t, w.st, w.launcher, w.searchObj)
	for name, spec := range map[string]string{
		"verified": "A M", "second": "S M", "lie": "M M", "contested": "A A", "attested": "A S", "empty": "S S",
	} {
		c, _ := registrytest.PutArch(t, w.st, spec)
		w.archs[name] = c
		task := object.Task{Search: w.search.String(), Arch: c.String(), Protocol: w.protocol.String(), Seed: 1}
		w.specs[name] = task
		w.tasks[name] = registrytest.PutTask(t, w.st, task)
	}
	res := func(name string, p registrytest.Peer, score int64) cid.Cid {
		return registrytest.PutResult(t, w.st, p, w.specs[name], w.tasks[name], score)
	}
	h1, h2, h3 := w.honest[0], w.honest[1], w.honest[2]
	res("verified", h1, 600_000)
	res("verified", h2, 600_000)
	res("second", h1, 400_000)
	res("second", h2, 400_000)
	w.liarResult = res("lie", w.liar, 990_000) // a lone fabricated score: never verified
	res("contested", h1, 500_000)
	res("contested", w.liar, 950_000)
	res("contested", h3, 500_000)
	w.attested = res("attested", h1, 700_000)
	w.attestedBy = registrytest.PutAttestation(t, w.st, h2, w.specs["attested"], w.tasks["attested"], w.attested, 700_000, 700_000)
	return w
}

func TestOutcomes(t *testing.T) {
	w := newWorld(t)
	outs, err := w.reg.Outcomes(context.Background(), w.search)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != len(w.tasks) {
		t.Fatalf("%d outcomes, want %d", len(outs), len(w.tasks))
	}
	byTask := map[string]registry.TaskOutcome{}
	for i, o := range outs {
		if i > 0 && outs[i-1].Task >= o.Task {
			t.Fatalf("outcomes not in task order: %s before %s", outs[i-1].Task, o.Task)
		}
		byTask[o.Task] = o
	}
	tests := []struct {
		name     string
		state    consensus.State
		score    int64
		claimed  int64
		results  int
		verified bool
	}{
		{"verified", consensus.Verified, 600_000, 0, 2, true},
		{"second", consensus.Verified, 400_000, 0, 2, true},
		{"lie", consensus.Pending, 0, 990_000, 1, false},
		{"contested", consensus.Verified, 500_000, 0, 3, true},
		{"attested", consensus.Verified, 700_000, 0, 1, true},
		{"empty", consensus.Pending, 0, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := byTask[w.tasks[tc.name].String()]
			if o.State != tc.state || o.Score != tc.score || o.Claimed != tc.claimed || o.Results != tc.results ||
				o.Verified != tc.verified || o.Spec != w.specs[tc.name] {
				t.Fatalf("outcome %+v, want state %v score %d claimed %d results %d", o, tc.state, tc.score, tc.claimed, tc.results)
			}
		})
	}
	if _, err := w.reg.Outcomes(context.Background(), cid.Undef); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("undefined search: %v", err)
	}
	other := object.ObjectCID([]byte("no such search"))
	if outs, err := w.reg.Outcomes(context.Background(), other); err != nil || len(outs) != 0 {
		t.Fatalf("unknown search: %v, %v", outs, err)
	}
}

func TestTop(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	type want struct {
		arch     string
		rank     int
		verified bool
		score    int64
	}
	tests := []struct {
		name string
		q    registry.TopQuery
		want []want
	}{
		{"search", registry.TopQuery{Search: w.search}, []want{
			{"attested", 1, true, 700_000}, {"verified", 2, true, 600_000}, {"contested", 3, true, 500_000}, {"second", 4, true, 400_000}}},
		{"all tasks", registry.TopQuery{}, []want{
			{"attested", 1, true, 700_000}, {"verified", 2, true, 600_000}, {"contested", 3, true, 500_000}, {"second", 4, true, 400_000}}},
		{"n=2", registry.TopQuery{Search: w.search, N: 2}, []want{{"attested", 1, true, 700_000}, {"verified", 2, true, 600_000}}},
		{"with unverified", registry.TopQuery{Search: w.search, N: 1, Unverified: true}, []want{
			{"attested", 1, true, 700_000}, {"lie", 0, false, 990_000}}},
		{"protocol filter", registry.TopQuery{Protocol: w.protocol, N: 1}, []want{{"attested", 1, true, 700_000}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			boards, err := w.reg.Top(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(boards) != 1 {
				t.Fatalf("%d boards, want 1", len(boards))
			}
			b := boards[0]
			if b.Protocol != w.protocol.String() || b.ProtocolName != bench.NameMADLite || b.Metric != bench.MetricAccuracy ||
				b.LowerIsBetter || b.Verified != 4 || b.Unverified != 1 {
				t.Fatalf("board %+v", b)
			}
			if len(b.Entries) != len(tc.want) {
				t.Fatalf("entries %+v, want %d", b.Entries, len(tc.want))
			}
			for i, e := range b.Entries {
				wn := tc.want[i]
				if e.Arch != w.archs[wn.arch].String() || e.Rank != wn.rank || e.Verified != wn.verified || e.Score != wn.score {
					t.Fatalf("entry %d = %+v, want %+v", i, e, wn)
				}
				if e.Spelling == "" || e.Params <= 0 || e.Depth != 2 || e.Width != 128 || e.Tasks != 1 {
					t.Fatalf("entry %d not described: %+v", i, e)
				}
			}
		})
	}
	// A fabricated score is never on the verified board, whatever it claims.
	boards, _ := w.reg.Top(ctx, registry.TopQuery{Search: w.search, N: registry.MaxTop})
	for _, e := range boards[0].Entries {
		if e.Arch == w.archs["lie"].String() || e.Score >= 950_000 {
			t.Fatalf("fabricated score on the board: %+v", e)
		}
	}
	for _, n := range []int{-1, registry.MaxTop + 1} {
		if _, err := w.reg.Top(ctx, registry.TopQuery{N: n}); !errors.Is(err, registry.ErrInvalid) {
			t.Fatalf("n=%d: %v", n, err)
		}
	}
	if boards, err := w.reg.Top(ctx, registry.TopQuery{Protocol: object.ObjectCID([]byte("x"))}); err != nil || len(boards) != 0 {
		t.Fatalf("unknown protocol: %v %v", boards, err)
	}
}

// TestVerdictRecomputed: adding results changes the verdict the registry reports (the cache
// follows the objects held).
func TestVerdictRecomputed(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	first, err := w.reg.Top(ctx, registry.TopQuery{Search: w.search, Unverified: true})
	if err != nil || first[0].Verified != 4 {
		t.Fatalf("before: %+v %v", first, err)
	}
	// Two honest executions of the task the liar faked: the honest majority wins.
	for _, h := range w.honest[:2] {
		registrytest.PutResult(t, w.st, h, w.specs["lie"], w.tasks["lie"], 300_000)
	}
	after, err := w.reg.Top(ctx, registry.TopQuery{Search: w.search})
	if err != nil {
		t.Fatal(err)
	}
	b := after[0]
	if b.Verified != 5 || b.Unverified != 0 {
		t.Fatalf("after: %+v", b)
	}
	last := b.Entries[len(b.Entries)-1]
	if last.Arch != w.archs["lie"].String() || last.Score != 300_000 || !last.Verified {
		t.Fatalf("the faked task should rank last with the honest score: %+v", last)
	}
	d, err := w.reg.Show(ctx, w.archs["lie"])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Tasks[0].Results {
		if (r.Executor == w.liar.ID.String()) == r.Accepted {
			t.Fatalf("result %+v: the liar must be the one rejected", r)
		}
	}
}

func TestShow(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, err := w.reg.Show(ctx, w.archs["contested"])
	if err != nil {
		t.Fatal(err)
	}
	if d.Spelling != "A A" || d.Depth != 2 || d.Width != 128 || d.Params <= 0 || d.FLOPsPerToken <= 0 ||
		d.TrainFLOPsPerToken != 3*d.FLOPsPerToken || d.Seq != registry.ShowSeq || len(d.Kinds) != 1 {
		t.Fatalf("detail %+v", d)
	}
	if len(d.Tasks) != 1 {
		t.Fatalf("tasks %+v", d.Tasks)
	}
	td := d.Tasks[0]
	if td.State != consensus.Verified || !td.Verified || td.Score != 500_000 || td.SearchName != "small" ||
		td.ProtocolName != bench.NameMADLite || td.Quorum != 2 || td.Replicas != 2 || td.Class != registrytest.Class ||
		len(td.Metrics) != 1 || td.Metrics[0].Value != 500_000 || td.Votes != 3 || td.Reason == "" {
		t.Fatalf("task %+v", td)
	}
	accepted := 0
	for _, r := range td.Results {
		if r.Accepted {
			accepted++
			if r.Executor == w.liar.ID.String() {
				t.Fatalf("liar accepted: %+v", r)
			}
		}
	}
	if len(td.Results) != 3 || accepted != 2 {
		t.Fatalf("results %+v", td.Results)
	}

	// Who agreed: the attestation of the result it verified.
	d, err = w.reg.Show(ctx, w.archs["attested"])
	if err != nil {
		t.Fatal(err)
	}
	td = d.Tasks[0]
	if !td.Verified || len(td.Attestations) != 1 {
		t.Fatalf("attested task %+v", td)
	}
	a := td.Attestations[0]
	if a.CID != w.attestedBy.String() || a.Verifier != w.honest[1].ID.String() || a.Result != w.attested.String() ||
		a.Verdict != object.Agree || !a.Upheld {
		t.Fatalf("attestation %+v", a)
	}

	// Unverified: the claim is shown as such.
	d, err = w.reg.Show(ctx, w.archs["lie"])
	if err != nil {
		t.Fatal(err)
	}
	if td := d.Tasks[0]; td.Verified || td.Score != 0 || td.Claimed != 990_000 || td.State != consensus.Pending {
		t.Fatalf("unverified task %+v", td)
	}

	if _, err := w.reg.Show(ctx, object.ObjectCID([]byte("no such arch"))); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown arch: %v", err)
	}
	if _, err := w.reg.Show(ctx, cid.Undef); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("undefined arch: %v", err)
	}
	// A result CID is not an architecture.
	if _, err := w.reg.Show(ctx, w.liarResult); err == nil {
		t.Fatal("showed a result as an architecture")
	}
}

func TestLineage(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.honest[0]
	prop := func(name, agent string, parents ...string) {
		pr := object.Proposal{Search: w.search.String(), Arch: w.archs[name].String(), Agent: agent, Rationale: "because " + name}
		for _, pa := range parents {
			pr.Parents = append(pr.Parents, w.archs[pa].String())
		}
		registrytest.PutProposal(t, w.st, p, pr)
	}
	prop("verified", "random")
	prop("contested", "evolution", "verified")
	prop("attested", "evolution", "contested")
	// A forged cycle: "second" and "lie" name each other.
	prop("second", "evolution", "lie")
	prop("lie", "evolution", "second")

	root, err := w.reg.Lineage(ctx, w.archs["attested"], cid.Undef)
	if err != nil {
		t.Fatal(err)
	}
	var chain []string
	for n := root; n != nil; {
		chain = append(chain, n.Spelling)
		if n.Proposal == nil {
			t.Fatalf("node %s without its proposal", n.Arch)
		}
		if len(n.Parents) == 0 {
			break
		}
		n = n.Parents[0]
	}
	if strings.Join(chain, " <- ") != "A S <- A A <- A M" {
		t.Fatalf("chain %v", chain)
	}
	if !root.Verified || root.Score != 700_000 || root.Proposal.Agent != "evolution" || root.Proposal.Rationale != "because attested" {
		t.Fatalf("root %+v", root)
	}

	cyc, err := w.reg.Lineage(ctx, w.archs["second"], w.search)
	if err != nil {
		t.Fatal(err)
	}
	if len(cyc.Parents) != 1 || len(cyc.Parents[0].Parents) != 1 || !cyc.Parents[0].Parents[0].Repeat {
		t.Fatalf("cycle not cut: %+v", cyc)
	}

	// Restricted to another search, no proposal counts.
	other := object.ObjectCID([]byte("other search"))
	n, err := w.reg.Lineage(ctx, w.archs["attested"], other)
	if err != nil || n.Proposal != nil || n.Verified {
		t.Fatalf("other search: %+v %v", n, err)
	}
	if _, err := w.reg.Lineage(ctx, object.ObjectCID([]byte("unknown")), cid.Undef); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}

	// Show lists the proposals too.
	d, err := w.reg.Show(ctx, w.archs["contested"])
	if err != nil || len(d.Proposals) != 1 || d.Proposals[0].Parents[0] != w.archs["verified"].String() {
		t.Fatalf("proposals %+v %v", d.Proposals, err)
	}
}

// TestSearchPolicy: a task is judged by its search's policy.
func TestSearchPolicy(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s := w.searchObj
	s.Name, s.Policy = "strict", object.Policy{Replicas: 3, Quorum: 3}
	sc := registrytest.PutSearch(t, w.st, w.launcher, s)
	task := object.Task{Search: sc.String(), Arch: w.archs["verified"].String(), Protocol: w.protocol.String(), Seed: 1}
	tc := registrytest.PutTask(t, w.st, task)
	for _, h := range w.honest[:2] {
		registrytest.PutResult(t, w.st, h, task, tc, 600_000)
	}
	outs, err := w.reg.Outcomes(ctx, sc)
	if err != nil || len(outs) != 1 || outs[0].Verified || outs[0].State != consensus.Pending {
		t.Fatalf("two votes under quorum 3: %+v %v", outs, err)
	}
	registrytest.PutResult(t, w.st, w.honest[2], task, tc, 600_000)
	outs, err = w.reg.Outcomes(ctx, sc)
	if err != nil || !outs[0].Verified {
		t.Fatalf("three votes: %+v %v", outs, err)
	}
}

// TestLowerIsBetter: a text protocol ranks lower bits per byte first.
func TestLowerIsBetter(t *testing.T) {
	st := registrytest.Store(t)
	reg := registry.New(st, nil)
	ps := registrytest.NewPeers(t, 2)
	pc := registrytest.PutProtocol(t, st, bench.Text(object.ObjectCID([]byte("dataset"))))
	for spec, bpb := range map[string]int64{"A M": 1_200_000, "A A": 900_000, "M M": 2_000_000} {
		ac, _ := registrytest.PutArch(t, st, spec)
		task := object.Task{Arch: ac.String(), Protocol: pc.String(), Seed: 3}
		tc := registrytest.PutTask(t, st, task)
		for _, p := range ps {
			registrytest.PutResult(t, st, p, task, tc, bpb)
		}
	}
	boards, err := reg.Top(context.Background(), registry.TopQuery{})
	if err != nil || len(boards) != 1 {
		t.Fatalf("%+v %v", boards, err)
	}
	b := boards[0]
	if !b.LowerIsBetter || b.Metric != bench.MetricBPB || len(b.Entries) != 3 {
		t.Fatalf("board %+v", b)
	}
	for i, want := range []int64{900_000, 1_200_000, 2_000_000} {
		if b.Entries[i].Score != want || b.Entries[i].Rank != i+1 {
			t.Fatalf("entry %d = %+v, want %d", i, b.Entries[i], want)
		}
	}
	if registry.Fitness(5, true) != -5 || registry.Fitness(5, false) != 5 {
		t.Fatal("Fitness")
	}
}

func TestCatalog(t *testing.T) {
	w := newWorld(t)
	s2 := w.searchObj
	s2.Seed = 2 // the same name, another search
	c2 := registrytest.PutSearch(t, w.st, w.launcher, s2)
	s3 := w.searchObj
	s3.Name = "another"
	c3 := registrytest.PutSearch(t, w.st, w.launcher, s3)

	all, err := registry.Searches(w.st)
	if err != nil || len(all) != 3 || all[0].CID != c3.String() || all[0].Search.Name != "another" {
		t.Fatalf("searches %+v %v", all, err)
	}
	if got, err := registry.FindSearch(w.st, "another"); err != nil || got.CID != c3.String() {
		t.Fatalf("by name: %+v %v", got, err)
	}
	if got, err := registry.FindSearch(w.st, c2.String()); err != nil || got.Search.Seed != 2 {
		t.Fatalf("by CID: %+v %v", got, err)
	}
	tests := []struct {
		ref  string
		want error
	}{
		{"small", registry.ErrAmbiguous},
		{"nothing", registry.ErrNotFound},
		{"", registry.ErrInvalid},
		{"a/b", registry.ErrInvalid},
		{object.ObjectCID([]byte("x")).String(), registry.ErrNotFound},
		{strings.Repeat("x", store.MaxIndexKey+1), registry.ErrInvalid},
	}
	for _, tc := range tests {
		if _, err := registry.FindSearch(w.st, tc.ref); !errors.Is(err, tc.want) {
			t.Errorf("FindSearch(%q) = %v, want %v", tc.ref, err, tc.want)
		}
	}
	// A task CID is not a search.
	if _, err := registry.FindSearch(w.st, w.tasks["verified"].String()); err == nil {
		t.Error("FindSearch accepted a task CID")
	}
}

func TestPutRejects(t *testing.T) {
	st := registrytest.Store(t)
	p, q := registrytest.NewPeer(t), registrytest.NewPeer(t)
	pc := object.ObjectCID([]byte("protocol"))
	s := searchObject(pc)
	s.Launcher = q.ID.String() // signed by p, naming q
	forged, err := object.Seal(p.Key, object.KindSearch, s)
	if err != nil {
		t.Fatal(err)
	}
	bad := searchObject(pc)
	bad.Launcher, bad.Budget = p.ID.String(), 0
	invalid, _ := object.Seal(p.Key, object.KindSearch, bad)
	res, _ := object.Seal(p.Key, object.KindResult, registrytest.Result(pc, p.ID, 1))
	tests := []struct {
		name string
		put  func() error
		want error
	}{
		{"forged launcher", func() error { _, _, err := registry.PutSearch(st, forged, false); return err }, object.ErrSigner},
		{"invalid search", func() error { _, _, err := registry.PutSearch(st, invalid, false); return err }, object.ErrInvalid},
		{"garbage", func() error { _, _, err := registry.PutSearch(st, []byte("junk"), false); return err }, object.ErrSignature},
		{"search as proposal", func() error { _, _, err := registry.PutProposal(st, invalid, false); return err }, object.ErrKind},
		{"ingest a result", func() error { _, _, err := registry.Ingest(st, res); return err }, object.ErrKind},
		{"ingest garbage", func() error { _, _, err := registry.Ingest(st, nil); return err }, object.ErrSignature},
		// Oversized bytes are refused before any signature check: too large, not a bad signature.
		{"ingest oversized garbage", func() error {
			_, _, err := registry.Ingest(st, make([]byte, object.MaxSearchEnvelope+1))
			return err
		}, object.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.put(); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
	if all, err := registry.Searches(st); err != nil || len(all) != 0 {
		t.Fatalf("bad input stored something: %+v %v", all, err)
	}
	// Ingest stores good ones, idempotently.
	good := searchObject(pc)
	good.Launcher = p.ID.String()
	env, _ := object.Seal(p.Key, object.KindSearch, good)
	for i := 0; i < 2; i++ {
		k, c, err := registry.Ingest(st, env)
		if err != nil || k != object.KindSearch || !c.Defined() {
			t.Fatalf("ingest: %v %v %v", k, c, err)
		}
	}
	if all, err := registry.Searches(st); err != nil || len(all) != 1 {
		t.Fatalf("searches after ingest: %+v %v", all, err)
	}
}

// FuzzIngest: Ingest never panics on arbitrary envelopes; what it accepts is a valid search or
// proposal, stored under its sealed CID, and the queries over it do not fail.
func FuzzIngest(f *testing.F) {
	p := registrytest.SeededPeer(f, 1)
	pc := object.ObjectCID([]byte("protocol"))
	s := searchObject(pc)
	s.Launcher = p.ID.String()
	env, err := object.Seal(p.Key, object.KindSearch, s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env)
	prop, err := object.Seal(p.Key, object.KindProposal, object.Proposal{Search: pc.String(), Arch: pc.String(),
		Agent: "random", Proposer: p.ID.String()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(prop)
	f.Add(env[:len(env)/2])
	f.Add([]byte{})
	st := registrytest.Store(f)
	reg := registry.New(st, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		k, c, err := registry.Ingest(st, b)
		if err != nil {
			return
		}
		if got, _, err := object.SealedCID(b); err != nil || !got.Equals(c) {
			t.Fatalf("stored under %s, sealed CID %s (%v)", c, got, err)
		}
		switch k {
		case object.KindSearch:
			if _, err := registry.FindSearch(st, c.String()); err != nil {
				t.Fatalf("ingested search not found: %v", err)
			}
			if _, err := reg.Top(context.Background(), registry.TopQuery{Search: c}); err != nil {
				t.Fatal(err)
			}
		case object.KindProposal:
			pr, err := object.OpenProposal(b)
			if err != nil {
				t.Fatal(err)
			}
			ac, _ := object.ParseCID(pr.Arch)
			if _, err := reg.Lineage(context.Background(), ac, cid.Undef); err != nil && !errors.Is(err, registry.ErrNotFound) {
				t.Fatal(err)
			}
		default:
			t.Fatalf("ingested kind %q", k)
		}
	})
}

// TestLoadSearchStoreError: a store that fails is not a search that is missing: LoadSearch wraps
// the store's error, not ErrNotFound (which the API and CLI report as "no such search").
func TestLoadSearchStoreError(t *testing.T) {
	st := registrytest.Store(t)
	p := registrytest.NewPeer(t)
	c := registrytest.PutSearch(t, st, p, searchObject(object.ObjectCID([]byte("protocol"))))
	if _, err := registry.LoadSearch(st, c); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.LoadSearch(st, object.ObjectCID([]byte("none"))); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("missing search: %v, want ErrNotFound", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := registry.LoadSearch(st, c)
	if !errors.Is(err, store.ErrClosed) || errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("closed store: %v, want store.ErrClosed and not ErrNotFound", err)
	}
}

// TopIn and LineageIn resolve the search by name or CID as FindSearch does: the same boards as Top
// with the CID, and an unknown name is ErrNotFound (no board, no lineage).
func TestTopInLineageIn(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	want, err := w.reg.Top(ctx, registry.TopQuery{Search: w.search})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{w.search.String(), ""} {
		got, err := w.reg.TopIn(ctx, registry.TopQuery{Search: w.search}, ref)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("TopIn(%q) = %+v, %v; want Top's %+v", ref, got, err, want)
		}
	}
	if _, err := w.reg.TopIn(ctx, registry.TopQuery{}, "no-such-search"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("TopIn(unknown name) = %v, want ErrNotFound", err)
	}
	a := w.archs["verified"]
	wantL, err := w.reg.Lineage(ctx, a, w.search)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := w.reg.LineageIn(ctx, a, w.search.String()); err != nil || !reflect.DeepEqual(got, wantL) {
		t.Fatalf("LineageIn = %+v, %v; want Lineage's %+v", got, err, wantL)
	}
	if _, err := w.reg.LineageIn(ctx, a, "no-such-search"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("LineageIn(unknown name) = %v, want ErrNotFound", err)
	}
}
