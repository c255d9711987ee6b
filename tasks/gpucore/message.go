package gpucore

import (
	"errors"
	"fmt"

	"github.com/airanode/airanode/object"
)

// Protocol constants.
const (
	// Version is the protocol version this package speaks. The frame layout (length, kind, header
	// length) is fixed for every version; the version governs the messages.
	Version = 1
	// Magic opens the node's Hello, so that a core knows it talks to an airanode node.
	Magic = "airanode-core"
	// DefaultMaxFrame is the largest frame accepted by default: a 64 MiB block (the store's largest)
	// plus room for its header.
	DefaultMaxFrame = 64<<20 + 64<<10
	// MinMaxFrame is the smallest frame cap a side may announce: a header of object.MaxSize plus
	// the frame's fixed fields.
	MinMaxFrame = object.MaxSize + 64<<10
	// MaxMaxFrame is the largest frame cap a side may announce (1 GiB).
	MaxMaxFrame = 1 << 30
	// ProgressWindow is how many Progress frames a core may send before it waits for their Acks: the
	// node holds a run at a step boundary (a paused node) by not acknowledging.
	ProgressWindow = 8

	// frameFixed is the size of a frame's fixed fields after the length: kind (1) and header length (4).
	frameFixed = 5
	maxText    = 4096 // error messages
	maxName    = 256  // device names
	maxLabel   = 64   // classes, engines, error codes
)

// Sentinel errors. Errors returned by this package wrap one of them (and, for bad objects, the
// object package sentinel that explains the problem).
var (
	// ErrFrame means a frame or message that does not decode: a bad length, an unknown kind, a header
	// that is not the canonical encoding of the kind's fields, a field out of bounds, a block whose
	// bytes do not match its CID, or a payload where the kind has none.
	ErrFrame = errors.New("core: malformed frame")
	// ErrFrameTooLarge means a frame over the cap the reader or the peer announced.
	ErrFrameTooLarge = errors.New("core: frame too large")
	// ErrVersion means the peers have no protocol version in common, or the Hello lacks the magic.
	ErrVersion = errors.New("core: protocol version mismatch")
	// ErrProtocol means a well-formed message at the wrong time: a reply to nothing, a second Run,
	// a message of the wrong direction. A supervisor that sees one from a core kills and restarts it.
	ErrProtocol = errors.New("core: protocol violation")
	// ErrCrashed means the core process exited, or its pipes broke, while it held a task. The task
	// can be run again (from its last checkpoint) once the core has been restarted.
	ErrCrashed = errors.New("core: compute core crashed")
	// ErrStalled means a core sent nothing for longer than the stall timeout; it was killed.
	ErrStalled = errors.New("core: compute core stalled")
	// ErrUnavailable means no core can take tasks: none was configured, or every one failed more
	// often than the restart budget allows.
	ErrUnavailable = errors.New("core: no compute core available")
	// ErrClosed means the Supervisor has been closed.
	ErrClosed = errors.New("core: supervisor closed")
	// ErrTask means a task that cannot run: its objects are missing, do not decode, or do not
	// match the task. Running it again does not help.
	ErrTask = errors.New("core: task cannot run")
	// ErrRun means the core ran the task and reported a failure (training diverged, out of device
	// memory, a bad resume state, ...).
	ErrRun = errors.New("core: task failed on the compute core")
	// ErrConfig means a Config field is missing or out of range.
	ErrConfig = errors.New("core: invalid config")
)

// Kind is a message kind: the first byte after a frame's length.
type Kind uint8

// Message kinds. The arrow gives the direction (N: node, C: core).
const (
	KindHello      Kind = 1  // N→C: magic, supported versions, frame cap
	KindInfo       Kind = 2  // C→N: chosen version, device name, class, memory, engine, frame cap
	KindRun        Kind = 3  // N→C: task, architecture and protocol objects; payload: resume state
	KindProgress   Kind = 4  // C→N: step, steps, loss (windowed: see ProgressWindow)
	KindCheckpoint Kind = 5  // C→N: a raw block to store (a model checkpoint); payload: its bytes
	KindState      Kind = 6  // C→N: the resume state at a step boundary; payload: its bytes
	KindGet        Kind = 7  // C→N: ask for a block (a dataset block, a checkpoint to resume from)
	KindBlock      Kind = 8  // N→C: the answer to Get; payload: the block's bytes
	KindAck        Kind = 9  // N→C: the answer to Progress, Checkpoint and State
	KindResult     Kind = 10 // C→N: the task's Result; payload: the canonical Scores, if any
	KindError      Kind = 11 // both: a run (ID > 0) or the connection (ID 0) failed
	KindCancel     Kind = 12 // N→C: stop run ID
	KindShutdown   Kind = 13 // N→C: stop and exit
)

