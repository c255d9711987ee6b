package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
)

// Dataset errors.
var (
	// ErrInvalidManifest means a manifest breaks a rule or a bound.
	ErrInvalidManifest = errors.New("bench: invalid dataset manifest")
	// ErrMissingBlock means a block (or the manifest) could not be read from the store.
	ErrMissingBlock = errors.New("bench: missing dataset block")
	// ErrCorruptBlock means a block's bytes do not match its CID or its listed size.
	ErrCorruptBlock = errors.New("bench: corrupt dataset block")
	// ErrDatasetTooSmall means a dataset has too few blocks or bytes for a split or a window.
	ErrDatasetTooSmall = errors.New("bench: dataset too small")
)

// BlockStore is the part of the node's store datasets need. store.Store implements it. Put must
// accept only bytes that hash to the CID; Get returns the bytes stored under a CID or an error.
// Implementations must be safe for concurrent use.
type BlockStore interface {
	Put(c cid.Cid, data []byte) error
	Get(c cid.Cid) ([]byte, error)
}

// MemStore is an in-memory BlockStore for tests and tools. Put verifies blocks like the real store.
// It is safe for concurrent use.
type MemStore struct {
	mu sync.RWMutex
	m  map[string][]byte
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{m: make(map[string][]byte)} }

// Put stores a copy of data under c after checking it with object.VerifyBlock.
func (s *MemStore) Put(c cid.Cid, data []byte) error {
	if err := object.VerifyBlock(c, data); err != nil {
		return fmt.Errorf("memstore: put %s: %w", c, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[c.KeyString()] = bytes.Clone(data)
	return nil
}

// Get returns a copy of the block stored under c.
func (s *MemStore) Get(c cid.Cid) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.m[c.KeyString()]
	if !ok {
		return nil, fmt.Errorf("memstore: get %s: not found", c)
	}
	return bytes.Clone(b), nil
}

// Set stores data under c without any check (tests use it to plant corrupt blocks).
func (s *MemStore) Set(c cid.Cid, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[c.KeyString()] = bytes.Clone(data)
}

// Delete removes the block under c.
func (s *MemStore) Delete(c cid.Cid) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, c.KeyString())
}

// ManifestType is the Type field of every dataset Manifest.
const ManifestType = "airanode/dataset/1"

// Dataset bounds and defaults.
const (
	DefaultBlockSize   = 256 << 10
	MinBlockSize       = 64
	MaxBlockSize       = 4 << 20
	MaxBlocks          = 16384
	MaxFiles           = 1024
	MaxFileName        = 255
	DefaultValPermille = 100 // 10% of blocks hold validation data
)

// Manifest describes a text dataset: the raw blocks holding its bytes, in order, and which of them
// are validation data. It is a canonical object named by its CID.
type Manifest struct {
	// Type is ManifestType.
	Type string `json:"type"`
	// BlockSize is the chunk size used at import; every block but a file's last has this size.
	BlockSize int `json:"block_size"`
	// Bytes is the total size of all blocks.
	Bytes int64 `json:"bytes"`
	// ValPermille is the share of distinct blocks, in thousandths, that hold validation data.
	ValPermille int `json:"val_permille"`
	// Files are the imported files in order (base names only) and how many blocks each has.
	Files []File `json:"files"`
	// Blocks are the raw blocks in file order.
	Blocks []Block `json:"blocks"`
}

// File is one imported file.
type File struct {
	Name   string `json:"name"`
	Blocks int    `json:"blocks"`
	Bytes  int64  `json:"bytes"`
}

// Block is one raw block of a dataset.
type Block struct {
	CID  cid.Cid `json:"cid"`
	Size int     `json:"size"`
	// Val marks validation blocks; the rest are training blocks.
	Val bool `json:"val,omitempty"`
}

