package tasks_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
	"github.com/airanode/airanode/tasks"
	"github.com/airanode/airanode/tasks/taskstest"
)

func TestScoreAndRank(t *testing.T) {
	task := object.ObjectCID([]byte("t"))
	_, a := newKey(t)
	_, b := newKey(t)
	_, c := newKey(t)
	// Score is sha256(domain || 0 || task || peer), first 8 bytes big-endian.
	h := sha256.Sum256(slices.Concat([]byte("airanode/claim/1\x00"), task.Bytes(), []byte(a)))
	if got, want := tasks.Score(task, a), binary.BigEndian.Uint64(h[:8]); got != want {
		t.Fatalf("Score = %x, want %x", got, want)
	}
	want := tasks.Rank(task, []peer.ID{a, b, c})
	for _, in := range [][]peer.ID{{c, b, a}, {b, a, c, a, b}, {a, c, b, c}} {
		if got := tasks.Rank(task, in); !slices.Equal(got, want) {
			t.Fatalf("Rank(%v) = %v, want %v", in, got, want)
		}
	}
	for i := 1; i < len(want); i++ {
		if tasks.Score(task, want[i-1]) < tasks.Score(task, want[i]) {
			t.Fatal("Rank is not by descending score")
		}
	}
	if got := tasks.Rank(task, nil); len(got) != 0 {
		t.Fatalf("Rank(nil) = %v", got)
	}
	// Spread: over many tasks each of three peers ranks first about a third of the time.
	first := map[peer.ID]int{}
	const n = 3000
	for i := range n {
		first[tasks.Rank(object.ObjectCID(binary.BigEndian.AppendUint32(nil, uint32(i))), []peer.ID{a, b, c})[0]]++
	}
	for p, k := range first {
		if k < n/3-150 || k > n/3+150 {
			t.Errorf("peer %s first for %d of %d tasks", p.ShortString(), k, n)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	key, _ := newKey(t)
	st := memStore(t)
	base := func() tasks.Config {
		c := fastConfig()
		c.Key, c.Store, c.Bus, c.Executor = key, st, taskstest.NewNetwork().Join("x"), &taskstest.CounterExecutor{}
		return c
	}
	for _, tc := range []struct {
		name   string
		mutate func(*tasks.Config)
	}{
		{"no key", func(c *tasks.Config) { c.Key = nil }},
		{"no store", func(c *tasks.Config) { c.Store = nil }},
		{"no bus", func(c *tasks.Config) { c.Bus = nil }},
		{"no executor", func(c *tasks.Config) { c.Executor = nil }},
		{"negative workers", func(c *tasks.Config) { c.Workers = -1 }},
		{"too many workers", func(c *tasks.Config) { c.Workers = object.MaxWorkers + 1 }},
		{"negative memory", func(c *tasks.Config) { c.Memory = -1 }},
		{"short lease", func(c *tasks.Config) { c.Lease = time.Millisecond }},
		{"heartbeat past lease", func(c *tasks.Config) { c.Heartbeat = 2 * c.Lease }},
		{"negative tick", func(c *tasks.Config) { c.Tick = -1 }},
		{"short retention", func(c *tasks.Config) { c.Retention = time.Second }},
		{"long class", func(c *tasks.Config) { c.Class = strings.Repeat("x", 200) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(&c)
			if m, err := tasks.New(c); !errors.Is(err, tasks.ErrConfig) {
				if m != nil {
					m.Close()
				}
				t.Fatalf("New = %v, want ErrConfig", err)
			}
		})
	}
	m, err := tasks.New(base())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.Submit(t.Context(), testTask(1), 1); !errors.Is(err, tasks.ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
	if err := m.HandleEnvelope("", nil); !errors.Is(err, tasks.ErrClosed) {
		t.Fatalf("HandleEnvelope after Close: %v", err)
	}
	if err := m.Drain(t.Context()); !errors.Is(err, tasks.ErrClosed) {
		t.Fatalf("Drain after Close: %v", err)
	}
}

func TestSubmitBadInput(t *testing.T) {
	n := newNode(t, taskstest.NewNetwork(), &taskstest.CounterExecutor{}, fastConfig())
	for _, tc := range []struct {
		name     string
		task     object.Task
		replicas int
	}{
		{"bad arch", object.Task{Arch: "nope", Protocol: testTask(0).Protocol}, 1},
		{"bad protocol", object.Task{Arch: testTask(0).Arch, Protocol: "Qm"}, 1},
		{"bad search", object.Task{Search: "x", Arch: testTask(0).Arch, Protocol: testTask(0).Protocol}, 1},
		{"negative replicas", testTask(0), -1},
		{"too many replicas", testTask(0), object.MaxReplicas + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := n.m.Submit(t.Context(), tc.task, tc.replicas); !errors.Is(err, tasks.ErrInvalid) {
				t.Fatalf("Submit = %v, want ErrInvalid", err)
			}
		})
	}
	if got := n.m.List(); len(got) != 0 {
		t.Fatalf("bad submissions left %d tasks", len(got))
	}
	if err := n.m.SetWorkers(0); !errors.Is(err, tasks.ErrInvalid) {
		t.Fatalf("SetWorkers(0) = %v", err)
	}
	if _, err := n.m.Get(object.ObjectCID([]byte("unknown"))); !errors.Is(err, tasks.ErrNotFound) {
		t.Fatalf("Get(unknown) = %v", err)
	}
}

// rawRecord signs arbitrary payload bytes in our domain, to forge non-canonical payloads.
type rawRecord struct {
	kind object.Kind
	data []byte
}

func (r *rawRecord) Domain() string                 { return object.Domain }
func (r *rawRecord) Codec() []byte                  { return []byte(r.kind) }
func (r *rawRecord) MarshalRecord() ([]byte, error) { return r.data, nil }
func (r *rawRecord) UnmarshalRecord(b []byte) error { r.data = b; return nil }

func sealRaw(t testing.TB, sk crypto.PrivKey, kind object.Kind, data []byte) []byte {
	t.Helper()
	env, err := record.Seal(&rawRecord{kind, data}, sk)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seal(t testing.TB, sk crypto.PrivKey, kind object.Kind, v any) []byte {
	t.Helper()
	env, err := object.Seal(sk, kind, v)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// edgeFixture is a quiet node (paused, so nothing it runs changes its state) that knows one task.
type edgeFixture struct {
	n      *node
	task   cid.Cid
	xKey   crypto.PrivKey
	x      peer.ID
	yKey   crypto.PrivKey
	y      peer.ID
	claim  object.Claim
	offer  object.Offer
	capa   object.Capability
	result object.Result
}

func newEdgeFixture(t testing.TB) *edgeFixture {
	cfg := fastConfig()
	cfg.CapabilityInterval = time.Hour
	cfg.Warmup = time.Hour
	n := newNode(t, taskstest.NewNetwork(), &taskstest.CounterExecutor{}, cfg)
	n.m.Pause()
	tc, err := n.m.Submit(context.Background(), testTask(1), 2)
	if err != nil {
		t.Fatal(err)
	}
	f := &edgeFixture{n: n, task: tc}
	f.xKey, f.x = newKey(t)
	f.yKey, f.y = newKey(t)
	f.claim = object.Claim{Task: tc.String(), Claimer: f.x.String(), Seq: 5, Step: 1, Of: 10, LeaseMillis: 60_000, State: object.ClaimProgress, Time: time.Now().UnixMilli()}
	f.offer = object.Offer{Task: testTask(2), Replicas: 1, Submitter: f.x.String(), Time: 1}
	f.capa = object.Capability{Peer: f.x.String(), Seq: 3, Workers: 1, Accepting: true, Time: 1}
	f.result = reference(t, &taskstest.CounterExecutor{}, testTask(1))
	f.result.Executor = f.x.String()
	return f
}

// snapshot is everything a bad envelope must not change.
func snapshot(t *testing.T, n *node) any {
	t.Helper()
	meta, err := n.st.ScanMeta("tasks/")
	if err != nil {
		t.Fatal(err)
	}
	idx, _, err := n.st.ScanAll(store.IndexTask, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	st := n.m.Stats()
	return []any{n.m.List(), st, meta, idx}
}

// Bad input on every edge is rejected with a clear error and changes nothing.
func TestHandleEnvelopeRejects(t *testing.T) {
	f := newEdgeFixture(t)
	// One accepted claim and capability first, so stale ones have something to be stale against.
	if err := f.n.m.HandleEnvelope(f.x, seal(t, f.xKey, object.KindClaim, f.claim)); err != nil {
		t.Fatal(err)
	}
	if err := f.n.m.HandleEnvelope(f.x, seal(t, f.xKey, object.KindCapability, f.capa)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the node answer the newcomer's capability
	before := snapshot(t, f.n)

	valid := seal(t, f.xKey, object.KindClaim, f.claim)
	tampered := slices.Clone(valid)
	tampered[len(tampered)-3] ^= 0x40
	mut := func(fn func(*object.Claim)) []byte {
		c := f.claim
		c.Seq = 99
		fn(&c)
		return seal(t, f.xKey, object.KindClaim, c)
	}
	res := func(fn func(*object.Result)) []byte {
		r := f.result
		r.Segments = slices.Clone(r.Segments)
		fn(&r)
		return seal(t, f.xKey, object.KindResult, r)
	}
	off := func(fn func(*object.Offer)) []byte {
		o := f.offer
		fn(&o)
		return seal(t, f.xKey, object.KindOffer, o)
	}
	capa := func(fn func(*object.Capability)) []byte {
		c := f.capa
		c.Seq = 99
		fn(&c)
		return seal(t, f.xKey, object.KindCapability, c)
	}
	cidV0, _ := cid.Decode("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n")
	rejects := []struct {
		name string
		from peer.ID
		env  []byte
		want error
	}{
		{"garbage", "", []byte("not an envelope"), object.ErrSignature},
		{"empty", "", nil, object.ErrSignature},
		{"tampered", "", tampered, object.ErrSignature},
		{"truncated", "", valid[:len(valid)/2], object.ErrSignature},
		{"over the envelope cap", "", make([]byte, object.MaxEnvelope+1), object.ErrTooLarge},
		{"delivered from another peer", f.y, valid, object.ErrSigner},
		{"claim signed for someone else", "", seal(t, f.yKey, object.KindClaim, f.claim), object.ErrSigner},
		{"bogus task CID", "", mut(func(c *object.Claim) { c.Task = "bafy-not-a-cid" }), object.ErrInvalid},
		{"CIDv0 task", "", mut(func(c *object.Claim) { c.Task = cidV0.String() }), object.ErrInvalid},
		{"zero seq", "", mut(func(c *object.Claim) { c.Seq = 0 }), object.ErrInvalid},
		{"progress past the end", "", mut(func(c *object.Claim) { c.Step = 11 }), object.ErrInvalid},
		{"lease too long", "", mut(func(c *object.Claim) { c.LeaseMillis = object.MaxLeaseMillis + 1 }), object.ErrInvalid},
		{"unknown state", "", mut(func(c *object.Claim) { c.State = "mine" }), object.ErrInvalid},
		{"oversized claim", "", seal(t, f.xKey, object.KindClaim, map[string]string{"pad": strings.Repeat("x", object.MaxSmallEnvelope)}), object.ErrTooLarge},
		{"unknown field", "", seal(t, f.xKey, object.KindClaim, map[string]any{"task": f.claim.Task, "evil": 1}), object.ErrMalformed},
		{"non-canonical payload", "", sealRaw(t, f.xKey, object.KindClaim, nonCanonical(t, f.claim)), object.ErrNotCanonical},
		{"unhandled kind", "", seal(t, f.xKey, object.KindSearch, f.claim), object.ErrKind},
		{"foreign kind", "", sealRaw(t, f.xKey, "/other/1", []byte{0xa0}), object.ErrKind},
		{"result by someone else", "", seal(t, f.yKey, object.KindResult, f.result), object.ErrSigner},
		{"result without segments", "", res(func(r *object.Result) { r.Segments = nil }), object.ErrInvalid},
		{"result with a short digest", "", res(func(r *object.Result) { r.Segments[0].Digest = []byte{1} }), object.ErrInvalid},
		{"result for a bogus task", "", res(func(r *object.Result) { r.Task = "x" }), object.ErrInvalid},
		{"offer without replicas", "", off(func(o *object.Offer) { o.Replicas = 0 }), object.ErrInvalid},
		{"offer with a bogus arch", "", off(func(o *object.Offer) { o.Task.Arch = "x" }), object.ErrInvalid},
		{"offer by someone else", "", seal(t, f.yKey, object.KindOffer, f.offer), object.ErrSigner},
		{"capability with negative memory", "", capa(func(c *object.Capability) { c.Memory = -1 }), object.ErrInvalid},
		{"capability by someone else", "", seal(t, f.yKey, object.KindCapability, f.capa), object.ErrSigner},
	}
	for _, tc := range rejects {
		t.Run(tc.name, func(t *testing.T) {
			err := f.n.m.HandleEnvelope(tc.from, tc.env)
			if !errors.Is(err, tasks.ErrRejected) || !errors.Is(err, tc.want) {
				t.Fatalf("HandleEnvelope = %v, want ErrRejected and %v", err, tc.want)
			}
			if _, _, err := tasks.Check(mustOpen(tc.env)); err == nil && tc.want != object.ErrSignature && tc.want != object.ErrTooLarge && tc.want != object.ErrSigner {
				t.Fatalf("Check accepted what HandleEnvelope rejected")
			}
		})
	}
	ignores := []struct {
		name string
		env  []byte
	}{
		{"replayed claim", valid},
		{"stale claim", mut(func(c *object.Claim) { c.Seq = 4 })},
		{"stale capability", capa(func(c *object.Capability) { c.Seq = 2 })},
		{"our own claim", seal(t, f.n.key, object.KindClaim, object.Claim{Task: f.task.String(), Claimer: f.n.id.String(), Seq: 1, Of: 1, LeaseMillis: 1000, State: object.ClaimClaimed})},
		{"known offer", seal(t, f.n.key, object.KindOffer, object.Offer{Task: testTask(1), Replicas: 2, Submitter: f.n.id.String()})},
		{"known offer from a peer", seal(t, f.xKey, object.KindOffer, object.Offer{Task: testTask(1), Replicas: 1, Submitter: f.x.String()})},
	}
	for _, tc := range ignores {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.n.m.HandleEnvelope("", tc.env); !errors.Is(err, tasks.ErrIgnored) {
				t.Fatalf("HandleEnvelope = %v, want ErrIgnored", err)
			}
		})
	}
	if after := snapshot(t, f.n); !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
	}

	// The valid ones do change state, and a duplicate result is then ignored.
	env := seal(t, f.xKey, object.KindResult, f.result)
	if err := f.n.m.HandleEnvelope(f.x, env); err != nil {
		t.Fatal(err)
	}
	if err := f.n.m.HandleEnvelope(f.x, env); !errors.Is(err, tasks.ErrIgnored) {
		t.Fatalf("duplicate result: %v", err)
	}
	s, err := f.n.m.Get(f.task)
	if err != nil || len(s.Results) != 1 || s.Results[0].Executor != f.x || len(s.Leases) != 0 {
		t.Fatalf("after a valid result: %+v, %v", s, err)
	}
	rc, _, _ := object.SealedCID(env)
	if b, err := f.n.st.Get(rc); err != nil || !bytes.Equal(b, env) {
		t.Fatalf("result not stored: %v", err)
	}
	if err := f.n.m.HandleEnvelope(f.x, seal(t, f.xKey, object.KindOffer, f.offer)); err != nil {
		t.Fatal(err)
	}
	if len(f.n.m.List()) != 2 {
		t.Fatal("a valid offer was not taken")
	}
}

// nonCanonical encodes c with its seq in a longer form than needed.
func nonCanonical(t *testing.T, c object.Claim) []byte {
	b, err := object.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Replace(b, []byte("\x63seq\x05"), []byte("\x63seq\x18\x05"), 1)
	if bytes.Equal(out, b) {
		t.Fatal("seq not found in the encoding")
	}
	return out
}

func mustOpen(env []byte) object.Signed {
	s, err := object.OpenAny(env)
	if err != nil {
		return object.Signed{}
	}
	return s
}

func TestCheck(t *testing.T) {
	sk, id := newKey(t)
	c := object.Claim{Task: testTask(0).Arch, Claimer: id.String(), Seq: 1, Of: 3, LeaseMillis: 1000, State: object.ClaimClaimed, Time: 1_700_000_000_123}
	s := mustOpen(seal(t, sk, object.KindClaim, c))
	v, when, err := tasks.Check(s)
	if err != nil || v.(object.Claim) != c || when.UnixMilli() != c.Time {
		t.Fatalf("Check = %v, %v, %v", v, when, err)
	}
	o := object.Offer{Task: testTask(0), Replicas: 2, Submitter: id.String(), Time: 5}
	v, when, err = tasks.Check(mustOpen(seal(t, sk, object.KindOffer, o)))
	if err != nil || v.(object.Offer) != o || !when.IsZero() {
		t.Fatalf("Check(offer) = %v, %v, %v", v, when, err)
	}
	if _, _, err := tasks.Check(object.Signed{Author: id, Kind: object.KindAttestation}); !errors.Is(err, tasks.ErrRejected) || !errors.Is(err, object.ErrKind) {
		t.Fatalf("Check(attestation) = %v", err)
	}
}

func TestEstimateNeed(t *testing.T) {
	a := arch.MustParse("A M")
	p := bench.MADLite()
	need, err := tasks.EstimateNeed(a, p)
	if err != nil {
		t.Fatal(err)
	}
	if need.Memory <= 0 || need.Compute <= 0 || need.Validate() != nil {
		t.Fatalf("need %+v", need)
	}
	for _, s := range p.Settings {
		b := a
		b.Vocab = s.Vocab
		m, err := arch.MemoryAt(b, s.Batch, s.ExampleLen())
		if err != nil {
			t.Fatal(err)
		}
		if m.Total() > need.Memory {
			t.Fatalf("setting %s needs %d bytes, more than the estimate %d", s.Task, m.Total(), need.Memory)
		}
	}
	bigger, err := tasks.EstimateNeed(arch.MustParse("A M A M A M"), p)
	if err != nil || bigger.Compute <= need.Compute || bigger.Memory <= need.Memory {
		t.Fatalf("a deeper model needs %+v vs %+v (%v)", bigger, need, err)
	}
	if _, err := tasks.EstimateNeed(a, &bench.Protocol{}); !errors.Is(err, tasks.ErrEstimate) {
		t.Fatalf("empty protocol: %v", err)
	}

	st := memStore(t)
	ab, ac, err := arch.Encode(a)
	if err != nil {
		t.Fatal(err)
	}
	pb, pc, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	est := tasks.StoreEstimator(st)
	task := object.Task{Arch: ac.String(), Protocol: pc.String()}
	if _, err := est(t.Context(), task); !errors.Is(err, tasks.ErrEstimate) || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("estimate without objects: %v", err)
	}
	if err := st.Put(ac, ab); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(pc, pb); err != nil {
		t.Fatal(err)
	}
	got, err := est(t.Context(), task)
	if err != nil || got != need {
		t.Fatalf("StoreEstimator = %+v, %v; want %+v", got, err, need)
	}
	if _, err := est(t.Context(), object.Task{Arch: pc.String(), Protocol: pc.String()}); !errors.Is(err, tasks.ErrEstimate) {
		t.Fatalf("a protocol as arch: %v", err)
	}
}

// FuzzHandleEnvelope: no input panics the Manager, and every error is a rejection or an ignore.
func FuzzHandleEnvelope(f *testing.F) {
	fx := newEdgeFixture(f)
	f.Add(seal(f, fx.xKey, object.KindClaim, fx.claim))
	f.Add(seal(f, fx.xKey, object.KindOffer, fx.offer))
	f.Add(seal(f, fx.xKey, object.KindCapability, fx.capa))
	f.Add(seal(f, fx.xKey, object.KindResult, fx.result))
	f.Add(sealRaw(f, fx.xKey, object.KindClaim, []byte{0xa1, 0x61, 0x61, 0x01}))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, env []byte) {
		err := fx.n.m.HandleEnvelope("", env)
		if err != nil && !errors.Is(err, tasks.ErrRejected) && !errors.Is(err, tasks.ErrIgnored) {
			t.Fatalf("HandleEnvelope = %v: neither rejected nor ignored", err)
		}
		if s, err := object.OpenAny(env); err == nil {
			if _, _, err := tasks.Check(s); err != nil && !errors.Is(err, tasks.ErrRejected) {
				t.Fatalf("Check = %v", err)
			}
		}
	})
}

