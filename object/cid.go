package object

import (
	"fmt"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Prefixes of the two CID kinds we accept.
var (
	// ObjectPrefix names canonical CBOR objects: CIDv1, dag-cbor, sha2-256.
	ObjectPrefix = cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: mh.SHA2_256, MhLength: -1}
	// RawPrefix names blobs (checkpoints, dataset chunks): CIDv1, raw, sha2-256.
	RawPrefix = cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}
)

// ObjectCID returns the CID of canonical object bytes.
func ObjectCID(b []byte) cid.Cid { return sum(ObjectPrefix, b) }

// RawCID returns the CID of a blob.
func RawCID(b []byte) cid.Cid { return sum(RawPrefix, b) }

func sum(p cid.Prefix, b []byte) cid.Cid {
	c, err := p.Sum(b)
	if err != nil { // sha2-256 with default length cannot fail
		panic(fmt.Sprintf("object: cid sum: %v", err))
	}
	return c
}

// CheckCID returns ErrBadCID unless c is a CIDv1 with sha2-256 and codec dag-cbor or raw.
func CheckCID(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("%w: undefined", ErrBadCID)
	}
	p := c.Prefix()
	if p.Version != 1 || p.MhType != mh.SHA2_256 || p.MhLength != 32 || (p.Codec != cid.DagCBOR && p.Codec != cid.Raw) {
		return fmt.Errorf("%w: %s (v%d codec 0x%x hash 0x%x)", ErrBadCID, c, p.Version, p.Codec, p.MhType)
	}
	return nil
}

// ParseCID parses the string form of a CID and checks it against the allow-list.
func ParseCID(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %q: %w", ErrBadCID, s, err)
	}
	if err := CheckCID(c); err != nil {
		return cid.Undef, err
	}
	return c, nil
}

// CastCID parses the binary form of a CID and checks it against the allow-list.
func CastCID(b []byte) (cid.Cid, error) {
	c, err := cid.Cast(b)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %w", ErrBadCID, err)
	}
	if err := CheckCID(c); err != nil {
		return cid.Undef, err
	}
	return c, nil
}

// Verify checks that b hashes to c (whose prefix must be allowed).
func Verify(c cid.Cid, b []byte) error {
	if err := CheckCID(c); err != nil {
		return err
	}
	got := sum(c.Prefix(), b)
	if !got.Equals(c) {
		return fmt.Errorf("%w: want %s, got %s", ErrHashMismatch, c, got)
	}
	return nil
}

// Encode marshals v canonically and returns the bytes and their object CID.
func Encode(v any) ([]byte, cid.Cid, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, cid.Undef, err
	}
	return b, ObjectCID(b), nil
}

// CID returns the object CID of v.
func CID(v any) (cid.Cid, error) {
	_, c, err := Encode(v)
	return c, err
}

// Decode verifies that b hashes to want, then unmarshals it strictly into v.
func Decode(want cid.Cid, b []byte, v any) error {
	if want.Prefix().Codec != cid.DagCBOR {
		return fmt.Errorf("%w: %s is not an object CID", ErrBadCID, want)
	}
	if err := Verify(want, b); err != nil {
		return err
	}
	return Unmarshal(b, v)
}