// splitBlocks marks the validation blocks of a manifest: the distinct block CIDs are ranked by their
// digest and the first ⌈permille·distinct/1000⌉ (at least one, and at least one fewer than all) are
// validation. Identical blocks share a CID and so always land on the same side. It needs at least two
// distinct blocks.
func splitBlocks(blocks []Block, permille int) error {
	seen := make(map[string]bool, len(blocks))
	var distinct []cid.Cid
	for _, b := range blocks {
		if k := b.CID.KeyString(); !seen[k] {
			seen[k] = true
			distinct = append(distinct, b.CID)
		}
	}
	if len(distinct) < 2 {
		return fmt.Errorf("%w: %d distinct blocks; a train/validation split needs at least 2 (use a smaller block size)",
			ErrDatasetTooSmall, len(distinct))
	}
	slices.SortFunc(distinct, func(a, b cid.Cid) int { return bytes.Compare(a.Hash(), b.Hash()) })
	nv := (permille*len(distinct) + 999) / 1000
	nv = min(max(nv, 1), len(distinct)-1)
	val := make(map[string]bool, nv)
	for _, c := range distinct[:nv] {
		val[c.KeyString()] = true
	}
	for i := range blocks {
		blocks[i].Val = val[blocks[i].CID.KeyString()]
	}
	return nil
}

// Validate checks a manifest's rules and bounds, including that its split is the deterministic one.
// Errors wrap ErrInvalidManifest.
func (m *Manifest) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidManifest, fmt.Sprintf(format, a...))
	}
	if m.Type != ManifestType {
		return bad("type %q, want %q", m.Type, ManifestType)
	}
	if m.BlockSize < MinBlockSize || m.BlockSize > MaxBlockSize {
		return bad("block size %d outside [%d, %d]", m.BlockSize, MinBlockSize, MaxBlockSize)
	}
	if m.ValPermille < 1 || m.ValPermille > 500 {
		return bad("val_permille %d outside [1, 500]", m.ValPermille)
	}
	if len(m.Files) == 0 || len(m.Files) > MaxFiles {
		return bad("%d files, want 1 to %d", len(m.Files), MaxFiles)
	}
	if len(m.Blocks) == 0 || len(m.Blocks) > MaxBlocks {
		return bad("%d blocks, want 1 to %d", len(m.Blocks), MaxBlocks)
	}
	bi := 0
	var total int64
	for fi, f := range m.Files {
		if f.Name == "" || len(f.Name) > MaxFileName || !utf8.ValidString(f.Name) || filepath.Base(f.Name) != f.Name {
			return bad("file %d: name %q must be a base name of 1 to %d bytes", fi, f.Name, MaxFileName)
		}
		if f.Blocks < 1 || f.Blocks > len(m.Blocks)-bi {
			return bad("file %d (%s): %d blocks, %d left", fi, f.Name, f.Blocks, len(m.Blocks)-bi)
		}
		var fb int64
		for j := range f.Blocks {
			b := m.Blocks[bi+j]
			if err := object.CheckCID(b.CID); err != nil || b.CID.Prefix().Codec != cid.Raw {
				return bad("block %d: %s is not a raw-block CID", bi+j, b.CID)
			}
			last := j == f.Blocks-1
			if b.Size < 1 || b.Size > m.BlockSize || (!last && b.Size != m.BlockSize) {
				return bad("block %d: size %d (block size %d, last of its file: %v)", bi+j, b.Size, m.BlockSize, last)
			}
			fb += int64(b.Size)
		}
		if fb != f.Bytes {
			return bad("file %d (%s): %d bytes listed, blocks hold %d", fi, f.Name, f.Bytes, fb)
		}
		total += fb
		bi += f.Blocks
	}
	if bi != len(m.Blocks) {
		return bad("files cover %d of %d blocks", bi, len(m.Blocks))
	}
	if total != m.Bytes {
		return bad("%d bytes listed, blocks hold %d", m.Bytes, total)
	}
	want := slices.Clone(m.Blocks)
	if err := splitBlocks(want, m.ValPermille); err != nil {
		return bad("%v", err)
	}
	for i := range want {
		if want[i].Val != m.Blocks[i].Val {
			return bad("block %d: validation flag %v differs from the deterministic split", i, m.Blocks[i].Val)
		}
	}
	return nil
}

