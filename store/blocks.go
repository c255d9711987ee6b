package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
)

// A block of at most the store's chunk size is one badger entry "b/<cid>" holding the bytes
// (user meta metaInline). A larger block is split into chunks "c/<cid><uint32 BE index>" with a
// header entry "b/<cid>" (user meta metaChunked) holding the total length and the chunk size,
// both uint64/uint32 big-endian. Header and chunks are written, expire and are deleted together,
// in one transaction.
const (
	metaInline  byte = 0
	metaChunked byte = 1
	headerLen        = 12
	// maxChunks bounds the chunk count a header may claim, so a corrupt header cannot make a
	// reader loop or allocate without bound.
	maxChunks = 1 << 20
)

func chunkKey(c cid.Cid, i uint32) []byte {
	b := make([]byte, 0, len(chunkPrefix)+c.ByteLen()+4)
	b = append(b, chunkPrefix...)
	b = append(b, c.Bytes()...)
	return binary.BigEndian.AppendUint32(b, i)
}

func encodeHeader(total int, chunk int) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, headerLen), uint64(total))
	return binary.BigEndian.AppendUint32(b, uint32(chunk))
}

// decodeHeader returns the total length and chunk count of a chunked block.
func decodeHeader(h []byte) (total uint64, chunk uint32, n uint32, err error) {
	if len(h) != headerLen {
		return 0, 0, 0, fmt.Errorf("%w: chunk header of %d bytes", ErrCorrupt, len(h))
	}
	total = binary.BigEndian.Uint64(h)
	chunk = binary.BigEndian.Uint32(h[8:])
	if chunk == 0 || total == 0 {
		return 0, 0, 0, fmt.Errorf("%w: chunk header: total %d, chunk size %d", ErrCorrupt, total, chunk)
	}
	count := (total + uint64(chunk) - 1) / uint64(chunk)
	if count > maxChunks {
		return 0, 0, 0, fmt.Errorf("%w: chunk header: %d chunks", ErrCorrupt, count)
	}
	return total, chunk, uint32(count), nil
}

// Put stores a block under c after checking it with object.VerifyBlock: a raw block or plain
// object must hash to c, a sealed object is an envelope whose payload hashes to c. Nothing is
// written when the check fails. Put is idempotent: storing a CID that is already present writes
// nothing (see PutWith for how retention is merged).
func (s *Store) Put(c cid.Cid, data []byte) error {
	return s.PutWith(c, data, PutOptions{})
}

// PutDurable is Put that returns only after the block is synced to disk. Use it for everything
// the node signs or promises to peers, before announcing it.
func (s *Store) PutDurable(c cid.Cid, data []byte) error {
	return s.PutWith(c, data, PutOptions{Sync: true})
}

// PutWith is Put with options. When c is already stored, the existing entry is kept, except that
// retention only ever grows: a put without TTL makes an expiring block permanent, and a put whose
// TTL ends later than the stored expiry extends it. With o.Sync the call returns after a disk
// sync even when nothing new was written, so the block is durable either way.
func (s *Store) PutWith(c cid.Cid, data []byte, o PutOptions) error {
	if err := o.validate(); err != nil {
		return fmt.Errorf("store: put %s: %w", c, err)
	}
	if len(data) > s.maxBlock {
		return fmt.Errorf("store: put %s: %d bytes (max %d): %w", c, len(data), s.maxBlock, ErrTooLarge)
	}
	if err := object.VerifyBlock(c, data); err != nil {
		return fmt.Errorf("store: put %s: %w", c, err)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	k := blockKey(c)
	exp := expiry(o.TTL, time.Now())
	err := s.update(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			return s.writeBlock(txn, c, data, exp)
		case err != nil:
			return err
		case !extendsRetention(item.ExpiresAt(), exp):
			return nil
		default:
			// Rewrite with the new expiry. The new bytes were verified above, so this also
			// heals a stored copy that went bad.
			if err := deleteBlock(txn, c, item); err != nil {
				return err
			}
			return s.writeBlock(txn, c, data, exp)
		}
	})
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("store: put %s: %d bytes do not fit one transaction (in memory, raise Options.MemTableSize): %w",
			c, len(data), ErrTooLarge)
	}
	if err != nil {
		return fmt.Errorf("store: put %s: %w", c, err)
	}
	if o.Sync {
		if err := s.db.Sync(); err != nil {
			return fmt.Errorf("store: put %s: sync: %w", c, err)
		}
	}
	return nil
}

// expiry returns the Unix second at which an entry written now with ttl expires (0: never).
func expiry(ttl time.Duration, now time.Time) uint64 {
	if ttl <= 0 {
		return 0
	}
	return uint64(now.Add(ttl).Unix())
}

// extendsRetention reports whether an entry expiring at want keeps a block longer than its
// stored expiry have (both Unix seconds, 0 for never).
func extendsRetention(have, want uint64) bool {
	return have != 0 && (want == 0 || want > have)
}

