package tasks

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them, and, for bad envelopes, the
// object package sentinel that explains the rejection (object.ErrSignature, object.ErrSigner,
// object.ErrInvalid, object.ErrTooLarge, ...).
var (
	// ErrClosed means the Manager has been closed.
	ErrClosed = errors.New("tasks: manager closed")
	// ErrConfig means a Config field is missing or out of range.
	ErrConfig = errors.New("tasks: invalid config")
	// ErrInvalid means an argument is out of range (a bad task, replica count or worker count).
	ErrInvalid = errors.New("tasks: invalid argument")
	// ErrNotFound means the task is not known to this node.
	ErrNotFound = errors.New("tasks: task not found")
	// ErrRejected means an envelope from the network is bad: it does not open, decode or
	// validate, it is of a kind this package does not handle, or it is signed by someone other
	// than the author it names. A gossip layer should reject it and penalise its sender.
	ErrRejected = errors.New("tasks: envelope rejected")
	// ErrIgnored means an envelope is valid but changes nothing: our own message, a stale
	// sequence number, or one over a memory bound. A gossip layer should drop it without penalty.
	ErrIgnored = errors.New("tasks: envelope ignored")
	// ErrStopped is what the progress callback returns when a run must stop: the task was
	// abandoned to a better-ranked claimer, released after a long pause, or the Manager is
	// closing. The Executor should return it (or any error) promptly.
	ErrStopped = errors.New("tasks: run stopped")
	// ErrEstimate wraps the failures of EstimateNeed and StoreEstimator.
	ErrEstimate = errors.New("tasks: cannot estimate task")
)