var kindNames = map[Kind]string{
	KindHello: "hello", KindInfo: "info", KindRun: "run", KindProgress: "progress",
	KindCheckpoint: "checkpoint", KindState: "state", KindGet: "get", KindBlock: "block", KindAck: "ack",
	KindResult: "result", KindError: "error", KindCancel: "cancel", KindShutdown: "shutdown",
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Message is one protocol message. The concrete types are the pointers *Hello, *Info, *Run,
// *Progress, *Checkpoint, *State, *Get, *Block, *Ack, *Result, *Error, *Cancel and *Shutdown.
type Message interface {
	Kind() Kind
	// payload returns the raw bytes carried after the header (nil for kinds without one).
	payload() []byte
	setPayload([]byte)
	// check validates the fields; full also verifies hashes and decodes embedded objects (what a
	// receiver does; a sender checks only the cheap bounds).
	check(full bool) error
}

// Hello opens the connection (node to core).
type Hello struct {
	Magic string `cbor:"magic"`
	// MinVersion and MaxVersion are the protocol versions the node speaks.
	MinVersion int `cbor:"min"`
	MaxVersion int `cbor:"max"`
	// MaxFrame is the largest frame the node accepts.
	MaxFrame int64 `cbor:"max_frame"`
}

// Info answers Hello (core to node): the version chosen and the device.
type Info struct {
	Version int `cbor:"version"`
	// Name describes the device ("cuda:0 (NVIDIA H100 80GB HBM3)"); Class is its reproducibility
	// class ("cuda-v1"); Engine the evaluation engine version; Memory the device memory in bytes
	// (0: unknown).
	Name   string `cbor:"name"`
	Class  string `cbor:"class"`
	Engine string `cbor:"engine,omitempty"`
	Memory int64  `cbor:"memory,omitempty"`
	// MaxFrame is the largest frame the core accepts; PID its process ID.
	MaxFrame int64 `cbor:"max_frame"`
	PID      int64 `cbor:"pid,omitempty"`
}

// Run asks the core to run a task. Task, Arch and Protocol are canonical object bytes; Arch and
// Protocol must hash to the CIDs the task names. Resume, the payload, is the state to continue
// from (what the core sent in a State frame of an earlier run of the same task), if any.
type Run struct {
	ID         uint64 `cbor:"id"`
	Task       []byte `cbor:"task"`
	Arch       []byte `cbor:"arch"`
	Protocol   []byte `cbor:"protocol"`
	ResumeStep int64  `cbor:"resume_step,omitempty"`
	Resume     []byte `cbor:"-"`
}

// Progress reports a step of run ID: Step of Of steps done, the last step's training loss in
// micro-nats. The node acknowledges every Progress; a core waits when ProgressWindow are unanswered.
type Progress struct {
	ID   uint64 `cbor:"id"`
	Seq  uint64 `cbor:"seq"`
	Step int64  `cbor:"step"`
	Of   int64  `cbor:"of"`
	Loss int64  `cbor:"loss,omitempty"`
}

// Checkpoint hands the node a block to keep (a model checkpoint): Data hashes to CID. The core
// waits for the Ack before it goes on.
type Checkpoint struct {
	ID   uint64 `cbor:"id"`
	Seq  uint64 `cbor:"seq"`
	CID  string `cbor:"cid"`
	Data []byte `cbor:"-"`
}

// State hands the node the run's resume state at step Step of Of: the bytes to send back in Run to
// continue after a crash. Every block it names was sent in a Checkpoint before it. The core waits for
// the Ack, which the node sends once the state is stored durably.
type State struct {
	ID   uint64 `cbor:"id"`
	Seq  uint64 `cbor:"seq"`
	Step int64  `cbor:"step"`
	Of   int64  `cbor:"of"`
	Data []byte `cbor:"-"`
}

// Get asks the node for the block CID.
type Get struct {
	ID  uint64 `cbor:"id"`
	Seq uint64 `cbor:"seq"`
	CID string `cbor:"cid"`
}

// Block answers Get: the bytes of CID, or Err when the node cannot provide them.
type Block struct {
	ID   uint64 `cbor:"id"`
	Seq  uint64 `cbor:"seq"`
	CID  string `cbor:"cid"`
	Err  string `cbor:"err,omitempty"`
	Data []byte `cbor:"-"`
}

// Ack answers Progress, Checkpoint and State. Err, when set, says the node could not take it (a
// checkpoint it failed to store); the core then fails the run.
type Ack struct {
	ID  uint64 `cbor:"id"`
	Seq uint64 `cbor:"seq"`
	Err string `cbor:"err,omitempty"`
}

// Result ends run ID with its Result (Executor unset: the node signs). Scores, the payload, are
// the canonical bench.Scores bytes, if the run function produced them.
type Result struct {
	ID     uint64        `cbor:"id"`
	Result object.Result `cbor:"result"`
	Scores []byte        `cbor:"-"`
}

// Error codes.
const (
	CodeCanceled = "canceled" // the run was cancelled (Cancel, Shutdown or the core stopping)
	CodeInvalid  = "invalid"  // the Run's objects or resume state cannot describe a run
	CodeFailed   = "failed"   // the run function failed
	CodePanic    = "panic"    // the run function panicked; the core exits after sending this
	CodeBusy     = "busy"     // a Run arrived while another was running
	CodeProtocol = "protocol" // the peer broke the protocol; the sender closes the connection
	CodeVersion  = "version"  // no common version
)

// Error ends run ID (ID > 0) with a failure, or reports a connection-level failure (ID 0).
type Error struct {
	ID      uint64 `cbor:"id,omitempty"`
	Code    string `cbor:"code"`
	Message string `cbor:"msg,omitempty"`
}

// Cancel stops run ID; the core answers with an Error of code CodeCanceled (or the run's Result,
// if it finished first).
type Cancel struct {
	ID uint64 `cbor:"id"`
}

// Shutdown asks the core to cancel its run and exit.
type Shutdown struct{}

func (*Hello) Kind() Kind      { return KindHello }
func (*Info) Kind() Kind       { return KindInfo }
func (*Run) Kind() Kind        { return KindRun }
func (*Progress) Kind() Kind   { return KindProgress }
func (*Checkpoint) Kind() Kind { return KindCheckpoint }
func (*State) Kind() Kind      { return KindState }
func (*Get) Kind() Kind        { return KindGet }
func (*Block) Kind() Kind      { return KindBlock }
func (*Ack) Kind() Kind        { return KindAck }
func (*Result) Kind() Kind     { return KindResult }
func (*Error) Kind() Kind      { return KindError }
func (*Cancel) Kind() Kind     { return KindCancel }
func (*Shutdown) Kind() Kind   { return KindShutdown }

func (*Hello) payload() []byte        { return nil }
func (*Info) payload() []byte         { return nil }
func (m *Run) payload() []byte        { return m.Resume }
func (*Progress) payload() []byte     { return nil }
func (m *Checkpoint) payload() []byte { return m.Data }
func (m *State) payload() []byte      { return m.Data }
func (*Get) payload() []byte          { return nil }
func (m *Block) payload() []byte      { return m.Data }
func (*Ack) payload() []byte          { return nil }
func (m *Result) payload() []byte     { return m.Scores }
func (*Error) payload() []byte        { return nil }
func (*Cancel) payload() []byte       { return nil }
func (*Shutdown) payload() []byte     { return nil }

func (*Hello) setPayload([]byte)          {}
func (*Info) setPayload([]byte)           {}
func (m *Run) setPayload(b []byte)        { m.Resume = b }
func (*Progress) setPayload([]byte)       {}
func (m *Checkpoint) setPayload(b []byte) { m.Data = b }
func (m *State) setPayload(b []byte)      { m.Data = b }
func (*Get) setPayload([]byte)            {}
func (m *Block) setPayload(b []byte)      { m.Data = b }
func (*Ack) setPayload([]byte)            {}
func (m *Result) setPayload(b []byte)     { m.Scores = b }
func (*Error) setPayload([]byte)          {}
func (*Cancel) setPayload([]byte)         {}
func (*Shutdown) setPayload([]byte)       {}

// hasPayload reports whether kind k may carry a payload.
func hasPayload(k Kind) bool {
	switch k {
	case KindRun, KindCheckpoint, KindState, KindBlock, KindResult:
		return true
	}
	return false
}

// newMessage returns a zero message of kind k, or nil for an unknown kind.
func newMessage(k Kind) Message {
	switch k {
	case KindHello:
		return &Hello{}
	case KindInfo:
		return &Info{}
	case KindRun:
		return &Run{}
	case KindProgress:
		return &Progress{}
	case KindCheckpoint:
		return &Checkpoint{}
	case KindState:
		return &State{}
	case KindGet:
		return &Get{}
	case KindBlock:
		return &Block{}
	case KindAck:
		return &Ack{}
	case KindResult:
		return &Result{}
	case KindError:
		return &Error{}
	case KindCancel:
		return &Cancel{}
	case KindShutdown:
		return &Shutdown{}
	}
	return nil
}

// ---- field checks ----

func bad(k Kind, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrFrame, k, fmt.Sprintf(format, a...))
}

