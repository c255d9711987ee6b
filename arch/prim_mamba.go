package arch

// Mamba: the selective state-space layer (Mamba-1, S6). With di = expand·d, R = dtrank, N = state,
// K = conv:
//
//	x, z   = split(in_proj·h)                 in_proj [2·di, d]
//	u      = silu(conv(x))                    causal depthwise conv_w [di, K], conv_b [di]
//	δr,B,C = split(x_proj·u)                  x_proj [R+2N, di]
//	δ      = softplus(dt_w·δr + dt_b)         dt_w [di, R], dt_b [di]
//	y      = scan(u, δ, A=-exp(A_log), B, C) + D⊙u    A_log [di, N], D [di]
//	out    = out_proj·(y ⊙ silu(z))           out_proj [d, di]

func init() {
	mustRegister(Primitive{
		Name:    "mamba",
		Letter:  "S",
		Aliases: []string{"ssm", "mb", "s6"},
		Doc:     "Mamba selective state-space layer",
		Options: []Option{
			{Name: "state", Doc: "state size N per channel (MAD uses 4)", Min: 1, Max: 256,
				Default: func(Dims, map[string]int) int { return 16 },
				Choices: func(Dims, map[string]int) []int { return []int{4, 8, 16, 32, 64} }},
			{Name: "expand", Doc: "inner width di = expand·width", Min: 1, Max: 8,
				Default: func(Dims, map[string]int) int { return 2 },
				Choices: func(Dims, map[string]int) []int { return []int{1, 2, 3, 4} }},
			{Name: "conv", Doc: "causal depthwise convolution width K", Min: 1, Max: 16,
				Default: func(Dims, map[string]int) int { return 4 },
				Choices: func(Dims, map[string]int) []int { return []int{2, 3, 4, 8} }},
			{Name: "dtrank", Doc: "rank R of the δ projection; default ceil(width/16)", Min: 1, Max: MaxWidth,
				Default: func(d Dims, _ map[string]int) int { return (d.Width + 15) / 16 },
				Choices: func(d Dims, _ map[string]int) []int {
					return []int{(d.Width + 31) / 32, (d.Width + 15) / 16, (d.Width + 7) / 8}
				}},
		},
		Params: func(d Dims, o map[string]int) []Tensor {
			di, R, N, K := o["expand"]*d.Width, o["dtrank"], o["state"], o["conv"]
			return []Tensor{
				{Name: "in_proj", Shape: []int{2 * di, d.Width}},
				{Name: "conv_w", Shape: []int{di, K}},
				{Name: "conv_b", Shape: []int{di}},
				{Name: "x_proj", Shape: []int{R + 2*N, di}},
				{Name: "dt_w", Shape: []int{di, R}},
				{Name: "dt_b", Shape: []int{di}},
				{Name: "A_log", Shape: []int{di, N}},
				{Name: "D", Shape: []int{di}},
				{Name: "out_proj", Shape: []int{d.Width, di}},
			}
		},
		Forward: func(d Dims, o map[string]int, T int64) int64 {
			w := int64(d.Width)
			di, R, N, K := int64(o["expand"])*w, int64(o["dtrank"]), int64(o["state"]), int64(o["conv"])
			proj := 2 * T * (2*di*w + (R+2*N)*di + R*di + di*w)
			conv := 2 * T * di * K
			// Per token, channel and state: δ·A, exp, (δu)·B, h·a + that, C·h accumulated = 7;
			// per token and channel: δ·u, D·u and its add = 3.
			scan := T * di * (7*N + 3)
			return proj + conv + scan
		},
		Saved: func(d Dims, o map[string]int, T int64) int64 {
			w := int64(d.Width)
			di, R, N := int64(o["expand"])*w, int64(o["dtrank"]), int64(o["state"])
			// in_proj output [2di], conv output, u = silu(conv) , x_proj output [R+2N], δ before and
			// after softplus, every scan state h_t [di·N], y, silu(z), y⊙silu(z).
			return T * (2*di + di + di + (R + 2*N) + di + di + di*N + di + di + di)
		},
	})
}
