package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/search"
)

// LaunchRequest launches a search on the node: exactly one of Spec (a search spec, docs/search.md)
// and Preset (a built-in spec's name).
type LaunchRequest struct {
	Spec   *search.Spec `json:"spec,omitempty"`
	Preset string       `json:"preset,omitempty"`
	// DryRun checks and returns the signed search without storing or running it.
	DryRun bool `json:"dry_run,omitempty"`
}

// LaunchResponse is a launched (or, with DryRun, checked) search.
type LaunchResponse struct {
	CID      string        `json:"cid"`
	Search   object.Search `json:"search"`
	Protocol string        `json:"protocol"`
	Stored   bool          `json:"stored"`
	// Running: this node runs the search's agents.
	Running bool `json:"running"`
}

// SearchDetail is one search: its progress and its signed spec.
type SearchDetail struct {
	Status  search.Status `json:"status"`
	Search  object.Search `json:"spec"`
	Running bool          `json:"running"`
}

// PeerReputation is one peer's verification record as this node holds it.
type PeerReputation struct {
	Peer       string  `json:"peer"`
	Verified   uint64  `json:"verified"`
	Rejected   uint64  `json:"rejected"`
	Disputed   uint64  `json:"disputed"`
	Trust      float64 `json:"trust"`
	AppScore   float64 `json:"app_score"`
	RankWeight float64 `json:"rank_weight"`
	Self       bool    `json:"self,omitempty"`
}

// Quantiles summarise a sample.
type Quantiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	Max float64 `json:"max"`
}

// VerificationReport is the verification state of every task the node holds results for.
type VerificationReport struct {
	Tasks    int `json:"tasks"`    // tasks with at least one result held
	Verified int `json:"verified"` // tasks with a verified score
	Disputed int `json:"disputed"` // tasks without a majority after every vote the policy allows
	Pending  int `json:"pending"`  // results held but no final verdict (waiting for votes)
	Results  int `json:"results"`  // results held (counted votes)
	Accepted int `json:"accepted"` // results in a verified winning group
	Rejected int `json:"rejected"` // results that lost a vote
	Extra    int `json:"extra"`    // extra executions this node asked for after a disagreement
	// Cost-model FLOPs: of every result held (each one an execution), of the rejected ones, and
	// of one execution per verified task. Overhead = (ComputeAll - ComputeRejected) /
	// ComputeVerified: honest training compute per unit of verified compute.
	ComputeAll      float64 `json:"compute_all"`
	ComputeRejected float64 `json:"compute_rejected"`
	ComputeVerified float64 `json:"compute_verified"`
	Overhead        float64 `json:"overhead"`
	// VerdictSeconds: from the first result of a task this node held to its final verdict, over the
	// last 10,000 verdicts (the Prometheus histogram airanode_verdict_seconds counts them all).
	VerdictSeconds Quantiles        `json:"verdict_seconds"`
	Peers          []PeerReputation `json:"peers"`
}

// MaxLaunchBody is the largest body of POST /v1/searches: a spec as large as a spec file may be
// (search.MaxSpecSize) with room for the request around it.
const MaxLaunchBody = search.MaxSpecSize + 4<<10

// Check applies the request's structural bounds: exactly one of Spec and Preset, and Preset one
// of search.Presets. Whether a spec describes a valid search (primitives, space, protocol,
// agents) is the Backend's to judge when it builds the search. Errors wrap ErrInvalid.
func (r LaunchRequest) Check() error {
	switch {
	case r.Spec != nil && r.Preset != "":
		return fmt.Errorf("%w: spec and preset exclude each other", ErrInvalid)
	case r.Spec == nil && r.Preset == "":
		return fmt.Errorf("%w: spec or preset is required", ErrInvalid)
	case r.Preset != "":
		if len(r.Preset) > MaxName || !utf8.ValidString(r.Preset) {
			return fmt.Errorf("%w: preset name of %d bytes is not a preset", ErrInvalid, len(r.Preset))
		}
		if _, err := search.Preset(r.Preset); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return nil
}

// DecodeLaunch decodes and checks the body of POST /v1/searches: one JSON object of at most
// MaxLaunchBody bytes, no unknown fields, no trailing data, exactly one of "spec" and "preset".
// The spec is parsed as a spec file is (search.ParseSpec): its unknown fields are errors too, and
// policy fields left out take their defaults. Errors wrap ErrInvalid.
func DecodeLaunch(body []byte) (LaunchRequest, error) {
	var w struct {
		Spec   json.RawMessage `json:"spec"`
		Preset string          `json:"preset"`
		DryRun bool            `json:"dry_run"`
	}
	if err := decodeStrictN(body, MaxLaunchBody, &w); err != nil {
		return LaunchRequest{}, err
	}
	r := LaunchRequest{Preset: w.Preset, DryRun: w.DryRun}
	if raw := bytes.TrimSpace(w.Spec); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if raw[0] != '{' {
			return LaunchRequest{}, fmt.Errorf("%w: spec must be a JSON object", ErrInvalid)
		}
		spec, err := search.ParseSpec(raw)
		if err != nil {
			return LaunchRequest{}, fmt.Errorf("%w: spec: %w", ErrInvalid, err)
		}
		r.Spec = &spec
	}
	if err := r.Check(); err != nil {
		return LaunchRequest{}, err
	}
	return r, nil
}