func checkID(k Kind, id uint64) error {
	if id == 0 || id > object.MaxCounter {
		return bad(k, "id %d out of range", id)
	}
	return nil
}

func checkSeq(k Kind, id, seq uint64) error {
	if err := checkID(k, id); err != nil {
		return err
	}
	if seq == 0 || seq > object.MaxCounter {
		return bad(k, "seq %d out of range", seq)
	}
	return nil
}

func checkSteps(k Kind, step, of int64) error {
	if step < 0 || of < 0 || step > of || of > object.MaxCounter {
		return bad(k, "step %d of %d", step, of)
	}
	return nil
}

func checkFrameCap(k Kind, n int64) error {
	if n < MinMaxFrame || n > MaxMaxFrame {
		return bad(k, "frame cap %d outside [%d, %d]", n, MinMaxFrame, MaxMaxFrame)
	}
	return nil
}

func checkText(k Kind, field, s string, limit int) error {
	if len(s) > limit {
		return bad(k, "%s of %d bytes (max %d)", field, len(s), limit)
	}
	return nil
}

// checkBlock checks a block's CID and, when full, that data hashes to it.
func checkBlock(k Kind, cs string, data []byte, full bool) error {
	c, err := object.ParseCID(cs)
	if err != nil {
		return bad(k, "cid: %v", err)
	}
	if full {
		if err := object.VerifyBlock(c, data); err != nil {
			return fmt.Errorf("%w: %s: block %s: %w", ErrFrame, k, c, err)
		}
	}
	return nil
}

