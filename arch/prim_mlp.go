package arch

// The MLPs (channel mixers). SwiGLU: w1 [hid, d], w3 [hid, d], w2 [d, hid], out = w2·(silu(w1·x) ⊙
// w3·x). GELU: w1 [hid, d], w2 [d, hid], out = w2·gelu(w1·x) (tanh approximation). No biases.

func init() {
	mustRegister(Primitive{
		Name:    "swiglu",
		Letter:  "M",
		Aliases: []string{"mlp", "glu", "sg"},
		Doc:     "SwiGLU MLP (the default MLP)",
		Options: []Option{
			{Name: "hidden", Doc: "inner width; default int(8·width/3) rounded up to a multiple of 16", Min: 1, Max: 65536,
				Default: func(d Dims, _ map[string]int) int { return roundUp(8*d.Width/3, 16) },
				Choices: func(d Dims, _ map[string]int) []int { return hiddenChoices(d.Width) }},
		},
		Params: func(d Dims, o map[string]int) []Tensor {
			h := o["hidden"]
			return []Tensor{
				{Name: "w1", Shape: []int{h, d.Width}},
				{Name: "w3", Shape: []int{h, d.Width}},
				{Name: "w2", Shape: []int{d.Width, h}},
			}
		},
		Forward: func(d Dims, o map[string]int, T int64) int64 {
			return 2 * T * int64(d.Width) * int64(o["hidden"]) * 3
		},
		Saved: func(_ Dims, o map[string]int, T int64) int64 {
			return 3 * T * int64(o["hidden"]) // gate, up, silu(gate)·up
		},
	})
	mustRegister(Primitive{
		Name:    "gelu",
		Letter:  "G",
		Aliases: []string{"gelu-mlp"},
		Doc:     "GELU MLP (tanh approximation)",
		Options: []Option{
			{Name: "hidden", Doc: "inner width; default 4·width", Min: 1, Max: 65536,
				Default: func(d Dims, _ map[string]int) int { return 4 * d.Width },
				Choices: func(d Dims, _ map[string]int) []int { return hiddenChoices(d.Width) }},
		},
		Params: func(d Dims, o map[string]int) []Tensor {
			h := o["hidden"]
			return []Tensor{
				{Name: "w1", Shape: []int{h, d.Width}},
				{Name: "w2", Shape: []int{d.Width, h}},
			}
		},
		Forward: func(d Dims, o map[string]int, T int64) int64 {
			return 2 * T * int64(d.Width) * int64(o["hidden"]) * 2
		},
		Saved: func(_ Dims, o map[string]int, T int64) int64 {
			return 2 * T * int64(o["hidden"]) // pre-activation, gelu output
		},
	})
}

// hiddenChoices are the inner widths a mutation may pick: 1, 2, 8/3, 3 and 4 times the width, rounded
// up to multiples of 16.
func hiddenChoices(w int) []int {
	return []int{roundUp(w, 16), roundUp(2*w, 16), roundUp(8*w/3, 16), roundUp(3*w, 16), roundUp(4*w, 16)}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }
