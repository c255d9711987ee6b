package bench

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
)

func TestMADGrid(t *testing.T) {
	p := MAD()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, s := range p.Settings {
		counts[s.Task]++
	}
	want := map[string]int{TaskRecall: 11, TaskFuzzyRecall: 11, TaskNoisyRecall: 14, TaskSelCopy: 13, TaskCompression: 11, TaskMemorize: 6}
	total := 0
	for task, n := range want {
		if counts[task] != n {
			t.Errorf("%s: %d settings, want %d", task, counts[task], n)
		}
		total += n
	}
	if total != 66 || len(p.Settings) != 66 {
		t.Errorf("%d settings, want 11+11+14+13+11+6 = 66", len(p.Settings))
	}
	if runs := p.Runs(); len(runs) != 396 {
		t.Errorf("%d runs, want 66 × 6 = 396", len(runs))
	}
	// The sweep is lr {1e-4, 5e-4, 1e-3} × wd {0, 0.1}.
	sw := MADSweep()
	if len(sw) != 6 || sw[0] != (Hyper{100, 0}) || sw[5] != (Hyper{1000, 100_000}) {
		t.Errorf("sweep %v", sw)
	}
	// Baselines and one-at-a-time changes.
	base := p.Settings[0]
	if base != (Setting{Task: TaskRecall, Vocab: 16, SeqLen: 128, TrainExamples: 12800, TestExamples: 1280, Steps: 20000, Batch: 128, MultiQuery: true}) {
		t.Errorf("recall baseline %+v", base)
	}
	for _, s := range p.Settings[1:11] {
		diff := 0
		if s.Vocab != base.Vocab {
			diff++
		}
		if s.SeqLen != base.SeqLen {
			diff++
		}
		if s.TrainExamples != base.TrainExamples {
			diff++
		}
		if diff != 1 {
			t.Errorf("%s differs from the baseline in %d knobs", s, diff)
		}
	}
	// MAD's budget: 200 epochs at batch 128.
	for _, s := range p.Settings {
		if s.Steps*128 < 200*s.TrainExamples || (s.Steps-1)*128 >= 200*s.TrainExamples {
			t.Errorf("%s: %d steps for 200 epochs of %d", s, s.Steps, s.TrainExamples)
		}
	}
	if _, _, err := p.Encode(); err != nil {
		t.Errorf("MAD does not encode: %v", err)
	}
}

func TestMADLite(t *testing.T) {
	p := MADLite()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	tasks := p.Tasks()
	if len(tasks) != 6 || len(p.Settings) != 6 {
		t.Fatalf("tasks %v", tasks)
	}
	for i, task := range MADTasks {
		if tasks[i] != task {
			t.Errorf("task %d is %s, want %s", i, tasks[i], task)
		}
	}
	var tokens int64
	for _, s := range p.Settings {
		tokens += s.Tokens()
		if s.ExampleLen() > 128 {
			t.Errorf("%s: example length %d over 128", s, s.ExampleLen())
		}
	}
	// Measured: ~44k tokens/s for `A M A M` at width 128 on two cores, so 5 minutes is ~13M tokens.
	if tokens != p.Tokens() || tokens > 12_000_000 {
		t.Errorf("MAD-lite trains on %d tokens (Tokens() %d); the 5-minute budget allows about 12M", tokens, p.Tokens())
	}
	t.Logf("MAD-lite: %d training tokens", tokens)
}

func TestProtocolRoundTrip(t *testing.T) {
	data := object.ObjectCID([]byte("manifest"))
	for _, p := range []*Protocol{MADLite(), MAD(), Text(data)} {
		b, c, err := p.Encode()
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		q, err := DecodeProtocol(c, b)
		if err != nil {
			t.Fatalf("%s: decode: %v", p.Name, err)
		}
		b2, c2, err := q.Encode()
		if err != nil || !c2.Equals(c) || string(b2) != string(b) {
			t.Fatalf("%s: re-encode differs (%v)", p.Name, err)
		}
		// A flipped byte fails the hash check.
		b2[len(b2)/2] ^= 1
		if _, err := DecodeProtocol(c, b2); !errors.Is(err, object.ErrHashMismatch) {
			t.Errorf("%s: tampered bytes: %v", p.Name, err)
		}
	}
	// The CID is a pure function of the content.
	c1, _ := MADLite().CID()
	c2, _ := MADLite().CID()
	c3, _ := MAD().CID()
	if !c1.Equals(c2) || c1.Equals(c3) {
		t.Error("protocol CIDs are not content-determined")
	}
}

