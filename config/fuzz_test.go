package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadFile feeds arbitrary bytes as a config file: loading and validating never panic, and a
// file that loads and validates round-trips through Template.
func FuzzLoadFile(f *testing.F) {
	f.Add([]byte(Template(Default())))
	f.Add([]byte("threads = 3\nnetwork = \"lab\"\n"))
	f.Add([]byte("listen = [1, 2]\n"))
	f.Add([]byte("[x]\ny = 1\n"))
	f.Add([]byte("gpu = \"off\"\ngpu_core = \"/opt/airanode-cuda\"\ngpu_devices = [1, 0]\n"))
	f.Add([]byte("gpu_devices = [0, 0, -1, 99]\ngpu = \"on\"\n"))
	f.Add([]byte("announce = [\"/ip4/203.0.113.7/tcp/4001\"]\ndht_mode = \"server\"\nconn_low = 10\nconn_high = 20\n" +
		"conn_grace = \"30s\"\nnat_portmap = false\nhole_punching = false\nauto_relay = false\nrelay_service = false\n"))
	f.Add([]byte("announce = [\"/ip4/0.0.0.0/tcp/0/p2p/x\", 7]\ndht_mode = \"\"\nconn_low = 400\nconn_high = 100\nconn_grace = 60\n"))
	f.Add([]byte("conn_grace = \"-1h\"\nconn_low = -1\nnat_portmap = \"yes\"\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c := Default()
		if err := LoadFile(&c, path); err != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		if err := os.WriteFile(path, []byte(Template(c)), 0o600); err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := LoadFile(&back, path); err != nil {
			t.Fatalf("template of a valid config does not load: %v", err)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("template of a valid config does not validate: %v", err)
		}
	})
}
