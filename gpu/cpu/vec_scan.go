package cpu

// Selective-scan row primitives. One call handles one time step of one sequence for nc consecutive
// channels; h, hp, a (and dh, pa) hold nc·N values, channel-major; bt, ct (and dbt, dct) hold the N
// values of the step. Sums over the state index n are float32 sums in eight lanes (n mod 8, increasing
// n), combined as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) — the AVX2 reduction.

// lanes8f combines eight float32 lane sums in the fixed order.
func lanes8f(s *[8]float32) float32 {
	return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))
}

// scanFwdGo computes, for each channel c < len(dl):
//
//	e_n = kexp(float32(dl·a_n)); h_n = float32(e_n·hp_n) + float32(float32(dl·u)·bt_n)
//	y[c] = lanes Σ_n float32(ct_n·h_n)
//
// (the caller adds D·u to y).
func scanFwdGo(h, hp, a, bt, ct, dl, u, y []float32, N int) {
	bt, ct = bt[:N], ct[:N]
	for c := range dl {
		d, du := dl[c], dl[c]*u[c]
		hc, hpc, ac := h[c*N:(c+1)*N], hp[c*N:(c+1)*N], a[c*N:(c+1)*N]
		var lanes [8]float32
		for n := range hc {
			e := kexp(float32(d * ac[n]))
			hn := float32(e*hpc[n]) + float32(du*bt[n])
			hc[n] = hn
			lanes[n&7] += float32(ct[n] * hn)
		}
		y[c] = lanes8f(&lanes)
	}
}

// scanBackGo runs one backward step for each channel c < len(dy), dh carried in place:
//
//	dhn = dh_n + float32(g·ct_n);  dct_n += float32(g·h_n);  e = kexp(float32(dl·a_n))
//	ae = float32(float32(dhn·hp_n)·e);  pa_n += float64(ae)·float64(dl)
//	ddl[c] = lanes Σ_n (float32(ae·a_n) + float32(dhn·float32(u·bt_n)))
//	dbt_n += float32(dhn·float32(dl·u));  dul[c] = lanes Σ_n float32(dhn·float32(dl·bt_n))
//	dh_n = float32(dhn·e)
//
// (the caller adds g·D to dul and accumulates dD).
func scanBackGo(dh, h, hp, a, bt, ct, dbt, dct []float32, pa []float64, dy, dl, u, ddl, dul []float32, N int) {
	bt, ct, dbt, dct = bt[:N], ct[:N], dbt[:N], dct[:N]
	for c := range dy {
		g, d, uc := dy[c], dl[c], u[c]
		du := d * uc
		dhc, hc, hpc, ac, pac := dh[c*N:(c+1)*N], h[c*N:(c+1)*N], hp[c*N:(c+1)*N], a[c*N:(c+1)*N], pa[c*N:(c+1)*N]
		var ld, lu [8]float32
		for n := range dhc {
			dhn := dhc[n] + float32(g*ct[n])
			dct[n] += float32(g * hc[n])
			e := kexp(float32(d * ac[n]))
			ae := float32(float32(dhn*hpc[n]) * e)
			pac[n] += float64(float64(ae) * float64(d))
			ld[n&7] += float32(ae*ac[n]) + float32(dhn*float32(uc*bt[n]))
			dbt[n] += float32(dhn * du)
			lu[n&7] += float32(dhn * float32(d*bt[n]))
			dhc[n] = float32(dhn * e)
		}
		ddl[c] = lanes8f(&ld)
		dul[c] = lanes8f(&lu)
	}
}