// topRequest is the decoded query of GET /v1/registry/top. SearchName is set when the search
// parameter is a name rather than a CID: the backend resolves it (Backend.Top, registry.TopIn).
type topRequest struct {
	Query      registry.TopQuery
	SearchName string
}

// decodeTop decodes the query of GET /v1/registry/top: search (a search name or CID), protocol
// (a CID), n (1..registry.MaxTop, default registry.DefaultTop) and unverified (a boolean: 1, 0,
// true, false). Parameters given empty are left out. Errors wrap ErrInvalid.
func decodeTop(rawQuery string) (topRequest, error) {
	v, err := decodeQuery(rawQuery, "search", "protocol", "n", "unverified")
	if err != nil {
		return topRequest{}, err
	}
	t := topRequest{Query: registry.TopQuery{N: registry.DefaultTop}}
	if s := v["search"]; s != "" {
		if err := checkSearchRef(s); err != nil {
			return topRequest{}, err
		}
		if c, err := object.ParseCID(s); err == nil {
			t.Query.Search = c
		} else {
			t.SearchName = s
		}
	}
	if s := v["protocol"]; s != "" {
		c, err := object.ParseCID(s)
		if err != nil {
			return topRequest{}, fmt.Errorf("%w: protocol: %w", ErrInvalid, err)
		}
		t.Query.Protocol = c
	}
	if s := v["n"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > registry.MaxTop {
			return topRequest{}, fmt.Errorf("%w: n %q, want 1-%d", ErrInvalid, s, registry.MaxTop)
		}
		t.Query.N = n
	}
	if s := v["unverified"]; s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return topRequest{}, fmt.Errorf("%w: unverified %q, want 1, 0, true or false", ErrInvalid, s)
		}
		t.Query.Unverified = b
	}
	return t, nil
}

// decodeQuery parses a URL query that may hold only the allowed parameters, each at most once,
// each at most MaxName bytes of UTF-8. Errors wrap ErrInvalid.
func decodeQuery(rawQuery string, allowed ...string) (map[string]string, error) {
	if len(rawQuery) > maxQuery {
		return nil, fmt.Errorf("%w: query of %d bytes, want at most %d", ErrInvalid, len(rawQuery), maxQuery)
	}
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %w", ErrInvalid, err)
	}
	out := make(map[string]string, len(v))
	for k, vs := range v {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return nil, fmt.Errorf("%w: unknown query parameter %q (this endpoint takes none)", ErrInvalid, k)
			}
			return nil, fmt.Errorf("%w: unknown query parameter %q (known: %s)", ErrInvalid, k, strings.Join(allowed, ", "))
		}
		if len(vs) != 1 {
			return nil, fmt.Errorf("%w: query parameter %q given %d times", ErrInvalid, k, len(vs))
		}
		if len(vs[0]) > MaxName || !utf8.ValidString(vs[0]) {
			return nil, fmt.Errorf("%w: query parameter %q: want at most %d bytes of UTF-8", ErrInvalid, k, MaxName)
		}
		out[k] = vs[0]
	}
	return out, nil
}

// maxQuery bounds a request's query string.
const maxQuery = 4 << 10

// checkSearchRef accepts a search reference: a CID, or a name as searches spell them
// (object.ValidSearchName). Errors wrap ErrInvalid.
func checkSearchRef(ref string) error {
	if _, err := object.ParseCID(ref); err == nil {
		return nil
	}
	if !object.ValidSearchName(ref) {
		return fmt.Errorf("%w: search %q is neither a search CID nor a search name ([a-z0-9][a-z0-9._-]*, at most %d bytes)",
			ErrInvalid, truncate(ref, 80), object.MaxSearchName)
	}
	return nil
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
