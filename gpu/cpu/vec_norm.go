package cpu

// Normalisation primitives. Row sums are float64 sums in eight lanes (element j in lane j mod 8, in
// increasing j; combined by lanes8). Products of float32 values converted to float64 are exact. The
// column accumulations add one row to a run of per-column float64 sums (the caller walks the rows in
// increasing order, so each column's sum keeps its order).

func sum64Go(x []float32) (s [8]float64) {
	for j, v := range x {
		s[j&7] += float64(v)
	}
	return s
}

func sumSq64Go(x []float32) (s [8]float64) {
	for j, v := range x {
		f := float64(v)
		s[j&7] += float64(f * f)
	}
	return s
}

// sumSqDev64Go: lanes of Σ c·c, c = float64(x) − mean (both rounded in float64).
func sumSqDev64Go(x []float32, mean float64) (s [8]float64) {
	for j, v := range x {
		c := float64(v) - mean
		s[j&7] += float64(c * c)
	}
	return s
}

// gwDot64Go: lanes of Σ float64(float32(g·w))·float64(x).
func gwDot64Go(g, w, x []float32) (s [8]float64) {
	w, x = w[:len(g)], x[:len(g)]
	for j := range g {
		s[j&7] += float64(float64(float32(g[j]*w[j])) * float64(x[j]))
	}
	return s
}

// lnBackSumsGo: lanes of Σ float64(gw) and Σ float64(gw)·float64(xh), gw = float32(g·w),
// xh = (x − m)·rs.
func lnBackSumsGo(g, w, x []float32, m, rs float32) (s1, s2 [8]float64) {
	w, x = w[:len(g)], x[:len(g)]
	for j := range g {
		gw := float32(g[j] * w[j])
		xh := (x[j] - m) * rs
		s1[j&7] += float64(gw)
		s2[j&7] += float64(float64(gw) * float64(xh))
	}
	return s1, s2
}

// rmsOutGo: out = float32(x·rs)·w.
func rmsOutGo(out, x, w []float32, rs float32) {
	x, w = x[:len(out)], w[:len(out)]
	for j := range out {
		out[j] = float32(x[j]*rs) * w[j]
	}
}

// lnOutGo: out = float32(((x − m)·rs)·w) + b.
func lnOutGo(out, x, w, b []float32, m, rs float32) {
	x, w, b = x[:len(out)], w[:len(out)], b[:len(out)]
	for j := range out {
		xh := (x[j] - m) * rs
		out[j] = float32(xh*w[j]) + b[j]
	}
}

// rmsBackDxGo: dx = rs·(float32(g·w) − float32(x·c)).
func rmsBackDxGo(dx, g, w, x []float32, rs, c float32) {
	g, w, x = g[:len(dx)], w[:len(dx)], x[:len(dx)]
	for j := range dx {
		dx[j] = rs * (float32(g[j]*w[j]) - float32(x[j]*c))
	}
}

// lnBackDxGo: dx = rs·((float32(g·w) − a) − float32(xh·bb)), xh = (x − m)·rs.
func lnBackDxGo(dx, g, w, x []float32, m, rs, a, bb float32) {
	g, w, x = g[:len(dx)], w[:len(dx)], x[:len(dx)]
	for j := range dx {
		gw := float32(g[j] * w[j])
		xh := (x[j] - m) * rs
		dx[j] = rs * ((gw - a) - float32(xh*bb))
	}
}

// colAccLNGo: aw[j] += float64(g)·float64((x − m)·rs); ab[j] += float64(g).
func colAccLNGo(aw, ab []float64, g, x []float32, m, rs float32) {
	ab, g, x = ab[:len(aw)], g[:len(aw)], x[:len(aw)]
	for j := range aw {
		xh := (x[j] - m) * rs
		aw[j] += float64(float64(g[j]) * float64(xh))
		ab[j] += float64(g[j])
	}
}

// colAccRMSGo: aw[j] += float64(g)·float64(float32(x·rs)).
func colAccRMSGo(aw []float64, g, x []float32, rs float32) {
	g, x = g[:len(aw)], x[:len(aw)]
	for j := range aw {
		aw[j] += float64(float64(g[j]) * float64(float32(x[j]*rs)))
	}
}
