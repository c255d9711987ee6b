package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/airanode/airanode/config"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "airanode",
		Short:         "Peer-to-peer volunteer compute for neural-architecture search",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addConfigFlags(root.PersistentFlags())
	root.AddCommand(
		newVersionCmd(),
		newInitCmd(),
		newGPUCmd(),
		newArchCmd(),
		newDataCmd(),
		newExportCmd(),
		newBenchCmd(),
		newSearchCmd(),
		newRegistryCmd(),
		newEvalCmd(),
		newRunCmd(),
		newWorkerCmd(),
		newTaskCmd(),
		newPeersCmd(),
		newDevnetCmd(),
	)
	return root
}

// addConfigFlags declares the flags that override config values. Their names are the TOML keys with
// dashes.
func addConfigFlags(fl *pflag.FlagSet) {
	d := config.Default()
	fl.String("config", "", "config file (default <data-dir>/"+config.FileName+")")
	fl.String("data-dir", d.DataDir, "data directory")
	fl.String("network", d.Network, "network name")
	fl.StringSlice("listen", d.Listen, "libp2p listen multiaddrs")
	fl.StringSlice("bootstrap", nil, "bootstrap peer multiaddrs (with /p2p/<id>)")
	fl.Bool("mdns", d.MDNS, "discover peers on the LAN with mDNS")
	fl.StringSlice("announce", nil, "multiaddrs to advertise instead of the detected ones (a port forward, a public IP; no /p2p/<id>)")
	fl.String("dht-mode", d.DHTMode, "DHT mode: autoserver, auto, server or client")
	fl.Int("conn-low", d.ConnLow, "connection manager low water mark: trim down to this many connections")
	fl.Int("conn-high", d.ConnHigh, "connection manager high water mark: trim when above this many connections")
	fl.Duration("conn-grace", time.Duration(d.ConnGrace), "connections younger than this are never trimmed")
	fl.Bool("nat-portmap", d.NATPortMap, "ask the router for a port mapping (UPnP, NAT-PMP)")
	fl.Bool("hole-punching", d.HolePunching, "open direct connections through NATs (DCUtR; needs --auto-relay)")
	fl.Bool("auto-relay", d.AutoRelay, "when behind NAT, reserve slots on relays and advertise relayed addresses")
	fl.Bool("relay-service", d.RelayService, "when publicly reachable, relay for nodes behind NAT")
	fl.String("psk-file", "", "pre-shared key file for a private network")
	fl.String("api", d.API, "local control API address")
	fl.Int("threads", d.Threads, "most CPU threads used for training")
	fl.Int("memory-mb", d.MemoryMB, "most memory (MiB) planned for tasks")
	fl.String("log-level", d.LogLevel, "log level: debug, info, warn, error")
	fl.String("gpu", d.GPU, "train on NVIDIA GPUs too: auto (a compute core per device found) or off")
	fl.String("gpu-core", d.GPUCore, "path of the compute core binary (airanode-cuda; empty: next to this binary, then PATH)")
	fl.IntSlice("gpu-devices", d.GPUDevices, "CUDA ordinals to run a core on (empty: every device found)")
}

// loadConfig resolves the configuration: defaults, then the config file, then AIRANODE_* variables,
// then flags given on the command line. It validates the result.
func loadConfig(cmd *cobra.Command) (config.Config, error) {
	c := config.Default()
	flags := cmd.Flags()
	// The data dir decides where the default config file is, so look at it first.
	if err := config.LoadEnv(&c, os.LookupEnv); err != nil {
		return c, err
	}
	if flags.Changed("data-dir") {
		c.DataDir, _ = flags.GetString("data-dir")
	}
	path, _ := flags.GetString("config")
	explicit := path != ""
	if !explicit {
		path = filepath.Join(c.DataDir, config.FileName)
	}
	if err := config.LoadFile(&c, path); err != nil {
		if explicit || !errors.Is(err, fs.ErrNotExist) {
			return c, err
		}
	}
	if err := config.LoadEnv(&c, os.LookupEnv); err != nil {
		return c, err
	}
	var ferr error
	flags.Visit(func(f *pflag.Flag) {
		var err error
		switch f.Name {
		case "data-dir":
			c.DataDir, err = flags.GetString(f.Name)
		case "network":
			c.Network, err = flags.GetString(f.Name)
		case "listen":
			c.Listen, err = flags.GetStringSlice(f.Name)
		case "bootstrap":
			c.Bootstrap, err = flags.GetStringSlice(f.Name)
		case "mdns":
			c.MDNS, err = flags.GetBool(f.Name)
		case "announce":
			c.Announce, err = flags.GetStringSlice(f.Name)
		case "dht-mode":
			c.DHTMode, err = flags.GetString(f.Name)
		case "conn-low":
			c.ConnLow, err = flags.GetInt(f.Name)
		case "conn-high":
			c.ConnHigh, err = flags.GetInt(f.Name)
		case "conn-grace":
			var d time.Duration
			if d, err = flags.GetDuration(f.Name); err == nil {
				c.ConnGrace = config.Duration(d)
			}
		case "nat-portmap":
			c.NATPortMap, err = flags.GetBool(f.Name)
		case "hole-punching":
			c.HolePunching, err = flags.GetBool(f.Name)
		case "auto-relay":
			c.AutoRelay, err = flags.GetBool(f.Name)
		case "relay-service":
			c.RelayService, err = flags.GetBool(f.Name)
		case "psk-file":
			c.PSKFile, err = flags.GetString(f.Name)
		case "api":
			c.API, err = flags.GetString(f.Name)
		case "threads":
			c.Threads, err = flags.GetInt(f.Name)
		case "memory-mb":
			c.MemoryMB, err = flags.GetInt(f.Name)
		case "log-level":
			c.LogLevel, err = flags.GetString(f.Name)
		case "gpu":
			c.GPU, err = flags.GetString(f.Name)
		case "gpu-core":
			c.GPUCore, err = flags.GetString(f.Name)
		case "gpu-devices":
			c.GPUDevices, err = flags.GetIntSlice(f.Name)
		}
		if err != nil && ferr == nil {
			ferr = fmt.Errorf("flag --%s: %w", f.Name, err)
		}
	})
	if ferr != nil {
		return c, ferr
	}
	return c, c.Validate()
}

// newLogger returns a text logger to stderr at the configured level.
func newLogger(level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
