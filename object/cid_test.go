package object

import (
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	mbase "github.com/multiformats/go-multibase"
	mh "github.com/multiformats/go-multihash"
)

func mustSum(t *testing.T, p cid.Prefix, b []byte) cid.Cid {
	t.Helper()
	c, err := p.Sum(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCIDAllowList(t *testing.T) {
	data := []byte("some bytes")
	obj := ObjectCID(data)
	raw := RawCID(data)
	if p := obj.Prefix(); p.Version != 1 || p.Codec != cid.DagCBOR || p.MhType != mh.SHA2_256 || p.MhLength != 32 {
		t.Fatalf("ObjectCID prefix %+v", p)
	}
	if p := raw.Prefix(); p.Version != 1 || p.Codec != cid.Raw || p.MhType != mh.SHA2_256 {
		t.Fatalf("RawCID prefix %+v", p)
	}
	base58, err := obj.StringOfBase(mbase.Base58BTC)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    string
		want cid.Cid
	}{
		{"object", obj.String(), obj},
		{"raw", raw.String(), raw},
		{"object in base58", base58, obj},
	} {
		t.Run("accept "+tc.name, func(t *testing.T) {
			c, err := ParseCID(tc.s)
			if err != nil || !c.Equals(tc.want) {
				t.Fatalf("ParseCID(%q) = %s, %v", tc.s, c, err)
			}
			c, err = CastCID(tc.want.Bytes())
			if err != nil || !c.Equals(tc.want) {
				t.Fatalf("CastCID = %s, %v", c, err)
			}
			if err := CheckCID(tc.want); err != nil {
				t.Fatalf("CheckCID: %v", err)
			}
		})
	}

	sha256mh, err := mh.Sum(data, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	truncated, err := mh.Sum(data, mh.SHA2_256, 20)
	if err != nil {
		t.Fatal(err)
	}
	identity, err := mh.Sum(data, mh.IDENTITY, -1)
	if err != nil {
		t.Fatal(err)
	}
	rejected := []struct {
		name string
		c    cid.Cid
	}{
		{"CIDv0", cid.NewCidV0(sha256mh)},
		{"dag-pb v1", cid.NewCidV1(cid.DagProtobuf, sha256mh)},
		{"dag-json v1", cid.NewCidV1(cid.DagJSON, sha256mh)},
		{"sha2-512", mustSum(t, cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: mh.SHA2_512, MhLength: -1}, data)},
		{"sha3-256", mustSum(t, cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA3_256, MhLength: -1}, data)},
		{"blake2b-256", mustSum(t, cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.BLAKE2B_MIN + 31, MhLength: -1}, data)},
		{"truncated sha2-256", cid.NewCidV1(cid.Raw, truncated)},
		{"identity hash", cid.NewCidV1(cid.Raw, identity)},
	}
	for _, tc := range rejected {
		t.Run("reject "+tc.name, func(t *testing.T) {
			if err := CheckCID(tc.c); !errors.Is(err, ErrBadCID) {
				t.Fatalf("CheckCID = %v, want ErrBadCID", err)
			}
			if _, err := ParseCID(tc.c.String()); !errors.Is(err, ErrBadCID) {
				t.Fatalf("ParseCID(%s) = %v, want ErrBadCID", tc.c, err)
			}
			if _, err := CastCID(tc.c.Bytes()); !errors.Is(err, ErrBadCID) {
				t.Fatalf("CastCID = %v, want ErrBadCID", err)
			}
			if err := Verify(tc.c, data); !errors.Is(err, ErrBadCID) {
				t.Fatalf("Verify = %v, want ErrBadCID", err)
			}
			if err := VerifyBlock(tc.c, data); !errors.Is(err, ErrBadCID) {
				t.Fatalf("VerifyBlock = %v, want ErrBadCID", err)
			}
		})
	}
	if err := CheckCID(cid.Undef); !errors.Is(err, ErrBadCID) {
		t.Fatalf("CheckCID(Undef) = %v", err)
	}
	s := obj.String()
	for _, bad := range []string{"", "garbage", "Qm", s[:len(s)-3], s + "a", "z" + s, "b" + s[1:len(s)-1] + "1", " " + s} {
		if _, err := ParseCID(bad); !errors.Is(err, ErrBadCID) {
			t.Errorf("ParseCID(%q) = %v, want ErrBadCID", bad, err)
		}
	}
	b := obj.Bytes()
	for _, bad := range [][]byte{nil, {0x01}, b[:10], append(b[:len(b):len(b)], 0), append([]byte{0}, b...)} {
		if _, err := CastCID(bad); !errors.Is(err, ErrBadCID) {
			t.Errorf("CastCID(%x) = %v, want ErrBadCID", bad, err)
		}
	}
}

func TestVerifyAndDecode(t *testing.T) {
	b, c, err := Encode(small{A: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(c, b); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	other, _, err := Encode(small{A: 6})
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(c, other); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Verify of other bytes = %v", err)
	}
	nonCanon := h("a1 61 61 18 05") // {a: 5} with a non-shortest integer
	for _, tc := range []struct {
		name string
		c    cid.Cid
		b    []byte
		want error
	}{
		{"ok", c, b, nil},
		{"hash mismatch", c, other, ErrHashMismatch},
		{"raw CID", RawCID(b), b, ErrBadCID},
		{"undefined CID", cid.Undef, b, ErrBadCID},
		{"sha2-512 object CID", mustSum(t, cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: mh.SHA2_512, MhLength: -1}, b), b, ErrBadCID},
		{"non-canonical under its own CID", ObjectCID(nonCanon), nonCanon, ErrNotCanonical},
		{"empty", ObjectCID(nil), nil, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out small
			err := Decode(tc.c, tc.b, &out)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
			if err == nil && out.A != 5 {
				t.Fatalf("decoded %+v", out)
			}
		})
	}
}
