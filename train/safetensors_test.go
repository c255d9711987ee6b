package train

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"
)

func sampleFile() *Safetensors {
	return &Safetensors{
		Metadata: map[string]string{"format": "test", "note": "<&>"},
		Tensors: []NamedTensor{
			{Name: "b", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, float32(math.Inf(-1))}},
			{Name: "a", Shape: []int{1}, Data: []float32{-0.5}},
			{Name: "empty", Shape: []int{0, 4}, Data: []float32{}},
			{Name: "scalar", Shape: []int{}, Data: []float32{7}},
		},
	}
}

func encode(t testing.TB, s *Safetensors) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := s.Encode(&b); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b.Bytes()
}

func TestSafetensorsRoundTrip(t *testing.T) {
	src := sampleFile()
	b := encode(t, src)
	if hl := binary.LittleEndian.Uint64(b); hl%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", hl)
	}
	got, err := DecodeSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Metadata) != 2 || got.Metadata["note"] != "<&>" {
		t.Errorf("metadata %v", got.Metadata)
	}
	names := []string{"a", "b", "empty", "scalar"}
	if len(got.Tensors) != len(names) {
		t.Fatalf("%d tensors", len(got.Tensors))
	}
	for i, n := range names {
		gt := got.Tensors[i]
		want, _ := src.Tensor(n)
		if gt.Name != n || !slices.Equal(gt.Shape, want.Shape) || len(gt.Data) != len(want.Data) {
			t.Fatalf("tensor %d: %+v, want %+v", i, gt, want)
		}
		for j := range gt.Data {
			if math.Float32bits(gt.Data[j]) != math.Float32bits(want.Data[j]) {
				t.Fatalf("%s[%d] = %v, want %v", n, j, gt.Data[j], want.Data[j])
			}
		}
	}
	// Sorted order: "a" (1 float) then "b" (6 floats) then "empty" and "scalar".
	if i, _ := got.Tensor("scalar"); i.Data[0] != 7 {
		t.Errorf("Tensor lookup: %+v", i)
	}
	// Equal contents give equal bytes, whatever the input order.
	rev := sampleFile()
	for i, j := 0, len(rev.Tensors)-1; i < j; i, j = i+1, j-1 {
		rev.Tensors[i], rev.Tensors[j] = rev.Tensors[j], rev.Tensors[i]
	}
	if !bytes.Equal(encode(t, rev), b) {
		t.Error("encoding depends on the tensor order")
	}
	// Re-encoding the decoded file gives the same bytes.
	if !bytes.Equal(encode(t, got), b) {
		t.Error("decode/encode is not the identity")
	}
}

func TestSafetensorsEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		s    Safetensors
	}{
		{"duplicate", Safetensors{Tensors: []NamedTensor{{Name: "x", Shape: []int{1}, Data: []float32{1}}, {Name: "x", Shape: []int{1}, Data: []float32{2}}}}},
		{"reserved", Safetensors{Tensors: []NamedTensor{{Name: "__metadata__", Shape: []int{1}, Data: []float32{1}}}}},
		{"empty name", Safetensors{Tensors: []NamedTensor{{Name: "", Shape: []int{1}, Data: []float32{1}}}}},
		{"shape mismatch", Safetensors{Tensors: []NamedTensor{{Name: "x", Shape: []int{2}, Data: []float32{1}}}}},
		{"negative dim", Safetensors{Tensors: []NamedTensor{{Name: "x", Shape: []int{-1}, Data: nil}}}},
		{"bad metadata", Safetensors{Metadata: map[string]string{"": "x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.s.Encode(&bytes.Buffer{}); !errors.Is(err, ErrFormat) {
				t.Fatalf("got %v, want ErrFormat", err)
			}
		})
	}
}

// withHeader builds a file from a raw header and data.
func withHeader(h string, data []byte) []byte {
	b := make([]byte, 8, 8+len(h)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(h)))
	return append(append(b, h...), data...)
}

