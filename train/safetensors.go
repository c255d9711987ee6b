package train

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a small, strict implementation of the safetensors format
// (https://huggingface.co/docs/safetensors), float32 tensors only:
//
//	8 bytes      N, the header length, uint64 little-endian
//	N bytes      the header: a JSON object, UTF-8, padded at the end with spaces to a multiple of 8
//	             {"__metadata__": {"key": "value", ...},
//	              "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}
//	rest         the data: every tensor's elements, row-major, float32 little-endian; offsets are
//	             relative to the start of the data and the tensors cover it exactly, without gaps
//
// The encoder writes the tensors in sorted name order (which is also the key order of the header, as
// encoding/json sorts map keys), so equal contents always give equal bytes.

// Limits of the safetensors decoder.
const (
	// MaxHeader is the largest header the decoder accepts, in bytes.
	MaxHeader = 16 << 20
	// MaxTensors is the largest number of tensors in one file.
	MaxTensors = 1 << 16
	// MaxRank is the largest number of dimensions of a tensor.
	MaxRank = 8
	// MaxName is the longest tensor name or metadata key or value, in bytes.
	MaxName = 1024
	// MaxMetadata is the largest number of metadata entries.
	MaxMetadata = 256
)

// metadataKey is the header entry holding string metadata.
const metadataKey = "__metadata__"

// NamedTensor is one float32 tensor of a safetensors file.
type NamedTensor struct {
	Name  string
	Shape []int
	Data  []float32 // row-major, len = product of Shape
}

// Safetensors is the content of a safetensors file: string metadata and float32 tensors.
type Safetensors struct {
	Metadata map[string]string
	// Tensors, sorted by name after DecodeSafetensors; any order for Encode.
	Tensors []NamedTensor
}

// Tensor returns the tensor named name.
func (s *Safetensors) Tensor(name string) (NamedTensor, bool) {
	i, ok := slices.BinarySearchFunc(s.Tensors, name, func(t NamedTensor, n string) int { return strings.Compare(t.Name, n) })
	if ok {
		return s.Tensors[i], true
	}
	for _, t := range s.Tensors { // not sorted: caller-built value
		if t.Name == name {
			return t, true
		}
	}
	return NamedTensor{}, false
}

