package bench

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
)

// corpusBytes returns n bytes of deterministic, varied text.
func corpusBytes(n int, seed uint64) []byte {
	r := rng{key: derive(seed, 77)}
	words := []string{"the ", "cat ", "sat ", "on ", "a ", "mat. ", "and ", "then ", "slept\n"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.intn(len(words))])
	}
	return b.Bytes()[:n]
}

func writeFiles(t *testing.T, sizes ...int) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, n := range sizes {
		p := filepath.Join(dir, "part"+string(rune('a'+i))+".txt")
		if err := os.WriteFile(p, corpusBytes(n, uint64(i)), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestImportAndLoad(t *testing.T) {
	files := writeFiles(t, 10_000, 3_000, 1)
	st := NewMemStore()
	c, m, err := ImportFiles(st, files, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Blocks) != 10+3+1 || m.Bytes != 13_001 || len(m.Files) != 3 || m.Files[1].Name != "partb.txt" || m.Files[1].Blocks != 3 {
		t.Fatalf("manifest: %d blocks, %d bytes, files %+v", len(m.Blocks), m.Bytes, m.Files)
	}
	train, val := m.Split()
	if train+val != m.Bytes || val == 0 || train == 0 {
		t.Fatalf("split %d + %d", train, val)
	}
	nval := 0
	for _, b := range m.Blocks {
		if b.Val {
			nval++
		}
	}
	if nval != 2 { // ⌈10% of 14 distinct blocks⌉
		t.Errorf("%d validation blocks, want 2", nval)
	}
	// Importing again gives the same CID (deterministic manifest and split).
	c2, _, err := ImportFiles(NewMemStore(), files, 1024)
	if err != nil || !c2.Equals(c) {
		t.Fatalf("re-import: %s vs %s (%v)", c2, c, err)
	}
	// Another block size is another dataset.
	c3, _, err := ImportFiles(NewMemStore(), files, 2048)
	if err != nil || c3.Equals(c) {
		t.Fatalf("block size 2048 gave the same CID (%v)", err)
	}
	cp, err := LoadCorpus(st, c)
	if err != nil {
		t.Fatal(err)
	}
	// The blocks of each split, concatenated, are exactly the file bytes in order.
	var all []byte
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all = append(all, b...)
	}
	var wantTrain, wantVal []byte
	off := 0
	for _, b := range m.Blocks {
		if b.Val {
			wantVal = append(wantVal, all[off:off+b.Size]...)
		} else {
			wantTrain = append(wantTrain, all[off:off+b.Size]...)
		}
		off += b.Size
	}
	if !bytes.Equal(cp.Train, wantTrain) || !bytes.Equal(cp.Val, wantVal) {
		t.Fatal("loaded corpus differs from the files")
	}
}

func TestSplitKeepsDuplicatesTogether(t *testing.T) {
	dir := t.TempDir()
	block := bytes.Repeat([]byte("x"), 64)
	var content []byte
	for i := range 40 {
		if i%4 == 0 {
			content = append(content, block...) // the same block ten times
		} else {
			content = append(content, corpusBytes(64, uint64(i))...)
		}
	}
	f := filepath.Join(dir, "dup.txt")
	os.WriteFile(f, content, 0o600)
	_, m, err := ImportFiles(NewMemStore(), []string{f}, 64)
	if err != nil {
		t.Fatal(err)
	}
	sides := map[string]map[bool]bool{}
	for _, b := range m.Blocks {
		if sides[b.CID.KeyString()] == nil {
			sides[b.CID.KeyString()] = map[bool]bool{}
		}
		sides[b.CID.KeyString()][b.Val] = true
	}
	for k, s := range sides {
		if len(s) != 1 {
			t.Errorf("block %x is in both splits", k)
		}
	}
}

func TestImportErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("tiny corpus"), 0o600)
	good := writeFiles(t, 5000)[0]
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, MaxBlocks*64+1), 0o600)
	tests := []struct {
		name      string
		files     []string
		blockSize int
		want      error
		msg       string
	}{
		{"no files", nil, 0, ErrInvalidManifest, "files"},
		{"missing file", []string{filepath.Join(dir, "nope")}, 0, os.ErrNotExist, "nope"},
		{"directory", []string{dir}, 0, ErrInvalidManifest, "regular"},
		{"empty file", []string{good, empty}, 64, ErrInvalidManifest, "empty"},
		{"one block", []string{small}, 0, ErrDatasetTooSmall, "block size"},
		{"block size too small", []string{good}, 8, ErrInvalidManifest, "block size"},
		{"block size too large", []string{good}, MaxBlockSize + 1, ErrInvalidManifest, "block size"},
		{"small blocks", []string{good}, 64, nil, ""},
		{"too many blocks", []string{big}, 64, ErrInvalidManifest, "larger block size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := NewMemStore()
			_, _, err := ImportFiles(st, tt.files, tt.blockSize)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want %v mentioning %q", err, tt.want, tt.msg)
			}
			if len(st.m) != 0 {
				t.Fatalf("a failed import wrote %d blocks", len(st.m))
			}
		})
	}
}

