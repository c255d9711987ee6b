package object

import "fmt"

// AttestationVerdict is what a verifier concluded about one result.
type AttestationVerdict string

// The two verdicts of an attestation.
const (
	// Agree: the re-run segment ended on the result's digest and the final evaluation gave the
	// result's score.
	Agree AttestationVerdict = "agree"
	// Disagree: the re-run gave another digest or score, or could not start (the segment's starting
	// checkpoint was unavailable or did not match the chain); Digest is then empty.
	Disagree AttestationVerdict = "disagree"
)

// Attestation is a verifier's signed statement about one Result: it fetched the starting
// checkpoint of one segment, re-ran that segment and the final evaluation in its own
// reproducibility class, and reports what it got. It travels in an envelope of KindAttestation
// signed by Verifier.
type Attestation struct {
	// Result is the CID of the sealed result (object.SealedCID of its envelope).
	Result string `cbor:"result" json:"result"`
	// Task is the CID of the task the result is for.
	Task string `cbor:"task" json:"task"`
	// Verifier is the peer ID of the node that re-ran the segment; it must equal the envelope's
	// signer.
	Verifier string `cbor:"verifier" json:"verifier"`
	// Verdict is Agree or Disagree.
	Verdict AttestationVerdict `cbor:"verdict" json:"verdict"`
	// Segment is the index (0-based) into the result's Segments of the segment re-run.
	Segment int64 `cbor:"segment" json:"segment"`
	// Digest is the state digest the verifier reached at the end of Segment; empty only for a
	// Disagree that could not run.
	Digest []byte `cbor:"digest,omitempty" json:"digest,omitempty"`
	// Score is the overall score (fixed-point, Fixed) the verifier's final evaluation gave.
	Score int64 `cbor:"score" json:"score"`
	// Class is the verifier's reproducibility class; a segment re-run reproduces bits only within
	// the result's class.
	Class string `cbor:"class" json:"class"`
}

// Validate checks bounds and formats. It does not check the attestation against its result.
func (a Attestation) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: attestation: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if _, err := ParseCID(a.Result); err != nil {
		return bad("result: %v", err)
	}
	if _, err := ParseCID(a.Task); err != nil {
		return bad("task: %v", err)
	}
	if a.Verifier == "" || len(a.Verifier) > maxName {
		return bad("verifier %q", a.Verifier)
	}
	if a.Class == "" || len(a.Class) > maxName {
		return bad("class %q", a.Class)
	}
	if a.Segment < 0 || a.Segment >= MaxSegments {
		return bad("segment %d, want 0-%d", a.Segment, MaxSegments-1)
	}
	switch a.Verdict {
	case Agree:
		if len(a.Digest) != DigestSize {
			return bad("agree with a digest of %d bytes", len(a.Digest))
		}
	case Disagree:
		if len(a.Digest) != 0 && len(a.Digest) != DigestSize {
			return bad("disagree with a digest of %d bytes", len(a.Digest))
		}
	default:
		return bad("verdict %q, want %q or %q", a.Verdict, Agree, Disagree)
	}
	return nil
}

// Bounds and defaults of a verification Policy.
const (
	// MaxReplicas caps Policy.Replicas and Policy.MaxExtra.
	MaxReplicas = 16
	// DefaultReplicas is R: independent executions of every task of an untrusted peer.
	DefaultReplicas = 2
	// DefaultQuorum is the number of agreeing votes a verified result needs.
	DefaultQuorum = 2
	// DefaultSpotCheck is the floor probability (ppm) that a trusted peer's task is fully
	// replicated anyway: 5%.
	DefaultSpotCheck = 50_000
	// DefaultTolerance is how far apart (ppm, see Policy.Tolerance) scores from different
	// reproducibility classes may be and still agree: 1%.
	DefaultTolerance = 10_000
	// DefaultMaxExtra is how many executions beyond R a disagreement may ask for.
	DefaultMaxExtra = 2
)

// Policy is a search's verification policy: how many independent votes a result needs and how
// disagreements are settled. It is a canonical object embedded in a Search.
type Policy struct {
	// Replicas is R, the number of independent executions of a task of an untrusted peer (1-16).
	Replicas int64 `cbor:"replicas" json:"replicas"`
	// Quorum is how many agreeing votes (executions or attestations) a verified result needs
	// (1-Replicas). A quorum of 1 verifies any lone result: only for swarms of trusted nodes.
	Quorum int64 `cbor:"quorum" json:"quorum"`
	// SpotCheck is, in ppm (0-1000000), the floor probability that a trusted peer's task is
	// replicated R times anyway; 1000000 disables adaptive replication.
	SpotCheck int64 `cbor:"spot_check,omitempty" json:"spot_check,omitempty"`
	// Tolerance is, in ppm (0-1000000), how far apart scores from different reproducibility
	// classes may be and still agree: |a-b| <= Tolerance * max(|a|, |b|, Fixed) / 1e6, that is
	// relative to the larger score, and never finer than Tolerance ppm of 1.0.
	Tolerance int64 `cbor:"tolerance,omitempty" json:"tolerance,omitempty"`
	// MaxExtra is how many votes beyond Replicas a disagreement may ask for (0-16); after them a
	// task without a majority is disputed.
	MaxExtra int64 `cbor:"max_extra,omitempty" json:"max_extra,omitempty"`
}

// DefaultPolicy returns R=2, quorum 2, 5% spot checks, 1% tolerance across classes and up to 2
// extra votes.
func DefaultPolicy() Policy {
	return Policy{
		Replicas: DefaultReplicas, Quorum: DefaultQuorum, SpotCheck: DefaultSpotCheck,
		Tolerance: DefaultTolerance, MaxExtra: DefaultMaxExtra,
	}
}

// Validate checks bounds.
func (p Policy) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: policy: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if p.Replicas < 1 || p.Replicas > MaxReplicas {
		return bad("replicas %d, want 1-%d", p.Replicas, MaxReplicas)
	}
	if p.Quorum < 1 || p.Quorum > p.Replicas {
		return bad("quorum %d, want 1-%d (replicas)", p.Quorum, p.Replicas)
	}
	if p.SpotCheck < 0 || p.SpotCheck > Fixed {
		return bad("spot check %d ppm, want 0-%d", p.SpotCheck, Fixed)
	}
	if p.Tolerance < 0 || p.Tolerance > Fixed {
		return bad("tolerance %d ppm, want 0-%d", p.Tolerance, Fixed)
	}
	if p.MaxExtra < 0 || p.MaxExtra > MaxReplicas {
		return bad("max extra %d, want 0-%d", p.MaxExtra, MaxReplicas)
	}
	return nil
}
