package fmath

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/exp.txt from Exp")

// expInputs are the inputs of testdata/exp.txt: special values, the edges of the range, inputs with
// subnormal results, and a deterministic sweep of [-105, 90].
func expInputs() []float32 {
	in := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 1e-8, -1e-8, 0.5, 2, 4, 88.7, 89, 89.0001, 100,
		-87.3, -100, -103.97, -104, -104.01, -200, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	s := uint64(1)
	for range 2000 {
		s = s*6364136223846793005 + 1442695040888963407
		in = append(in, float32(-105+195*float64(s>>11)/(1<<53)))
	}
	return in
}

// TestExpVectors: testdata/exp.txt records Exp's bits on expInputs (input and output bits in hex,
// one pair per line), so that a change to Exp's bits, which would change every result of the CPU and
// CUDA devices, shows. -update rewrites the file.
func TestExpVectors(t *testing.T) {
	var b bytes.Buffer
	fmt.Fprintln(&b, "# gpu/fmath Exp: input bits, output bits (go test ./gpu/fmath -run TestExpVectors -update)")
	for _, x := range expInputs() {
		fmt.Fprintf(&b, "%08x %08x\n", math.Float32bits(x), math.Float32bits(Exp(x)))
	}
	path := filepath.Join("testdata", "exp.txt")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Fatalf("%s differs from Exp's bits: run with -update if Exp changed on purpose", path)
	}
}