func TestLoadCorpusErrors(t *testing.T) {
	files := writeFiles(t, 4096)
	st := NewMemStore()
	c, m, err := ImportFiles(st, files, 512)
	if err != nil {
		t.Fatal(err)
	}
	// Missing block.
	missing := NewMemStore()
	for k, v := range st.m {
		missing.m[k] = v
	}
	missing.Delete(m.Blocks[3].CID)
	if _, err := LoadCorpus(missing, c); !errors.Is(err, ErrMissingBlock) || !strings.Contains(err.Error(), "block 3") {
		t.Errorf("missing block: %v", err)
	}
	// Corrupt block (bytes that do not hash to the CID).
	corrupt := NewMemStore()
	for k, v := range st.m {
		corrupt.m[k] = v
	}
	corrupt.Set(m.Blocks[2].CID, []byte("garbage"))
	if _, err := LoadCorpus(corrupt, c); !errors.Is(err, ErrCorruptBlock) {
		t.Errorf("corrupt block: %v", err)
	}
	// Missing manifest; wrong kind of CID; corrupt manifest.
	if _, err := LoadCorpus(NewMemStore(), c); !errors.Is(err, ErrMissingBlock) {
		t.Errorf("missing manifest: %v", err)
	}
	if _, err := LoadCorpus(st, m.Blocks[0].CID); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("raw CID as manifest: %v", err)
	}
	corrupt.Set(c, []byte{0xa0})
	if _, err := LoadCorpus(corrupt, c); !errors.Is(err, object.ErrHashMismatch) {
		t.Errorf("corrupt manifest: %v", err)
	}
	// A manifest that is canonical but invalid (blocks listed wrongly) is rejected at decode.
	bad := *m
	bad.Blocks = slices.Clone(m.Blocks)
	bad.Blocks[0].Val = !bad.Blocks[0].Val
	bb, bc, _ := object.Encode(&bad)
	if _, err := DecodeManifest(bc, bb); !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), "split") {
		t.Errorf("tampered split: %v", err)
	}
}

func TestManifestValidate(t *testing.T) {
	files := writeFiles(t, 3000, 1000)
	_, m, err := ImportFiles(NewMemStore(), files, 512)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(m *Manifest)
		want string
	}{
		{"type", func(m *Manifest) { m.Type = "dataset" }, "type"},
		{"block size", func(m *Manifest) { m.BlockSize = 1 }, "block size"},
		{"permille", func(m *Manifest) { m.ValPermille = 0 }, "val_permille"},
		{"no files", func(m *Manifest) { m.Files = nil }, "files"},
		{"path name", func(m *Manifest) { m.Files[0].Name = "a/b" }, "base name"},
		{"file bytes", func(m *Manifest) { m.Files[0].Bytes++ }, "bytes"},
		{"total bytes", func(m *Manifest) { m.Bytes++ }, "bytes"},
		{"short inner block", func(m *Manifest) { m.Blocks[0].Size-- }, "size"},
		{"object CID block", func(m *Manifest) { m.Blocks[0].CID = object.ObjectCID([]byte("x")) }, "raw-block"},
		{"uncovered block", func(m *Manifest) { m.Files[1].Blocks--; m.Files[1].Bytes = 512; m.Bytes = 3512 }, "cover"},
		{"file over blocks", func(m *Manifest) { m.Files[1].Blocks += 5 }, "left"},
		{"no blocks", func(m *Manifest) { m.Blocks = nil }, "blocks"},
		{"undefined CID", func(m *Manifest) { m.Blocks[1].CID = cid.Undef }, "raw-block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *m
			c.Files = slices.Clone(m.Files)
			c.Blocks = slices.Clone(m.Blocks)
			tt.edit(&c)
			if err := c.Validate(); !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalidManifest mentioning %q", err, tt.want)
			}
		})
	}
}