func TestWeightedKey(t *testing.T) {
	// Equal weights keep Score's order.
	for _, w := range []float64{1, 0.5, 1e-3} {
		prev := tasks.WeightedKey(0, w)
		for _, s := range []uint64{1 << 12, 1 << 20, 1 << 40, 1 << 62, 1<<64 - 1} {
			k := tasks.WeightedKey(s, w)
			if !(k > prev) {
				t.Fatalf("w=%g: key(%x) = %g not above %g", w, s, k, prev)
			}
			prev = k
		}
	}
	// Out-of-range weights are clamped: NaN, 0 and negatives to the minimum, above 1 to 1.
	for _, tc := range []struct{ w, as float64 }{{math.NaN(), 1e-6}, {0, 1e-6}, {-3, 1e-6}, {7, 1}, {math.Inf(1), 1}} {
		if got, want := tasks.WeightedKey(1<<60, tc.w), tasks.WeightedKey(1<<60, tc.as); got != want {
			t.Errorf("WeightedKey(w=%g) = %g, want %g", tc.w, got, want)
		}
	}
	// A peer of weight w beats a peer of weight 1 on about w/(1+w) of the tasks. The peers are fixed
	// (keys from fixed seeds), so the count is the same every run; the bound is 4 binomial standard
	// deviations, so a fixed pair inside it is no accident.
	a, b := seededPeer(t, 1), seededPeer(t, 2)
	const n, w = 4000, 0.25
	wins := 0
	for i := range n {
		task := object.ObjectCID(binary.BigEndian.AppendUint32(nil, uint32(i)))
		if tasks.WeightedKey(tasks.Score(task, a), w) > tasks.WeightedKey(tasks.Score(task, b), 1) {
			wins++
		}
	}
	p := w / (1 + w)
	if want, sd := n*p, math.Sqrt(n*p*(1-p)); math.Abs(float64(wins)-want) > 4*sd {
		t.Fatalf("weight %.2f won %d of %d tasks, want %.0f ± %.0f", w, wins, n, want, 4*sd)
	}
}

// seededPeer is the peer of the Ed25519 key generated from seed.
func seededPeer(t *testing.T, seed byte) peer.ID {
	t.Helper()
	k := sha256.Sum256([]byte{seed})
	sk, _, err := crypto.GenerateEd25519Key(bytes.NewReader(k[:]))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
