package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/airanode/airanode/object"
)

// Sentinel errors. A Backend wraps ErrInvalid for bad input (the server answers 400) and
// ErrNotFound for unknown objects (404); Client errors wrap the same sentinels for those answers,
// ErrServer for other error answers, and ErrUnavailable when no node answers at all.
var (
	ErrInvalid     = errors.New("api: invalid request")
	ErrNotFound    = errors.New("api: not found")
	ErrServer      = errors.New("api: server error")
	ErrUnavailable = errors.New("api: node not reachable")
	// ErrNotLoopback means a server address that is not on the loopback interface.
	ErrNotLoopback = errors.New("api: address is not a loopback address")
)

// Bounds on requests.
const (
	// MaxBody is the largest request body the server reads.
	MaxBody = 256 << 10
	// MaxArch is the longest architecture spelling accepted (notation or JSON).
	MaxArch = 64 << 10
	// MaxProtocolObject is the largest protocol object accepted in a submit request.
	MaxProtocolObject = 128 << 10
	// MaxName is the longest protocol name or CID string accepted.
	MaxName = 256
	// MaxWorkers is the most workers a node runs.
	MaxWorkers = object.MaxWorkers
)

// Status is GET /v1/status: what a node is and does now.
type Status struct {
	PeerID  string   `json:"peer_id"`
	Network string   `json:"network"`
	Version string   `json:"version"`
	Addrs   []string `json:"addrs"`
	API     string   `json:"api"`
	// Peers is how many peers are connected; TaskPeers how many advertised a capability recently.
	Peers     int       `json:"peers"`
	TaskPeers int       `json:"task_peers"`
	Started   time.Time `json:"started"`
	Uptime    float64   `json:"uptime_s"`
	// Class names the node's reproducibility classes, space-separated ("cpu-v1 cuda-v1").
	Class  string `json:"class"`
	Worker Worker `json:"worker"`
	Tasks  Counts `json:"tasks"`
	// Running lists the tasks running on this node now.
	Running []Progress `json:"running"`
	// Measures are the node's counters since start.
	Measures Measures `json:"measures"`
	// GPU lists the node's GPU compute cores (empty when it runs on the CPU only).
	GPU []GPUCore `json:"gpu,omitempty"`
}

// GPUCore is one GPU compute core (an airanode-cuda process) of a node.
type GPUCore struct {
	Ordinal int `json:"ordinal"`
	// State is the supervisor's: starting, idle, busy, restarting, failed, ...
	State string `json:"state"`
	// Name and Class are what the core declared: its device and its reproducibility class.
	Name  string `json:"name,omitempty"`
	Class string `json:"class,omitempty"`
	// Memory is the device memory in bytes (0: unknown).
	Memory int64 `json:"memory,omitempty"`
	// Task is the task it runs, if any.
	Task string `json:"task,omitempty"`
	// Restarts counts its restarts; LastError says why it last failed.
	Restarts  int       `json:"restarts"`
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since"`
}

// Measures are a node's counters since start: what training cost and how fast the node claims.
type Measures struct {
	// TrainCPU is the CPU time of the training threads, TrainWall the wall time of the task runs
	// (Runs of them), ProcessCPU the CPU time of the whole process, all in seconds.
	TrainCPU   float64 `json:"train_cpu_s"`
	TrainWall  float64 `json:"train_wall_s"`
	ProcessCPU float64 `json:"process_cpu_s"`
	Runs       uint64  `json:"runs"`
	// TrainingShare is TrainCPU / ProcessCPU.
	TrainingShare float64 `json:"training_share"`
	// Claims counts this node's claims; the latencies run from an offer reaching the node to its
	// claim, in milliseconds.
	Claims             uint64  `json:"claims"`
	ClaimLatencyMeanMS float64 `json:"claim_latency_mean_ms"`
	ClaimLatencyMaxMS  float64 `json:"claim_latency_max_ms"`
	// GossipLatency is from a claim or capability being signed to this node receiving it, in
	// milliseconds (wall clocks: meaningful on one machine or with synchronised clocks).
	GossipLatencyMeanMS float64 `json:"gossip_latency_mean_ms"`
	GossipLatencyMaxMS  float64 `json:"gossip_latency_max_ms"`
}

