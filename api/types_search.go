package api

import (
	"github.com/airanode/airanode/object"
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
	// VerdictSeconds: from the first result of a task this node held to its final verdict.
	VerdictSeconds Quantiles        `json:"verdict_seconds"`
	Peers          []PeerReputation `json:"peers"`
}
