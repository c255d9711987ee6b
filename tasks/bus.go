package tasks

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
)

// Bus publishes signed envelopes to the network. The node implements it on gossip topics; package
// taskstest has an in-memory one. Publish must not call back into the Manager synchronously (a
// Bus delivers to Manager.HandleEnvelope from its own goroutines). Implementations must be safe
// for concurrent use.
type Bus interface {
	// Publish sends env, an envelope of kind, to the other nodes. search is the CID of the search
	// the message belongs to (a task's Search), or "" for network-wide messages (capabilities and
	// tasks outside any search); the node maps it to a topic.
	Publish(ctx context.Context, search string, kind object.Kind, env []byte) error
}

// Kinds are the envelope kinds a Manager publishes and handles.
var Kinds = []object.Kind{object.KindOffer, object.KindCapability, object.KindClaim, object.KindResult}

// Check decodes and checks an opened envelope of one of Kinds without any state: kind, size cap,
// strict decoding, bounds, and that the signer is the author the object names. It returns the
// decoded object (object.Offer, object.Capability, object.Claim or object.Result) and, for claims
// and capabilities, the time the author says it signed (zero otherwise), so a gossip validator can
// drop stale replays. Its signature is the check function of p2p.EnvelopeDecoder. Errors wrap
// ErrRejected.
func Check(s object.Signed) (any, time.Time, error) {
	var (
		v   any
		t   time.Time
		err error
	)
	switch s.Kind {
	case object.KindClaim:
		var c object.Claim
		c, err = object.ClaimOf(s)
		v, t = c, time.UnixMilli(c.Time)
	case object.KindCapability:
		var c object.Capability
		c, err = object.CapabilityOf(s)
		v, t = c, time.UnixMilli(c.Time)
	case object.KindOffer:
		v, err = object.OfferOf(s)
	case object.KindResult:
		v, err = object.ResultOf(s)
	default:
		err = fmt.Errorf("%w: %q", object.ErrKind, s.Kind)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return v, t, nil
}

// checkEnvelope opens env and checks it with Check; from, when not empty, must be the signer.
func checkEnvelope(from peer.ID, env []byte) (object.Signed, any, error) {
	s, err := object.OpenAny(env)
	if err != nil {
		return object.Signed{}, nil, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	if from != "" && s.Author != from {
		return object.Signed{}, nil, fmt.Errorf("%w: %w: delivered as from %s, signed by %s", ErrRejected, object.ErrSigner, from, s.Author)
	}
	v, _, err := Check(s)
	if err != nil {
		return object.Signed{}, nil, err
	}
	return s, v, nil
}