// Worker states.
const (
	WorkerWorking  = "working"  // claiming and running tasks
	WorkerPaused   = "paused"   // Pause: claims nothing, holds running tasks at a step boundary
	WorkerDraining = "draining" // Drain: finishing the running tasks, claims nothing new
	WorkerDrained  = "drained"  // Drain done: nothing runs, nothing is claimed until resume
)

// Worker is the worker pool's state, also the answer of POST /v1/worker/....
type Worker struct {
	// State is WorkerWorking, WorkerPaused, WorkerDraining or WorkerDrained.
	State    string `json:"state"`
	Workers  int    `json:"workers"`
	Running  int    `json:"running"`
	Paused   bool   `json:"paused"`
	Draining bool   `json:"draining"`
	// Since start: tasks completed here, abandoned to better-ranked claimers, released after a
	// long pause, and failed runs.
	Completed uint64 `json:"completed"`
	Abandoned uint64 `json:"abandoned"`
	Released  uint64 `json:"released"`
	Failed    uint64 `json:"failed"`
}

// Counts splits the tasks a node knows by state.
type Counts struct {
	Known   int `json:"known"`
	Pending int `json:"pending"`
	Claimed int `json:"claimed"`
	Done    int `json:"done"`
}

// Progress is one task running here.
type Progress struct {
	Task string `json:"task"`
	Step int64  `json:"step"`
	Of   int64  `json:"of"`
	// Checkpoint is the step of the last checkpoint stored (0: none).
	Checkpoint int64 `json:"checkpoint"`
	Paused     bool  `json:"paused"`
}

// Peer is one connected peer (GET /v1/peers).
type Peer struct {
	ID           string   `json:"id"`
	Addrs        []string `json:"addrs"`
	AgentVersion string   `json:"agent_version"`
	// Score is the peer's gossip score; Scored is false before the first score snapshot.
	Score     float64 `json:"score"`
	Scored    bool    `json:"scored"`
	LatencyMS float64 `json:"latency_ms"`
	Inbound   bool    `json:"inbound"`
	// Capability is what the peer last advertised on the tasks topic, when the node heard it.
	Capability *PeerCapability `json:"capability,omitempty"`
}

// PeerCapability is a peer's latest capability (object.Capability) as this node heard it.
type PeerCapability struct {
	// Workers is how many tasks the peer runs at once; Accepting is false while it is paused or
	// draining.
	Workers   int64 `json:"workers"`
	Accepting bool  `json:"accepting"`
	// Classes are its reproducibility classes, space-separated ("cpu-v1 cuda-v1").
	Classes string `json:"classes,omitempty"`
	// MemoryBytes and ComputeFLOPs are its per-task limits (0: none stated).
	MemoryBytes  int64 `json:"memory_bytes"`
	ComputeFLOPs int64 `json:"compute_flops"`
	// AgeSeconds is how long ago this node heard it.
	AgeSeconds float64 `json:"age_s"`
}

// SubmitRequest is POST /v1/tasks: train Arch under a protocol with Seed, executed by Replicas
// distinct nodes. The protocol is a registered name (Protocol, with Data for the text protocol)
// or a whole protocol object in JSON (ProtocolObject); exactly one of them.
type SubmitRequest struct {
	// Arch is the architecture in the notation ("width=32: A M") or in JSON.
	Arch string `json:"arch"`
	// Protocol names a registered protocol ("mad-lite", "mad", "text").
	Protocol string `json:"protocol,omitempty"`
	// ProtocolObject is a protocol object (bench.Protocol) in JSON.
	ProtocolObject json.RawMessage `json:"protocol_object,omitempty"`
	// Data is the dataset manifest CID of a text protocol.
	Data string `json:"data,omitempty"`
	// Seed seeds the model's initialisation.
	Seed uint64 `json:"seed"`
	// Replicas is R, how many distinct nodes run the task: 0 means the default (2).
	Replicas int `json:"replicas,omitempty"`
}

