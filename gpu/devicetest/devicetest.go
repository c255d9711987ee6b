package devicetest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/airanode/airanode/gpu"
)

// Tol sets the tolerances of the suite. A check passes when |got − want| ≤ tol·(|want| + rms(want) +
// 10⁻³) element by element (rms over the compared elements gives an absolute floor at the scale of the
// output, and 10⁻³ one for outputs that are exactly zero, such as the key gradients of a one-token
// attention). Each kernel multiplies these by its own factor (for example attention or the scan, whose
// float32 results carry longer chains of rounding).
type Tol struct {
	// Fwd is the relative tolerance of forward outputs against the float64 reference, and of every
	// output in Compare.
	Fwd float64
	// Grad is the relative tolerance of backward outputs against central finite differences of the
	// float64 reference forward.
	Grad float64
}

// Exact asks Compare for bit-identical outputs.
var Exact = Tol{}

// DefaultTol returns the tolerances a float32 device is expected to meet.
func DefaultTol() Tol { return Tol{Fwd: 2e-5, Grad: 1e-3} }

// Kernel is one kernel call on prepared buffers.
type Kernel struct {
	Name string
	// Exec runs the kernel (it may change its own inputs, e.g. in-place kernels and accumulated
	// gradients, so repeated calls see different values).
	Exec func()
}

// inputs are the host inputs of one case.
type inputs struct {
	f map[string][]float32
	i map[string][]int32
}

func newInputs() inputs { return inputs{f: map[string][]float32{}, i: map[string][]int32{}} }

// refVal is a reference output: values at idx (nil idx: every element).
type refVal struct {
	idx []int
	val []float64
}

// kcase is one check of the suite.
type kcase struct {
	name string
	tol  float64 // multiplier of Tol.Fwd (or Tol.Grad when grad); 0 asks for exact equality
	grad bool    // the outputs are gradients (checked against finite differences)
	gen  func(r *rand.Rand) inputs
	// prep uploads the inputs and returns the kernel call and a reader of its outputs.
	prep func(e *env, in inputs) (exec func(), read func() map[string][]float64)
	// ref returns the reference outputs for in.
	ref func(in inputs, r *rand.Rand) map[string]refVal
}

// env wraps a device for one case: every failure is fatal to the test.
type env struct {
	t testing.TB
	d gpu.Device
}

func (e *env) up(x []float32) gpu.Buffer {
	e.t.Helper()
	b, err := e.d.Alloc(len(x))
	if err != nil {
		e.t.Fatalf("Alloc(%d): %v", len(x), err)
	}
	if err := e.d.Upload(b, x); err != nil {
		e.t.Fatalf("Upload: %v", err)
	}
	return b
}

func (e *env) upi(x []int32) gpu.Ints {
	e.t.Helper()
	b, err := e.d.AllocInts(len(x))
	if err != nil {
		e.t.Fatalf("AllocInts(%d): %v", len(x), err)
	}
	if err := e.d.UploadInts(b, x); err != nil {
		e.t.Fatalf("UploadInts: %v", err)
	}
	return b
}

// garbage returns a buffer of n floats filled with a value a kernel must overwrite.
func (e *env) garbage(n int) gpu.Buffer {
	x := make([]float32, n)
	for i := range x {
		x[i] = 1e9 + float32(i)
	}
	return e.up(x)
}

func (e *env) down(b gpu.Buffer) []float64 {
	e.t.Helper()
	if err := e.d.Sync(); err != nil {
		e.t.Fatalf("device error: %v", err)
	}
	x := make([]float32, b.Len())
	if err := e.d.Download(x, b); err != nil {
		e.t.Fatalf("Download: %v", err)
	}
	return to64(x)
}