// Split returns the number of training and validation bytes.
func (m *Manifest) Split() (train, val int64) {
	for _, b := range m.Blocks {
		if b.Val {
			val += int64(b.Size)
		} else {
			train += int64(b.Size)
		}
	}
	return train, val
}

// Encode validates m and returns its canonical bytes and CID.
func (m *Manifest) Encode() ([]byte, cid.Cid, error) {
	if err := m.Validate(); err != nil {
		return nil, cid.Undef, err
	}
	return object.Encode(m)
}

// DecodeManifest checks that b hashes to c, decodes it strictly and validates it.
func DecodeManifest(c cid.Cid, b []byte) (*Manifest, error) {
	var m Manifest
	if err := object.Decode(c, b, &m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// UnmarshalManifest decodes canonical manifest bytes (without a CID to check) and validates them.
func UnmarshalManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := object.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// LoadManifest reads and decodes the manifest c from s.
func LoadManifest(s BlockStore, c cid.Cid) (*Manifest, error) {
	if err := object.CheckCID(c); err != nil || c.Prefix().Codec != cid.DagCBOR {
		return nil, fmt.Errorf("%w: %s is not a manifest (object) CID", ErrInvalidManifest, c)
	}
	b, err := s.Get(c)
	if err != nil {
		return nil, fmt.Errorf("%w: manifest %s: %w", ErrMissingBlock, c, err)
	}
	return DecodeManifest(c, b)
}

// ImportFiles chunks files into raw blocks of blockSize bytes (0 means DefaultBlockSize; a file's
// last block may be shorter), puts them into s, and writes the dataset Manifest with the default
// validation share. It returns the manifest's CID. Files must be non-empty; the dataset needs at
// least two distinct blocks. Nothing is written when the input is invalid; a store failure midway can
// leave blocks behind, which are harmless (content-addressed). Files are read twice: once to
// build and check the manifest, once to write.
func ImportFiles(s BlockStore, files []string, blockSize int) (cid.Cid, *Manifest, error) {
	if blockSize == 0 {
		blockSize = DefaultBlockSize
	}
	if blockSize < MinBlockSize || blockSize > MaxBlockSize {
		return cid.Undef, nil, fmt.Errorf("%w: block size %d outside [%d, %d]", ErrInvalidManifest, blockSize, MinBlockSize, MaxBlockSize)
	}
	if len(files) == 0 || len(files) > MaxFiles {
		return cid.Undef, nil, fmt.Errorf("%w: %d files, want 1 to %d", ErrInvalidManifest, len(files), MaxFiles)
	}
	// Check every file first, so that a bad argument writes nothing.
	var nblocks int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return cid.Undef, nil, fmt.Errorf("import: %w", err)
		}
		if !st.Mode().IsRegular() {
			return cid.Undef, nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalidManifest, f)
		}
		if st.Size() == 0 {
			return cid.Undef, nil, fmt.Errorf("%w: %s is empty", ErrInvalidManifest, f)
		}
		if name := filepath.Base(f); len(name) > MaxFileName || !utf8.ValidString(name) {
			return cid.Undef, nil, fmt.Errorf("%w: file name %q", ErrInvalidManifest, name)
		}
		nblocks += (st.Size() + int64(blockSize) - 1) / int64(blockSize)
	}
	if nblocks > MaxBlocks {
		return cid.Undef, nil, fmt.Errorf("%w: %d blocks of %d bytes, at most %d (use a larger block size)",
			ErrInvalidManifest, nblocks, blockSize, MaxBlocks)
	}
	// Pass 1 reads and hashes every block and builds the manifest; pass 2 re-reads the files and
	// writes the blocks (checking they did not change), then the manifest.
	m := &Manifest{Type: ManifestType, BlockSize: blockSize, ValPermille: DefaultValPermille}
	buf := make([]byte, blockSize)
	for _, f := range files {
		fe := File{Name: filepath.Base(f)}
		err := chunkFile(f, buf, func(d []byte) error {
			if len(m.Blocks) >= MaxBlocks {
				return fmt.Errorf("%w: over %d blocks (did the file grow?)", ErrInvalidManifest, MaxBlocks)
			}
			m.Blocks = append(m.Blocks, Block{CID: object.RawCID(d), Size: len(d)})
			fe.Blocks++
			fe.Bytes += int64(len(d))
			m.Bytes += int64(len(d))
			return nil
		})
		if err != nil {
			return cid.Undef, nil, fmt.Errorf("import %s: %w", f, err)
		}
		if fe.Blocks == 0 {
			return cid.Undef, nil, fmt.Errorf("%w: %s is empty", ErrInvalidManifest, f)
		}
		m.Files = append(m.Files, fe)
	}
	if err := splitBlocks(m.Blocks, m.ValPermille); err != nil {
		return cid.Undef, nil, err
	}
	mb, mc, err := m.Encode()
	if err != nil {
		return cid.Undef, nil, err
	}
	i := 0
	for _, f := range files {
		err := chunkFile(f, buf, func(d []byte) error {
			if i >= len(m.Blocks) || !object.RawCID(d).Equals(m.Blocks[i].CID) {
				return fmt.Errorf("%w: block %d changed while importing", ErrInvalidManifest, i)
			}
			if err := s.Put(m.Blocks[i].CID, d); err != nil {
				return fmt.Errorf("put block %d: %w", i, err)
			}
			i++
			return nil
		})
		if err != nil {
			return cid.Undef, nil, fmt.Errorf("import %s: %w", f, err)
		}
	}
	if i != len(m.Blocks) {
		return cid.Undef, nil, fmt.Errorf("%w: files shrank while importing", ErrInvalidManifest)
	}
	if err := s.Put(mc, mb); err != nil {
		return cid.Undef, nil, fmt.Errorf("import: put manifest: %w", err)
	}
	return mc, m, nil
}