// Check applies the request's bounds: an architecture, one protocol source, sizes, and replicas in
// 0..object.MaxReplicas. Errors wrap ErrInvalid.
func (r SubmitRequest) Check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	switch {
	case r.Arch == "":
		return bad("arch is required")
	case len(r.Arch) > MaxArch:
		return bad("arch of %d bytes, want at most %d", len(r.Arch), MaxArch)
	case !utf8.ValidString(r.Arch) || !utf8.ValidString(r.Protocol) || !utf8.ValidString(r.Data):
		return bad("strings must be valid UTF-8")
	case r.Protocol == "" && len(r.ProtocolObject) == 0:
		return bad("protocol or protocol_object is required")
	case r.Protocol != "" && len(r.ProtocolObject) != 0:
		return bad("protocol and protocol_object exclude each other")
	case len(r.Protocol) > MaxName || len(r.Data) > MaxName:
		return bad("protocol name or data CID too long")
	case len(r.ProtocolObject) > MaxProtocolObject:
		return bad("protocol_object of %d bytes, want at most %d", len(r.ProtocolObject), MaxProtocolObject)
	case r.Replicas < 0 || r.Replicas > object.MaxReplicas:
		return bad("replicas %d, want 0 (default) to %d", r.Replicas, object.MaxReplicas)
	}
	if len(r.ProtocolObject) != 0 && !json.Valid(r.ProtocolObject) {
		return bad("protocol_object is not valid JSON")
	}
	return nil
}

// SubmitResponse names the submitted task and the objects it refers to.
type SubmitResponse struct {
	Task     string `json:"task"`
	Arch     string `json:"arch"`
	Protocol string `json:"protocol"`
	// Spelling is the normalised architecture in the notation.
	Spelling string `json:"spelling"`
	Seed     uint64 `json:"seed"`
	Replicas int    `json:"replicas"`
}

// Task is one task as a node sees it (GET /v1/tasks).
type Task struct {
	CID      string `json:"cid"`
	Search   string `json:"search,omitempty"`
	Arch     string `json:"arch"`
	Protocol string `json:"protocol"`
	Seed     uint64 `json:"seed"`
	Replicas int    `json:"replicas"`
	// State is pending, claimed, done or unknown (tasks.TaskState).
	State string `json:"state"`
	// Memory (bytes) and Compute (FLOPs) are the task's estimated needs.
	Memory  int64 `json:"memory"`
	Compute int64 `json:"compute"`
	// Leases are the live claims, best rendezvous score first.
	Leases []Lease `json:"leases"`
	// Results name the results held, one per executor.
	Results []ResultRef `json:"results"`
	// Local is this node's own run, if it ever claimed the task.
	Local *LocalRun `json:"local,omitempty"`
}

// Lease is a live claim on a task.
type Lease struct {
	Peer  string `json:"peer"`
	Rank  int64  `json:"rank"`
	Step  int64  `json:"step"`
	Of    int64  `json:"of"`
	State string `json:"state"`
	// ExpiresIn is how long, in milliseconds, until the lease lapses unless renewed.
	ExpiresIn int64 `json:"expires_in_ms"`
}

// ResultRef names one result.
type ResultRef struct {
	Executor string `json:"executor"`
	CID      string `json:"cid"`
}

// LocalRun is this node's run of a task.
type LocalRun struct {
	State      string `json:"state"`
	Paused     bool   `json:"paused"`
	Step       int64  `json:"step"`
	Of         int64  `json:"of"`
	Checkpoint int64  `json:"checkpoint"`
	Result     string `json:"result,omitempty"`
	Failures   int    `json:"failures"`
}

