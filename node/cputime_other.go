//go:build !linux

package node

import "time"

// threadCPU is not measured on this platform: training CPU time reads as 0.
func threadCPU() time.Duration { return 0 }

// processCPU is not measured on this platform.
func processCPU() time.Duration { return 0 }
