package object

import (
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

// Domain is the signing domain of every airanode envelope: a signature made for another
// application's domain never verifies here, and ours never verify there.
const Domain = "airanode"

// Kind names the type of object inside an envelope; it is the envelope's payload type.
type Kind string

// The kinds of authored objects.
const (
	KindSearch      Kind = "/airanode/search/1"
	KindProposal    Kind = "/airanode/proposal/1"
	KindClaim       Kind = "/airanode/claim/1"
	KindResult      Kind = "/airanode/result/1"
	KindAttestation Kind = "/airanode/attestation/1"
)

// MaxEnvelope caps an envelope's encoded size: the object plus key and signature.
const MaxEnvelope = MaxSize + 4096

// payload adapts canonical object bytes to go-libp2p's record.Record.
type payload struct {
	kind Kind
	data []byte
}

func (p *payload) Domain() string                 { return Domain }
func (p *payload) Codec() []byte                  { return []byte(p.kind) }
func (p *payload) MarshalRecord() ([]byte, error) { return p.data, nil }
func (p *payload) UnmarshalRecord(b []byte) error { p.data = append([]byte(nil), b...); return nil }

// Seal encodes v canonically and signs it as kind with sk. It returns the envelope bytes.
func Seal(sk crypto.PrivKey, kind Kind, v any) ([]byte, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	env, err := record.Seal(&payload{kind: kind, data: b}, sk)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", kind, err)
	}
	out, err := env.Marshal()
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", kind, err)
	}
	return out, nil
}

// Signed is an opened envelope: who signed it, and the canonical object bytes inside.
type Signed struct {
	Author peer.ID
	Kind   Kind
	Data   []byte
}

// OpenAny verifies an envelope of any kind and returns its author, kind and payload bytes (not yet
// decoded). Tampered, truncated or foreign-domain envelopes give ErrSignature.
func OpenAny(env []byte) (Signed, error) {
	if len(env) > MaxEnvelope {
		return Signed{}, fmt.Errorf("open envelope: %d bytes: %w", len(env), ErrTooLarge)
	}
	var p payload
	e, err := record.ConsumeTypedEnvelope(env, &p)
	if err != nil {
		return Signed{}, fmt.Errorf("open envelope: %w: %w", ErrSignature, err)
	}
	author, err := peer.IDFromPublicKey(e.PublicKey)
	if err != nil {
		return Signed{}, fmt.Errorf("open envelope: author key: %w: %w", ErrSignature, err)
	}
	return Signed{Author: author, Kind: Kind(e.PayloadType), Data: p.data}, nil
}

// Open verifies an envelope, checks that it carries kind, decodes the object strictly into v and
// returns the author's peer ID.
func Open(env []byte, kind Kind, v any) (peer.ID, error) {
	s, err := OpenAny(env)
	if err != nil {
		return "", err
	}
	if s.Kind != kind {
		return "", fmt.Errorf("open envelope: %w: want %s, got %q", ErrKind, kind, s.Kind)
	}
	if err := Unmarshal(s.Data, v); err != nil {
		return "", fmt.Errorf("open %s: %w", kind, err)
	}
	return s.Author, nil
}

// SealedCID returns the name of a sealed object: the object CID of the payload inside the envelope
// (so the name covers the content, author field included, and the envelope adds authenticity).
func SealedCID(env []byte) (cid.Cid, Signed, error) {
	s, err := OpenAny(env)
	if err != nil {
		return cid.Undef, Signed{}, err
	}
	return ObjectCID(s.Data), s, nil
}

// VerifyBlock checks a block fetched by c: a raw CID must hash its bytes; an object CID must either
// hash the bytes (an unsigned object) or name the payload of the signed envelope the bytes hold.
func VerifyBlock(c cid.Cid, b []byte) error {
	if err := CheckCID(c); err != nil {
		return err
	}
	if c.Prefix().Codec == cid.Raw || ObjectCID(b).Equals(c) {
		return Verify(c, b)
	}
	got, _, err := SealedCID(b)
	if err != nil {
		return fmt.Errorf("%w: %s: not the object and not a valid envelope of it", ErrHashMismatch, c)
	}
	if !got.Equals(c) {
		return fmt.Errorf("%w: envelope payload is %s, want %s", ErrHashMismatch, got, c)
	}
	return nil
}
