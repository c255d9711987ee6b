package p2p

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
)

type gossipObj struct {
	Search string `cbor:"search"`
	Made   int64  `cbor:"made"`
	Pad    []byte `cbor:"pad"`
}

// testDecoder accepts KindResult envelopes of gossipObj for search "s".
func testDecoder() Decoder {
	return EnvelopeDecoder(func(s object.Signed) (any, time.Time, error) {
		var o gossipObj
		if err := object.Unmarshal(s.Data, &o); err != nil {
			return nil, time.Time{}, err
		}
		if o.Search != "s" {
			return nil, time.Time{}, fmt.Errorf("wrong search %q", o.Search)
		}
		return o, time.UnixMilli(o.Made), nil
	}, object.KindResult)
}

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(sk)
	return sk, id
}

func seal(t testing.TB, sk crypto.PrivKey, kind object.Kind, o gossipObj) []byte {
	t.Helper()
	env, err := object.Seal(sk, kind, o)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func message(author peer.ID, data []byte) *pubsub.Message {
	m := &pb.Message{From: []byte(author), Data: data}
	return &pubsub.Message{Message: m, ID: MessageID(m)}
}

func newTestGossip(t testing.TB, cfg GossipConfig) *Gossip {
	t.Helper()
	mn := mockHostsTB(t, 1)
	g, err := NewGossip(mn[0], cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

func TestValidate(t *testing.T) {
	skA, a := newKey(t)
	skB, b := newKey(t)
	now := time.Now().UnixMilli()
	ok := seal(t, skA, object.KindResult, gossipObj{Search: "s", Made: now})
	tampered := append([]byte(nil), ok...)
	tampered[len(tampered)-3] ^= 0x40
	cfg := DefaultGossipConfig()
	cfg.MaxDataSize = 8 << 10

	tests := []struct {
		name   string
		author peer.ID
		data   []byte
		dec    Decoder
		want   pubsub.ValidationResult
		reason error
	}{
		{"valid", a, ok, nil, pubsub.ValidationAccept, nil},
		{"duplicate (same message again)", a, ok, nil, pubsub.ValidationIgnore, nil},
		{"another author re-sends a's envelope", b, ok, nil, pubsub.ValidationReject, ErrAuthor},
		{"unsigned message", "", ok, nil, pubsub.ValidationReject, nil},
		{"tampered envelope signature", a, tampered, nil, pubsub.ValidationReject, object.ErrSignature},
		{"garbage", a, []byte("not an envelope"), nil, pubsub.ValidationReject, object.ErrSignature},
		{"wrong kind", b, seal(t, skB, object.KindClaim, gossipObj{Search: "s", Made: now}), nil, pubsub.ValidationReject, object.ErrKind},
		{"wrong search", b, seal(t, skB, object.KindResult, gossipObj{Search: "t", Made: now}), nil, pubsub.ValidationReject, nil},
		{"oversized", b, seal(t, skB, object.KindResult, gossipObj{Search: "s", Made: now, Pad: make([]byte, 9<<10)}), nil, pubsub.ValidationReject, ErrTooLarge},
		{"stale", b, seal(t, skB, object.KindResult, gossipObj{Search: "s", Made: now - (25 * time.Hour).Milliseconds()}), nil, pubsub.ValidationIgnore, nil},
		{"from the future", b, seal(t, skB, object.KindResult, gossipObj{Search: "s", Made: now + time.Hour.Milliseconds()}), nil, pubsub.ValidationIgnore, nil},
		{"decoder says ignore", b, []byte("x"), func([]byte) (Decoded, error) { return Decoded{}, fmt.Errorf("later: %w", ErrIgnore) }, pubsub.ValidationIgnore, ErrIgnore},
		{"decoder panics", b, []byte("x"), func([]byte) (Decoded, error) { panic("boom") }, pubsub.ValidationReject, ErrMalformed},
		{"same object, other message id", b, []byte("y"), func([]byte) (Decoded, error) {
			return Decoded{CID: object.ObjectCID([]byte("obj"))}, nil
		}, pubsub.ValidationAccept, nil},
		{"same object again", b, []byte("z"), func([]byte) (Decoded, error) {
			return Decoded{CID: object.ObjectCID([]byte("obj"))}, nil
		}, pubsub.ValidationIgnore, nil},
	}
	g := newTestGossip(t, cfg)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := tt.dec
			if dec == nil {
				dec = testDecoder()
			}
			msg := message(tt.author, tt.data)
			got, reason := g.validate(dec, cfg.MaxDataSize, msg)
			if got != tt.want {
				t.Fatalf("result %v (%v), want %v", got, reason, tt.want)
			}
			if tt.reason != nil && !errors.Is(reason, tt.reason) {
				t.Fatalf("reason %v, want %v", reason, tt.reason)
			}
			if got == pubsub.ValidationAccept {
				if _, ok := msg.ValidatorData.(Decoded); !ok {
					t.Fatal("accepted without ValidatorData")
				}
			} else if msg.ValidatorData != nil {
				t.Fatal("ValidatorData set on a dropped message")
			}
		})
	}
	d := testDecoder()
	v, _ := d(ok)
	if v.Author != a || !v.CID.Defined() {
		t.Fatalf("decoded %+v", v)
	}
}