func TestProtocolValidate(t *testing.T) {
	data := object.ObjectCID([]byte("manifest"))
	tests := []struct {
		name string
		edit func(p *Protocol)
		want string // substring of the error
	}{
		{"wrong type", func(p *Protocol) { p.Type = "x" }, "type"},
		{"empty name", func(p *Protocol) { p.Name = "" }, "name"},
		{"bad name", func(p *Protocol) { p.Name = "MAD Lite" }, "name"},
		{"no settings", func(p *Protocol) { p.Settings = nil }, "settings"},
		{"unknown task", func(p *Protocol) { p.Settings[0].Task = "sorting" }, "unknown task"},
		{"vocab 1", func(p *Protocol) { p.Settings[0].Vocab = 1 }, "vocab"},
		{"huge vocab", func(p *Protocol) { p.Settings[0].Vocab = MaxVocab + 1 }, "vocab"},
		{"odd recall length", func(p *Protocol) { p.Settings[0].SeqLen = 65 }, "even"},
		{"huge seq", func(p *Protocol) { p.Settings[0].SeqLen = MaxSeqLen + 2 }, "seq_len"},
		{"no train examples", func(p *Protocol) { p.Settings[0].TrainExamples = 0 }, "train_examples"},
		{"zero steps", func(p *Protocol) { p.Settings[0].Steps = 0 }, "steps"},
		{"batch too large", func(p *Protocol) { p.Settings[0].Batch = MaxBatch + 1 }, "batch"},
		{"too many batch tokens", func(p *Protocol) { p.Settings[0].Batch = MaxBatch; p.Settings[0].SeqLen = 8192 }, "tokens"},
		{"recall vocab too small", func(p *Protocol) { p.Settings[2].Vocab = 17 }, "no key or value"},
		{"noise without vocab", func(p *Protocol) { p.Settings[2].NoiseVocab = 0 }, "noise vocabulary"},
		{"noise ppm 1", func(p *Protocol) { p.Settings[2].NoisePPM = ppm }, "noise_ppm"},
		{"motif on recall", func(p *Protocol) { p.Settings[0].KeyMotif = 2 }, "k_motif"},
		{"motif too long", func(p *Protocol) { p.Settings[1].KeyMotif = MaxMotif + 1 }, "k_motif"},
		{"motif over vocab", func(p *Protocol) { p.Settings[1].Vocab = 5; p.Settings[1].KeyMotif = 3 }, "motif"},
		{"fuzzy too short", func(p *Protocol) { p.Settings[1].KeyMotif, p.Settings[1].SeqLen = 2, 9 }, "seq_len"},
		{"copy too long", func(p *Protocol) { p.Settings[3].CopyTokens = 32 }, "copy_tokens"},
		{"copy on recall", func(p *Protocol) { p.Settings[0].CopyTokens = 3 }, "copy_tokens"},
		{"noise on copy", func(p *Protocol) { p.Settings[3].NoiseVocab = 3 }, "noise_vocab"},
		{"multi-query on memorisation", func(p *Protocol) { p.Settings[5].MultiQuery = true }, "multi_query"},
		{"odd memorisation", func(p *Protocol) { p.Settings[5].SeqLen = 31 }, "even"},
		{"duplicate settings", func(p *Protocol) { p.Settings[1] = p.Settings[0] }, "same"},
		{"zero lr", func(p *Protocol) { p.LR = 0 }, "lr"},
		{"lr over 1", func(p *Protocol) { p.LR = MaxLR + 1 }, "lr"},
		{"negative wd", func(p *Protocol) { p.WD = -1 }, "wd"},
		{"bad sweep", func(p *Protocol) { p.Sweep = []Hyper{{LR: 0}} }, "sweep"},
		{"repeated sweep", func(p *Protocol) { p.Sweep = []Hyper{{LR: 5}, {LR: 5}} }, "repeats"},
		{"unknown schedule", func(p *Protocol) { p.Schedule = "linear" }, "schedule"},
		{"warmup over steps", func(p *Protocol) { p.Warmup = 300 }, "warmup"},
		{"min lr over lr", func(p *Protocol) { p.MinLR = p.LR + 1 }, "min_lr"},
		{"no eval", func(p *Protocol) { p.EvalExamples = 0 }, "eval_examples"},
		{"eval over test", func(p *Protocol) { p.EvalExamples = 257 }, "eval_examples"},
		{"zero segments", func(p *Protocol) { p.Segments = 0 }, "segments"},
		{"segments over steps", func(p *Protocol) { p.Segments = 301 }, "segments"},
		{"data on MAD", func(p *Protocol) { p.Data = data }, "dataset"},
		{"text with MAD", func(p *Protocol) { p.Settings[0] = Text(data).Settings[0] }, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MADLite()
			tt.edit(p)
			err := p.Validate()
			if !errors.Is(err, ErrInvalidProtocol) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalidProtocol mentioning %q", err, tt.want)
			}
			if _, _, err := p.Encode(); err == nil {
				t.Fatal("an invalid protocol encoded")
			}
		})
	}
	text := []struct {
		name string
		edit func(p *Protocol)
		want string
	}{
		{"no data", func(p *Protocol) { p.Data = cid.Undef }, "without a dataset"},
		{"raw data CID", func(p *Protocol) { p.Data = object.RawCID([]byte("x")) }, "object CID"},
		{"vocab", func(p *Protocol) { p.Settings[0].Vocab = 128 }, "vocab"},
		{"train examples", func(p *Protocol) { p.Settings[0].TrainExamples = 5 }, "train_examples"},
		{"two settings", func(p *Protocol) { p.Settings = append(p.Settings, MADLite().Settings[0]) }, "exactly one"},
	}
	for _, tt := range text {
		t.Run("text "+tt.name, func(t *testing.T) {
			p := Text(data)
			tt.edit(p)
			if err := p.Validate(); !errors.Is(err, ErrInvalidProtocol) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalidProtocol mentioning %q", err, tt.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _, _ := MADLite().Encode()
	// Valid CBOR that is not a valid protocol.
	bad := MADLite()
	bad.Segments = 0
	badBytes, err := object.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalProtocol(badBytes); !errors.Is(err, ErrInvalidProtocol) {
		t.Errorf("invalid protocol: %v", err)
	}
	// Unknown field.
	type extra struct {
		Protocol
		X int `json:"x"`
	}
	xb, _ := object.Marshal(extra{Protocol: *MADLite(), X: 1})
	if _, err := UnmarshalProtocol(xb); !errors.Is(err, object.ErrMalformed) {
		t.Errorf("unknown field: %v", err)
	}
	for _, i := range []int{0, 1, len(good) / 2, len(good) - 1} {
		if _, err := UnmarshalProtocol(good[:i]); err == nil {
			t.Errorf("truncated at %d decoded", i)
		}
	}
	if _, err := DecodeProtocol(object.RawCID(good), good); err == nil {
		t.Error("decoded under a raw CID")
	}
}

func TestLookup(t *testing.T) {
	data := object.ObjectCID([]byte("manifest"))
	for _, name := range []string{NameMADLite, NameMAD} {
		p, err := Lookup(name, cid.Undef)
		if err != nil || p.Name != name {
			t.Errorf("Lookup(%q) = %v, %v", name, p, err)
		}
		if _, err := Lookup(name, data); !errors.Is(err, ErrNeedData) {
			t.Errorf("Lookup(%q, data): %v", name, err)
		}
	}
	p, err := Lookup(NameText, data)
	if err != nil || !p.Data.Equals(data) || !p.IsText() {
		t.Errorf("Lookup(text) = %+v, %v", p, err)
	}
	if _, err := Lookup(NameText, cid.Undef); !errors.Is(err, ErrNeedData) || !strings.Contains(err.Error(), "data import") {
		t.Errorf("text without data: %v", err)
	}
	_, err = Lookup("mad-light", cid.Undef)
	if !errors.Is(err, ErrUnknownProtocol) || !strings.Contains(err.Error(), "mad-lite") {
		t.Errorf("unknown name: %v", err)
	}
	// Lookup hands out copies.
	a, _ := Lookup(NameMADLite, cid.Undef)
	a.Settings[0].Steps = 1
	if b, _ := Lookup(NameMADLite, cid.Undef); b.Settings[0].Steps == 1 {
		t.Error("Lookup returned shared state")
	}
}

func TestNewBatcherErrors(t *testing.T) {
	p := MADLite()
	if _, err := NewBatcher(p, 6, nil); !errors.Is(err, ErrInvalidProtocol) {
		t.Errorf("setting out of range: %v", err)
	}
	if _, err := NewBatcher(p, -1, nil); !errors.Is(err, ErrInvalidProtocol) {
		t.Errorf("negative setting: %v", err)
	}
	b, err := NewBatcher(p, 0, nil)
	if err != nil || b.Vocab() != 16 || b.SeqLen() != 63 || b.BatchSize() != 64 || b.TestExamples() != 256 {
		t.Errorf("NewBatcher: %v", err)
	}
	if _, err := NewBatcher(Text(object.ObjectCID([]byte("m"))), 0, nil); !errors.Is(err, ErrNeedData) {
		t.Errorf("text without store: %v", err)
	}
	if _, err := NewSettingBatcher(Text(object.ObjectCID([]byte("m"))).Settings[0], 1); !errors.Is(err, ErrInvalidProtocol) {
		t.Errorf("text setting in a task batcher: %v", err)
	}
}

func TestRunOffsets(t *testing.T) {
	p := MADLite()
	p.Sweep = []Hyper{{LR: 1000}, {LR: 3000}}
	offsets, total := p.RunOffsets()
	runs := p.Runs()
	if len(offsets) != len(runs) {
		t.Fatalf("%d offsets for %d runs", len(offsets), len(runs))
	}
	var want int64
	for i, r := range runs {
		if offsets[i] != want {
			t.Fatalf("run %d starts at %d, want %d", i, offsets[i], want)
		}
		want += int64(p.Settings[r.Setting].Steps)
	}
	if total != want || total == 0 {
		t.Fatalf("total %d, want %d", total, want)
	}
}
