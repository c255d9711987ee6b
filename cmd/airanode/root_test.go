package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airanode/airanode/config"
)

// loadWith parses args on a fresh root command (data dir: a new temporary directory without a
// config file, unless args name one) and resolves the configuration.
func loadWith(t *testing.T, args ...string) (config.Config, error) {
	t.Helper()
	cmd := newRootCmd()
	if err := cmd.ParseFlags(append([]string{"--data-dir", t.TempDir()}, args...)); err != nil {
		return config.Config{}, err
	}
	return loadConfig(cmd)
}

// TestConfigP2PFlags checks that each p2p flag sets its config field, and that the defaults are
// config.Default()'s when no flag is given.
func TestConfigP2PFlags(t *testing.T) {
	d := config.Default()
	tests := []struct {
		name  string
		args  []string
		check func(config.Config) bool
	}{
		{"defaults", nil, func(c config.Config) bool {
			return len(c.Announce) == 0 && c.DHTMode == d.DHTMode && c.ConnLow == d.ConnLow && c.ConnHigh == d.ConnHigh &&
				c.ConnGrace == d.ConnGrace && c.NATPortMap && c.HolePunching && c.AutoRelay && c.RelayService
		}},
		{"announce", []string{"--announce", "/ip4/203.0.113.7/tcp/4001,/ip4/203.0.113.7/udp/4001/quic-v1"}, func(c config.Config) bool {
			return strings.Join(c.Announce, " ") == "/ip4/203.0.113.7/tcp/4001 /ip4/203.0.113.7/udp/4001/quic-v1"
		}},
		{"announce repeated", []string{"--announce", "/ip4/203.0.113.7/tcp/4001", "--announce", "/dns4/node.example.org/tcp/4001"}, func(c config.Config) bool {
			return strings.Join(c.Announce, " ") == "/ip4/203.0.113.7/tcp/4001 /dns4/node.example.org/tcp/4001"
		}},
		{"dht mode", []string{"--dht-mode", "client"}, func(c config.Config) bool { return c.DHTMode == config.DHTClient }},
		{"conn limits", []string{"--conn-low", "8", "--conn-high", "16", "--conn-grace", "45s"}, func(c config.Config) bool {
			return c.ConnLow == 8 && c.ConnHigh == 16 && c.ConnGrace == config.Duration(45*time.Second)
		}},
		{"nat off", []string{"--nat-portmap=false", "--hole-punching=false", "--auto-relay=false", "--relay-service=false"}, func(c config.Config) bool {
			return !c.NATPortMap && !c.HolePunching && !c.AutoRelay && !c.RelayService
		}},
		{"one nat switch", []string{"--relay-service=false"}, func(c config.Config) bool {
			return c.NATPortMap && c.HolePunching && c.AutoRelay && !c.RelayService
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadWith(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("%v gave %+v", tc.args, c)
			}
		})
	}
}

// TestConfigP2PFlagsBad checks that bad p2p flag values are refused with a message naming the
// setting.
func TestConfigP2PFlagsBad(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"announce not a multiaddr", []string{"--announce", "203.0.113.7:4001"}, `announce address "203.0.113.7:4001"`},
		{"announce with peer id", []string{"--announce", "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWMzNx81p7TD7cg1PqtG23XBZtJA1cF4jToUA7YmPgnh25"}, "/p2p/<peer id>"},
		{"announce wildcard", []string{"--announce", "/ip4/0.0.0.0/tcp/4001"}, "unspecified IP"},
		{"dht mode", []string{"--dht-mode", "full"}, `dht_mode "full"`},
		{"conn low above high", []string{"--conn-low", "500"}, "conn_high 400: want more than conn_low (500)"},
		{"conn low zero", []string{"--conn-low", "0"}, "conn_low 0"},
		{"conn grace without unit", []string{"--conn-grace", "60"}, "conn-grace"},
		{"conn low not a number", []string{"--conn-low", "many"}, "conn-low"},
		{"nat portmap not a boolean", []string{"--nat-portmap=maybe"}, "nat-portmap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadWith(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
	if _, err := loadWith(t, "--dht-mode", "full"); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("a bad value is not config.ErrInvalid: %v", err)
	}
}

// TestConfigP2PPrecedence checks file < environment < flag for the p2p settings.
func TestConfigP2PPrecedence(t *testing.T) {
	dir := t.TempDir()
	c := config.Default()
	c.DataDir = dir
	c.DHTMode, c.ConnLow, c.ConnHigh, c.NATPortMap = config.DHTServer, 10, 20, false
	c.Announce = []string{"/ip4/203.0.113.7/tcp/4001"}
	if err := os.WriteFile(filepath.Join(dir, config.FileName), []byte(config.Template(c)), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(args ...string) config.Config {
		t.Helper()
		cmd := newRootCmd()
		if err := cmd.ParseFlags(append([]string{"--data-dir", dir}, args...)); err != nil {
			t.Fatal(err)
		}
		got, err := loadConfig(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := load(); got.DHTMode != config.DHTServer || got.ConnLow != 10 || got.ConnHigh != 20 || got.NATPortMap ||
		strings.Join(got.Announce, ",") != "/ip4/203.0.113.7/tcp/4001" {
		t.Fatalf("file: %+v", got)
	}
	t.Setenv("AIRANODE_DHT_MODE", "auto")
	t.Setenv("AIRANODE_CONN_HIGH", "30")
	t.Setenv("AIRANODE_ANNOUNCE", "/ip4/198.51.100.1/tcp/4001")
	if got := load(); got.DHTMode != config.DHTAuto || got.ConnLow != 10 || got.ConnHigh != 30 ||
		strings.Join(got.Announce, ",") != "/ip4/198.51.100.1/tcp/4001" {
		t.Fatalf("env: %+v", got)
	}
	got := load("--dht-mode", "client", "--conn-high", "40", "--nat-portmap", "--announce", "/ip4/192.0.2.1/tcp/4001")
	if got.DHTMode != config.DHTClient || got.ConnLow != 10 || got.ConnHigh != 40 || !got.NATPortMap ||
		strings.Join(got.Announce, ",") != "/ip4/192.0.2.1/tcp/4001" {
		t.Fatalf("flag: %+v", got)
	}
}