// TaskDetail is GET /v1/tasks/{cid}: the task with the results it holds, decoded.
type TaskDetail struct {
	Task
	// Outcomes are the results held, in Results order (a result whose object cannot be read is
	// left out).
	Outcomes []Outcome `json:"outcomes"`
}

// Outcome is one executor's signed result, decoded.
type Outcome struct {
	CID      string          `json:"cid"`
	Executor string          `json:"executor"`
	Class    string          `json:"class"`
	Engine   string          `json:"engine"`
	Steps    int64           `json:"steps"`
	Tokens   int64           `json:"tokens"`
	Score    int64           `json:"score"`
	Metrics  []object.Metric `json:"metrics"`
	// Digests is the digest chain in hex, one per segment; Checkpoints the segments' checkpoint
	// CIDs ("" where none).
	Digests     []string `json:"digests"`
	Checkpoints []string `json:"checkpoints"`
}

// Worker actions of POST /v1/worker/{action}.
const (
	ActionPause   = "pause"
	ActionResume  = "resume"
	ActionDrain   = "drain"
	ActionWorkers = "workers"
)

// WorkerRequest is a volunteer control: Action is one of the Action constants; Workers is the new
// worker count for ActionWorkers (1..MaxWorkers).
type WorkerRequest struct {
	Action  string `json:"-"`
	Workers int    `json:"workers,omitempty"`
}

// Check validates the request. Errors wrap ErrInvalid.
func (r WorkerRequest) Check() error {
	switch r.Action {
	case ActionPause, ActionResume, ActionDrain:
		if r.Workers != 0 {
			return fmt.Errorf("%w: workers is only for the %q action", ErrInvalid, ActionWorkers)
		}
		return nil
	case ActionWorkers:
		if r.Workers < 1 || r.Workers > MaxWorkers {
			return fmt.Errorf("%w: workers %d, want 1-%d", ErrInvalid, r.Workers, MaxWorkers)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown worker action %q (want pause, resume, drain or workers)", ErrInvalid, r.Action)
}

// Error is the body of every error answer.
type Error struct {
	Error string `json:"error"`
	// Code is "invalid", "not_found", "forbidden", "method", "too_large" or "internal".
	Code string `json:"code"`
}

// DecodeSubmit decodes and checks a submit request body: one JSON object, no unknown fields, no
// trailing data, within the bounds of SubmitRequest.Check. Errors wrap ErrInvalid.
func DecodeSubmit(body []byte) (SubmitRequest, error) {
	var r SubmitRequest
	if err := decodeStrict(body, &r); err != nil {
		return SubmitRequest{}, err
	}
	if bytes.Equal(bytes.TrimSpace(r.ProtocolObject), []byte("null")) {
		r.ProtocolObject = nil
	}
	if err := r.Check(); err != nil {
		return SubmitRequest{}, err
	}
	return r, nil
}

// DecodeWorker decodes and checks the body of a worker action (empty for pause, resume and drain).
// Errors wrap ErrInvalid.
func DecodeWorker(action string, body []byte) (WorkerRequest, error) {
	r := WorkerRequest{Action: action}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeStrict(body, &r); err != nil {
			return WorkerRequest{}, err
		}
		r.Action = action
	}
	if err := r.Check(); err != nil {
		return WorkerRequest{}, err
	}
	return r, nil
}

// decodeStrict decodes exactly one JSON value into v, rejecting unknown fields and trailing data.
func decodeStrict(body []byte, v any) error { return decodeStrictN(body, MaxBody, v) }

// decodeStrictN is decodeStrict for bodies of at most limit bytes.
func decodeStrictN(body []byte, limit int, v any) error {
	if len(body) > limit {
		return fmt.Errorf("%w: body of %d bytes, want at most %d", ErrInvalid, len(body), limit)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: decode body: %w", ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	// dec.More misses a trailing non-value such as "}"; the rest must be whitespace.
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		return fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	return nil
}