func TestGossipConfigValidate(t *testing.T) {
	edits := map[string]func(*GossipConfig){
		"tiny message":      func(c *GossipConfig) { c.MaxMessageSize = 10 },
		"data over message": func(c *GossipConfig) { c.MaxDataSize = c.MaxMessageSize + 1 },
		"no seen ttl":       func(c *GossipConfig) { c.SeenTTL = 0 },
		"negative skew":     func(c *GossipConfig) { c.MaxSkew = -1 },
		"no score interval": func(c *GossipConfig) { c.ScoreInterval = 0 },
	}
	for name, edit := range edits {
		c := DefaultGossipConfig()
		edit(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestJoinLeave(t *testing.T) {
	g := newTestGossip(t, DefaultGossipConfig())
	if _, err := g.Join("t", nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil decoder: %v", err)
	}
	if _, err := g.Join("t", testDecoder(), WithMaxData(1<<30)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("data cap over the config: %v", err)
	}
	top, err := g.Join("t", testDecoder(), WithMaxData(1024))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Join("t", testDecoder()); err == nil {
		t.Fatal("joined twice")
	}
	sub, err := top.Subscribe(4)
	if err != nil {
		t.Fatal(err)
	}
	if err := top.Leave(); err != nil {
		t.Fatal(err)
	}
	sub.Cancel() // after Leave: harmless
	if err := top.Leave(); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("second Leave: %v", err)
	}
	if err := top.Publish(t.Context(), []byte("x")); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("publish after Leave: %v", err)
	}
	if g.Topic("t") != nil {
		t.Fatal("topic still listed")
	}
	if _, err := g.Join("t", testDecoder()); err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	_ = g.Close()
	if _, err := g.Join("u", testDecoder()); !errors.Is(err, ErrClosed) {
		t.Fatalf("join after Close: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestAppScoreHook(t *testing.T) {
	g := newTestGossip(t, DefaultGossipConfig())
	_, p := newKey(t)
	if g.appScore(p) != 0 {
		t.Fatal("default app score not 0")
	}
	g.SetAppScore(func(q peer.ID) float64 {
		if q == p {
			return -3000
		}
		return 1
	})
	if g.appScore(p) != -3000 {
		t.Fatal("hook not used")
	}
	g.SetAppScore(nil)
	if g.appScore(p) != 0 {
		t.Fatal("hook not removed")
	}
}

// FuzzGossipValidate feeds arbitrary message data through the whole validation path (size cap,
// envelope decoder, author check, replay cache): it must never panic, and whatever it accepts must
// carry a decoded value signed by the message author.
func FuzzGossipValidate(f *testing.F) {
	sk, a := newKey(f)
	f.Add(seal(f, sk, object.KindResult, gossipObj{Search: "s", Made: time.Now().UnixMilli()}))
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	cfg := DefaultGossipConfig()
	g := newTestGossip(f, cfg)
	dec := testDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		msg := message(a, data)
		res, _ := g.validate(dec, cfg.MaxDataSize, msg)
		if res == pubsub.ValidationAccept {
			d, ok := msg.ValidatorData.(Decoded)
			if !ok || d.Author != a {
				t.Fatalf("accepted %x without a value signed by the author", data)
			}
		}
	})
}
