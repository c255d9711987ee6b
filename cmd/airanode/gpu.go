package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/gpu"
)

// coreStatus says whether the CUDA compute core can be used, and what it reports.
type coreStatus struct {
	Path    string          `json:"path,omitempty"`
	Status  string          `json:"status"`
	Devices json.RawMessage `json:"devices,omitempty"`
}

// findCore looks for airanode-cuda next to this executable, then on PATH.
func findCore() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "airanode-cuda")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("airanode-cuda"); err == nil {
		return p
	}
	return ""
}

func probeCore(ctx context.Context, path string) coreStatus {
	if path == "" {
		return coreStatus{Status: "not installed (build it with `make cuda`)"}
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "info").Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return coreStatus{Path: path, Status: "unavailable: " + msg}
	}
	if !json.Valid(out) {
		return coreStatus{Path: path, Status: "unavailable: core printed invalid JSON"}
	}
	return coreStatus{Path: path, Status: "ready", Devices: out}
}

func newGPUCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "gpu",
		Short: "List NVIDIA GPUs, the driver version and the CUDA core's status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			gpus, drv, err := gpu.DetectNVIDIA(gpu.DefaultProcRoot)
			if err != nil {
				return err
			}
			core := coreStatus{Status: "no NVIDIA device"}
			if len(gpus) > 0 {
				core = probeCore(cmd.Context(), findCore())
			}
			// The cores of the node running on the data directory, if one runs.
			var cores []api.GPUCore
			nodeRuns := false
			if cl, _, _, err := runningNode(cmd); err == nil && cl != nil {
				if st, err := cl.Status(cmd.Context()); err == nil {
					cores, nodeRuns = st.GPU, true
				}
				cl.CloseIdle()
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				v := map[string]any{"devices": gpus, "driver": drv, "core": core}
				if nodeRuns {
					v["node_cores"] = cores
				}
				return enc.Encode(v)
			}
			if nodeRuns {
				defer printNodeCores(out, cores)
			}
			if len(gpus) == 0 {
				fmt.Fprintln(out, "no NVIDIA GPU found (no /proc/driver/nvidia/gpus); training runs on the CPU device")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BUS\tMODEL\tMINOR")
			for _, g := range gpus {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", g.BusID, g.Model, g.Minor)
			}
			tw.Flush()
			fmt.Fprintf(out, "driver: %s\ncore:   %s", drv.Version, core.Status)
			if core.Path != "" {
				fmt.Fprintf(out, " (%s)", core.Path)
			}
			fmt.Fprintln(out)
			if len(core.Devices) > 0 {
				fmt.Fprintf(out, "core devices: %s\n", strings.Join(strings.Fields(string(core.Devices)), " "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printNodeCores prints the compute cores of the running node.
func printNodeCores(w io.Writer, cores []api.GPUCore) {
	if len(cores) == 0 {
		fmt.Fprintln(w, "running node: no GPU compute core (it trains on the CPU)")
		return
	}
	fmt.Fprintln(w, "running node's compute cores:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ORDINAL\tSTATE\tDEVICE\tCLASS\tTASK\tRESTARTS\tLAST ERROR")
	for _, c := range cores {
		task := c.Task
		if task == "" {
			task = "-"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Ordinal, c.State, c.Name, c.Class, short(task), c.Restarts, c.LastError)
	}
	_ = tw.Flush()
}
