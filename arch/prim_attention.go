package arch

// Attention: causal multi-head self-attention with grouped-query key/value heads, rotary position
// embeddings and an optional sliding window.
//
// Parameters: wqkv [(H+2·KVH)·hd, d] (query, key and value projections stacked in that order) and
// wo [d, H·hd], where hd = d/H.

func init() {
	mustRegister(Primitive{
		Name:    "attention",
		Letter:  "A",
		Aliases: []string{"attn", "mha", "gqa", "mh-attention", "ma"},
		Doc:     "causal multi-head attention (grouped-query, rotary, optional sliding window)",
		Options: []Option{
			{Name: "heads", Doc: "query heads H; head dim hd = width/H", Min: 1, Max: 256,
				Default: func(d Dims, _ map[string]int) int { return defaultHeads(d.Width) },
				Choices: func(d Dims, _ map[string]int) []int { return divisorsUpTo(d.Width, 256) }},
			{Name: "kv", Doc: "key/value heads KVH; must divide H", Min: 1, Max: 256,
				Default: func(_ Dims, o map[string]int) int { return o["heads"] },
				Choices: func(_ Dims, o map[string]int) []int { return divisorsUpTo(o["heads"], 256) }},
			{Name: "rot", Doc: "rotary dimensions per head (even, <= hd); 0 = no rotary", Min: 0, Max: MaxWidth,
				Default: func(d Dims, o map[string]int) int {
					if d.Pos != PosNone {
						return 0
					}
					return headDim(d, o) &^ 1
				},
				Choices: func(d Dims, o map[string]int) []int {
					hd := headDim(d, o) &^ 1
					c := []int{0, hd, hd / 2 &^ 1}
					for r := 8; r < hd; r *= 2 {
						c = append(c, r)
					}
					return c
				}},
			{Name: "win", Doc: "sliding window (keys per query, the query included); 0 = full causal", Min: 0, Max: MaxContext,
				Default: func(Dims, map[string]int) int { return 0 },
				Choices: func(Dims, map[string]int) []int { return []int{0, 16, 32, 64, 128, 256, 512} }},
			{Name: "rbase", Doc: "rotary base (frequencies rbase^(-2i/rot))", Min: 2, Max: 100_000_000,
				Default: func(Dims, map[string]int) int { return 10000 },
				Choices: func(Dims, map[string]int) []int { return []int{1000, 10000, 100000, 500000} }},
		},
		Check: func(d Dims, o map[string]int) error {
			if d.Width%o["heads"] != 0 {
				return OptionError("heads", ErrIndivisible, "heads=%d does not divide width=%d", o["heads"], d.Width)
			}
			if o["heads"]%o["kv"] != 0 {
				return OptionError("kv", ErrIndivisible, "kv=%d does not divide heads=%d", o["kv"], o["heads"])
			}
			hd := headDim(d, o)
			if o["rot"] > hd {
				return OptionError("rot", ErrBounds, "rot=%d exceeds the head dim %d", o["rot"], hd)
			}
			if o["rot"]%2 != 0 {
				return OptionError("rot", ErrIndivisible, "rot=%d is odd (rotary dims come in pairs)", o["rot"])
			}
			return nil
		},
		Canon: func(d Dims, o map[string]int) {
			if o["rot"] == 0 {
				o["rbase"] = 10000 // no rotary: the base has no effect
			}
			if d.Pos == PosLearned && o["win"] >= d.Context {
				o["win"] = 0 // sequences never exceed the context: the window covers them all
			}
		},
		Params: func(d Dims, o map[string]int) []Tensor {
			H, KVH, hd := o["heads"], o["kv"], headDim(d, o)
			return []Tensor{
				{Name: "wqkv", Shape: []int{(H + 2*KVH) * hd, d.Width}},
				{Name: "wo", Shape: []int{d.Width, H * hd}},
			}
		},
		Forward: func(d Dims, o map[string]int, T int64) int64 {
			w := int64(d.Width)
			H, KVH, hd := int64(o["heads"]), int64(o["kv"]), int64(headDim(d, o))
			proj := 2*T*w*(H+2*KVH)*hd + 2*T*H*hd*w
			// QKᵀ and PV: hd multiply-adds each per (query, key) pair and query head.
			return proj + 4*H*hd*AttentionPairs(T, int64(o["win"]))
		},
		Saved: func(d Dims, o map[string]int, T int64) int64 {
			H, KVH, hd := int64(o["heads"]), int64(o["kv"]), int64(headDim(d, o))
			// q, k, v after rotary; the attention output (input of wo); the log-sum-exp per row and head.
			return T*(H+2*KVH)*hd + T*H*hd + T*H
		},
	})
}

// AttentionPairs is the number of (query, key) pairs causal attention over T positions computes:
// position t (from 0) sees min(t+1, win) keys, all t+1 when win is 0.
func AttentionPairs(T, win int64) int64 {
	if win <= 0 || win >= T {
		return T * (T + 1) / 2
	}
	return win*(win+1)/2 + (T-win)*win
}

// headDim is width/heads (heads resolved in o).
func headDim(d Dims, o map[string]int) int {
	h := o["heads"]
	if h <= 0 {
		return 0
	}
	return d.Width / h
}

// defaultHeads is width/32 when that divides the width, else the largest divisor of the width below
// it; at least 1.
func defaultHeads(width int) int {
	h := max(width/32, 1)
	for ; h > 1; h-- {
		if width%h == 0 {
			break
		}
	}
	return h
}

// divisorsUpTo returns the divisors of n that are <= limit, ascending.
func divisorsUpTo(n, limit int) []int {
	var ds []int
	for i := 1; i <= n && i <= limit; i++ {
		if n%i == 0 {
			ds = append(ds, i)
		}
	}
	return ds
}
