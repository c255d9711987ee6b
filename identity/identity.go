// Package identity persists a node's Ed25519 libp2p key. The key file is written with mode 0600
// through a temporary file and a rename, so a crash never leaves half a key. Functions are safe for
// concurrent use on different paths.
package identity

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// FileName is the key file's name inside a data directory.
const FileName = "identity.key"

// ErrBadKey means the key file exists but does not hold a usable private key.
var ErrBadKey = errors.New("identity: bad key file")

// Load reads the key at path.
func Load(path string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	sk, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadKey, path, err)
	}
	if sk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: %s: key type %v, want Ed25519", ErrBadKey, path, sk.Type())
	}
	return sk, nil
}

// LoadOrCreate reads the key at path, or creates a new Ed25519 key there if none exists. created
// reports whether a new key was written.
func LoadOrCreate(path string) (sk crypto.PrivKey, created bool, err error) {
	sk, err = Load(path)
	if err == nil {
		return sk, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	sk, _, err = crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("generate identity: %w", err)
	}
	b, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return nil, false, fmt.Errorf("encode identity: %w", err)
	}
	if err := WriteFileAtomic(path, b, 0o600); err != nil {
		return nil, false, fmt.Errorf("write identity: %w", err)
	}
	return sk, true, nil
}

// PeerID returns the peer ID of a key.
func PeerID(sk crypto.PrivKey) peer.ID {
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil { // only for key types we never create
		return ""
	}
	return id
}

// WriteFileAtomic writes data to a temporary file in path's directory, syncs it, and renames it over
// path, so readers see the old or the new contents, never a mix.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
