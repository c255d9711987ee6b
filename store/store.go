package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Defaults used where Options leaves a field zero.
const (
	// DefaultGCInterval is how often the value-log GC runs on an on-disk store.
	DefaultGCInterval = 5 * time.Minute
	// DefaultMaxBlockSize is the largest block Put accepts.
	DefaultMaxBlockSize = 64 << 20
	// DefaultValueLogFileSize is the size of one value-log file; smaller files let the GC reclaim
	// space sooner than badger's 1 GiB default.
	DefaultValueLogFileSize = 256 << 20
	// gcDiscardRatio is the fraction of a value-log file that must be garbage before it is rewritten.
	gcDiscardRatio = 0.5
	// diskValueThreshold: on disk, values larger than this live in the value log.
	diskValueThreshold = 64 << 10
	// diskChunkSize: on disk, blocks larger than this are split into chunks of this size.
	diskChunkSize = 1 << 20
	// minMemTableSize is the smallest memtable Options accepts.
	minMemTableSize = 1 << 20
	// maxRetries bounds retries of a transaction that hit a write conflict.
	maxRetries = 8
)

// Sentinel errors. Errors returned by this package wrap one of them, an object package sentinel
// (for blocks that fail verification) or a badger error (for I/O failures).
var (
	// ErrNotFound means there is no block or meta entry under the key asked for.
	ErrNotFound = errors.New("store: not found")
	// ErrClosed means the store has been closed.
	ErrClosed = errors.New("store: closed")
	// ErrInvalid means an argument breaks the rules: a bad index name, key, cursor, limit or TTL.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrTooLarge means a block or value is over the store's size cap.
	ErrTooLarge = errors.New("store: too large")
	// ErrCorrupt means bytes read back from the database do not verify.
	ErrCorrupt = errors.New("store: corrupt data")
	// ErrVersion means the database was written with a key layout this version does not know.
	ErrVersion = errors.New("store: unknown layout version")
)

// Options configures a Store. The zero value is a sensible on-disk store.
type Options struct {
	// InMemory keeps everything in memory (for tests); Open's dir must then be "".
	// An empty dir implies InMemory.
	InMemory bool
	// SyncWrites syncs every write to disk before it returns. Without it, writes survive a
	// process crash (badger writes through mmap) but not necessarily a power loss, except those
	// made with PutDurable or PutOptions.Sync.
	SyncWrites bool
	// GCInterval is how often the value-log GC runs: 0 means DefaultGCInterval, negative disables
	// the loop. It never runs in memory mode.
	GCInterval time.Duration
	// MaxBlockSize caps the size of a block: 0 means DefaultMaxBlockSize.
	MaxBlockSize int
	// MemTableSize is badger's memtable size in bytes: 0 means badger's default (64 MiB), and
	// the minimum is 1 MiB. In memory mode one block is limited to about 15% of it (a larger Put
	// gives ErrTooLarge).
	MemTableSize int64
	// ValueLogFileSize is the size of one value-log file: 0 means DefaultValueLogFileSize.
	ValueLogFileSize int64
	// BlockCacheSize is badger's block cache in bytes: 0 means badger's default (256 MiB).
	BlockCacheSize int64
	// Logger receives the store's logs and badger's own (its info and debug messages at debug
	// level). Nil discards them all.
	Logger *slog.Logger
}