// writeBlock writes data under c, inline or in chunks, all expiring at exp.
func (s *Store) writeBlock(txn *badger.Txn, c cid.Cid, data []byte, exp uint64) error {
	if len(data) <= s.chunkSize {
		return txn.SetEntry(&badger.Entry{Key: blockKey(c), Value: data, UserMeta: metaInline, ExpiresAt: exp})
	}
	var i uint32
	for off := 0; off < len(data); off += s.chunkSize {
		end := min(off+s.chunkSize, len(data))
		if err := txn.SetEntry(&badger.Entry{Key: chunkKey(c, i), Value: data[off:end], ExpiresAt: exp}); err != nil {
			return err
		}
		i++
	}
	hdr := encodeHeader(len(data), s.chunkSize)
	return txn.SetEntry(&badger.Entry{Key: blockKey(c), Value: hdr, UserMeta: metaChunked, ExpiresAt: exp})
}

// deleteBlock deletes the block whose header item is given, and every chunk stored under c (found
// by prefix, so a corrupt header cannot strand chunks).
func deleteBlock(txn *badger.Txn, c cid.Cid, item *badger.Item) error {
	if item.UserMeta() != metaInline {
		p := chunkKey(c, 0)
		p = p[:len(p)-4]
		io := badger.DefaultIteratorOptions
		io.PrefetchValues = false
		io.Prefix = p
		it := txn.NewIterator(io)
		var keys [][]byte
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		it.Close()
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
	}
	return txn.Delete(blockKey(c))
}

// readBlock reads the block whose header item is given.
func readBlock(txn *badger.Txn, c cid.Cid, item *badger.Item) ([]byte, error) {
	switch item.UserMeta() {
	case metaInline:
		return item.ValueCopy(nil)
	case metaChunked:
	default:
		return nil, fmt.Errorf("%w: block entry of unknown type %d", ErrCorrupt, item.UserMeta())
	}
	h, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	total, chunk, n, err := decodeHeader(h)
	if err != nil {
		return nil, err
	}
	var out []byte // grown chunk by chunk: a corrupt total cannot force a large allocation
	for i := range n {
		ci, err := txn.Get(chunkKey(c, i))
		if errors.Is(err, badger.ErrKeyNotFound) {
			if exp := item.ExpiresAt(); exp != 0 && exp <= uint64(time.Now().Unix()) {
				return nil, badger.ErrKeyNotFound // expired while we read it
			}
			return nil, fmt.Errorf("%w: chunk %d of %d missing", ErrCorrupt, i, n)
		}
		if err != nil {
			return nil, err
		}
		v, err := ci.ValueCopy(nil)
		if err != nil {
			return nil, err
		}
		if want := min(uint64(chunk), total-uint64(len(out))); uint64(len(v)) != want {
			return nil, fmt.Errorf("%w: chunk %d has %d bytes, want %d", ErrCorrupt, i, len(v), want)
		}
		out = append(out, v...)
	}
	return out, nil
}

// Get returns the block stored under c, verified again with object.VerifyBlock: bytes that went
// bad on disk give an error wrapping ErrCorrupt. A missing (or expired) block gives ErrNotFound.
func (s *Store) Get(c cid.Cid) ([]byte, error) {
	if err := object.CheckCID(c); err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var data []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(blockKey(c))
		if err != nil {
			return err
		}
		data, err = readBlock(txn, c, item)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("store: get %s: %w", c, ErrNotFound)
	}
	if err == nil {
		if verr := object.VerifyBlock(c, data); verr != nil {
			err = fmt.Errorf("%w: %w", ErrCorrupt, verr)
		}
	}
	if errors.Is(err, ErrCorrupt) {
		s.log.Error("stored block does not verify", "cid", c, "err", err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", c, err)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// Has reports whether a block is stored under c (without reading or verifying it).
func (s *Store) Has(c cid.Cid) (bool, error) {
	if err := object.CheckCID(c); err != nil {
		return false, fmt.Errorf("store: has: %w", err)
	}
	if err := s.acquire(); err != nil {
		return false, err
	}
	defer s.mu.RUnlock()
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(blockKey(c))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: has %s: %w", c, err)
	}
	return true, nil
}

// Size returns the size in bytes of the block stored under c, or ErrNotFound. It does not verify
// the block.
func (s *Store) Size(c cid.Cid) (int64, error) {
	if err := object.CheckCID(c); err != nil {
		return 0, fmt.Errorf("store: size: %w", err)
	}
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var n int64
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(blockKey(c))
		if err != nil {
			return err
		}
		// ValueSize is only an estimate for values in the value log; the length of the
		// (memory-mapped, uncopied) value is exact.
		return item.Value(func(v []byte) error {
			if item.UserMeta() != metaChunked {
				n = int64(len(v))
				return nil
			}
			total, _, _, err := decodeHeader(v)
			n = int64(total)
			return err
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, fmt.Errorf("store: size %s: %w", c, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("store: size %s: %w", c, err)
	}
	return n, nil
}

// Delete removes the block stored under c. Deleting a missing block is not an error. Index
// entries that point at c are left alone (remove them with Unindex).
func (s *Store) Delete(c cid.Cid) error {
	if err := object.CheckCID(c); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	err := s.update(func(txn *badger.Txn) error {
		item, err := txn.Get(blockKey(c))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return deleteBlock(txn, c, item)
	})
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", c, err)
	}
	return nil
}
