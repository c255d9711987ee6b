// Package config holds the node's one configuration type, read from a TOML file, then the
// environment (AIRANODE_*), then command-line flags; later sources win. Validate reports every
// problem with a clear message. Config values are plain data and safe to copy.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/multiformats/go-multiaddr"
	"github.com/pelletier/go-toml/v2"
)

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("invalid config")

// Config is the whole node configuration. The TOML keys are the field tags.
type Config struct {
	// DataDir holds the identity, the store and checkpoints.
	DataDir string `toml:"data_dir"`
	// Network is the name of the network to join; topics and DHT namespaces are per network.
	Network string `toml:"network"`
	// Listen are libp2p multiaddrs to listen on (TCP and QUIC).
	Listen []string `toml:"listen"`
	// Bootstrap are multiaddrs (with /p2p/<id>) of peers to join through.
	Bootstrap []string `toml:"bootstrap"`
	// MDNS enables LAN discovery.
	MDNS bool `toml:"mdns"`
	// Announce, if set, replaces the addresses the node advertises to peers (what they dial): a
	// port forward or the public IP of a 1:1 NAT. Multiaddrs without the /p2p/<peer id> part.
	Announce []string `toml:"announce"`
	// DHTMode is the kad-dht mode: DHTAutoServer, DHTAuto, DHTServer or DHTClient.
	DHTMode string `toml:"dht_mode"`
	// ConnLow, ConnHigh and ConnGrace configure the connection manager: above ConnHigh
	// connections it trims down to ConnLow, sparing connections younger than ConnGrace and
	// bootstrap peers.
	ConnLow   int      `toml:"conn_low"`
	ConnHigh  int      `toml:"conn_high"`
	ConnGrace Duration `toml:"conn_grace"`
	// NATPortMap asks the router for a port mapping (UPnP, NAT-PMP).
	NATPortMap bool `toml:"nat_portmap"`
	// HolePunching enables DCUtR hole punching (it needs AutoRelay for the first, relayed connection).
	HolePunching bool `toml:"hole_punching"`
	// AutoRelay makes a node behind NAT reserve slots on relays it finds through the DHT.
	AutoRelay bool `toml:"auto_relay"`
	// RelayService lets a publicly reachable node act as a (limited) relay for others.
	RelayService bool `toml:"relay_service"`
	// PSKFile, when set, makes the node join only the private network sharing this pre-shared key.
	PSKFile string `toml:"psk_file"`
	// API is the local control API address (host:port on loopback).
	API string `toml:"api"`
	// Threads caps the CPU threads the worker uses for training.
	Threads int `toml:"threads"`
	// MemoryMB caps the memory the worker plans for tasks.
	MemoryMB int `toml:"memory_mb"`
	// LogLevel is one of debug, info, warn, error.
	LogLevel string `toml:"log_level"`
	// GPU says whether the node trains on its NVIDIA GPUs: GPUAuto (a compute core per device
	// found, the CPU as well) or GPUOff (the CPU only).
	GPU string `toml:"gpu"`
	// GPUCore is the path of the compute core binary (airanode-cuda); "" looks next to the
	// airanode executable, then on PATH.
	GPUCore string `toml:"gpu_core"`
	// GPUDevices are the CUDA ordinals (in PCI bus order, as `airanode gpu` lists them) to run a
	// core on; empty means every device found.
	GPUDevices []int `toml:"gpu_devices"`
}

// Values of Config.GPU.
const (
	GPUAuto = "auto" // a compute core per NVIDIA device found; none found: the CPU only
	GPUOff  = "off"  // the CPU only
)

// Values of Config.DHTMode; they are p2p.DHTMode's.
const (
	DHTAutoServer = "autoserver" // serve while reachability is unknown or public (the default)
	DHTAuto       = "auto"       // serve only once the node learns it is publicly reachable
	DHTServer     = "server"     // always serve (bootstrap nodes, private networks, LANs)
	DHTClient     = "client"     // never serve
)

// Duration is a time.Duration written in the config file and the environment as a Go duration
// string ("90s", "1m30s").
type Duration time.Duration

// String returns the duration as time.Duration writes it.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration such as \"90s\" or \"1m\": %q", b)
	}
	*d = Duration(v)
	return nil
}

// MaxGPUDevices bounds gpu_devices: its length, and every ordinal is below it.
const MaxGPUDevices = 64

