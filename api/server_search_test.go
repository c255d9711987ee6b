package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/consensus"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/search"
)

// searchState is memBackend's part for searches, the registry and verification: launched searches
// by name, one architecture, and the last query each method got, so tests can check what reached
// the backend. calls counts every call of these methods.
type searchState struct {
	calls       int
	searches    []SearchDetail
	launches    []LaunchRequest
	lastTop     registry.TopQuery
	lastLineage string
}

// testArch is the one architecture memBackend holds.
var testArch = mustCID("bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")

func mustCID(s string) cid.Cid {
	c, err := object.ParseCID(s)
	if err != nil {
		panic(err)
	}
	return c
}

func (b *memBackend) LaunchSearch(_ context.Context, r LaunchRequest) (LaunchResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	b.launches = append(b.launches, r)
	spec := r.Spec
	if r.Preset != "" {
		p, err := search.Preset(r.Preset)
		if err != nil {
			return LaunchResponse{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		spec = &p
	}
	if spec.Budget <= 0 {
		return LaunchResponse{}, fmt.Errorf("%w: %w: budget %d", ErrInvalid, search.ErrSpec, spec.Budget)
	}
	s := object.Search{Name: spec.Name, Budget: spec.Budget, Policy: spec.Policy, Agents: spec.Agents, Seed: spec.Seed}
	c, err := object.CID(s)
	if err != nil {
		return LaunchResponse{}, err
	}
	resp := LaunchResponse{CID: c.String(), Search: s, Protocol: "bafyproto", Stored: !r.DryRun, Running: !r.DryRun}
	if !r.DryRun {
		b.searches = append(b.searches, SearchDetail{Status: search.Status{Search: c.String(), Name: s.Name,
			State: "running", Budget: s.Budget}, Search: s, Running: true})
	}
	return resp, nil
}

func (b *memBackend) Searches(context.Context) ([]search.Status, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	var out []search.Status
	for _, d := range b.searches {
		out = append(out, d.Status)
	}
	return out, nil
}

func (b *memBackend) Search(_ context.Context, ref string) (SearchDetail, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	for _, d := range b.searches {
		if d.Status.Name == ref || d.Status.Search == ref {
			return d, nil
		}
	}
	return SearchDetail{}, fmt.Errorf("%w: no search named %q", ErrNotFound, ref)
}

func (b *memBackend) JoinSearch(ctx context.Context, ref string) (SearchDetail, error) {
	d, err := b.Search(ctx, ref)
	d.Running = err == nil
	return d, err
}

func (b *memBackend) Top(ctx context.Context, q registry.TopQuery, search string) ([]registry.Board, error) {
	if search != "" {
		d, err := b.Search(ctx, search)
		if err != nil {
			return nil, err
		}
		if q.Search, err = object.ParseCID(d.Status.Search); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	b.lastTop = q
	return []registry.Board{{Protocol: "bafyproto", Metric: "accuracy", Verified: 1, Entries: []registry.Entry{
		{Rank: 1, Arch: testArch.String(), Spelling: "A M", Verified: true, State: consensus.Verified, Score: 700_000}}}}, nil
}

func (b *memBackend) Arch(_ context.Context, a cid.Cid) (registry.ArchDetail, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if !a.Equals(testArch) {
		return registry.ArchDetail{}, fmt.Errorf("%w: architecture %s", ErrNotFound, a)
	}
	return registry.ArchDetail{Arch: a.String(), Spelling: "A M", Depth: 2, Tasks: []registry.TaskDetail{
		{Task: "bafytask", State: consensus.Verified, Verified: true, Score: 700_000}}}, nil
}

func (b *memBackend) Lineage(_ context.Context, a cid.Cid, ref string) (*registry.LineageNode, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	b.lastLineage = ref
	if !a.Equals(testArch) {
		return nil, fmt.Errorf("%w: architecture %s", ErrNotFound, a)
	}
	return &registry.LineageNode{Arch: a.String(), Spelling: "A M", Verified: true, Score: 700_000,
		Parents: []*registry.LineageNode{{Arch: "bafyparent", Repeat: true}}}, nil
}

func (b *memBackend) Reputation(context.Context) ([]PeerReputation, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	return []PeerReputation{{Peer: "12D3KooWliar", Verified: 1, Rejected: 4, Trust: 0.1, RankWeight: 0.2}}, nil
}

func (b *memBackend) Verification(context.Context) (VerificationReport, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	return VerificationReport{Tasks: 3, Verified: 2, Pending: 1, Results: 5, Accepted: 4, Rejected: 1,
		ComputeAll: 5e9, ComputeRejected: 1e9, ComputeVerified: 2e9, Overhead: 2,
		VerdictSeconds: Quantiles{N: 2, P50: 1.5, P90: 3, Max: 3}}, nil
}

func (b *memBackend) callCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls + b.changes
}

func TestSearchClientRoundTrip(t *testing.T) {
	b := newMemBackend()
	s, c := startServer(t, b)
	ctx := context.Background()

	// A dry run stores nothing; a preset launch and a spec launch do.
	dry, err := c.LaunchSearch(ctx, LaunchRequest{Preset: search.PresetDemo, DryRun: true})
	if err != nil || dry.Stored || dry.Running || dry.Search.Name != search.PresetDemo {
		t.Fatalf("dry run = %+v, %v", dry, err)
	}
	l, err := c.LaunchSearch(ctx, LaunchRequest{Preset: search.PresetDemo})
	if err != nil || !l.Stored || !l.Running || l.CID != dry.CID {
		t.Fatalf("launch = %+v, %v (dry run %s)", l, err, dry.CID)
	}
	if j, err := c.JoinSearch(ctx, search.PresetDemo); err != nil || !j.Running || j.Status.Search != l.CID {
		t.Fatalf("join = %+v, %v", j, err)
	}
	if _, err := c.JoinSearch(ctx, "nosuch"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("join unknown = %v, want ErrNotFound", err)
	}
	spec, _ := search.Preset(search.PresetMADLiteSmall)
	spec.Name = "mine"
	l2, err := c.LaunchSearch(ctx, LaunchRequest{Spec: &spec})
	if err != nil || l2.Search.Name != "mine" {
		t.Fatalf("launch spec = %+v, %v", l2, err)
	}
	if got := b.launches[2].Spec; got == nil || !reflect.DeepEqual(*got, spec) {
		t.Fatalf("the spec reached the backend as %+v, want %+v", got, spec)
	}
	if _, err := c.LaunchSearch(ctx, LaunchRequest{Spec: &search.Spec{Name: "zero"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("refused spec: %v, want ErrInvalid", err)
	}

	sts, err := c.Searches(ctx)
	if err != nil || len(sts) != 2 || sts[0].Name != search.PresetDemo || sts[1].Name != "mine" {
		t.Fatalf("searches = %+v, %v", sts, err)
	}
	for _, ref := range []string{"demo", l.CID} {
		d, err := c.Search(ctx, ref)
		if err != nil || d.Status.Search != l.CID || !d.Running || d.Search.Budget != 30 {
			t.Fatalf("search %s = %+v, %v", ref, d, err)
		}
	}
	if _, err := c.Search(ctx, "nosuch"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown search: %v, want ErrNotFound", err)
	}

	proto := testArch
	boards, err := c.Top(ctx, registry.TopQuery{Search: mustCID(l.CID), Protocol: proto, N: 5, Unverified: true})
	if err != nil || len(boards) != 1 || boards[0].Entries[0].State != consensus.Verified {
		t.Fatalf("top = %+v, %v", boards, err)
	}
	if q := b.lastTop; q.Search.String() != l.CID || !q.Protocol.Equals(proto) || q.N != 5 || !q.Unverified {
		t.Fatalf("top query reached the backend as %+v", q)
	}
	if _, err := c.Top(ctx, registry.TopQuery{}); err != nil || b.lastTop.N != registry.DefaultTop || b.lastTop.Search.Defined() {
		t.Fatalf("default top: %v, query %+v", err, b.lastTop)
	}
	// A search name in the query is resolved to the search's CID by the server.
	resp, err := http.Get("http://" + s.Addr() + "/v1/registry/top?search=demo&n=3&unverified=false")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || b.lastTop.Search.String() != l.CID || b.lastTop.N != 3 || b.lastTop.Unverified {
		t.Fatalf("top by name: %d, query %+v", resp.StatusCode, b.lastTop)
	}

	d, err := c.Arch(ctx, testArch)
	if err != nil || d.Arch != testArch.String() || len(d.Tasks) != 1 || d.Tasks[0].State != consensus.Verified {
		t.Fatalf("arch = %+v, %v", d, err)
	}
	if _, err := c.Arch(ctx, mustCID(l.CID)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown arch: %v, want ErrNotFound", err)
	}
	n, err := c.Lineage(ctx, testArch, "demo")
	if err != nil || n.Arch != testArch.String() || len(n.Parents) != 1 || !n.Parents[0].Repeat || b.lastLineage != "demo" {
		t.Fatalf("lineage = %+v, %v (search %q)", n, err, b.lastLineage)
	}
	if _, err := c.Lineage(ctx, testArch, ""); err != nil || b.lastLineage != "" {
		t.Fatalf("lineage without search: %v, search %q", err, b.lastLineage)
	}
	ps, err := c.Reputation(ctx)
	if err != nil || len(ps) != 1 || ps[0].Rejected != 4 {
		t.Fatalf("reputation = %+v, %v", ps, err)
	}
	rep, err := c.Verification(ctx)
	if err != nil || rep.Overhead != 2 || rep.VerdictSeconds.P90 != 3 || rep.Peers == nil {
		t.Fatalf("verification = %+v, %v", rep, err)
	}

	// The client refuses what the server would, without a request.
	before := b.callCount()
	for name, err := range map[string]error{
		"both":        func() error { _, err := c.LaunchSearch(ctx, LaunchRequest{Spec: &spec, Preset: "demo"}); return err }(),
		"neither":     func() error { _, err := c.LaunchSearch(ctx, LaunchRequest{}); return err }(),
		"preset":      func() error { _, err := c.LaunchSearch(ctx, LaunchRequest{Preset: "huge"}); return err }(),
		"ref":         func() error { _, err := c.Search(ctx, "Not A Name"); return err }(),
		"n":           func() error { _, err := c.Top(ctx, registry.TopQuery{N: registry.MaxTop + 1}); return err }(),
		"arch":        func() error { _, err := c.Arch(ctx, cid.Undef); return err }(),
		"lineage":     func() error { _, err := c.Lineage(ctx, cid.Undef, ""); return err }(),
		"lineage ref": func() error { _, err := c.Lineage(ctx, testArch, "x/y"); return err }(),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if got := b.callCount(); got != before {
		t.Fatalf("refused client calls reached the backend %d times", got-before)
	}
}

// TestSearchBadInput sends bad requests to the search, registry and verification endpoints: each
// gets its status code and a JSON error body, and none reaches the backend.
func TestSearchBadInput(t *testing.T) {
	b := newMemBackend()
	s, _ := startServer(t, b)
	base := "http://" + s.Addr()
	arch := testArch.String()
	spec := `{"name":"x","space":{"primitives":["A"],"min_depth":1,"max_depth":2},"protocol":"mad-lite","budget":3,"agents":[{"name":"random"}]}`
	big := `{"spec":{"name":"` + strings.Repeat("x", MaxLaunchBody) + `"}}`
	tests := []struct {
		name, method, path, body string
		code                     int
	}{
		{"launch empty", "POST", "/v1/searches", ``, 400},
		{"launch neither", "POST", "/v1/searches", `{}`, 400},
		{"launch null spec", "POST", "/v1/searches", `{"spec":null}`, 400},
		{"launch both", "POST", "/v1/searches", `{"spec":` + spec + `,"preset":"demo"}`, 400},
		{"launch unknown preset", "POST", "/v1/searches", `{"preset":"huge"}`, 400},
		{"launch long preset", "POST", "/v1/searches", `{"preset":"` + strings.Repeat("p", MaxName+1) + `"}`, 400},
		{"launch unknown field", "POST", "/v1/searches", `{"preset":"demo","force":true}`, 400},
		{"launch unknown spec field", "POST", "/v1/searches", `{"spec":{"name":"x","bugdet":3}}`, 400},
		{"launch spec not object", "POST", "/v1/searches", `{"spec":"demo"}`, 400},
		{"launch spec array", "POST", "/v1/searches", `{"spec":[]}`, 400},
		{"launch dry_run string", "POST", "/v1/searches", `{"preset":"demo","dry_run":"yes"}`, 400},
		{"launch trailing", "POST", "/v1/searches", `{"preset":"demo"} {}`, 400},
		{"launch array", "POST", "/v1/searches", `[]`, 400},
		{"launch query", "POST", "/v1/searches?force=1", `{"preset":"demo"}`, 400},
		{"launch too large", "POST", "/v1/searches", big, 413},
		{"searches by PUT", "PUT", "/v1/searches", ``, 405},
		{"searches query", "GET", "/v1/searches?all=1", ``, 400},
		{"search bad ref", "GET", "/v1/searches/Not%20A%20Name", ``, 400},
		{"search slash ref", "GET", "/v1/searches/a%2Fb", ``, 400},
		{"search long ref", "GET", "/v1/searches/" + strings.Repeat("a", object.MaxSearchName+1), ``, 400},
		{"search query", "GET", "/v1/searches/demo?x=1", ``, 400},
		{"search by POST", "POST", "/v1/searches/demo", `{}`, 405},
		{"join by GET", "GET", "/v1/searches/demo/join", ``, 405},
		{"join bad ref", "POST", "/v1/searches/Not%20A%20Name/join", ``, 400},
		{"join query", "POST", "/v1/searches/demo/join?now=1", ``, 400},
		{"join unknown field", "POST", "/v1/searches/demo/join", `{"agents":["random"]}`, 400},
		{"join not an object", "POST", "/v1/searches/demo/join", `[1]`, 400},
		{"top n zero", "GET", "/v1/registry/top?n=0", ``, 400},
		{"top n negative", "GET", "/v1/registry/top?n=-1", ``, 400},
		{"top n too large", "GET", "/v1/registry/top?n=1001", ``, 400},
		{"top n not a number", "GET", "/v1/registry/top?n=ten", ``, 400},
		{"top n twice", "GET", "/v1/registry/top?n=1&n=2", ``, 400},
		{"top bad protocol", "GET", "/v1/registry/top?protocol=mad-lite", ``, 400},
		{"top bad search", "GET", "/v1/registry/top?search=Not%20A%20Name", ``, 400},
		{"top bad unverified", "GET", "/v1/registry/top?unverified=maybe", ``, 400},
		{"top unknown param", "GET", "/v1/registry/top?limit=3", ``, 400},
		{"top bad query", "GET", "/v1/registry/top?n=1;n=2", ``, 400},
		{"top bad escape", "GET", "/v1/registry/top?search=%zz", ``, 400},
		{"top long value", "GET", "/v1/registry/top?search=" + strings.Repeat("a", MaxName+1), ``, 400},
		{"top by POST", "POST", "/v1/registry/top", `{}`, 405},
		{"arch bad cid", "GET", "/v1/registry/arch/bafynotacid", ``, 400},
		{"arch spelling", "GET", "/v1/registry/arch/A%20M", ``, 400},
		{"arch query", "GET", "/v1/registry/arch/" + arch + "?search=demo", ``, 400},
		{"arch no cid", "GET", "/v1/registry/arch/", ``, 404},
		{"lineage bad cid", "GET", "/v1/registry/lineage/xyz", ``, 400},
		{"lineage bad search", "GET", "/v1/registry/lineage/" + arch + "?search=A%20B", ``, 400},
		{"lineage unknown param", "GET", "/v1/registry/lineage/" + arch + "?depth=3", ``, 400},
		{"lineage search twice", "GET", "/v1/registry/lineage/" + arch + "?search=a&search=b", ``, 400},
		{"reputation query", "GET", "/v1/reputation?peer=x", ``, 400},
		{"reputation by POST", "POST", "/v1/reputation", `{}`, 405},
		{"verification query", "GET", "/v1/verification?full=1", ``, 400},
		{"verification by DELETE", "DELETE", "/v1/verification", ``, 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := b.callCount()
			req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.method == "POST" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			var e Error
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || e.Code == "" {
				t.Fatalf("error body %q: %v", body, err)
			}
			if got := b.callCount(); got != before {
				t.Fatalf("backend called %d times by a bad request", got-before)
			}
		})
	}
	if len(b.launches) != 0 || len(b.searches) != 0 {
		t.Fatalf("bad requests launched %d searches", len(b.launches))
	}
	// An unknown search name in a top query is a 404 after the lookup, and Top is not called.
	resp, err := http.Get(base + "/v1/registry/top?search=nosuch")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || b.lastTop.N != 0 {
		t.Fatalf("top of an unknown search: %d, top called with %+v", resp.StatusCode, b.lastTop)
	}
}

func TestDecodeLaunch(t *testing.T) {
	demo, _ := search.Preset(search.PresetDemo)
	demoJSON, _ := json.Marshal(LaunchRequest{Spec: &demo, DryRun: true})
	tests := []struct {
		name, body string
		check      func(t *testing.T, r LaunchRequest)
		err        string // "" for success
	}{
		{"preset", `{"preset":"mad-lite-small"}`, func(t *testing.T, r LaunchRequest) {
			if r.Preset != "mad-lite-small" || r.Spec != nil || r.DryRun {
				t.Fatalf("%+v", r)
			}
		}, ""},
		{"preset with null spec", `{"preset":"demo","spec":null,"dry_run":true}`, func(t *testing.T, r LaunchRequest) {
			if r.Preset != "demo" || r.Spec != nil || !r.DryRun {
				t.Fatalf("%+v", r)
			}
		}, ""},
		// The whole demo spec, with its inline protocol object, round-trips.
		{"demo spec", string(demoJSON), func(t *testing.T, r LaunchRequest) {
			if r.Spec == nil || !reflect.DeepEqual(*r.Spec, demo) || !r.DryRun {
				t.Fatalf("%+v, want %+v", r.Spec, demo)
			}
		}, ""},
		// Policy fields left out keep their defaults, as in a spec file.
		{"policy defaults", `{"spec":{"name":"x","protocol":"mad-lite","budget":3,"policy":{"replicas":3}}}`, func(t *testing.T, r LaunchRequest) {
			want := object.DefaultPolicy()
			want.Replicas = 3
			if r.Spec == nil || r.Spec.Policy != want {
				t.Fatalf("policy %+v, want %+v", r.Spec.Policy, want)
			}
		}, ""},
		{"neither", `{"dry_run":true}`, nil, "spec or preset is required"},
		{"both", `{"spec":{"name":"x"},"preset":"demo"}`, nil, "exclude each other"},
		{"unknown preset", `{"preset":"huge"}`, nil, `unknown preset "huge"`},
		{"unknown field", `{"preset":"demo","x":1}`, nil, `unknown field "x"`},
		{"unknown spec field", `{"spec":{"name":"x","bugdet":3}}`, nil, `unknown field "bugdet"`},
		{"spec trailing", `{"spec":{"name":"x"}}}`, nil, "trailing data"},
		{"spec not object", `{"spec":42}`, nil, "must be a JSON object"},
		{"not json", `preset=demo`, nil, "decode body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeLaunch([]byte(tc.body))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, r)
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want ErrInvalid mentioning %q", err, tc.err)
			}
			if !reflect.DeepEqual(r, LaunchRequest{}) {
				t.Fatalf("a refused body decoded to %+v", r)
			}
		})
	}
}

func TestDecodeTop(t *testing.T) {
	arch := testArch.String()
	tests := []struct {
		query string
		want  topRequest
		err   string
	}{
		{"", topRequest{Query: registry.TopQuery{N: registry.DefaultTop}}, ""},
		{"search=&protocol=&n=&unverified=", topRequest{Query: registry.TopQuery{N: registry.DefaultTop}}, ""},
		{"search=demo&n=1000&unverified=1", topRequest{Query: registry.TopQuery{N: 1000, Unverified: true}, SearchName: "demo"}, ""},
		{"search=" + arch + "&protocol=" + arch + "&n=1", topRequest{Query: registry.TopQuery{Search: testArch, Protocol: testArch, N: 1}}, ""},
		{"unverified=true", topRequest{Query: registry.TopQuery{N: registry.DefaultTop, Unverified: true}}, ""},
		{"n=0", topRequest{}, "want 1-1000"},
		{"n=1e3", topRequest{}, "want 1-1000"},
		{"n=99999999999999999999", topRequest{}, "want 1-1000"},
		{"protocol=bafy", topRequest{}, "protocol"},
		{"search=-demo", topRequest{}, "neither a search CID nor a search name"},
		{"unverified=yes", topRequest{}, "unverified"},
		{"x=1", topRequest{}, `unknown query parameter "x"`},
		{"n=1&n=1", topRequest{}, "given 2 times"},
		{"search=%ff", topRequest{}, "UTF-8"},
		{strings.Repeat("n=1&", maxQuery), topRequest{}, "query of"},
	}
	for _, tc := range tests {
		got, err := decodeTop(tc.query)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.query, err)
		case tc.err == "" && !reflect.DeepEqual(got, tc.want):
			t.Errorf("%q = %+v, want %+v", tc.query, got, tc.want)
		case tc.err != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want ErrInvalid mentioning %q", tc.query, err, tc.err)
		}
	}
}

func TestCheckSearchRef(t *testing.T) {
	for _, ok := range []string{"demo", "mad-lite-small", "a", "x1.2_3", testArch.String(), strings.Repeat("a", object.MaxSearchName)} {
		if err := checkSearchRef(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Demo", "-x", ".x", "a b", "a/b", "é", strings.Repeat("a", object.MaxSearchName+1), url.PathEscape("a/b")} {
		if err := checkSearchRef(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad, err)
		}
	}
}