func TestSafetensorsDecodeRejects(t *testing.T) {
	good := encode(t, sampleFile())
	four := make([]byte, 4)
	eight := make([]byte, 8)
	hugeLen := make([]byte, 16)
	binary.LittleEndian.PutUint64(hugeLen, MaxHeader+1)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", []byte{1, 2, 3}},
		{"header beyond file", good[:len(good)/2+8][:20]},
		{"huge header length", hugeLen},
		{"truncated data", good[:len(good)-4]},
		{"trailing data", append(append([]byte(nil), good...), 0, 0, 0, 0)},
		{"not json", withHeader("nonsense", nil)},
		{"array", withHeader(`[1,2]`, nil)},
		{"trailing json", withHeader(`{} {}`, nil)},
		{"duplicate key", withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)},
		{"dtype", withHeader(`{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, four)},
		{"unknown field", withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}`, four)},
		{"missing offsets", withHeader(`{"x":{"dtype":"F32","shape":[1]}}`, four)},
		{"shape vs bytes", withHeader(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, four)},
		{"negative dim", withHeader(`{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, four)},
		{"float dim", withHeader(`{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, four)},
		{"rank", withHeader(`{"x":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}`, four)},
		{"overflow", withHeader(`{"x":{"dtype":"F32","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,4]}}`, four)},
		{"gap", withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)},
		{"overlap", withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four)},
		{"beyond data", withHeader(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, four)},
		{"metadata not strings", withHeader(`{"__metadata__":{"a":1}}`, nil)},
		{"metadata duplicate", withHeader(`{"__metadata__":{"a":"1","a":"2"}}`, nil)},
		{"metadata twice", withHeader(`{"__metadata__":{},"__metadata__":{}}`, nil)},
		{"empty name", withHeader(`{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four)},
		{"bad utf8", withHeader("{\"\xff\":{}}", nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeSafetensors(tc.b); !errors.Is(err, ErrFormat) {
				t.Fatalf("got %v, want ErrFormat", err)
			}
		})
	}
	// Padding with spaces is accepted (the reference implementation pads to 8 bytes).
	if _, err := DecodeSafetensors(withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}     `, four)); err != nil {
		t.Fatalf("padded header: %v", err)
	}
}

