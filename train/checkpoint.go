package train

import (
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/airanode/airanode/arch"
)

// Checkpoint and weights files are safetensors files (see safetensors.go).
//
// A weights file (Model.SaveWeights) holds one tensor per parameter tensor, under its canonical name
// and shape, and the metadata
//
//	format  "airanode-weights/1"
//	arch    the architecture's CID
//
// A checkpoint (Trainer.SaveCheckpoint) holds the same tensors plus the AdamW moments of every tensor
// under "opt.m.<name>" and "opt.v.<name>", and the metadata
//
//	format       "airanode-checkpoint/1"
//	arch         the architecture's CID
//	step         steps done (decimal)
//	rng_seed     the RNG seed (decimal uint64)
//	rng_counter  the RNG counter (decimal uint64)
//	class        the reproducibility class of the device that wrote it (informative)
//
// Loading checks that the file holds exactly the expected tensors with the expected shapes and that
// the architecture (and for checkpoints the seed) matches; the model is changed only if every check
// passes.

// Metadata values of the format key.
const (
	FormatWeights    = "airanode-weights/1"
	FormatCheckpoint = "airanode-checkpoint/1"
)

// Metadata keys.
const (
	metaFormat     = "format"
	metaArch       = "arch"
	metaStep       = "step"
	metaRNGSeed    = "rng_seed"
	metaRNGCounter = "rng_counter"
	metaClass      = "class"
)

// Prefixes of the optimizer tensors in a checkpoint.
const (
	prefixM = "opt.m."
	prefixV = "opt.v."
)

// ArchCID returns the CID of the model's architecture (its canonical object encoding).
func (m *Model) ArchCID() (string, error) {
	c, err := arch.CID(m.arch)
	if err != nil {
		return "", fmt.Errorf("train: architecture CID: %w", err)
	}
	return c.String(), nil
}

// tensorsOf returns the named tensors of the parameter table over the host copy buf.
func tensorsOf(ts []Tensor, prefix string, buf []float32) []NamedTensor {
	out := make([]NamedTensor, len(ts))
	for i, t := range ts {
		out[i] = NamedTensor{Name: prefix + t.Name, Shape: t.Shape, Data: buf[t.Offset : t.Offset+t.Len]}
	}
	return out
}

// SaveWeights writes the model's parameters as a weights file.
func (m *Model) SaveWeights(w io.Writer) error {
	if m.closed {
		return ErrClosed
	}
	id, err := m.ArchCID()
	if err != nil {
		return err
	}
	host := make([]float32, m.nparams)
	if err := m.ReadParams(host); err != nil {
		return fmt.Errorf("train: save weights: %w", err)
	}
	st := &Safetensors{
		Metadata: map[string]string{metaFormat: FormatWeights, metaArch: id},
		Tensors:  tensorsOf(m.tensors, "", host),
	}
	return st.Encode(w)
}

// readFile reads a safetensors file of at most dataBytes of tensor data from r and decodes it.
func readFile(r io.Reader, dataBytes int64) (*Safetensors, error) {
	limit := 8 + MaxHeader + dataBytes
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("train: read: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrFormat, limit)
	}
	return DecodeSafetensors(b)
}

// checkFile verifies that st holds exactly the tensors of ts under each prefix, with their shapes,
// and the expected format and architecture.
func (m *Model) checkFile(st *Safetensors, format string, prefixes ...string) error {
	if got := st.Metadata[metaFormat]; got != format {
		return fmt.Errorf("%w: format %q, want %q", ErrMismatch, got, format)
	}
	id, err := m.ArchCID()
	if err != nil {
		return err
	}
	if got := st.Metadata[metaArch]; got != id {
		return fmt.Errorf("%w: architecture %q, model is %q", ErrMismatch, got, id)
	}
	if want := len(m.tensors) * len(prefixes); len(st.Tensors) != want {
		return fmt.Errorf("%w: %d tensors, want %d", ErrMismatch, len(st.Tensors), want)
	}
	for _, p := range prefixes {
		for _, t := range m.tensors {
			got, ok := st.Tensor(p + t.Name)
			if !ok {
				return fmt.Errorf("%w: missing tensor %q", ErrMismatch, p+t.Name)
			}
			if !slices.Equal(got.Shape, t.Shape) {
				return fmt.Errorf("%w: tensor %q has shape %v, want %v", ErrMismatch, got.Name, got.Shape, t.Shape)
			}
		}
	}
	return nil
}