func (m *Hello) check(bool) error {
	if m.Magic != Magic {
		return fmt.Errorf("%w: hello: magic %.32q, want %q", ErrVersion, m.Magic, Magic)
	}
	if m.MinVersion < 1 || m.MaxVersion < m.MinVersion || m.MaxVersion > 1<<16 {
		return bad(KindHello, "versions [%d, %d]", m.MinVersion, m.MaxVersion)
	}
	return checkFrameCap(KindHello, m.MaxFrame)
}

func (m *Info) check(bool) error {
	k := KindInfo
	if m.Version < 1 || m.Version > 1<<16 {
		return bad(k, "version %d", m.Version)
	}
	if m.Class == "" {
		return bad(k, "no class")
	}
	if m.Memory < 0 || m.PID < 0 || m.PID > 1<<31 {
		return bad(k, "memory %d, pid %d", m.Memory, m.PID)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"name", m.Name, maxName}, {"class", m.Class, maxLabel}, {"engine", m.Engine, maxLabel}} {
		if err := checkText(k, f.name, f.v, f.max); err != nil {
			return err
		}
	}
	return checkFrameCap(k, m.MaxFrame)
}

func (m *Run) check(full bool) error {
	k := KindRun
	if err := checkID(k, m.ID); err != nil {
		return err
	}
	if m.ResumeStep < 0 || m.ResumeStep > object.MaxCounter || (len(m.Resume) == 0 && m.ResumeStep != 0) {
		return bad(k, "resume step %d with %d bytes of state", m.ResumeStep, len(m.Resume))
	}
	if len(m.Task) == 0 || len(m.Arch) == 0 || len(m.Protocol) == 0 {
		return bad(k, "task, arch and protocol are required")
	}
	if !full {
		return nil
	}
	_, err := m.decodeTask()
	return err
}