func (e *env) downi(b gpu.Ints) []float64 {
	e.t.Helper()
	if err := e.d.Sync(); err != nil {
		e.t.Fatalf("device error: %v", err)
	}
	x := make([]int32, b.Len())
	if err := e.d.DownloadInts(x, b); err != nil {
		e.t.Fatalf("DownloadInts: %v", err)
	}
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// seed derives a case's random seed from its name, so a case sees the same inputs whatever runs first.
func seed(name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	s := h.Sum64()
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

// run prepares and runs c on d and returns its outputs.
func run(t testing.TB, d gpu.Device, c *kcase, in inputs) map[string][]float64 {
	t.Helper()
	e := &env{t: t, d: d}
	exec, read := c.prep(e, in)
	exec()
	if err := d.Sync(); err != nil {
		t.Fatalf("%s: device error: %v", c.name, err)
	}
	return read()
}

// Run checks every kernel of d against the float64 references, and that running each twice gives
// identical bits.
func Run(t *testing.T, d gpu.Device, tol Tol) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			r := seed(c.name)
			in := c.gen(r)
			got := run(t, d, &c, in)
			want := c.ref(in, r)
			mult := tol.Fwd
			if c.grad {
				mult = tol.Grad
			}
			for _, name := range sortedKeys(want) {
				g, ok := got[name]
				if !ok {
					t.Fatalf("output %q missing", name)
				}
				checkClose(t, name, g, want[name], mult*c.tol)
			}
			again := run(t, d, &c, in)
			for _, name := range sortedKeys(got) {
				checkBits(t, name+" (second run)", again[name], got[name])
			}
		})
	}
}

// Compare runs every kernel on a and b with the same inputs and compares all outputs: bit for bit
// when tol is Exact, else within tol (Fwd for forward kernels, Grad for backward kernels, each times
// the kernel's factor).
func Compare(t *testing.T, a, b gpu.Device, tol Tol) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			in := c.gen(seed(c.name))
			ga := run(t, a, &c, in)
			gb := run(t, b, &c, in)
			for _, name := range sortedKeys(ga) {
				if tol == Exact {
					checkBits(t, name, gb[name], ga[name])
					continue
				}
				mult := tol.Fwd
				if c.grad {
					mult = tol.Grad
				}
				checkClose(t, name, gb[name], refVal{val: ga[name]}, mult*c.tol)
			}
		})
	}
}

// Kernels returns every kernel call of the suite, prepared on d with fixed inputs.
func Kernels(t testing.TB, d gpu.Device) []Kernel {
	var ks []Kernel
	for _, c := range cases() {
		e := &env{t: t, d: d}
		exec, _ := c.prep(e, c.gen(seed(c.name)))
		ks = append(ks, Kernel{Name: c.name, Exec: exec})
	}
	return ks
}