// gather copies the tensors under prefix into a canonical-order host buffer.
func (m *Model) gather(st *Safetensors, prefix string, dst []float32) {
	for _, t := range m.tensors {
		nt, _ := st.Tensor(prefix + t.Name)
		copy(dst[t.Offset:t.Offset+t.Len], nt.Data)
	}
}

// LoadWeights sets the parameters from a weights file written by SaveWeights for the same
// architecture. A file that fails any check changes nothing.
func (m *Model) LoadWeights(r io.Reader) error {
	if m.closed {
		return ErrClosed
	}
	st, err := readFile(r, 4*int64(m.nparams))
	if err != nil {
		return err
	}
	if err := m.checkFile(st, FormatWeights, ""); err != nil {
		return err
	}
	host := make([]float32, m.nparams)
	m.gather(st, "", host)
	return m.WriteParams(host)
}

// SaveCheckpoint writes the full training state (weights, AdamW moments, step, RNG) as a checkpoint
// file. The bytes depend only on the state, so equal states give equal files (and equal CIDs).
func (t *Trainer) SaveCheckpoint(w io.Writer) error {
	if t.closed {
		return ErrClosed
	}
	m := t.m
	id, err := m.ArchCID()
	if err != nil {
		return err
	}
	P := m.nparams
	host := make([]float32, 3*P)
	p, mm, vv := host[:P], host[P:2*P], host[2*P:]
	if err := t.dev.Download(p, m.params); err != nil {
		return fmt.Errorf("train: save checkpoint: %w", err)
	}
	if err := t.dev.Download(mm, t.mom); err != nil {
		return fmt.Errorf("train: save checkpoint: %w", err)
	}
	if err := t.dev.Download(vv, t.vel); err != nil {
		return fmt.Errorf("train: save checkpoint: %w", err)
	}
	ts := tensorsOf(m.tensors, "", p)
	ts = append(ts, tensorsOf(m.tensors, prefixM, mm)...)
	ts = append(ts, tensorsOf(m.tensors, prefixV, vv)...)
	st := &Safetensors{
		Metadata: map[string]string{
			metaFormat:     FormatCheckpoint,
			metaArch:       id,
			metaStep:       strconv.Itoa(t.step),
			metaRNGSeed:    strconv.FormatUint(t.rng.Seed, 10),
			metaRNGCounter: strconv.FormatUint(t.rng.Counter, 10),
			metaClass:      t.dev.Class(),
		},
		Tensors: ts,
	}
	return st.Encode(w)
}

// LoadCheckpoint restores the training state from a checkpoint written by SaveCheckpoint for the same
// architecture and seed (with any batch shape, device or thread count), so that Run continues the
// run where it was cut. A file that fails any check changes nothing; only a device failure while
// uploading could leave the state partly written (the error then wraps the device's).
func (t *Trainer) LoadCheckpoint(r io.Reader) error {
	if t.closed {
		return ErrClosed
	}
	m := t.m
	P := m.nparams
	st, err := readFile(r, 3*4*int64(P))
	if err != nil {
		return err
	}
	if err := m.checkFile(st, FormatCheckpoint, "", prefixM, prefixV); err != nil {
		return err
	}
	step, err := strconv.ParseUint(st.Metadata[metaStep], 10, 31)
	if err != nil || int(step) > t.h.Steps {
		return fmt.Errorf("%w: step %q (run has %d steps)", ErrMismatch, st.Metadata[metaStep], t.h.Steps)
	}
	seed, err1 := strconv.ParseUint(st.Metadata[metaRNGSeed], 10, 64)
	counter, err2 := strconv.ParseUint(st.Metadata[metaRNGCounter], 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%w: bad RNG state %q/%q", ErrFormat, st.Metadata[metaRNGSeed], st.Metadata[metaRNGCounter])
	}
	if seed != t.h.Seed {
		return fmt.Errorf("%w: checkpoint seed %d, run seed %d", ErrMismatch, seed, t.h.Seed)
	}
	host := make([]float32, P)
	m.gather(st, "", host)
	if err := t.dev.Upload(m.params, host); err != nil {
		return fmt.Errorf("train: load checkpoint: %w", err)
	}
	m.gather(st, prefixM, host)
	if err := t.dev.Upload(t.mom, host); err != nil {
		return fmt.Errorf("train: load checkpoint: %w", err)
	}
	m.gather(st, prefixV, host)
	if err := t.dev.Upload(t.vel, host); err != nil {
		return fmt.Errorf("train: load checkpoint: %w", err)
	}
	t.step = int(step)
	t.rng = RNG{Seed: seed, Counter: counter}
	t.chain = t.chain[:0]
	return nil
}
