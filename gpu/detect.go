package gpu

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// NVIDIA describes one NVIDIA GPU as the kernel driver reports it under /proc, found without cgo and
// without loading libcuda.
type NVIDIA struct {
	// BusID is the PCI location, e.g. "0000:01:00.0".
	BusID string `json:"bus_id"`
	// Model is the marketing name, e.g. "NVIDIA H100 80GB HBM3".
	Model string `json:"model"`
	// Minor is the /dev/nvidia<N> device number.
	Minor string `json:"minor"`
}

// DriverInfo is the kernel driver's version line, empty when there is no driver.
type DriverInfo struct {
	Version string `json:"version"`
}

// DefaultProcRoot is where the NVIDIA kernel driver publishes its devices.
const DefaultProcRoot = "/proc/driver/nvidia"

// DetectNVIDIA lists the GPUs under root (DefaultProcRoot in production). No driver means no devices
// and no error.
func DetectNVIDIA(root string) ([]NVIDIA, DriverInfo, error) {
	var drv DriverInfo
	if b, err := os.ReadFile(filepath.Join(root, "version")); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		drv.Version = strings.TrimSpace(line)
	}
	dirs, err := os.ReadDir(filepath.Join(root, "gpus"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, drv, nil
	}
	if err != nil {
		return nil, drv, fmt.Errorf("detect nvidia: %w", err)
	}
	var out []NVIDIA
	for _, d := range dirs {
		g := NVIDIA{BusID: d.Name()}
		f, err := os.Open(filepath.Join(root, "gpus", d.Name(), "information"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "Model":
				g.Model = strings.TrimSpace(v)
			case "Device Minor":
				g.Minor = strings.TrimSpace(v)
			}
		}
		f.Close()
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BusID < out[j].BusID })
	return out, drv, nil
}