// FuzzDecodeSafetensors: the decoder never panics, and what it accepts re-encodes to a file that
// decodes to the same content.
func FuzzDecodeSafetensors(f *testing.F) {
	f.Add(encode(f, sampleFile()))
	f.Add(withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(withHeader(`{"__metadata__":{"a":"b"}}`, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSafetensors(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		var out bytes.Buffer
		if err := s.Encode(&out); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		s2, err := DecodeSafetensors(out.Bytes())
		if err != nil || len(s2.Tensors) != len(s.Tensors) || len(s2.Metadata) != len(s.Metadata) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

// trained returns a trainer a few steps into a run, and its checkpoint.
func trained(t testing.TB) (*Trainer, []byte) {
	t.Helper()
	r := shortRun("width=16 vocab=11 norm=layer: A(heads=2) G", 8, 2)
	tr := r.newTrainer(t, cpuDev.new(t, 1))
	if err := tr.RunUntil(context.Background(), r.data(), 3); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tr.SaveCheckpoint(&b); err != nil {
		t.Fatal(err)
	}
	return tr, b.Bytes()
}

func TestCheckpointRoundTrip(t *testing.T) {
	tr, ckpt := trained(t)
	want, err := tr.Digest()
	if err != nil {
		t.Fatal(err)
	}
	st, err := DecodeSafetensors(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Metadata["step"] != "3" || st.Metadata["format"] != FormatCheckpoint || st.Metadata["class"] != "cpu-v1" ||
		len(st.Tensors) != 3*len(tr.Model().Tensors()) {
		t.Fatalf("checkpoint metadata %v, %d tensors", st.Metadata, len(st.Tensors))
	}
	r := shortRun("width=16 vocab=11 norm=layer: A(heads=2) G", 8, 2)
	fresh := r.newTrainer(t, cpuDev.new(t, 2))
	if err := fresh.LoadCheckpoint(bytes.NewReader(ckpt)); err != nil {
		t.Fatal(err)
	}
	if got, _ := fresh.Digest(); got != want || fresh.Step() != 3 || fresh.RNG() != tr.RNG() {
		t.Fatalf("digest %v step %d after load, want %v step 3", got, fresh.Step(), want)
	}
	var again bytes.Buffer
	if err := fresh.SaveCheckpoint(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), ckpt) {
		t.Fatal("the checkpoint of a loaded state differs from the original")
	}
}

func TestWeightsRoundTrip(t *testing.T) {
	tr, _ := trained(t)
	m := tr.Model()
	var w bytes.Buffer
	if err := m.SaveWeights(&w); err != nil {
		t.Fatal(err)
	}
	other := mustModel(t, cpuDev.new(t, 1), "width=16 vocab=11 norm=layer: A(heads=2) G", 1, 4)
	if err := other.LoadWeights(bytes.NewReader(w.Bytes())); err != nil {
		t.Fatal(err)
	}
	a, b := make([]float32, m.NumParams()), make([]float32, m.NumParams())
	_ = m.ReadParams(a)
	_ = other.ReadParams(b)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("parameter %d: %v, want %v", i, b[i], a[i])
		}
	}
	// A weights file is not a checkpoint, and the reverse.
	if err := tr.LoadCheckpoint(bytes.NewReader(w.Bytes())); !errors.Is(err, ErrMismatch) {
		t.Fatalf("LoadCheckpoint(weights): %v", err)
	}
	_, ckpt := trained(t)
	if err := other.LoadWeights(bytes.NewReader(ckpt)); !errors.Is(err, ErrMismatch) {
		t.Fatalf("LoadWeights(checkpoint): %v", err)
	}
	// Weights of another architecture are refused.
	third := mustModel(t, cpuDev.new(t, 1), "width=16 vocab=11 norm=layer: A(heads=4) G", 1, 4)
	if err := third.LoadWeights(bytes.NewReader(w.Bytes())); !errors.Is(err, ErrMismatch) {
		t.Fatalf("LoadWeights(other arch): %v", err)
	}
}

// rewrite decodes a checkpoint, applies fn and encodes it again.
func rewrite(t *testing.T, ckpt []byte, fn func(*Safetensors)) []byte {
	t.Helper()
	st, err := DecodeSafetensors(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	fn(st)
	return encode(t, st)
}

func TestCheckpointRejects(t *testing.T) {
	tr, ckpt := trained(t)
	before, _ := tr.Digest()
	flip := append([]byte(nil), ckpt...)
	flip[10] ^= 0x40
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"truncated", ckpt[:len(ckpt)-1], ErrFormat},
		{"corrupt header", flip, ErrFormat},
		{"wrong arch", rewrite(t, ckpt, func(s *Safetensors) { s.Metadata["arch"] = "bafyother" }), ErrMismatch},
		{"wrong seed", rewrite(t, ckpt, func(s *Safetensors) { s.Metadata["rng_seed"] = "43" }), ErrMismatch},
		{"bad rng", rewrite(t, ckpt, func(s *Safetensors) { s.Metadata["rng_counter"] = "-1" }), ErrFormat},
		{"step beyond run", rewrite(t, ckpt, func(s *Safetensors) { s.Metadata["step"] = "9" }), ErrMismatch},
		{"step not a number", rewrite(t, ckpt, func(s *Safetensors) { s.Metadata["step"] = "x" }), ErrMismatch},
		{"no format", rewrite(t, ckpt, func(s *Safetensors) { delete(s.Metadata, "format") }), ErrMismatch},
		{"missing tensor", rewrite(t, ckpt, func(s *Safetensors) { s.Tensors = s.Tensors[1:] }), ErrMismatch},
		{"renamed tensor", rewrite(t, ckpt, func(s *Safetensors) { s.Tensors[0].Name = "zzz" }), ErrMismatch},
		{"reshaped tensor", rewrite(t, ckpt, func(s *Safetensors) {
			for i := range s.Tensors {
				if s.Tensors[i].Name == "tok" {
					s.Tensors[i].Shape = []int{s.Tensors[i].Shape[1], s.Tensors[i].Shape[0]}
				}
			}
		}), ErrMismatch},
		{"extra tensor", rewrite(t, ckpt, func(s *Safetensors) {
			s.Tensors = append(s.Tensors, NamedTensor{Name: "extra", Shape: []int{1}, Data: []float32{1}})
		}), ErrMismatch},
		{"too large", append(append([]byte(nil), ckpt...), make([]byte, MaxHeader)...), ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tr.LoadCheckpoint(bytes.NewReader(tc.b)); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if after, _ := tr.Digest(); after != before || tr.Step() != 3 {
				t.Fatal("a rejected checkpoint changed the trainer")
			}
		})
	}
}

// FuzzLoadCheckpoint: loading arbitrary bytes never panics and never changes the trainer unless it
// succeeds.
func FuzzLoadCheckpoint(f *testing.F) {
	tr, ckpt := trained(f)
	before, _ := tr.Digest()
	f.Add(ckpt)
	f.Add(ckpt[:64])
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := tr.LoadCheckpoint(bytes.NewReader(b)); err == nil {
			before, _ = tr.Digest() // a valid checkpoint (the seed itself): the new state
			return
		}
		if after, _ := tr.Digest(); after != before {
			t.Fatal("a rejected checkpoint changed the trainer")
		}
	})
}
