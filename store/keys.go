package store

import (
	"encoding/base64"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// Limits on names and keys.
const (
	// MaxIndexName is the longest index name.
	MaxIndexName = 32
	// MaxIndexKey is the longest index key, in bytes.
	MaxIndexKey = 256
	// MaxMetaKey is the longest meta key, in bytes.
	MaxMetaKey = 512
	// MaxMetaValue is the largest meta value, in bytes.
	MaxMetaValue = 64 << 10
	// MaxScanLimit is the largest page a scan returns.
	MaxScanLimit = 10000
	// maxCursor bounds an encoded cursor: an index key, a separator and a CID, in base64.
	maxCursor = 4 * (MaxIndexKey + 1 + 128) / 3
)

// Key prefixes of the private layout (see the package doc).
var (
	versionKey  = []byte("s/version")
	blockPrefix = []byte("b/")
	chunkPrefix = []byte("c/")
	indexPrefix = []byte("i/")
	metaPrefix  = []byte("m/")
)

const sep = '/'

func blockKey(c cid.Cid) []byte {
	return append(append(make([]byte, 0, len(blockPrefix)+c.ByteLen()), blockPrefix...), c.Bytes()...)
}

func metaKey(key string) []byte {
	return append(append(make([]byte, 0, len(metaPrefix)+len(key)), metaPrefix...), key...)
}

// indexBase is "i/<index>/": the prefix of every entry of one index.
func indexBase(ix IndexName) []byte {
	b := make([]byte, 0, len(indexPrefix)+len(ix)+1)
	b = append(b, indexPrefix...)
	b = append(b, ix...)
	return append(b, sep)
}

// indexKeyPrefix is "i/<index>/<key>/": the prefix of the entries of one key.
func indexKeyPrefix(ix IndexName, key string) []byte {
	b := indexBase(ix)
	b = append(b, key...)
	return append(b, sep)
}

// indexEntryKey is "i/<index>/<key>/<cid bytes>".
func indexEntryKey(ix IndexName, key string, c cid.Cid) []byte {
	return append(indexKeyPrefix(ix, key), c.Bytes()...)
}

// IndexName names a secondary index. Names match [a-z][a-z0-9_-]{0,31}.
type IndexName string

// The indexes the node uses. Other valid names work too.
const (
	// IndexSearch maps a search CID to the CIDs of the objects that belong to it.
	IndexSearch IndexName = "search"
	// IndexTask maps a task CID to its results, claims, attestations and checkpoints.
	IndexTask IndexName = "task"
	// IndexArch maps an architecture CID to the tasks and results that train it.
	IndexArch IndexName = "arch"
	// IndexAuthor maps a peer ID to the objects it signed.
	IndexAuthor IndexName = "author"
)

// Validate returns ErrInvalid unless the name matches [a-z][a-z0-9_-]{0,31}.
func (ix IndexName) Validate() error {
	if len(ix) == 0 || len(ix) > MaxIndexName {
		return fmt.Errorf("%w: index name %q: length %d not in 1..%d", ErrInvalid, ix, len(ix), MaxIndexName)
	}
	for i := 0; i < len(ix); i++ {
		ch := ix[i]
		ok := ch >= 'a' && ch <= 'z' || i > 0 && (ch >= '0' && ch <= '9' || ch == '_' || ch == '-')
		if !ok {
			return fmt.Errorf("%w: index name %q: byte %d (%q) not allowed", ErrInvalid, ix, i, ch)
		}
	}
	return nil
}

// validIndexKey checks an index key: 1..MaxIndexKey bytes of UTF-8, no '/', no control characters.
func validIndexKey(key string) error {
	if len(key) == 0 || len(key) > MaxIndexKey {
		return fmt.Errorf("%w: index key: length %d not in 1..%d", ErrInvalid, len(key), MaxIndexKey)
	}
	if err := checkText(key); err != nil {
		return fmt.Errorf("%w: index key %q: %w", ErrInvalid, key, err)
	}
	for i := 0; i < len(key); i++ {
		if key[i] == sep {
			return fmt.Errorf("%w: index key %q contains '/'", ErrInvalid, key)
		}
	}
	return nil
}

// validMetaKey checks a meta key: 1..MaxMetaKey bytes of UTF-8 without control characters.
func validMetaKey(key string) error {
	if len(key) == 0 || len(key) > MaxMetaKey {
		return fmt.Errorf("%w: meta key: length %d not in 1..%d", ErrInvalid, len(key), MaxMetaKey)
	}
	if err := checkText(key); err != nil {
		return fmt.Errorf("%w: meta key %q: %w", ErrInvalid, key, err)
	}
	return nil
}

// validMetaPrefix is validMetaKey that also allows "" (every key).
func validMetaPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validMetaKey(prefix)
}

// checkText rejects invalid UTF-8 and control characters (C0, DEL and C1).
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r < 0xa0 {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

// Cursors are opaque to callers: base64url (no padding) of an entry's position inside its index,
// "<key>/<cid bytes>". A scan resumes strictly after that position.
var cursorEncoding = base64.RawURLEncoding

func encodeCursor(pos []byte) string { return cursorEncoding.EncodeToString(pos) }

func decodeCursor(s string) ([]byte, error) {
	if len(s) > maxCursor {
		return nil, fmt.Errorf("%w: cursor longer than %d", ErrInvalid, maxCursor)
	}
	b, err := cursorEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: cursor: %w", ErrInvalid, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty cursor", ErrInvalid)
	}
	return b, nil
}

func validLimit(limit int) error {
	if limit < 1 || limit > MaxScanLimit {
		return fmt.Errorf("%w: limit %d not in 1..%d", ErrInvalid, limit, MaxScanLimit)
	}
	return nil
}
