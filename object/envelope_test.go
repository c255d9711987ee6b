package object

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

func newKey(t testing.TB, typ int) (crypto.PrivKey, peer.ID) {
	t.Helper()
	sk, _, err := crypto.GenerateKeyPairWithReader(typ, 2048, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return sk, id
}

// rawRecord lets a test sign arbitrary payload bytes under any domain and payload type.
type rawRecord struct {
	domain string
	codec  []byte
	data   []byte
}

func (r *rawRecord) Domain() string                 { return r.domain }
func (r *rawRecord) Codec() []byte                  { return r.codec }
func (r *rawRecord) MarshalRecord() ([]byte, error) { return r.data, nil }
func (r *rawRecord) UnmarshalRecord(b []byte) error { r.data = b; return nil }

func sealRaw(t testing.TB, sk crypto.PrivKey, domain string, kind Kind, data []byte) []byte {
	t.Helper()
	env, err := record.Seal(&rawRecord{domain: domain, codec: []byte(kind), data: data}, sk)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	in := sample{ID: 3, Inner: inner{Name: "result"}, Attrs: map[string]int64{"loss_micro": 1234567}}
	payload, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		typ  int
	}{
		{"ed25519", crypto.Ed25519},
		{"secp256k1", crypto.Secp256k1},
		{"ecdsa", crypto.ECDSA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sk, author := newKey(t, tc.typ)
			env, err := Seal(sk, KindResult, in)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			var out sample
			who, err := Open(env, KindResult, &out)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if who != author {
				t.Fatalf("author %s, want %s", who, author)
			}
			if out.ID != in.ID || out.Inner.Name != in.Inner.Name || out.Attrs["loss_micro"] != 1234567 {
				t.Fatalf("opened %+v, want %+v", out, in)
			}
			s, err := OpenAny(env)
			if err != nil || s.Author != author || s.Kind != KindResult || !bytes.Equal(s.Data, payload) {
				t.Fatalf("OpenAny = %+v, %v", s, err)
			}
			c, s2, err := SealedCID(env)
			if err != nil || !c.Equals(ObjectCID(payload)) || s2.Author != author {
				t.Fatalf("SealedCID = %s, %+v, %v; want %s", c, s2, err, ObjectCID(payload))
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	sk, _ := newKey(t, crypto.Ed25519)
	in := small{A: 9, B: "x"}
	env, err := Seal(sk, KindAttestation, in)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("every byte flipped", func(t *testing.T) {
		for i := range env {
			bad := bytes.Clone(env)
			bad[i] ^= 0x01
			if _, err := OpenAny(bad); !errors.Is(err, ErrSignature) {
				t.Fatalf("flip at %d of %d: OpenAny = %v, want ErrSignature", i, len(env), err)
			}
		}
	})
	t.Run("every truncation", func(t *testing.T) {
		for n := range len(env) {
			if _, err := OpenAny(env[:n]); !errors.Is(err, ErrSignature) {
				t.Fatalf("truncated to %d of %d: OpenAny = %v, want ErrSignature", n, len(env), err)
			}
		}
	})
	t.Run("wrong kind", func(t *testing.T) {
		var out small
		who, err := Open(env, KindResult, &out)
		if !errors.Is(err, ErrKind) || who != "" {
			t.Fatalf("Open as another kind = %q, %v; want ErrKind", who, err)
		}
	})
	t.Run("foreign domain", func(t *testing.T) {
		foreign := sealRaw(t, sk, "libp2p-peer-record", KindAttestation, payload)
		var out small
		if _, err := Open(foreign, KindAttestation, &out); !errors.Is(err, ErrSignature) {
			t.Fatalf("Open of a foreign-domain envelope = %v, want ErrSignature", err)
		}
		if _, err := OpenAny(foreign); !errors.Is(err, ErrSignature) {
			t.Fatalf("OpenAny of a foreign-domain envelope = %v, want ErrSignature", err)
		}
		// And ours do not verify in another domain.
		var r rawRecord
		r.domain = "libp2p-peer-record"
		if _, err := record.ConsumeTypedEnvelope(env, &r); err == nil {
			t.Fatal("our envelope verified in a foreign domain")
		}
	})
	t.Run("signed non-canonical payload", func(t *testing.T) {
		nc := sealRaw(t, sk, Domain, KindAttestation, h("a2 61 61 18 09 61 62 61 78"))
		if _, err := OpenAny(nc); err != nil {
			t.Fatalf("OpenAny: %v (the signature is fine)", err)
		}
		var out small
		if _, err := Open(nc, KindAttestation, &out); !errors.Is(err, ErrNotCanonical) {
			t.Fatalf("Open = %v, want ErrNotCanonical", err)
		}
	})
	t.Run("payload of another type", func(t *testing.T) {
		var out inner
		if _, err := Open(env, KindAttestation, &out); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Open into the wrong struct = %v, want ErrMalformed", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for _, g := range [][]byte{nil, {0}, []byte("not an envelope"), bytes.Repeat([]byte{0xff}, 100)} {
			if _, err := OpenAny(g); !errors.Is(err, ErrSignature) {
				t.Fatalf("OpenAny(%x) = %v, want ErrSignature", g, err)
			}
		}
	})
	t.Run("too large", func(t *testing.T) {
		if _, err := OpenAny(make([]byte, MaxEnvelope+1)); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("OpenAny of an oversized envelope = %v, want ErrTooLarge", err)
		}
	})
	t.Run("seal rejects floats", func(t *testing.T) {
		if _, err := Seal(sk, KindResult, map[string]any{"score": 0.5}); !errors.Is(err, ErrFloat) {
			t.Fatalf("Seal with a float = %v, want ErrFloat", err)
		}
	})
}

func TestVerifyBlock(t *testing.T) {
	sk, _ := newKey(t, crypto.Ed25519)
	in := small{A: 1, B: "sealed"}
	env, err := Seal(sk, KindProposal, in)
	if err != nil {
		t.Fatal(err)
	}
	payload, pc, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(env)
	tampered[len(tampered)-1] ^= 1
	objBytes, objCID, err := Encode(small{A: 2})
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte("a checkpoint chunk")
	for _, tc := range []struct {
		name string
		c    cid.Cid
		b    []byte
		want error
	}{
		{"raw", RawCID(raw), raw, nil},
		{"raw mismatch", RawCID(raw), raw[1:], ErrHashMismatch},
		{"empty raw", RawCID(nil), nil, nil},
		{"object", objCID, objBytes, nil},
		{"object mismatch", objCID, payload, ErrHashMismatch},
		{"sealed under payload CID", pc, env, nil},
		{"payload under its CID", pc, payload, nil},
		{"sealed under another CID", objCID, env, ErrHashMismatch},
		{"tampered envelope", pc, tampered, ErrHashMismatch},
		{"envelope under raw CID of payload", RawCID(payload), env, ErrHashMismatch},
		{"envelope under its own object CID", ObjectCID(env), env, nil},
		{"empty under object CID", pc, nil, ErrHashMismatch},
		{"undefined CID", cid.Undef, raw, ErrBadCID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyBlock(tc.c, tc.b)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("VerifyBlock = %v, want %v", err, tc.want)
			}
		})
	}
}