// Store is a badger database holding blocks, indexes and node state. It is safe for concurrent
// use by multiple goroutines.
type Store struct {
	db        *badger.DB
	dir       string
	log       *slog.Logger
	inMemory  bool
	maxBlock  int
	chunkSize int // blocks larger than this are split into chunks

	mu     sync.RWMutex // held for reading by every operation, for writing by Close
	closed bool

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the store in dir. An empty dir or opts.InMemory gives an
// in-memory store. A directory is locked while open: a second Open of it fails.
func Open(dir string, opts Options) (*Store, error) {
	if opts.InMemory && dir != "" {
		return nil, fmt.Errorf("store: open: %w: in-memory store with directory %q", ErrInvalid, dir)
	}
	inMem := dir == "" || opts.InMemory
	if opts.MaxBlockSize < 0 || opts.MemTableSize < 0 || opts.ValueLogFileSize < 0 || opts.BlockCacheSize < 0 {
		return nil, fmt.Errorf("store: open: %w: negative size option", ErrInvalid)
	}
	if opts.MemTableSize != 0 && opts.MemTableSize < minMemTableSize {
		return nil, fmt.Errorf("store: open: %w: MemTableSize %d below %d", ErrInvalid, opts.MemTableSize, minMemTableSize)
	}
	if opts.ValueLogFileSize != 0 && (opts.ValueLogFileSize < 1<<20 || opts.ValueLogFileSize >= 2<<30) {
		return nil, fmt.Errorf("store: open: %w: ValueLogFileSize %d not in [1 MiB, 2 GiB)", ErrInvalid, opts.ValueLogFileSize)
	}
	base := opts.Logger
	if base == nil {
		base = slog.New(slog.DiscardHandler)
	}
	log := base.With("component", "store")

	bo := badger.DefaultOptions(dir).
		WithInMemory(inMem).
		WithSyncWrites(opts.SyncWrites).
		WithNumVersionsToKeep(1).
		WithValueLogFileSize(DefaultValueLogFileSize).
		WithLogger(nil)
	if opts.Logger != nil {
		bo = bo.WithLogger(badgerLogger{base.With("component", "badger")})
	}
	if opts.MemTableSize > 0 {
		bo = bo.WithMemTableSize(opts.MemTableSize)
	}
	// Values: on disk, anything over diskValueThreshold goes to the value log (keeping the LSM
	// tree small) and blocks are chunked at diskChunkSize. In memory, badger caps one value at the
	// value threshold and one transaction at 15% of the memtable, so chunks stay well inside both.
	chunk := diskChunkSize
	if inMem {
		vt := min(int64(1<<20), 15*bo.MemTableSize/100)
		bo = bo.WithValueThreshold(vt)
		chunk = int(vt / 2)
	} else {
		bo = bo.WithValueThreshold(diskValueThreshold)
	}
	if opts.ValueLogFileSize > 0 {
		bo = bo.WithValueLogFileSize(opts.ValueLogFileSize)
	}
	if opts.BlockCacheSize > 0 {
		bo = bo.WithBlockCacheSize(opts.BlockCacheSize)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("store: open %q: %w", dir, err)
	}
	s := &Store{
		db:        db,
		dir:       dir,
		log:       log,
		inMemory:  inMem,
		maxBlock:  opts.MaxBlockSize,
		chunkSize: chunk,
		stop:      make(chan struct{}),
	}
	if s.maxBlock == 0 {
		s.maxBlock = DefaultMaxBlockSize
	}
	if err := s.checkVersion(); err != nil {
		_ = db.Close()
		return nil, err
	}
	interval := opts.GCInterval
	if interval == 0 {
		interval = DefaultGCInterval
	}
	if !inMem && interval > 0 {
		s.wg.Add(1)
		go s.gcLoop(interval)
	}
	log.Debug("opened", "dir", dir, "in_memory", inMem, "sync_writes", opts.SyncWrites)
	return s, nil
}

// layoutVersion names the key layout documented in the package doc.
const layoutVersion = "1"

// checkVersion writes the layout version into a fresh database and refuses an unknown one.
func (s *Store) checkVersion() error {
	return s.update(func(txn *badger.Txn) error {
		item, err := txn.Get(versionKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(versionKey, []byte(layoutVersion))
		}
		if err != nil {
			return fmt.Errorf("store: read layout version: %w", err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("store: read layout version: %w", err)
		}
		if string(v) != layoutVersion {
			return fmt.Errorf("%w: %q (this build reads %q)", ErrVersion, v, layoutVersion)
		}
		return nil
	})
}

// Close stops the GC loop, waits for it and closes the database. It is idempotent: later calls
// return the first call's result. Operations started before Close finish first.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closed = true
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
		s.log.Debug("closed")
	})
	return s.closeErr
}

