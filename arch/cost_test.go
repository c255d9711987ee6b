package arch

import (
	"errors"
	"strings"
	"testing"
)

// Parameter counts against closed formulas written out by hand, and against the PyTorch reference
// configurations of shared/perf (whose counts PyTorch computed).
func TestParamsClosedForms(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want int64
	}{
		// PyTorch reference config A: d=128, 4 × (attention 4 heads + GELU 4d), learned pos 256, tied,
		// LayerNorm, vocab 256.
		{"perf config A", "vocab=256 norm=layer pos=learned context=256 : (A(heads=4) G)x4", 854_272},
		// Config B: d=256, 6 blocks, 8 heads; config C: d=64, 2 blocks, 2 heads, T=128.
		{"perf config B", "width=256 vocab=256 norm=layer pos=learned context=256 : (A(heads=8) G)x6", 4_856_320},
		{"perf config C", "width=64 vocab=256 norm=layer pos=learned context=128 : (A(heads=2) G)x2", 123_520},
		// The same closed form: V·d + T·d + L·(4d² + 8d² + 2·2d) + 2d.
		{"config A formula", "vocab=256 norm=layer pos=learned context=256 : (A G)x4",
			256*128 + 256*128 + 4*(4*128*128+8*128*128+2*2*128) + 2*128},
		// MAD default at vocab 16: V·d + 2·(4d² + 3·352·d) + 5d (RMSNorm weights).
		{"MAD default", "vocab=16 : A M A M", 16*128 + 2*(4*128*128+3*352*128) + 5*128},
		// GQA: wqkv (H+2KVH)·hd·d + wo d·d, hd = 256/8.
		{"GQA", "width=256 : A(heads=8,kv=2)", (8+2*2)*32*256 + 256*256 + 2*256},
		// Mamba, d=64: di=128, R=4, N=16, K=4: di·(3d + K + 1 + R + 2N + R + 1 + N + 1) + 2d.
		{"mamba", "width=64 : S", 128*(3*64+4+1+4+2*16+4+1+16+1) + 2*64},
		// Mamba with MAD's settings (state 4) and other options, d=128: di=384, R=8.
		{"mamba opts", "S(state=4,expand=3,conv=3)", 384*(3*128+3+1+8+2*4+8+1+4+1) + 2*128},
		// Untied head and learned positions, GELU hidden 4d: V·d (tok) + C·d + V·d (head) + 8d² + 2d.
		{"untied", "width=64 vocab=256 pos=learned context=128 untied : G", 256*64 + 128*64 + 256*64 + 8*64*64 + 2*64},
		// LayerNorm adds biases: (w + b) per layer and final.
		{"layernorm", "width=32 norm=layer : G G", 2*8*32*32 + 3*2*32},
		// Vocabulary unbound: no embedding rows.
		{"unbound", "A", 4*128*128 + 2*128},
	}
	for _, tc := range tests {
		got, err := Params(mustNorm(t, tc.spec))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: %d params, want %d", tc.name, got, tc.want)
		}
		ts, err := Layout(mustNorm(t, tc.spec))
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, x := range ts {
			sum += x.Size()
		}
		if sum != got {
			t.Errorf("%s: layout sums to %d, Params %d", tc.name, sum, got)
		}
	}
}