// Digest runs every kernel of the suite once on d and returns the SHA-256 (hex) of all outputs: case
// names and output names in order, then the float32 bits of every element. Devices of one
// reproducibility class must return the same digest on every machine, build and thread count; a test
// can pin it.
func Digest(t testing.TB, d gpu.Device) string {
	h := sha256.New()
	var b [4]byte
	for _, c := range cases() {
		got := run(t, d, &c, c.gen(seed(c.name)))
		h.Write([]byte(c.name))
		for _, name := range sortedKeys(got) {
			h.Write([]byte(name))
			for _, v := range got[name] {
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(float32(v)))
				h.Write(b[:])
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Names lists the names of the suite's cases (one or more per kernel).
func Names() []string {
	var n []string
	for _, c := range cases() {
		n = append(n, c.name)
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// checkClose compares got (at want.idx, or everywhere) with want.val.
func checkClose(t testing.TB, name string, got []float64, want refVal, tol float64) {
	t.Helper()
	idx := want.idx
	if idx == nil {
		if len(got) != len(want.val) {
			t.Errorf("%s: %d elements, want %d", name, len(got), len(want.val))
			return
		}
		idx = make([]int, len(got))
		for i := range idx {
			idx[i] = i
		}
	}
	var ss float64
	for _, w := range want.val {
		ss += w * w
	}
	rms := math.Sqrt(ss / float64(max(1, len(want.val))))
	bad := 0
	worst, worstAt := 0.0, -1
	for k, i := range idx {
		g, w := got[i], want.val[k]
		err := math.Abs(g - w)
		lim := tol * (math.Abs(w) + rms + absFloor)
		if !(err <= lim) { // catches NaN
			if bad < 5 {
				t.Errorf("%s[%d] = %.9g, want %.9g (error %.3g, allowed %.3g)", name, i, g, w, err, lim)
			}
			bad++
		}
		if r := err / (math.Abs(w) + rms + absFloor); r > worst || r != r {
			worst, worstAt = r, i
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements out of tolerance %g (worst relative error %.3g at %d)", name, bad, len(idx), tol, worst, worstAt)
	}
}

// absFloor is the absolute part of the tolerance (see Tol).
const absFloor = 1e-3

// checkBits requires identical float32 bits (the float64 values are exact conversions).
func checkBits(t testing.TB, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d elements, want %d", name, len(got), len(want))
		return
	}
	bad := 0
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			if bad < 5 {
				t.Errorf("%s[%d] = %v (%#08x), want %v (%#08x): not bit-identical", name, i,
					got[i], math.Float32bits(float32(got[i])), want[i], math.Float32bits(float32(want[i])))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements differ", name, bad, len(got))
	}
}

// gradSpec describes a backward kernel for the finite-difference reference.
type gradSpec struct {
	// fwd is the float64 reference forward: outputs by name from float inputs by name.
	fwd func(x map[string][]float64) map[string][]float64
	// dout maps each forward output to the input holding its upstream gradient.
	dout map[string]string
	// wrt maps each gradient the device returns to the input it differentiates.
	wrt map[string]string
	// init maps accumulated gradients to the input holding their value before the kernel.
	init map[string]string
}

// fdSamples is the number of elements of each input checked by finite differences.
const fdSamples = 48

// fd returns the central finite-difference gradients of L = Σ dout·fwd(x) at a sample of the elements
// of every input in spec.wrt (plus the initial values of accumulated gradients).
func fd(spec gradSpec, in inputs, r *rand.Rand) map[string]refVal {
	x := map[string][]float64{}
	for n, v := range in.f {
		x[n] = to64(v)
	}
	loss := func() float64 {
		out := spec.fwd(x)
		var l float64
		for o, dn := range spec.dout {
			g, y := x[dn], out[o]
			if len(g) != len(y) {
				panic(fmt.Sprintf("devicetest: upstream gradient %q has %d elements, output %q has %d", dn, len(g), o, len(y)))
			}
			for i := range y {
				l += g[i] * y[i]
			}
		}
		return l
	}
	res := map[string]refVal{}
	for _, gname := range sortedKeys(spec.wrt) {
		iname := spec.wrt[gname]
		v := x[iname]
		idx := sample(r, len(v))
		val := make([]float64, len(idx))
		for k, i := range idx {
			xi := v[i]
			h := 1e-4 * max(1, math.Abs(xi))
			v[i] = xi + h
			lp := loss()
			v[i] = xi - h
			lm := loss()
			v[i] = xi
			val[k] = (lp - lm) / (2 * h)
			if init, ok := spec.init[gname]; ok {
				val[k] += x[init][i]
			}
		}
		res[gname] = refVal{idx: idx, val: val}
	}
	return res
}

// sample returns up to fdSamples distinct indices below n, in increasing order.
func sample(r *rand.Rand, n int) []int {
	if n <= fdSamples {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := r.Perm(n)[:fdSamples]
	slices.Sort(idx)
	return idx
}

// all wraps full reference outputs.
func all(m map[string][]float64) map[string]refVal {
	res := map[string]refVal{}
	for n, v := range m {
		res[n] = refVal{val: v}
	}
	return res
}