// chunkFile calls fn with each successive chunk of len(buf) bytes of a file (the last may be
// shorter). The chunk aliases buf: fn must not keep it.
func chunkFile(path string, buf []byte, fn func([]byte) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	for {
		n, err := io.ReadFull(fh, buf)
		if n > 0 {
			if ferr := fn(buf[:n]); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Corpus is a dataset loaded into memory: the training and validation bytes, each the concatenation
// of its blocks in manifest order.
type Corpus struct {
	Manifest   *Manifest
	Train, Val []byte
}

// LoadCorpus reads manifest c and all its blocks from s, checking every block against its CID and
// listed size. A missing block gives ErrMissingBlock, a bad one ErrCorruptBlock.
func LoadCorpus(s BlockStore, c cid.Cid) (*Corpus, error) {
	m, err := LoadManifest(s, c)
	if err != nil {
		return nil, err
	}
	tn, vn := m.Split()
	cp := &Corpus{Manifest: m, Train: make([]byte, 0, tn), Val: make([]byte, 0, vn)}
	for i, b := range m.Blocks {
		d, err := s.Get(b.CID)
		if err != nil {
			return nil, fmt.Errorf("%w: block %d (%s) of dataset %s: %w", ErrMissingBlock, i, b.CID, c, err)
		}
		if err := object.Verify(b.CID, d); err != nil {
			return nil, fmt.Errorf("%w: block %d of dataset %s: %w", ErrCorruptBlock, i, c, err)
		}
		if len(d) != b.Size {
			return nil, fmt.Errorf("%w: block %d of dataset %s has %d bytes, manifest says %d", ErrCorruptBlock, i, c, len(d), b.Size)
		}
		if b.Val {
			cp.Val = append(cp.Val, d...)
		} else {
			cp.Train = append(cp.Train, d...)
		}
	}
	return cp, nil
}
