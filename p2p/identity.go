package p2p

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"

	"github.com/airanode/airanode/identity"
)

// LoadOrCreateIdentity reads the node's Ed25519 key at path, or creates one there, written with
// mode 0600 through a temporary file and a rename (package identity does the work).
func LoadOrCreateIdentity(path string) (crypto.PrivKey, error) {
	sk, _, err := identity.LoadOrCreate(path)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	return sk, nil
}

// LoadPSK reads a pre-shared network key in the go-libp2p swarm.key format ("/key/swarm/psk/1.0.0/",
// an encoding line, the key), as used by IPFS private networks.
func LoadPSK(path string) (pnet.PSK, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read PSK: %w", err)
	}
	psk, err := pnet.DecodeV1PSK(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: PSK file %s: %w", ErrInvalidConfig, path, err)
	}
	return psk, nil
}

// NewPSK returns a fresh random key in the swarm.key format, for an operator starting a private
// network.
func NewPSK() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return []byte("/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(k) + "\n"), nil
}

// ParseBootstrap parses bootstrap multiaddrs, each ending in /p2p/<peer-id>, merging the addresses
// of one peer.
func ParseBootstrap(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	at := map[peer.ID]int{}
	for _, s := range addrs {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: bootstrap address %q: %w", ErrInvalidConfig, s, err)
		}
		if i, ok := at[ai.ID]; ok {
			out[i].Addrs = append(out[i].Addrs, ai.Addrs...)
			continue
		}
		at[ai.ID] = len(out)
		out = append(out, *ai)
	}
	return out, nil
}