// Default returns the configuration every field of which is documented in the file Template writes.
func Default() Config {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "."
	}
	return Config{
		DataDir:  filepath.Join(home, ".airanode"),
		Network:  "main",
		Listen:   []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"},
		MDNS:     true,
		API:      "127.0.0.1:4050",
		Threads:  runtime.NumCPU(),
		MemoryMB: 2048,
		LogLevel: "info",
		GPU:      GPUAuto,
		// The p2p settings below are p2p.DefaultConfig()'s (a test in node/ checks it).
		DHTMode:      DHTAutoServer,
		ConnLow:      100,
		ConnHigh:     400,
		ConnGrace:    Duration(time.Minute),
		NATPortMap:   true,
		HolePunching: true,
		AutoRelay:    true,
		RelayService: true,
	}
}

// FileName is the config file's name inside the data directory.
const FileName = "config.toml"

// Template returns a commented TOML config file holding c's values.
func Template(c Config) string {
	q := func(s string) string { return strconv.Quote(s) }
	list := func(v []string) string {
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = q(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	ints := func(v []int) string {
		parts := make([]string, len(v))
		for i, n := range v {
			parts[i] = strconv.Itoa(n)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# airanode node configuration. Environment variables AIRANODE_<KEY> (upper case) and\n")
	fmt.Fprintf(&b, "# command-line flags --<key-with-dashes> override these values.\n\n")
	fmt.Fprintf(&b, "# Directory holding the identity key, the store and checkpoints.\ndata_dir = %s\n\n", q(c.DataDir))
	fmt.Fprintf(&b, "# Name of the network to join: gossip topics and DHT namespaces are per network.\nnetwork = %s\n\n", q(c.Network))
	fmt.Fprintf(&b, "# libp2p listen addresses (TCP and QUIC). Port 0 picks a free port.\nlisten = %s\n\n", list(c.Listen))
	fmt.Fprintf(&b, "# Peers to join through, as multiaddrs ending in /p2p/<peer id>.\nbootstrap = %s\n\n", list(c.Bootstrap))
	fmt.Fprintf(&b, "# Discover peers on the local network with mDNS.\nmdns = %t\n\n", c.MDNS)
	fmt.Fprintf(&b, "# Addresses to advertise instead of the detected ones (a port forward, a public IP), as\n"+
		"# multiaddrs without /p2p/<peer id>, e.g. [\"/ip4/203.0.113.7/tcp/4001\"]; [] advertises the detected ones.\n"+
		"announce = %s\n\n", list(c.Announce))
	fmt.Fprintf(&b, "# DHT mode: \"autoserver\" serves the DHT unless the node learns it is behind NAT; \"auto\" serves\n"+
		"# only once it learns it is publicly reachable; \"server\" always (bootstrap nodes, LANs, private\n"+
		"# networks); \"client\" never. A node listening on loopback only runs \"autoserver\" as \"server\".\n"+
		"dht_mode = %s\n\n", q(c.DHTMode))
	fmt.Fprintf(&b, "# Connection manager: above conn_high connections it trims down to conn_low, sparing\n"+
		"# connections younger than conn_grace (a duration such as \"1m\") and bootstrap peers.\n"+
		"conn_low = %d\nconn_high = %d\nconn_grace = %s\n\n", c.ConnLow, c.ConnHigh, q(c.ConnGrace.String()))
	fmt.Fprintf(&b, "# NAT traversal: ask the router for a port mapping (UPnP, NAT-PMP); open direct connections\n"+
		"# through NATs (hole punching, needs auto_relay); reserve slots on relays when behind NAT; relay\n"+
		"# for others when publicly reachable. A node listening on loopback only turns all four off.\n"+
		"nat_portmap = %t\nhole_punching = %t\nauto_relay = %t\nrelay_service = %t\n\n",
		c.NATPortMap, c.HolePunching, c.AutoRelay, c.RelayService)
	fmt.Fprintf(&b, "# Pre-shared key file: when set, only peers with the same key can connect (private network).\npsk_file = %s\n\n", q(c.PSKFile))
	fmt.Fprintf(&b, "# Local control API (loopback only), used by `airanode task`, `peers` and others.\napi = %s\n\n", q(c.API))
	fmt.Fprintf(&b, "# Most CPU threads the worker uses for training.\nthreads = %d\n\n", c.Threads)
	fmt.Fprintf(&b, "# Most memory, in MiB, the worker plans for tasks.\nmemory_mb = %d\n\n", c.MemoryMB)
	fmt.Fprintf(&b, "# Log level: debug, info, warn or error.\nlog_level = %s\n\n", q(c.LogLevel))
	fmt.Fprintf(&b, "# Train on NVIDIA GPUs: \"auto\" starts a compute core (airanode-cuda) per GPU found and trains\n"+
		"# on the CPU as well; \"off\" trains on the CPU only.\ngpu = %s\n\n", q(c.GPU))
	fmt.Fprintf(&b, "# Path of the compute core binary; \"\" looks next to the airanode executable, then on PATH.\ngpu_core = %s\n\n", q(c.GPUCore))
	fmt.Fprintf(&b, "# CUDA ordinals of the GPUs to use, in the order `airanode gpu` lists them; [] means all.\ngpu_devices = %s\n", ints(c.GPUDevices))
	return b.String()
}

// LoadFile overlays the TOML file at path onto c. Unknown keys are errors.
func LoadFile(c *Config, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := toml.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			keys := make([]string, len(strict.Errors))
			for i, e := range strict.Errors {
				keys[i] = strings.Join(e.Key(), ".")
			}
			return fmt.Errorf("parse config %s: unknown keys %s: %w", path, strings.Join(keys, ", "), err)
		}
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	return nil
}

// envKeys maps each environment variable to a setter.
func envKeys(c *Config) map[string]func(string) error {
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	num := func(p *int) func(string) error {
		return func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("not an integer: %q", v)
			}
			*p = n
			return nil
		}
	}
	boolean := func(p *bool) func(string) error {
		return func(v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("not a boolean: %q", v)
			}
			*p = b
			return nil
		}
	}
	list := func(p *[]string) func(string) error {
		return func(v string) error {
			*p = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					*p = append(*p, s)
				}
			}
			return nil
		}
	}
	return map[string]func(string) error{
		"AIRANODE_DATA_DIR":  str(&c.DataDir),
		"AIRANODE_NETWORK":   str(&c.Network),
		"AIRANODE_LISTEN":    list(&c.Listen),
		"AIRANODE_BOOTSTRAP": list(&c.Bootstrap),
		"AIRANODE_MDNS":      boolean(&c.MDNS),
		"AIRANODE_ANNOUNCE":  list(&c.Announce),
		"AIRANODE_DHT_MODE":  str(&c.DHTMode),
		"AIRANODE_CONN_LOW":  num(&c.ConnLow),
		"AIRANODE_CONN_HIGH": num(&c.ConnHigh),
		"AIRANODE_CONN_GRACE": func(v string) error {
			return c.ConnGrace.UnmarshalText([]byte(v))
		},
		"AIRANODE_NAT_PORTMAP":   boolean(&c.NATPortMap),
		"AIRANODE_HOLE_PUNCHING": boolean(&c.HolePunching),
		"AIRANODE_AUTO_RELAY":    boolean(&c.AutoRelay),
		"AIRANODE_RELAY_SERVICE": boolean(&c.RelayService),
		"AIRANODE_PSK_FILE":      str(&c.PSKFile),
		"AIRANODE_API":           str(&c.API),
		"AIRANODE_THREADS":       num(&c.Threads),
		"AIRANODE_MEMORY_MB":     num(&c.MemoryMB),
		"AIRANODE_LOG_LEVEL":     str(&c.LogLevel),
		"AIRANODE_GPU":           str(&c.GPU),
		"AIRANODE_GPU_CORE":      str(&c.GPUCore),
		"AIRANODE_GPU_DEVICES": func(v string) error {
			c.GPUDevices = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				n, err := strconv.Atoi(s)
				if err != nil {
					return fmt.Errorf("not a list of integers: %q", v)
				}
				c.GPUDevices = append(c.GPUDevices, n)
			}
			return nil
		},
	}
}

