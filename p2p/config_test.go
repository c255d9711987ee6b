package p2p

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if ua := DefaultConfig().UserAgent(); ua != "airanode/dev" {
		t.Fatalf("user agent %q", ua)
	}
}

func TestConfigValidate(t *testing.T) {
	const boot = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWLsTi3wNEG1Ao7a4VMqW6W6tjJtPAtWT4XJx2PUWj8T7m"
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"bootstrap", func(c *Config) { c.Bootstrap = []string{boot} }, true},
		{"empty network", func(c *Config) { c.Network = "" }, false},
		{"network with slash", func(c *Config) { c.Network = "a/b" }, false},
		{"upper-case network", func(c *Config) { c.Network = "Main" }, false},
		{"version with space", func(c *Config) { c.Version = "1 2" }, false},
		{"no listen", func(c *Config) { c.ListenAddrs = nil }, false},
		{"bad listen", func(c *Config) { c.ListenAddrs = []string{"tcp://x"} }, false},
		{"bad announce", func(c *Config) { c.AnnounceAddrs = []string{"nope"} }, false},
		{"bootstrap without peer id", func(c *Config) { c.Bootstrap = []string{"/ip4/1.2.3.4/tcp/1"} }, false},
		{"short PSK", func(c *Config) { c.PSK = make([]byte, 16) }, false},
		{"PSK with QUIC only", func(c *Config) {
			c.PSK = make([]byte, 32)
			c.ListenAddrs = []string{"/ip4/0.0.0.0/udp/0/quic-v1"}
		}, false},
		{"PSK with TCP", func(c *Config) { c.PSK = make([]byte, 32) }, true},
		{"bad DHT mode", func(c *Config) { c.DHTMode = "sometimes" }, false},
		{"fast discovery", func(c *Config) { c.DiscoveryInterval = time.Millisecond }, false},
		{"high below low", func(c *Config) { c.ConnLow, c.ConnHigh = 10, 5 }, false},
		{"negative memory", func(c *Config) { c.Resources.MaxMemory = -1 }, false},
		{"bad gossip", func(c *Config) { c.Gossip.MaxDataSize = 0 }, false},
		{"bad blocks", func(c *Config) { c.Blocks.MaxWant = HardMaxWant + 1 }, false},
		{"bad block size", func(c *Config) { c.Blocks.MaxBlockSize = 10 }, false},
		{"bad rate", func(c *Config) { c.Blocks.PeerBytesPerSecond = 0 }, false},
		{"bad sync", func(c *Config) { c.Sync.MaxPage = 0 }, false},
		{"bad sync interval", func(c *Config) { c.Sync.Interval = -time.Second }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.ok && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestTCPOnly(t *testing.T) {
	in := []string{"/ip4/0.0.0.0/tcp/1", "/ip4/0.0.0.0/udp/1/quic-v1", "/ip6/::/tcp/2", "/ip4/1.2.3.4/udp/5/quic-v1/webtransport"}
	got := tcpOnly(in)
	if !slices.Equal(got, []string{"/ip4/0.0.0.0/tcp/1", "/ip6/::/tcp/2"}) {
		t.Fatalf("tcpOnly = %v", got)
	}
}

func TestParseBootstrapMerges(t *testing.T) {
	_, id := newKey(t)
	got, err := ParseBootstrap([]string{
		"/ip4/1.2.3.4/tcp/1/p2p/" + id.String(),
		"/ip4/1.2.3.4/udp/1/quic-v1/p2p/" + id.String(),
	})
	if err != nil || len(got) != 1 || len(got[0].Addrs) != 2 || got[0].ID != id {
		t.Fatalf("%v %v", got, err)
	}
}

func TestIdentityPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.key")
	a, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	b, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	ida, _ := peer.IDFromPrivateKey(a)
	idb, _ := peer.IDFromPrivateKey(b)
	if ida != idb {
		t.Fatal("reloaded identity differs")
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateIdentity(path); err == nil {
		t.Fatal("garbage key accepted")
	}
}

func TestPSKFiles(t *testing.T) {
	dir := t.TempDir()
	key, err := NewPSK()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "swarm.key")
	if err := os.WriteFile(path, key, 0o600); err != nil {
		t.Fatal(err)
	}
	psk, err := LoadPSK(path)
	if err != nil || len(psk) != 32 {
		t.Fatalf("LoadPSK: %d bytes, %v", len(psk), err)
	}
	bad := filepath.Join(dir, "bad.key")
	_ = os.WriteFile(bad, []byte("/key/swarm/psk/1.0.0/\n/base16/\nzz\n"), 0o600)
	if _, err := LoadPSK(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad key: %v", err)
	}
	if _, err := LoadPSK(filepath.Join(dir, "absent")); err == nil {
		t.Fatal("absent file accepted")
	}
}

func TestTopicNames(t *testing.T) {
	c := testCIDs(1)[0]
	if got := SearchesTopic("main"); got != "/airanode/1/main/searches" {
		t.Fatal(got)
	}
	if got := SearchTopic("main", c); got != "/airanode/1/main/search/"+c.String() {
		t.Fatal(got)
	}
	if got := RendezvousNamespace("lab"); got != "/airanode/1/lab" {
		t.Fatal(got)
	}
}

func TestSeenCache(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newSeenCache(time.Minute, 3)
	s.now = func() time.Time { return now }
	if !s.add("a", "b") || s.add("b") || s.add("c", "a") {
		t.Fatal("duplicates not caught")
	}
	if s.has("c") {
		t.Fatal("a rejected add recorded some keys")
	}
	if !s.add("c") || !s.add("d") { // d pushes out a (the oldest): max 3
		t.Fatal("fresh keys refused")
	}
	if s.has("a") || !s.has("d") || s.len() != 3 {
		t.Fatalf("eviction by size: len %d", s.len())
	}
	now = now.Add(2 * time.Minute)
	if s.has("d") || s.len() != 0 {
		t.Fatal("expired keys kept")
	}
	if !s.add("d") {
		t.Fatal("expired key not re-addable")
	}
	for i := range 5000 { // compaction path
		now = now.Add(time.Millisecond)
		s.add(string(rune(i + 100)))
	}
	if s.len() != 3 {
		t.Fatalf("len %d", s.len())
	}
}

func TestMemIndexPaging(t *testing.T) {
	x := NewMemIndex()
	cids := testCIDs(7)
	for _, c := range cids {
		x.Add("s", c)
		x.Add("s", c) // idempotent
	}
	if x.Len("s") != 7 {
		t.Fatalf("len %d", x.Len("s"))
	}
	var all []string
	after := ""
	for {
		page, next, err := x.ListSearch("s", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			all = append(all, c.String())
		}
		if next == "" {
			break
		}
		after = next
	}
	if len(all) != 7 || !slices.IsSorted(all) {
		t.Fatalf("paged %v", all)
	}
	if _, _, err := x.ListSearch("s", "", 0); err == nil {
		t.Fatal("limit 0 accepted")
	}
}

func TestMemBlockStoreVerifies(t *testing.T) {
	s := NewMemBlockStore()
	c := testCIDs(1)[0]
	if err := s.Put(c, []byte("not the bytes")); err == nil {
		t.Fatal("mismatched block stored")
	}
	if _, err := s.Get(c); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get absent: %v", err)
	}
}