func TestLayoutNames(t *testing.T) {
	ts, err := Layout(mustNorm(t, "width=64 vocab=10 norm=layer pos=learned context=32 untied : A(heads=4,kv=2) S(state=4) M(hidden=96)"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range ts {
		dims := make([]string, len(x.Shape))
		for i, s := range x.Shape {
			dims[i] = itoa(s)
		}
		got = append(got, x.Name+"["+strings.Join(dims, ",")+"]")
	}
	want := "tok[10,64] pos[32,64] " +
		"L0.norm.w[64] L0.norm.b[64] L0.wqkv[128,64] L0.wo[64,64] " +
		"L1.norm.w[64] L1.norm.b[64] L1.in_proj[256,64] L1.conv_w[128,4] L1.conv_b[128] L1.x_proj[12,128] " +
		"L1.dt_w[128,4] L1.dt_b[128] L1.A_log[128,4] L1.D[128] L1.out_proj[64,128] " +
		"L2.norm.w[64] L2.norm.b[64] L2.w1[96,64] L2.w3[96,64] L2.w2[64,96] " +
		"norm_f.w[64] norm_f.b[64] head[10,64]"
	if s := strings.Join(got, " "); s != want {
		t.Fatalf("layout\n got %s\nwant %s", s, want)
	}
}

func itoa(i int) string { return thousands(int64(i)) }

func TestAttentionPairs(t *testing.T) {
	for T := int64(1); T <= 40; T++ {
		for win := int64(0); win <= 45; win++ {
			var brute int64
			for q := int64(0); q < T; q++ {
				for k := int64(0); k <= q; k++ {
					if win == 0 || k > q-win {
						brute++
					}
				}
			}
			if got := AttentionPairs(T, win); got != brute {
				t.Fatalf("AttentionPairs(%d, %d) = %d, want %d", T, win, got, brute)
			}
		}
	}
}

func TestFLOPs(t *testing.T) {
	const T = 256
	d := int64(128)
	tests := []struct {
		name string
		spec string
		seq  int
		// forward FLOPs for one sequence
		want int64
	}{
		// MLPs and head: 2 per multiply-add, i.e. 2 per matmul parameter per token.
		{"mlp only", "vocab=256 : G M", T, 2 * T * (2*512*d + 3*352*d + 256*d)},
		// Attention: projections + QKᵀ and PV over T(T+1)/2 causal pairs.
		{"attention", "A", T, 2*T*d*3*d + 2*T*d*d + 4*d*T*(T+1)/2},
		// Sliding window of 64: 64·65/2 + (T-64)·64 pairs.
		{"window", "A(win=64)", T, 2*T*d*3*d + 2*T*d*d + 4*d*(64*65/2+(T-64)*64)},
		// GQA: smaller K, V projections; the same score work per query head.
		{"gqa", "A(kv=1)", T, 2*T*d*(4+2)*32 + 2*T*d*d + 4*d*T*(T+1)/2},
		// Mamba (di=256, R=8, N=16, K=4): projections, conv (2K per channel), scan (7N+3 per channel).
		{"mamba", "S", T, 2*T*(2*256*d+(8+32)*256+8*256+256*d) + 2*T*256*4 + T*256*(7*16+3)},
		{"short seq", "vocab=16 : A", 1, 2*d*3*d + 2*d*d + 4*d + 2*16*d},
	}
	for _, tc := range tests {
		c, err := Estimate(mustNorm(t, tc.spec), tc.seq)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.Forward != tc.want || c.Train != 3*tc.want {
			t.Errorf("%s: forward %d train %d, want %d and %d", tc.name, c.Forward, c.Train, tc.want, 3*tc.want)
		}
		var sum, params int64
		for _, p := range c.Parts {
			sum += p.Forward
			params += p.Params
		}
		if sum != c.Forward || params != c.Params {
			t.Errorf("%s: parts sum to %d FLOPs and %d params, totals %d and %d", tc.name, sum, params, c.Forward, c.Params)
		}
	}
	// Without attention, training FLOPs per token are exactly 6 per matmul parameter (the tied head
	// included, norms excluded).
	c, err := Estimate(mustNorm(t, "vocab=256 : G M S"), 100)
	if err != nil {
		t.Fatal(err)
	}
	var scan int64 = 2*256*4 + 256*(7*16+3)    // mamba conv + scan per token
	matmul := c.Params - 4*d                   // minus the 4 norm weights
	matmul -= 256*4 + 256 + 256 + 256*16 + 256 // mamba's non-matmul parameters: conv_w, conv_b, dt_b, A_log, D
	if got, want := c.TrainPerToken(), float64(6*matmul+3*scan); got != want {
		t.Errorf("train FLOPs/token %v, want 6·%d + 3·%d = %v", got, matmul, scan, want)
	}
	// Perf config A at T=256: 6 per matmul parameter + 12·d·(T+1)/2 per attention layer.
	c, err = Estimate(mustNorm(t, "vocab=256 norm=layer pos=learned context=256 : (A(heads=4) G)x4"), 256)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.TrainPerToken(), float64(6*(854_272-256*128-9*256)+4*12*128*257/2); got != want {
		t.Errorf("config A: %v train FLOPs/token, want %v", got, want)
	}
}

func TestEstimateBounds(t *testing.T) {
	n := mustNorm(t, "pos=learned context=64 : A")
	for _, seq := range []int{0, -1, 65, MaxSeq + 1} {
		if _, err := Estimate(n, seq); !errors.Is(err, ErrBounds) {
			t.Errorf("seq %d: %v", seq, err)
		}
	}
	if _, err := Estimate(n, 64); err != nil {
		t.Error(err)
	}
	if _, err := Estimate(Arch{}, 64); !errors.Is(err, ErrBounds) {
		t.Errorf("empty arch: %v", err)
	}
	// The largest sequence on the widest model does not overflow.
	big := mustNorm(t, "width=4096 vocab=65536 : A G(hidden=4096) S(expand=8,state=256)")
	c, err := Estimate(big, MaxSeq)
	if err != nil || c.Forward <= 0 || c.Train != 3*c.Forward {
		t.Fatalf("largest: %v %+v", err, c)
	}
}

func TestMemory(t *testing.T) {
	n := mustNorm(t, "width=16 vocab=16 : G")
	m, err := MemoryAt(n, 2, 8)
	if err != nil {
		t.Fatal(err)
	}
	P, _ := Params(n)
	if m.Weights != 4*P || m.Optimizer != 12*P {
		t.Errorf("weights %d optimizer %d, want %d and %d", m.Weights, m.Optimizer, 4*P, 12*P)
	}
	// R = 16 rows, d = 16, hidden 64: embedding R·d; layer: input, norm out, rstd, pre-activation,
	// activation; final norm: input, out, rstd; logits R·V; losses R.
	const R, d, h, V = 16, 16, 64, 16
	want := int64(4 * (R*d + (R*d + R*d + R + 2*R*h) + (R*d + R*d + R) + R*V + R))
	if m.Activations != want {
		t.Errorf("activations %d, want %d", m.Activations, want)
	}
	if m.Total() != m.Weights+m.Optimizer+m.Activations {
		t.Error("Total")
	}
	// Attention and mamba saved tensors, LayerNorm statistics (mean and rstd).
	n = mustNorm(t, "width=32 vocab=8 norm=layer : A(heads=2,kv=1) S(state=4,dtrank=2)")
	m, err = MemoryAt(n, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	const r, w, di = 4, 32, 64
	attn := int64(r*(2+2*1)*16 + r*2*16 + r*2)                                     // qkv, attention output, lse
	mamba := int64(r * (2*di + di + di + (2 + 8) + di + di + di*4 + di + di + di)) // see prim_mamba.go
	want = 4 * (r*w + 2*(r*w+r*w+2*r) + attn + mamba + (r*w + r*w + 2*r) + r*8 + r)
	if m.Activations != want {
		t.Errorf("activations %d, want %d", m.Activations, want)
	}
	for _, bt := range [][2]int{{0, 4}, {MaxBatch + 1, 1}, {1 << 15, 1 << 10}, {1, 0}} {
		if _, err := MemoryAt(n, bt[0], bt[1]); !errors.Is(err, ErrBounds) {
			t.Errorf("B=%d T=%d: %v", bt[0], bt[1], err)
		}
	}
}

func TestSummary(t *testing.T) {
	s, err := Summary(mustNorm(t, "vocab=256 norm=layer pos=learned context=256 : (A(heads=4) G)x4"), 256)
	if err != nil {
		t.Fatal(err)
	}
	if want := "854,272 params, 5,704,704 train FLOPs/token at T=256"; s != want {
		t.Fatalf("Summary = %q, want %q", s, want)
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %s", n, got)
		}
	}
}