func TestTextBatcher(t *testing.T) {
	files := writeFiles(t, 40_000)
	st := NewMemStore()
	c, _, err := ImportFiles(st, files, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := Text(c)
	p.Settings[0].SeqLen = 64
	p.Settings[0].Batch = 4
	p.Settings[0].TestExamples = 1000
	bt, err := NewBatcher(p, 0, st)
	if err != nil {
		t.Fatal(err)
	}
	b := bt.(*TextBatcher)
	cp, _ := LoadCorpus(st, c)
	if b.Vocab() != 256 || b.SeqLen() != 64 {
		t.Fatalf("vocab %d seq %d", b.Vocab(), b.SeqLen())
	}
	// Validation windows: capped by the validation bytes (fewer than the 1000 asked for).
	if want := (len(cp.Val) - 1) / 64; b.TestExamples() != want || want >= 1000 {
		t.Fatalf("TestExamples %d, want %d", b.TestExamples(), want)
	}
	tok, tgt := make([]int32, 4*64), make([]int32, 4*64)
	b.Batch(3, tok, tgt)
	tok2, tgt2 := make([]int32, 4*64), make([]int32, 4*64)
	b.Batch(3, tok2, tgt2)
	if !slices.Equal(tok, tok2) || !slices.Equal(tgt, tgt2) {
		t.Fatal("Batch is not deterministic")
	}
	for row := range 4 {
		w := make([]byte, 65)
		for i := range 64 {
			w[i] = byte(tok[row*64+i])
			if tgt[row*64+i] < 0 {
				t.Fatal("unscored text position")
			}
		}
		w[64] = byte(tgt[row*64+63])
		for i := range 63 {
			if tgt[row*64+i] != tok[row*64+i+1] {
				t.Fatalf("row %d: target %d is not the next byte", row, i)
			}
		}
		if !bytes.Contains(cp.Train, w) {
			t.Fatalf("row %d is not a window of the training bytes", row)
		}
	}
	// Validation batch 1 holds windows 4..7: val[w·64 : w·64+65].
	b.TestBatch(1, b.TestExamples(), tok, tgt)
	for row := range 4 {
		w := 4 + row
		for i := range 64 {
			if tok[row*64+i] != int32(cp.Val[w*64+i]) || tgt[row*64+i] != int32(cp.Val[w*64+i+1]) {
				t.Fatalf("validation window %d differs at %d", w, i)
			}
		}
	}
	// Padding past n.
	b.TestBatch(0, 2, tok, tgt)
	for _, y := range tgt[2*64:] {
		if y != Ignore {
			t.Fatal("padding row scored")
		}
	}
	// Too small for the window.
	p.Settings[0].SeqLen = 8192
	if _, err := NewTextBatcher(p, st); !errors.Is(err, ErrDatasetTooSmall) {
		t.Errorf("window over the validation split: %v", err)
	}
}

// The largest manifest fits an object and round-trips; the time is logged (measured, not asserted).
func TestManifestAtBounds(t *testing.T) {
	m := &Manifest{Type: ManifestType, BlockSize: MinBlockSize, ValPermille: DefaultValPermille,
		Files: []File{{Name: "big", Blocks: MaxBlocks, Bytes: MaxBlocks * MinBlockSize}}, Bytes: MaxBlocks * MinBlockSize}
	buf := make([]byte, MinBlockSize)
	for i := range MaxBlocks {
		buf[0], buf[1] = byte(i), byte(i>>8)
		m.Blocks = append(m.Blocks, Block{CID: object.RawCID(buf), Size: MinBlockSize})
	}
	if err := splitBlocks(m.Blocks, m.ValPermille); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b, c, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeManifest(c, b)
	if err != nil || len(back.Blocks) != MaxBlocks {
		t.Fatal(err)
	}
	t.Logf("largest manifest: %d bytes (cap %d), encode+decode %v", len(b), object.MaxSize, time.Since(start))
	m.Blocks = append(m.Blocks, m.Blocks[0])
	m.Files[0].Blocks++
	if err := m.Validate(); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("%d blocks: %v", len(m.Blocks), err)
	}
}
