package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTemplateRoundTrips(t *testing.T) {
	c := Default()
	c.Bootstrap = []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWMzNx81p7TD7cg1PqtG23XBZtJA1cF4jToUA7YmPgnh25"}
	c.PSKFile = "/etc/airanode/psk"
	c.GPU, c.GPUCore, c.GPUDevices = GPUOff, "/opt/airanode/bin/airanode-cuda", []int{1, 0}
	c.Announce = []string{"/ip4/203.0.113.7/tcp/4001", "/dns4/node.example.org/udp/4001/quic-v1"}
	c.DHTMode, c.ConnLow, c.ConnHigh, c.ConnGrace = DHTClient, 20, 50, Duration(90*time.Second)
	c.NATPortMap, c.HolePunching, c.AutoRelay, c.RelayService = false, true, false, true
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, []byte(Template(c)), 0o600); err != nil {
		t.Fatal(err)
	}
	var got Config
	if err := LoadFile(&got, path); err != nil {
		t.Fatal(err)
	}
	if got.DataDir != c.DataDir || got.Network != c.Network || got.Threads != c.Threads ||
		got.MemoryMB != c.MemoryMB || got.PSKFile != c.PSKFile || got.MDNS != c.MDNS ||
		strings.Join(got.Listen, ",") != strings.Join(c.Listen, ",") ||
		strings.Join(got.Bootstrap, ",") != strings.Join(c.Bootstrap, ",") ||
		got.GPU != c.GPU || got.GPUCore != c.GPUCore || fmt.Sprint(got.GPUDevices) != fmt.Sprint(c.GPUDevices) ||
		strings.Join(got.Announce, ",") != strings.Join(c.Announce, ",") || got.DHTMode != c.DHTMode ||
		got.ConnLow != c.ConnLow || got.ConnHigh != c.ConnHigh || got.ConnGrace != c.ConnGrace ||
		got.NATPortMap != c.NATPortMap || got.HolePunching != c.HolePunching ||
		got.AutoRelay != c.AutoRelay || got.RelayService != c.RelayService {
		t.Fatalf("round trip: got %+v, want %+v", got, c)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"data_dir", "network", "listen", "bootstrap", "mdns", "psk_file", "api", "threads", "memory_mb", "log_level", "gpu", "gpu_core", "gpu_devices",
		"announce", "dht_mode", "conn_low", "conn_high", "conn_grace", "nat_portmap", "hole_punching", "auto_relay", "relay_service"} {
		if !strings.Contains(Template(c), "\n"+key+" = ") {
			t.Errorf("template lacks %s", key)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"unknown key", "colour = 'blue'\n", "colour"},
		{"wrong type", "threads = 'many'\n", "threads"},
		{"syntax", "network = \n", "parse config"},
		{"gpu devices not integers", "gpu_devices = ['0']\n", "gpu_devices"},
		{"gpu not a string", "gpu = true\n", "gpu"},
		{"conn grace not a duration", "conn_grace = '1 minute'\n", "not a duration"},
		{"conn low not an integer", "conn_low = '100'\n", "conn_low"},
		{"announce not a list", "announce = '/ip4/1.2.3.4/tcp/1'\n", "announce"},
		{"nat portmap not a boolean", "nat_portmap = 'yes'\n", "nat_portmap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			c := Default()
			err := LoadFile(&c, path)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
	c := Default()
	if err := LoadFile(&c, filepath.Join(t.TempDir(), "missing.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestEnvOverlay(t *testing.T) {
	env := map[string]string{
		"AIRANODE_NETWORK":       "lab",
		"AIRANODE_THREADS":       "3",
		"AIRANODE_MDNS":          "false",
		"AIRANODE_BOOTSTRAP":     " /ip4/1.2.3.4/tcp/1/p2p/12D3KooWMzNx81p7TD7cg1PqtG23XBZtJA1cF4jToUA7YmPgnh25 , ",
		"AIRANODE_GPU":           "off",
		"AIRANODE_GPU_CORE":      "/usr/local/bin/airanode-cuda",
		"AIRANODE_GPU_DEVICES":   " 2, 0 ,",
		"AIRANODE_ANNOUNCE":      "/ip4/203.0.113.7/tcp/4001, /ip4/203.0.113.7/udp/4001/quic-v1",
		"AIRANODE_DHT_MODE":      "server",
		"AIRANODE_CONN_LOW":      "10",
		"AIRANODE_CONN_HIGH":     "30",
		"AIRANODE_CONN_GRACE":    "2m30s",
		"AIRANODE_NAT_PORTMAP":   "false",
		"AIRANODE_HOLE_PUNCHING": "0",
		"AIRANODE_AUTO_RELAY":    "false",
		"AIRANODE_RELAY_SERVICE": "true",
	}
	c := Default()
	if err := LoadEnv(&c, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.Network != "lab" || c.Threads != 3 || c.MDNS || len(c.Bootstrap) != 1 || c.GPU != GPUOff ||
		c.GPUCore != "/usr/local/bin/airanode-cuda" || fmt.Sprint(c.GPUDevices) != "[2 0]" {
		t.Fatalf("env overlay: %+v", c)
	}
	if fmt.Sprint(c.Announce) != "[/ip4/203.0.113.7/tcp/4001 /ip4/203.0.113.7/udp/4001/quic-v1]" || c.DHTMode != DHTServer ||
		c.ConnLow != 10 || c.ConnHigh != 30 || c.ConnGrace != Duration(150*time.Second) ||
		c.NATPortMap || c.HolePunching || c.AutoRelay || !c.RelayService {
		t.Fatalf("env overlay of the p2p settings: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AIRANODE_THREADS": "x", "AIRANODE_MDNS": "maybe", "AIRANODE_GPU_DEVICES": "0,one",
		"AIRANODE_CONN_LOW": "many", "AIRANODE_CONN_HIGH": "1e3", "AIRANODE_CONN_GRACE": "60",
		"AIRANODE_NAT_PORTMAP": "on", "AIRANODE_HOLE_PUNCHING": "", "AIRANODE_AUTO_RELAY": "no", "AIRANODE_RELAY_SERVICE": "2",
	} {
		c := Default()
		err := LoadEnv(&c, func(key string) (string, bool) { return v, key == k })
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Fatalf("%s=%s: err = %v", k, v, err)
		}
		// A bad value leaves the field as it was.
		if d := Default(); c.ConnLow != d.ConnLow || c.ConnHigh != d.ConnHigh || c.ConnGrace != d.ConnGrace ||
			c.NATPortMap != d.NATPortMap || c.HolePunching != d.HolePunching || c.AutoRelay != d.AutoRelay || c.RelayService != d.RelayService {
			t.Fatalf("%s=%s changed the config: %+v", k, v, c)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"default ok", func(*Config) {}, ""},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir"},
		{"network slash", func(c *Config) { c.Network = "a/b" }, "network"},
		{"no listen", func(c *Config) { c.Listen = nil }, "listen"},
		{"bad listen", func(c *Config) { c.Listen = []string{"tcp:4001"} }, "listen address"},
		{"bootstrap without id", func(c *Config) { c.Bootstrap = []string{"/ip4/1.2.3.4/tcp/1"} }, "/p2p/"},
		{"threads", func(c *Config) { c.Threads = 0 }, "threads"},
		{"memory", func(c *Config) { c.MemoryMB = 1 }, "memory_mb"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "log_level"},
		{"gpu off ok", func(c *Config) { c.GPU, c.GPUDevices = GPUOff, []int{0} }, ""},
		{"gpu devices ok", func(c *Config) { c.GPUDevices, c.GPUCore = []int{3, 0, 63}, "bin/airanode-cuda" }, ""},
		{"gpu empty", func(c *Config) { c.GPU = "" }, `gpu "": want "auto" or "off"`},
		{"gpu on", func(c *Config) { c.GPU = "on" }, `gpu "on"`},
		{"gpu core control", func(c *Config) { c.GPUCore = "bin/airanode-cuda\n" }, "gpu_core"},
		{"gpu core invalid utf8", func(c *Config) { c.GPUCore = "\xff" }, "gpu_core"},
		{"gpu device negative", func(c *Config) { c.GPUDevices = []int{-1} }, "gpu_devices: ordinal -1, want 0-63"},
		{"gpu device too large", func(c *Config) { c.GPUDevices = []int{64} }, "ordinal 64"},
		{"gpu device twice", func(c *Config) { c.GPUDevices = []int{1, 0, 1} }, "ordinal 1 listed twice"},
		{"gpu devices too many", func(c *Config) { c.GPUDevices = make([]int, MaxGPUDevices+1) }, "at most 64"},
		{"announce ok", func(c *Config) {
			c.Announce = []string{"/ip4/203.0.113.7/tcp/4001", "/ip6/2001:db8::7/udp/4001/quic-v1", "/dns4/node.example.org/tcp/4001",
				"/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWMzNx81p7TD7cg1PqtG23XBZtJA1cF4jToUA7YmPgnh25/p2p-circuit"}
		}, ""},
		{"announce not a multiaddr", func(c *Config) { c.Announce = []string{"203.0.113.7:4001"} }, `announce address "203.0.113.7:4001"`},
		{"announce own peer id", func(c *Config) {
			c.Announce = []string{"/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWMzNx81p7TD7cg1PqtG23XBZtJA1cF4jToUA7YmPgnh25"}
		}, "leave out the /p2p/<peer id> part"},
		{"announce unspecified ip4", func(c *Config) { c.Announce = []string{"/ip4/0.0.0.0/tcp/4001"} }, "unspecified IP"},
		{"announce unspecified ip6", func(c *Config) { c.Announce = []string{"/ip6/::/udp/4001/quic-v1"} }, "unspecified IP"},
		{"announce port 0", func(c *Config) { c.Announce = []string{"/ip4/203.0.113.7/tcp/0"} }, "port 0"},
		{"dht modes ok", func(c *Config) { c.DHTMode = DHTClient }, ""},
		{"dht mode server ok", func(c *Config) { c.DHTMode = DHTServer }, ""},
		{"dht mode auto ok", func(c *Config) { c.DHTMode = DHTAuto }, ""},
		{"dht mode empty", func(c *Config) { c.DHTMode = "" }, `dht_mode "": want "autoserver", "auto", "server" or "client"`},
		{"dht mode unknown", func(c *Config) { c.DHTMode = "Server" }, `dht_mode "Server"`},
		{"conn small ok", func(c *Config) { c.ConnLow, c.ConnHigh, c.ConnGrace = 1, 2, 0 }, ""},
		{"conn low zero", func(c *Config) { c.ConnLow = 0 }, "conn_low 0: want at least 1"},
		{"conn low equals high", func(c *Config) { c.ConnLow, c.ConnHigh = 50, 50 }, "conn_high 50: want more than conn_low (50)"},
		{"conn low above high", func(c *Config) { c.ConnLow, c.ConnHigh = 500, 400 }, "conn_high 400: want more than conn_low (500)"},
		{"conn grace negative", func(c *Config) { c.ConnGrace = Duration(-time.Second) }, "conn_grace -1s"},
		{"conn grace bare integer", func(c *Config) { c.ConnGrace = 60 }, "conn_grace 60ns: want 0 or at least 1s"},
		{"nat off ok", func(c *Config) {
			c.NATPortMap, c.HolePunching, c.AutoRelay, c.RelayService = false, false, false, false
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}