// InMemory reports whether the store keeps its data in memory only.
func (s *Store) InMemory() bool { return s.inMemory }

// Sync flushes every write made so far to disk. It is a no-op in memory mode.
func (s *Store) Sync() error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	return nil
}

// DiskUsage returns the bytes the database's files occupy (LSM tables, memtable logs and value
// log), read from the directory now. It is 0 in memory mode.
func (s *Store) DiskUsage() (int64, error) {
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	if s.inMemory {
		return 0, nil
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("store: disk usage: %w", err)
	}
	var n int64
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) { // removed by a compaction or GC meanwhile
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("store: disk usage: %w", err)
		}
		n += info.Size()
	}
	return n, nil
}

// CollectGarbage runs the value-log GC until it finds nothing more to rewrite and returns how
// many value-log files it rewrote. The background loop calls the same thing; it is exported for
// operators and tests. In memory mode it does nothing.
func (s *Store) CollectGarbage() (int, error) {
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	if s.inMemory {
		return 0, nil
	}
	return s.collect()
}

// collect calls RunValueLogGC while it rewrites files and the store is not closing.
func (s *Store) collect() (int, error) {
	n := 0
	for {
		select {
		case <-s.stop:
			return n, nil
		default:
		}
		err := s.db.RunValueLogGC(gcDiscardRatio)
		switch {
		case err == nil:
			n++
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			// Nothing (more) to rewrite, or another GC is running: done for this round.
			return n, nil
		default:
			return n, fmt.Errorf("store: value-log gc: %w", err)
		}
	}
}

func (s *Store) gcLoop(interval time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			n, err := s.collect()
			if err != nil {
				s.log.Warn("value-log gc failed", "err", err)
			} else if n > 0 {
				s.log.Debug("value-log gc", "rewritten", n)
			}
		}
	}
}

// acquire takes the read lock unless the store is closed. The caller must RUnlock on success.
func (s *Store) acquire() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// update runs fn in a read-write transaction, retrying on write conflicts.
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	var err error
	for range maxRetries {
		err = s.db.Update(fn)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}

// ttlEntry builds an entry expiring after ttl (none when ttl is 0).
func ttlEntry(k, v []byte, ttl time.Duration) *badger.Entry {
	e := badger.NewEntry(k, v)
	if ttl > 0 {
		e = e.WithTTL(ttl)
	}
	return e
}

// PutOptions controls one write.
type PutOptions struct {
	// Sync returns only after the write (and every earlier one) is synced to disk.
	Sync bool
	// TTL, when positive, makes the entry expire after this long. Expiry has one-second
	// granularity: the entry disappears between TTL-1s and TTL after the write, so use at least
	// two seconds. Zero means the entry never expires.
	TTL time.Duration
}

func (o PutOptions) validate() error {
	if o.TTL < 0 {
		return fmt.Errorf("%w: negative TTL %s", ErrInvalid, o.TTL)
	}
	return nil
}

// badgerLogger adapts badger's printf-style logger to slog. Badger's info messages (open,
// compaction, flush) are routine, so they go out at debug level.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) logf(level slog.Level, format string, args []any) {
	if !b.l.Enabled(context.Background(), level) {
		return
	}
	b.l.Log(context.Background(), level, trimNewline(fmt.Sprintf(format, args...)))
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

func (b badgerLogger) Errorf(f string, a ...any)   { b.logf(slog.LevelError, f, a) }
func (b badgerLogger) Warningf(f string, a ...any) { b.logf(slog.LevelWarn, f, a) }
func (b badgerLogger) Infof(f string, a ...any)    { b.logf(slog.LevelDebug, f, a) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.logf(slog.LevelDebug, f, a) }
