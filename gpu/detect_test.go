package gpu

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectNVIDIA(t *testing.T) {
	gpus, drv, err := DetectNVIDIA("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	if len(gpus) != 1 || gpus[0].Model != "NVIDIA H100 80GB HBM3" || gpus[0].Minor != "0" || gpus[0].BusID != "0000:01:00.0" {
		t.Fatalf("gpus = %+v", gpus)
	}
	if !strings.Contains(drv.Version, "580.00") {
		t.Fatalf("driver = %q", drv.Version)
	}
	gpus, drv, err = DetectNVIDIA(filepath.Join(t.TempDir(), "none"))
	if err != nil || len(gpus) != 0 || drv.Version != "" {
		t.Fatalf("no driver: %v %v %v", gpus, drv, err)
	}
}