// decodeTask decodes the Run's task and checks that Arch and Protocol are the objects it names.
func (m *Run) decodeTask() (object.Task, error) {
	var t object.Task
	if err := object.Unmarshal(m.Task, &t); err != nil {
		return t, fmt.Errorf("%w: run: task: %w", ErrFrame, err)
	}
	if err := t.Validate(); err != nil {
		return t, fmt.Errorf("%w: run: task: %w", ErrFrame, err)
	}
	for _, o := range []struct {
		name, cid string
		b         []byte
	}{{"arch", t.Arch, m.Arch}, {"protocol", t.Protocol, m.Protocol}} {
		c, err := object.ParseCID(o.cid)
		if err == nil {
			err = object.Verify(c, o.b)
		}
		if err != nil {
			return t, fmt.Errorf("%w: run: %s object: %w", ErrFrame, o.name, err)
		}
	}
	return t, nil
}

func (m *Progress) check(bool) error {
	if err := checkSeq(KindProgress, m.ID, m.Seq); err != nil {
		return err
	}
	if m.Loss < -object.MaxCounter || m.Loss > object.MaxCounter {
		return bad(KindProgress, "loss %d", m.Loss)
	}
	return checkSteps(KindProgress, m.Step, m.Of)
}

func (m *Checkpoint) check(full bool) error {
	if err := checkSeq(KindCheckpoint, m.ID, m.Seq); err != nil {
		return err
	}
	return checkBlock(KindCheckpoint, m.CID, m.Data, full)
}

func (m *State) check(bool) error {
	if err := checkSeq(KindState, m.ID, m.Seq); err != nil {
		return err
	}
	if len(m.Data) == 0 {
		return bad(KindState, "empty state")
	}
	return checkSteps(KindState, m.Step, m.Of)
}

func (m *Get) check(bool) error {
	if err := checkSeq(KindGet, m.ID, m.Seq); err != nil {
		return err
	}
	if _, err := object.ParseCID(m.CID); err != nil {
		return bad(KindGet, "cid: %v", err)
	}
	return nil
}

func (m *Block) check(full bool) error {
	k := KindBlock
	if err := checkSeq(k, m.ID, m.Seq); err != nil {
		return err
	}
	if err := checkText(k, "err", m.Err, maxText); err != nil {
		return err
	}
	if m.Err != "" {
		if len(m.Data) > 0 {
			return bad(k, "an error with %d bytes of data", len(m.Data))
		}
		if _, err := object.ParseCID(m.CID); err != nil {
			return bad(k, "cid: %v", err)
		}
		return nil
	}
	return checkBlock(k, m.CID, m.Data, full)
}

func (m *Ack) check(bool) error {
	if err := checkSeq(KindAck, m.ID, m.Seq); err != nil {
		return err
	}
	return checkText(KindAck, "err", m.Err, maxText)
}

func (m *Result) check(bool) error {
	k := KindResult
	if err := checkID(k, m.ID); err != nil {
		return err
	}
	r := m.Result
	if _, err := object.ParseCID(r.Task); err != nil {
		return bad(k, "task: %v", err)
	}
	if r.Class == "" {
		return bad(k, "no class")
	}
	return nil
}

func (m *Error) check(bool) error {
	k := KindError
	if m.ID > object.MaxCounter {
		return bad(k, "id %d out of range", m.ID)
	}
	if m.Code == "" {
		return bad(k, "no code")
	}
	if err := checkText(k, "code", m.Code, maxLabel); err != nil {
		return err
	}
	return checkText(k, "message", m.Message, maxText)
}

func (m *Cancel) check(bool) error { return checkID(KindCancel, m.ID) }

func (*Shutdown) check(bool) error { return nil }