// LoadEnv overlays AIRANODE_* variables found by lookup (os.LookupEnv in production).
func LoadEnv(c *Config, lookup func(string) (string, bool)) error {
	for k, set := range envKeys(c) {
		if v, ok := lookup(k); ok {
			if err := set(v); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
	}
	return nil
}

// Validate checks every field and returns all problems at once, wrapped in ErrInvalid.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.DataDir == "" {
		bad("data_dir is empty")
	}
	if c.Network == "" || len(c.Network) > 64 || strings.ContainsAny(c.Network, "/ \t\n") {
		bad("network %q: want 1-64 characters without '/' or spaces", c.Network)
	}
	if len(c.Listen) == 0 {
		bad("listen: at least one address is needed")
	}
	for _, a := range c.Listen {
		if _, err := multiaddr.NewMultiaddr(a); err != nil {
			bad("listen address %q: %v", a, err)
		}
	}
	for _, a := range c.Bootstrap {
		m, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			bad("bootstrap address %q: %v", a, err)
			continue
		}
		if _, err := m.ValueForProtocol(multiaddr.P_P2P); err != nil {
			bad("bootstrap address %q: needs a /p2p/<peer id> part", a)
		}
	}
	for _, a := range c.Announce {
		if err := checkAnnounce(a); err != nil {
			bad("announce address %q: %v", a, err)
		}
	}
	switch c.DHTMode {
	case DHTAutoServer, DHTAuto, DHTServer, DHTClient:
	default:
		bad("dht_mode %q: want %q, %q, %q or %q", c.DHTMode, DHTAutoServer, DHTAuto, DHTServer, DHTClient)
	}
	if c.ConnLow < 1 {
		bad("conn_low %d: want at least 1", c.ConnLow)
	}
	if c.ConnHigh <= c.ConnLow {
		bad("conn_high %d: want more than conn_low (%d)", c.ConnHigh, c.ConnLow)
	}
	if g := time.Duration(c.ConnGrace); g < 0 || (g > 0 && g < time.Second) {
		// A bare integer in the file decodes as nanoseconds: catch it here.
		bad("conn_grace %v: want 0 or at least 1s, written with a unit (\"30s\", \"1m\")", g)
	}
	if c.Threads < 1 || c.Threads > 1024 {
		bad("threads %d: want 1-1024", c.Threads)
	}
	if c.MemoryMB < 64 {
		bad("memory_mb %d: want at least 64", c.MemoryMB)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.API == "" {
		bad("api is empty")
	}
	switch c.GPU {
	case GPUAuto, GPUOff:
	default:
		bad("gpu %q: want %q or %q", c.GPU, GPUAuto, GPUOff)
	}
	if strings.ContainsFunc(c.GPUCore, unicode.IsControl) || !utf8.ValidString(c.GPUCore) {
		bad("gpu_core %q: not a file path", c.GPUCore)
	}
	if len(c.GPUDevices) > MaxGPUDevices {
		bad("gpu_devices: %d ordinals, want at most %d", len(c.GPUDevices), MaxGPUDevices)
	} else {
		seen := make(map[int]bool, len(c.GPUDevices))
		for _, d := range c.GPUDevices {
			switch {
			case d < 0 || d >= MaxGPUDevices:
				bad("gpu_devices: ordinal %d, want 0-%d", d, MaxGPUDevices-1)
			case seen[d]:
				bad("gpu_devices: ordinal %d listed twice", d)
			}
			seen[d] = true
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
}

// checkAnnounce reports why s cannot be advertised to peers: it must parse as a multiaddr, name a
// concrete address (not 0.0.0.0 or ::) and port (not 0), and leave out the node's own /p2p/<id>
// (the node appends it). Relay addresses (.../p2p/<relay>/p2p-circuit) are fine.
func checkAnnounce(s string) error {
	m, err := multiaddr.NewMultiaddr(s)
	if err != nil {
		return err
	}
	if len(m) > 0 && m[len(m)-1].Code() == multiaddr.P_P2P {
		return errors.New("leave out the /p2p/<peer id> part: the node adds its own")
	}
	var problem error
	multiaddr.ForEach(m, func(c multiaddr.Component) bool {
		switch c.Code() {
		case multiaddr.P_IP4, multiaddr.P_IP6:
			if ip := net.ParseIP(c.Value()); ip != nil && ip.IsUnspecified() {
				problem = errors.New("an unspecified IP (0.0.0.0, ::) cannot be dialled; announce the address peers should dial")
			}
		case multiaddr.P_TCP, multiaddr.P_UDP:
			if c.Value() == "0" {
				problem = errors.New("port 0 cannot be dialled; announce the port peers should dial")
			}
		}
		return problem == nil
	})
	return problem
}