// tensorInfo is a tensor's header entry.
type tensorInfo struct {
	Dtype       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// elements returns the product of shape, or an error for a negative dimension or overflow.
func elements(shape []int) (int64, error) {
	if len(shape) > MaxRank {
		return 0, fmt.Errorf("%w: rank %d exceeds %d", ErrFormat, len(shape), MaxRank)
	}
	n := int64(1)
	for _, d := range shape {
		if d < 0 || d > math.MaxInt32 {
			return 0, fmt.Errorf("%w: dimension %d", ErrFormat, d)
		}
		if d != 0 && n > (math.MaxInt64/4)/int64(d) {
			return 0, fmt.Errorf("%w: tensor too large", ErrFormat)
		}
		n *= int64(d)
	}
	return n, nil
}

// checkName rejects empty, over-long, non-UTF-8 and reserved names.
func checkName(what, s string) error {
	if s == "" || len(s) > MaxName || !utf8.ValidString(s) {
		return fmt.Errorf("%w: bad %s %q", ErrFormat, what, s)
	}
	return nil
}

// Encode writes s in the safetensors format. Names must be unique and non-empty, every Data must
// match its Shape.
func (s *Safetensors) Encode(w io.Writer) error {
	if len(s.Tensors) > MaxTensors || len(s.Metadata) > MaxMetadata {
		return fmt.Errorf("%w: %d tensors, %d metadata entries", ErrFormat, len(s.Tensors), len(s.Metadata))
	}
	for k, v := range s.Metadata {
		if err := checkName("metadata key", k); err != nil {
			return err
		}
		if len(v) > MaxName || !utf8.ValidString(v) {
			return fmt.Errorf("%w: bad metadata value for %q", ErrFormat, k)
		}
	}
	order := make([]int, len(s.Tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(s.Tensors[a].Name, s.Tensors[b].Name) })
	header := make(map[string]any, len(s.Tensors)+1)
	if len(s.Metadata) > 0 {
		header[metadataKey] = s.Metadata
	}
	var off int64
	for j, i := range order {
		t := s.Tensors[i]
		if err := checkName("tensor name", t.Name); err != nil {
			return err
		}
		if t.Name == metadataKey || (j > 0 && s.Tensors[order[j-1]].Name == t.Name) {
			return fmt.Errorf("%w: duplicate or reserved tensor name %q", ErrFormat, t.Name)
		}
		n, err := elements(t.Shape)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if n != int64(len(t.Data)) {
			return fmt.Errorf("%w: tensor %q has %d elements for shape %v", ErrFormat, t.Name, len(t.Data), t.Shape)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = tensorInfo{Dtype: "F32", Shape: shape, DataOffsets: [2]int64{off, off + 4*n}}
		off += 4 * n
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("train: encode safetensors header: %w", err)
	}
	if pad := (8 - len(hj)%8) % 8; pad > 0 {
		hj = append(hj, bytes.Repeat([]byte{' '}, pad)...)
	}
	if len(hj) > MaxHeader {
		return fmt.Errorf("%w: header of %d bytes exceeds %d", ErrFormat, len(hj), MaxHeader)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var n8 [8]byte
	binary.LittleEndian.PutUint64(n8[:], uint64(len(hj)))
	bw.Write(n8[:])
	bw.Write(hj)
	var b4 [4]byte
	for _, i := range order {
		for _, v := range s.Tensors[i].Data {
			binary.LittleEndian.PutUint32(b4[:], math.Float32bits(v))
			bw.Write(b4[:])
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("train: write safetensors: %w", err)
	}
	return nil
}

// DecodeSafetensors parses a whole safetensors file. It accepts only float32 tensors and checks
// everything: the header length (at most MaxHeader and within the file), strict JSON without
// duplicate or unknown keys, names, ranks and counts within the limits, shapes that match their
// byte ranges, and byte ranges that tile the data exactly. Tensors come back sorted by name.
func DecodeSafetensors(b []byte) (*Safetensors, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header length", ErrFormat, len(b))
	}
	hl := binary.LittleEndian.Uint64(b)
	if hl < 2 || hl > MaxHeader || hl > uint64(len(b)-8) {
		return nil, fmt.Errorf("%w: header length %d (file %d bytes, max %d)", ErrFormat, hl, len(b), MaxHeader)
	}
	hdr := b[8 : 8+hl]
	data := b[8+hl:]
	if !utf8.Valid(hdr) || hdr[0] != '{' {
		return nil, fmt.Errorf("%w: header is not a UTF-8 JSON object", ErrFormat)
	}
	st, infos, err := parseHeader(bytes.TrimRight(hdr, " "))
	if err != nil {
		return nil, err
	}
	// The byte ranges, sorted by start, must tile [0, len(data)).
	type span struct {
		begin, end int64
		i          int
	}
	spans := make([]span, len(infos))
	for i, in := range infos {
		spans[i] = span{in.DataOffsets[0], in.DataOffsets[1], i}
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.begin != b.begin {
			if a.begin < b.begin {
				return -1
			}
			return 1
		}
		return a.i - b.i
	})
	var pos int64
	for _, s := range spans {
		if s.begin != pos || s.end < s.begin {
			return nil, fmt.Errorf("%w: tensor %q data [%d,%d) leaves a gap or overlaps at %d",
				ErrFormat, st.Tensors[s.i].Name, s.begin, s.end, pos)
		}
		pos = s.end
	}
	if pos != int64(len(data)) {
		return nil, fmt.Errorf("%w: tensors cover %d of %d data bytes", ErrFormat, pos, len(data))
	}
	for i, in := range infos {
		raw := data[in.DataOffsets[0]:in.DataOffsets[1]]
		f := make([]float32, len(raw)/4)
		for j := range f {
			f[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		st.Tensors[i].Data = f
	}
	return st, nil
}

// parseHeader reads the header JSON strictly with a token decoder (encoding/json's Unmarshal would
// silently accept duplicate keys). It returns the tensors (sorted by name, without data) and their
// header entries in the same order.
func parseHeader(hdr []byte) (*Safetensors, []tensorInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: safetensors header: "+format, append([]any{ErrFormat}, args...)...)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, bad("not an object")
	}
	st := &Safetensors{}
	var infos []tensorInfo
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, bad("%v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, bad("non-string key")
		}
		if seen[key] {
			return nil, nil, bad("duplicate key %q", key)
		}
		seen[key] = true
		if key == metadataKey {
			if st.Metadata, err = parseMetadata(dec); err != nil {
				return nil, nil, bad("metadata: %v", err)
			}
			continue
		}
		if err := checkName("tensor name", key); err != nil {
			return nil, nil, err
		}
		if len(infos) >= MaxTensors {
			return nil, nil, bad("more than %d tensors", MaxTensors)
		}
		in, err := parseInfo(dec)
		if err != nil {
			return nil, nil, bad("tensor %q: %v", key, err)
		}
		n, err := elements(in.Shape)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", key, err)
		}
		if o := in.DataOffsets; o[0] < 0 || o[1] < o[0] || o[1]-o[0] != 4*n {
			return nil, nil, bad("tensor %q: data_offsets %v do not hold shape %v", key, o, in.Shape)
		}
		st.Tensors = append(st.Tensors, NamedTensor{Name: key, Shape: in.Shape})
		infos = append(infos, in)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, nil, bad("unterminated object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, bad("trailing data after the object")
	}
	// Sort tensors by name, keeping infos aligned.
	idx := make([]int, len(infos))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(st.Tensors[a].Name, st.Tensors[b].Name) })
	ts, is := make([]NamedTensor, len(idx)), make([]tensorInfo, len(idx))
	for j, i := range idx {
		ts[j], is[j] = st.Tensors[i], infos[i]
	}
	st.Tensors = ts
	return st, is, nil
}

