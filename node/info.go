package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/airanode/airanode/identity"
)

// InfoFile is the name, inside the data directory, of the file a running node writes so that
// other processes (the CLI, devnet) find its API and addresses. It is removed by Close.
const InfoFile = "node.json"

// Info is the content of InfoFile.
type Info struct {
	PeerID  string    `json:"peer_id"`
	Network string    `json:"network"`
	Addrs   []string  `json:"addrs"`
	API     string    `json:"api"`
	PID     int       `json:"pid"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
}

// ErrNoInfo means the data directory holds no info file: no node runs there (or it was killed).
var ErrNoInfo = errors.New("node: no running node's info file")

// ReadInfo reads the info file of the node running on dataDir. A node killed without Close leaves
// its file behind: check that PID is alive, or that the API answers.
func ReadInfo(dataDir string) (Info, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, InfoFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("%w in %s", ErrNoInfo, dataDir)
	}
	if err != nil {
		return Info{}, err
	}
	var i Info
	if err := json.Unmarshal(b, &i); err != nil {
		return Info{}, fmt.Errorf("%s: %w", filepath.Join(dataDir, InfoFile), err)
	}
	return i, nil
}

// Info returns what the node writes into its info file.
func (n *Node) Info() Info {
	return Info{PeerID: n.id.String(), Network: n.cfg.Network, Addrs: n.Addrs(), API: n.api.Addr(),
		PID: os.Getpid(), Version: n.o.version, Started: n.started}
}

func (n *Node) writeInfo() error {
	b, err := json.MarshalIndent(n.Info(), "", "  ")
	if err != nil {
		return err
	}
	return identity.WriteFileAtomic(filepath.Join(n.cfg.DataDir, InfoFile), append(b, '\n'), 0o600)
}

func (n *Node) removeInfo() error {
	err := os.Remove(filepath.Join(n.cfg.DataDir, InfoFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
