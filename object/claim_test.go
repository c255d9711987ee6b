package object

import (
	"bytes"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func claimFixture(id peer.ID) Claim {
	return Claim{
		Task: ObjectCID([]byte("task")).String(), Claimer: id.String(), Rank: 1, Seq: 3,
		Step: 5, Of: 10, LeaseMillis: 30_000, State: ClaimProgress, Time: 1_700_000_000_000,
	}
}

func offerFixture(id peer.ID) Offer {
	return Offer{
		Task:     Task{Arch: ObjectCID([]byte("arch")).String(), Protocol: ObjectCID([]byte("proto")).String(), Seed: 7},
		Replicas: 2, Need: Need{Memory: 1 << 20, Compute: 1e9}, Submitter: id.String(), Time: 1,
	}
}

func capabilityFixture(id peer.ID) Capability {
	return Capability{Peer: id.String(), Seq: 1, Memory: 1 << 30, Workers: 4, Accepting: true, Class: "cpu-v1", Time: 1}
}

func TestClaimValidate(t *testing.T) {
	_, id := newKey(t, crypto.Ed25519)
	runValidate(t, func() Claim { return claimFixture(id) }, []validateCase[Claim]{
		{"ok", func(*Claim) {}, ""},
		{"claimed", func(c *Claim) { c.State = ClaimClaimed; c.Step = 0 }, ""},
		{"released", func(c *Claim) { c.State = ClaimReleased; c.LeaseMillis = 0 }, ""},
		{"done", func(c *Claim) {
			c.State, c.LeaseMillis, c.Result = ClaimDone, 0, ObjectCID([]byte("r")).String()
		}, ""},
		{"bad task", func(c *Claim) { c.Task = "nope" }, "task"},
		{"raw task CID ok", func(c *Claim) { c.Task = RawCID([]byte("x")).String() }, ""},
		{"no claimer", func(c *Claim) { c.Claimer = "" }, "claimer"},
		{"bad claimer", func(c *Claim) { c.Claimer = "12D3KooWbogus" }, "claimer"},
		{"negative rank", func(c *Claim) { c.Rank = -1 }, "rank"},
		{"huge rank", func(c *Claim) { c.Rank = MaxClaimRank }, "rank"},
		{"zero seq", func(c *Claim) { c.Seq = 0 }, "seq"},
		{"huge seq", func(c *Claim) { c.Seq = MaxCounter + 1 }, "seq"},
		{"step past of", func(c *Claim) { c.Step = 11 }, "progress"},
		{"negative step", func(c *Claim) { c.Step = -1 }, "progress"},
		{"negative time", func(c *Claim) { c.Time = -1 }, "time"},
		{"short lease", func(c *Claim) { c.LeaseMillis = MinLeaseMillis - 1 }, "lease"},
		{"long lease", func(c *Claim) { c.LeaseMillis = MaxLeaseMillis + 1 }, "lease"},
		{"released with lease", func(c *Claim) { c.State = ClaimReleased }, "lease"},
		{"unknown state", func(c *Claim) { c.State = "stolen" }, "state"},
		{"done without result", func(c *Claim) { c.State, c.LeaseMillis = ClaimDone, 0 }, "result"},
		{"result while live", func(c *Claim) { c.Result = ObjectCID([]byte("r")).String() }, "result"},
	})
}

func TestOfferAndCapabilityValidate(t *testing.T) {
	_, id := newKey(t, crypto.Ed25519)
	t.Run("offer", func(t *testing.T) {
		runValidate(t, func() Offer { return offerFixture(id) }, []validateCase[Offer]{
			{"ok", func(*Offer) {}, ""},
			{"bad arch", func(o *Offer) { o.Task.Arch = "" }, "arch"},
			{"zero replicas", func(o *Offer) { o.Replicas = 0 }, "replicas"},
			{"too many replicas", func(o *Offer) { o.Replicas = MaxReplicas + 1 }, "replicas"},
			{"negative memory", func(o *Offer) { o.Need.Memory = -1 }, "need"},
			{"huge compute", func(o *Offer) { o.Need.Compute = MaxCompute + 1 }, "need"},
			{"bad submitter", func(o *Offer) { o.Submitter = "x" }, "submitter"},
			{"negative time", func(o *Offer) { o.Time = -5 }, "time"},
		})
	})
	t.Run("capability", func(t *testing.T) {
		runValidate(t, func() Capability { return capabilityFixture(id) }, []validateCase[Capability]{
			{"ok", func(*Capability) {}, ""},
			{"no limits", func(c *Capability) { c.Memory, c.Workers, c.Class = 0, 0, "" }, ""},
			{"bad peer", func(c *Capability) { c.Peer = "" }, "peer"},
			{"zero seq", func(c *Capability) { c.Seq = 0 }, "seq"},
			{"negative memory", func(c *Capability) { c.Memory = -1 }, "memory"},
			{"negative compute", func(c *Capability) { c.Compute = -1 }, "compute"},
			{"many workers", func(c *Capability) { c.Workers = MaxWorkers + 1 }, "workers"},
			{"long class", func(c *Capability) { c.Class = strings.Repeat("c", 200) }, "class"},
		})
	})
}

func TestCapabilityFits(t *testing.T) {
	c := Capability{Memory: 100, Compute: 1000}
	for _, tc := range []struct {
		need Need
		want bool
	}{
		{Need{100, 1000}, true}, {Need{101, 0}, false}, {Need{0, 1001}, false}, {Need{}, true},
	} {
		if got := c.Fits(tc.need); got != tc.want {
			t.Errorf("Fits(%+v) = %v", tc.need, got)
		}
	}
	if !(Capability{}).Fits(Need{Memory: MaxMemory, Compute: MaxCompute}) {
		t.Error("a capability without limits should fit everything")
	}
}

func TestOpenClaimFamily(t *testing.T) {
	sk, id := newKey(t, crypto.Ed25519)
	other, otherID := newKey(t, crypto.Ed25519)
	claim, offer, capa := claimFixture(id), offerFixture(id), capabilityFixture(id)
	result := validResult()
	result.Executor = id.String()

	// Round trips.
	if got, err := OpenClaim(seal(t, sk, KindClaim, claim)); err != nil || got != claim {
		t.Fatalf("OpenClaim = %+v, %v", got, err)
	}
	if got, err := OpenOffer(seal(t, sk, KindOffer, offer)); err != nil || got != offer {
		t.Fatalf("OpenOffer = %+v, %v", got, err)
	}
	if got, err := OpenCapability(seal(t, sk, KindCapability, capa)); err != nil || got != capa {
		t.Fatalf("OpenCapability = %+v, %v", got, err)
	}
	if got, err := OpenResult(seal(t, sk, KindResult, result)); err != nil || got.Executor != id.String() || got.Score != result.Score {
		t.Fatalf("OpenResult = %+v, %v", got, err)
	}

	badClaim := claim
	badClaim.Seq = 0
	tampered := seal(t, sk, KindClaim, claim)
	tampered[len(tampered)-1] ^= 1
	big := claim
	big.Task = strings.Repeat("b", MaxSmallEnvelope)
	otherResult := result
	otherResult.Executor = otherID.String()
	runErrors(t, []errCase{
		{"claim wrong signer", func() error { _, err := OpenClaim(seal(t, other, KindClaim, claim)); return err }, ErrSigner},
		{"offer wrong signer", func() error { _, err := OpenOffer(seal(t, other, KindOffer, offer)); return err }, ErrSigner},
		{"capability wrong signer", func() error { _, err := OpenCapability(seal(t, other, KindCapability, capa)); return err }, ErrSigner},
		{"result wrong signer", func() error { _, err := OpenResult(seal(t, sk, KindResult, otherResult)); return err }, ErrSigner},
		{"claim as offer", func() error { _, err := OpenOffer(seal(t, sk, KindClaim, claim)); return err }, ErrKind},
		{"offer as claim", func() error { _, err := OpenClaim(seal(t, sk, KindOffer, offer)); return err }, ErrKind},
		{"invalid claim", func() error { _, err := OpenClaim(seal(t, sk, KindClaim, badClaim)); return err }, ErrInvalid},
		{"tampered", func() error { _, err := OpenClaim(tampered); return err }, ErrSignature},
		{"garbage", func() error { _, err := OpenClaim([]byte("garbage")); return err }, ErrSignature},
		{"empty", func() error { _, err := OpenClaim(nil); return err }, ErrSignature},
		{"oversized", func() error { _, err := OpenClaim(seal(t, sk, KindClaim, big)); return err }, ErrTooLarge},
		{"oversized payload", func() error {
			s := Signed{Author: id, Kind: KindClaim, Data: make([]byte, MaxSmallEnvelope+1)}
			_, err := ClaimOf(s)
			return err
		}, ErrTooLarge},
		{"unknown field", func() error {
			env := seal(t, sk, KindClaim, map[string]any{"task": claim.Task, "claimer": claim.Claimer, "evil": 1})
			_, err := OpenClaim(env)
			return err
		}, ErrMalformed},
	})
}

// FuzzOpenClaim: the claim decoders never panic on arbitrary envelopes or payloads, everything they
// accept is valid and signed by its claimer, and it re-encodes to the payload it came from.
func FuzzOpenClaim(f *testing.F) {
	sk, id := newKey(f, crypto.Ed25519)
	c := claimFixture(id)
	env, err := Seal(sk, KindClaim, c)
	if err != nil {
		f.Fatal(err)
	}
	payload, err := Marshal(c)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env, payload)
	f.Add(env[:len(env)/2], payload[:len(payload)/2])
	f.Add([]byte{}, h("a1 61 61 f9 3c 00"))
	f.Add([]byte("\x0a\x00"), h("a9 63 6f 66 00"))
	f.Fuzz(func(t *testing.T, env, payload []byte) {
		if got, err := OpenClaim(env); err == nil {
			if got.Validate() != nil {
				t.Fatalf("accepted an invalid claim %+v", got)
			}
			s, err := OpenAny(env)
			if err != nil || s.Author.String() != got.Claimer {
				t.Fatalf("accepted a claim not signed by its claimer: %v", err)
			}
		}
		// The payload path, as if it came out of a validly signed envelope.
		got, err := ClaimOf(Signed{Author: id, Kind: KindClaim, Data: payload})
		if err != nil {
			return
		}
		if got.Claimer != id.String() || got.Validate() != nil {
			t.Fatalf("accepted %+v", got)
		}
		re, err := Marshal(got)
		if err != nil || !bytes.Equal(re, payload) {
			t.Fatalf("accepted non-canonical payload: %x vs %x (%v)", re, payload, err)
		}
	})
}