// parseMetadata reads a {"string": "string"} object.
func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object")
	}
	md := make(map[string]string)
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := k.(string)
		if err := checkName("metadata key", key); err != nil {
			return nil, err
		}
		if _, dup := md[key]; dup {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		if len(md) >= MaxMetadata {
			return nil, fmt.Errorf("more than %d entries", MaxMetadata)
		}
		v, err := dec.Token()
		if err != nil {
			return nil, err
		}
		val, ok := v.(string)
		if !ok || len(val) > MaxName {
			return nil, fmt.Errorf("value of %q is not a short string", key)
		}
		md[key] = val
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	return md, nil
}

// parseInfo reads {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}.
func parseInfo(dec *json.Decoder) (tensorInfo, error) {
	var in tensorInfo
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return in, fmt.Errorf("not an object")
	}
	var haveDtype, haveShape, haveOffsets bool
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return in, err
		}
		switch k {
		case "dtype":
			if haveDtype {
				return in, fmt.Errorf("duplicate dtype")
			}
			haveDtype = true
			v, err := dec.Token()
			if err != nil {
				return in, err
			}
			if v != "F32" {
				return in, fmt.Errorf("dtype %v (only F32 is supported)", v)
			}
			in.Dtype = "F32"
		case "shape":
			if haveShape {
				return in, fmt.Errorf("duplicate shape")
			}
			haveShape = true
			xs, err := parseInts(dec, MaxRank)
			if err != nil {
				return in, fmt.Errorf("shape: %v", err)
			}
			in.Shape = make([]int, len(xs))
			for i, x := range xs {
				if x > math.MaxInt32 {
					return in, fmt.Errorf("shape: dimension %d", x)
				}
				in.Shape[i] = int(x)
			}
		case "data_offsets":
			if haveOffsets {
				return in, fmt.Errorf("duplicate data_offsets")
			}
			haveOffsets = true
			xs, err := parseInts(dec, 2)
			if err != nil || len(xs) != 2 {
				return in, fmt.Errorf("data_offsets: want two integers")
			}
			in.DataOffsets = [2]int64{xs[0], xs[1]}
		default:
			return in, fmt.Errorf("unknown field %v", k)
		}
	}
	if _, err := dec.Token(); err != nil {
		return in, err
	}
	if !haveDtype || !haveShape || !haveOffsets {
		return in, fmt.Errorf("missing dtype, shape or data_offsets")
	}
	return in, nil
}

// parseInts reads an array of at most limit non-negative integers (below 2⁶²).
func parseInts(dec *json.Decoder, limit int) ([]int64, error) {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("not an array")
	}
	var xs []int64
	for dec.More() {
		if len(xs) >= limit {
			return nil, fmt.Errorf("more than %d values", limit)
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("not a number")
		}
		x, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || x < 0 || x >= 1<<62 {
			return nil, fmt.Errorf("bad integer %s", num)
		}
		xs = append(xs, x)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return xs, nil
}
