package node

import (
	"slices"
	"testing"
)

// The verdict latencies the report keeps are the last ones added, up to the bound.
func TestRing(t *testing.T) {
	for _, tc := range []struct {
		add  int
		want []float64
	}{
		{0, nil},
		{2, []float64{1, 2}},
		{3, []float64{1, 2, 3}},
		{4, []float64{2, 3, 4}},
		{8, []float64{6, 7, 8}},
	} {
		r := ring{bound: 3}
		for i := 1; i <= tc.add; i++ {
			r.add(float64(i))
		}
		got := slices.Sorted(slices.Values(r.vals))
		if !slices.Equal(got, tc.want) || r.n != tc.add {
			t.Errorf("after %d values: %v (%d added), want %v", tc.add, got, r.n, tc.want)
		}
	}
}
