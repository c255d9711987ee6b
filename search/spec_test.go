package search_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/registry/registrytest"
	"github.com/airanode/airanode/search"
)

// The object package mirrors the architecture language's bounds; they must stay equal.
func TestBoundsMatchArch(t *testing.T) {
	if object.MaxSearchDepth != arch.MaxDepth || object.MaxSearchWidth != arch.MaxWidth ||
		object.MinSearchWidth != arch.MinWidth || object.MaxSearchParams != arch.MaxParams {
		t.Fatal("object's search bounds differ from arch's")
	}
}

func TestPresets(t *testing.T) {
	p := registrytest.NewPeer(t)
	if got := strings.Join(search.Presets(), ","); got != "demo,mad-lite-small" {
		t.Fatalf("presets %s", got)
	}
	for _, name := range search.Presets() {
		t.Run(name, func(t *testing.T) {
			spec, err := search.Preset(name)
			if err != nil {
				t.Fatal(err)
			}
			s, proto, err := spec.Build(p.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != name || s.Launcher != p.ID.String() || s.Budget < 20 || len(s.Agents) != 1 || s.Agents[0].Name != "evolution" {
				t.Fatalf("search %+v", s)
			}
			pc, _ := proto.CID()
			if s.Protocol != pc.String() || s.ProtocolName != proto.Name {
				t.Fatalf("protocol %s %s vs %s", s.Protocol, s.ProtocolName, pc)
			}
			// Every sample of the space builds under the protocol.
			sp := search.Space(s.Space)
			for seed := uint64(0); seed < 50; seed++ {
				a, err := arch.Sample(sp, seed)
				if err != nil {
					t.Fatal(err)
				}
				if err := bench.Binds(a, proto); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	spec, _ := search.Preset(search.PresetMADLiteSmall)
	if spec.Protocol != bench.NameMADLite || spec.Space.MinDepth != 2 || spec.Space.MaxDepth != 6 ||
		spec.Space.MinWidth != 64 || spec.Space.MaxWidth != 128 || strings.Join(spec.Space.Primitives, "") != "AMS" {
		t.Fatalf("mad-lite-small %+v", spec)
	}
	demo, _ := search.Preset(search.PresetDemo)
	if demo.ProtocolObject == nil || demo.ProtocolObject.Name != search.DemoProtocolName || demo.Space.MaxWidth != 32 {
		t.Fatalf("demo %+v", demo)
	}
	if _, err := search.Preset("huge"); !errors.Is(err, search.ErrSpec) || !strings.Contains(err.Error(), "mad-lite-small") {
		t.Fatalf("unknown preset: %v", err)
	}
	// Presets are copies: editing one does not change the next.
	demo.ProtocolObject.Settings[0].Steps = 1
	again, _ := search.Preset(search.PresetDemo)
	if again.ProtocolObject.Settings[0].Steps == 1 {
		t.Fatal("preset shared state")
	}
}

const goodSpec = `{
  "name": "my-search",
  "description": "test",
  "space": {"primitives": ["A", "M"], "min_depth": 2, "max_depth": 4, "min_width": 64, "max_width": 128},
  "protocol": "mad-lite",
  "budget": 12,
  "policy": {"replicas": 3},
  "agents": [{"name": "evolution", "params": {"population": 6}}, {"name": "random"}],
  "seed": 9
}`

func TestParseSpec(t *testing.T) {
	s, err := search.ParseSpec([]byte(goodSpec))
	if err != nil {
		t.Fatal(err)
	}
	if s.Policy.Replicas != 3 || s.Policy.Quorum != object.DefaultQuorum || s.Policy.Tolerance != object.DefaultTolerance {
		t.Fatalf("policy defaults not kept: %+v", s.Policy)
	}
	if _, _, err := s.Build(registrytest.NewPeer(t).ID, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, json, want string
	}{
		{"empty", ``, "empty"},
		{"syntax", "{\n  \"name\": \"x\",\n  \"budget\": ,\n}", "line 3:"},
		{"unknown field", `{"name": "x", "bugdet": 3}`, `unknown field "bugdet"`},
		{"wrong type", "{\n\"budget\": \"many\"}", `field "budget"`},
		{"trailing", `{"name": "x"} {}`, "trailing"},
		{"array", `[]`, "cannot unmarshal array"},
		{"too large", `{"description": "` + strings.Repeat("x", search.MaxSpecSize) + `"}`, "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := search.ParseSpec([]byte(tc.json))
			if !errors.Is(err, search.ErrSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrSpec mentioning %q", err, tc.want)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	p := registrytest.NewPeer(t)
	tests := []struct {
		name string
		edit func(*search.Spec)
		want string
	}{
		{"bad name", func(s *search.Spec) { s.Name = "My Search" }, "name"},
		{"unknown primitive", func(s *search.Spec) { s.Space.Primitives = []string{"A", "Q"} }, `unknown primitive "Q"`},
		{"no depth", func(s *search.Spec) { s.Space.MinDepth = 0 }, "depth"},
		{"odd width", func(s *search.Spec) { s.Space.MinWidth, s.Space.MaxWidth = 20, 20 }, "width"},
		{"no budget", func(s *search.Spec) { s.Budget = 0 }, "budget"},
		{"no agents", func(s *search.Spec) { s.Agents = nil }, "agents"},
		{"unknown agent", func(s *search.Spec) { s.Agents = []object.AgentSpec{{Name: "llm"}} }, `unknown agent "llm"`},
		{"unknown param", func(s *search.Spec) {
			s.Agents = []object.AgentSpec{{Name: "evolution", Params: map[string]int64{"pop": 3}}}
		}, `unknown parameter "pop" (known: population, tournament, initial)`},
		{"param range", func(s *search.Spec) {
			s.Agents = []object.AgentSpec{{Name: "evolution", Params: map[string]int64{"tournament": 0}}}
		}, "tournament = 0"},
		{"random takes none", func(s *search.Spec) {
			s.Agents = []object.AgentSpec{{Name: "random", Params: map[string]int64{"x": 1}}}
		}, "takes no parameters"},
		{"quorum", func(s *search.Spec) { s.Policy.Replicas, s.Policy.Quorum = 1, 2 }, "quorum"},
		{"no protocol", func(s *search.Spec) { s.Protocol = "" }, "no protocol"},
		{"unknown protocol", func(s *search.Spec) { s.Protocol = "mnist" }, "unknown protocol"},
		{"both protocols", func(s *search.Spec) { s.ProtocolObject = search.DemoProtocol() }, "not both"},
		{"bad protocol object", func(s *search.Spec) {
			s.Protocol, s.ProtocolObject = "", search.DemoProtocol()
			s.ProtocolObject.Segments = 0
		}, "protocol_object"},
		{"protocol CID without store", func(s *search.Spec) { s.Protocol = object.ObjectCID([]byte("p")).String() }, "no store"},
		{"text without data", func(s *search.Spec) { s.Protocol = "text" }, "protocol"},
		{"bad data", func(s *search.Spec) { s.Data = "nope" }, "data"},
		{"empty space", func(s *search.Spec) { s.Space.MaxParams = 10 }, "no architecture fits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := search.ParseSpec([]byte(goodSpec))
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(&s)
			_, _, err = s.Build(p.ID, nil)
			if !errors.Is(err, search.ErrSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrSpec mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadSpecAndLaunch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(path, []byte(goodSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	spec, err := search.LoadSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := search.LoadSpec(filepath.Join(dir, "missing.json")); !errors.Is(err, search.ErrSpec) {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"name": 3}`), 0o600)
	if _, err := search.LoadSpec(bad); !errors.Is(err, search.ErrSpec) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("bad file: %v", err)
	}

	st := registrytest.Store(t)
	p := registrytest.NewPeer(t)
	l, err := search.Launch(st, p.Key, spec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := search.Launch(st, p.Key, spec)
	if err != nil || !again.CID.Equals(l.CID) {
		t.Fatalf("relaunch: %v %v", again.CID, err)
	}
	if got, err := object.OpenSearch(l.Envelope); err != nil || got.Launcher != p.ID.String() || got.Seed != 9 {
		t.Fatalf("envelope: %+v %v", got, err)
	}
	info, err := registry.FindSearch(st, "my-search")
	if err != nil || info.CID != l.CID.String() {
		t.Fatalf("find: %+v %v", info, err)
	}
	if ok, err := st.Has(l.Protocol); err != nil || !ok {
		t.Fatalf("protocol not stored: %v", err)
	}
	// Another launcher makes another search; a protocol named by CID resolves from the store.
	spec.Protocol = l.Protocol.String()
	other, err := search.Launch(st, registrytest.NewPeer(t).Key, spec)
	if err != nil || other.CID.Equals(l.CID) {
		t.Fatalf("other launcher: %v %v", other.CID, err)
	}
	if _, err := registry.FindSearch(st, "my-search"); !errors.Is(err, registry.ErrAmbiguous) {
		t.Fatalf("two searches of one name: %v", err)
	}
	// An invalid spec stores nothing.
	spec.Name, spec.Budget = "broken", 0
	if _, err := search.Launch(st, p.Key, spec); !errors.Is(err, search.ErrSpec) {
		t.Fatalf("invalid: %v", err)
	}
	if _, err := registry.FindSearch(st, "broken"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("invalid spec stored: %v", err)
	}
	status, err := search.StatusOf(t.Context(), st, registry.New(st, nil), info)
	if err != nil || status.Used != 0 || status.State != search.StateRunning || status.Best != nil || len(status.Agents) != 2 {
		t.Fatalf("status of a new search: %+v %v", status, err)
	}
	if _, err := search.StatusOf(t.Context(), st, registry.New(st, nil), registry.SearchInfo{CID: "x"}); err == nil {
		t.Fatal("status of a bad CID")
	}
}

// Prepare is a dry run of Launch: the same search CID and envelope, nothing stored. Without a store,
// a spec that names its protocol by CID is an ErrSpec error (not a nil-store panic).
func TestPrepare(t *testing.T) {
	spec, err := search.ParseSpec([]byte(goodSpec))
	if err != nil {
		t.Fatal(err)
	}
	p := registrytest.NewPeer(t)
	st := registrytest.Store(t)
	dry, err := search.Prepare(nil, p.Key, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registry.FindSearch(st, "my-search"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("a dry run stored the search: %v", err)
	}
	l, err := search.Launch(st, p.Key, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !dry.CID.Equals(l.CID) || !dry.Protocol.Equals(l.Protocol) || string(dry.Envelope) != string(l.Envelope) {
		t.Fatalf("dry run %v/%v, launch %v/%v", dry.CID, dry.Protocol, l.CID, l.Protocol)
	}
	spec.Protocol, spec.ProtocolObject = l.Protocol.String(), nil
	if _, err := search.Prepare(nil, p.Key, spec); !errors.Is(err, search.ErrSpec) {
		t.Fatalf("protocol by CID without a store: %v", err)
	}
	if again, err := search.Prepare(st, p.Key, spec); err != nil || !again.Protocol.Equals(l.Protocol) {
		t.Fatalf("protocol by CID from the store: %+v %v", again, err)
	}
}

func TestFormatScore(t *testing.T) {
	for v, want := range map[int64]string{0: "0.0000", 1_000_000: "1.0000", 811_585: "0.8116", 49: "0.0000", 50: "0.0001", -250_000: "-0.2500", 1_234_567: "1.2346"} {
		if got := search.FormatScore(v); got != want {
			t.Errorf("FormatScore(%d) = %s, want %s", v, got, want)
		}
	}
}

// FuzzParseSpec: the spec decoder never panics, and what it accepts either builds or fails with
// ErrSpec (never another error, never a panic).
func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(goodSpec))
	f.Add([]byte(`{"name":"x","protocol_object":{"type":"airanode/protocol/1"},"budget":1}`))
	f.Add([]byte(`{"space":{"min_depth":-1,"max_depth":99999999999}}`))
	f.Add([]byte(`{"agents":[{"name":"evolution","params":{"population":-9}}]}`))
	f.Add([]byte("\x00{"))
	p := registrytest.SeededPeer(f, 1)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := search.ParseSpec(b)
		if err != nil {
			if !errors.Is(err, search.ErrSpec) {
				t.Fatalf("error %v wraps no ErrSpec", err)
			}
			return
		}
		if _, _, err := s.Build(p.ID, nil); err != nil && !errors.Is(err, search.ErrSpec) {
			t.Fatalf("build error %v wraps no ErrSpec", err)
		}
	})
}
