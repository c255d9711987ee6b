package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/airanode/airanode/object"
)

// FuzzProtocol: arbitrary bytes never panic the protocol decoder; what decodes is valid, re-encodes
// to the same bytes, and every setting of it can build a batcher and generate an example.
func FuzzProtocol(f *testing.F) {
	data := object.ObjectCID([]byte("manifest"))
	for _, p := range []*Protocol{MADLite(), Text(data)} {
		b, _, err := p.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := UnmarshalProtocol(b)
		if err != nil {
			return
		}
		again, _, err := p.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded protocol does not re-encode to its bytes (%v)", err)
		}
		for i, s := range p.Settings {
			if s.Task == TaskText {
				continue
			}
			if s.SeqLen > 4096 || s.Vocab > 4096 {
				continue // valid but slow to generate in a fuzz loop
			}
			bt, err := NewTaskBatcher(p, i)
			if err != nil {
				t.Fatalf("valid setting %d: %v", i, err)
			}
			L := bt.SeqLen()
			tok, tgt := make([]int32, L), make([]int32, L)
			for _, split := range []Split{Train, Test} {
				bt.Example(split, 0, tok, tgt)
				if err := verifyExample(s, split, tok, tgt); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
		}
	})
}

// FuzzSetting drives the generators with arbitrary valid settings: no panic, every example well formed.
func FuzzSetting(f *testing.F) {
	for _, s := range structureSettings() {
		f.Add(s.Task, s.Vocab, s.SeqLen, s.MultiQuery, s.KeyMotif, s.ValueMotif, s.NoiseVocab, s.NoisePPM, s.CopyTokens, uint64(1), 0)
	}
	f.Fuzz(func(t *testing.T, task string, vocab, seq int, mq bool, km, vm, nvoc, nppm, cp int, seed uint64, idx int) {
		s := Setting{Task: task, Vocab: vocab, SeqLen: seq, TrainExamples: 16, TestExamples: 16, Steps: 1, Batch: 1,
			MultiQuery: mq, KeyMotif: km, ValueMotif: vm, NoiseVocab: nvoc, NoisePPM: nppm, CopyTokens: cp}
		if s.Validate() != nil || s.Task == TaskText || s.SeqLen > 2048 || s.Vocab > 2048 {
			return
		}
		b, err := NewSettingBatcher(s, seed)
		if err != nil {
			t.Fatal(err)
		}
		L := b.SeqLen()
		tok, tgt := make([]int32, L), make([]int32, L)
		for _, split := range []Split{Train, Test} {
			b.Example(split, idx, tok, tgt)
			if err := verifyExample(s, split, tok, tgt); err != nil {
				t.Fatalf("%s %s: %v\n%v\n%v", s, split, err, tok, tgt)
			}
		}
	})
}

// FuzzManifest: arbitrary bytes never panic the manifest decoder; what decodes is valid and
// re-encodes to the same bytes.
func FuzzManifest(f *testing.F) {
	dir := f.TempDir()
	var files []string
	for i, n := range []int{3000, 700} {
		p := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(p, corpusBytes(n, uint64(i)), 0o600); err != nil {
			f.Fatal(err)
		}
		files = append(files, p)
	}
	_, m, err := ImportFiles(NewMemStore(), files, 256)
	if err != nil {
		f.Fatal(err)
	}
	b, _, err := m.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)-3])
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalManifest(b)
		if err != nil {
			return
		}
		again, _, err := m.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded manifest does not re-encode to its bytes (%v)", err)
		}
		if tr, v := m.Split(); tr+v != m.Bytes || v == 0 || tr == 0 {
			t.Fatalf("valid manifest with split %d/%d of %d", tr, v, m.Bytes)
		}
	})
}

// FuzzScores: arbitrary bytes never panic the scores decoder; what decodes re-encodes to the same
// bytes, and Check against a protocol never panics.
func FuzzScores(f *testing.F) {
	p := sweepProtocol()
	pc, _ := p.CID()
	sc, err := Aggregate(p, pc, runsFor(p, func(s, w int) int64 { return int64(100 * (s + w)) }))
	if err != nil {
		f.Fatal(err)
	}
	b, _, err := sc.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/3])
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalScores(b)
		if err != nil {
			return
		}
		again, _, err := s.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded scores do not re-encode to their bytes (%v)", err)
		}
		_ = s.Check(p, pc)
	})
}
