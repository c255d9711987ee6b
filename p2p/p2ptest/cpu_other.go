//go:build !unix

package p2ptest

import "time"

// processCPU is not measured on this platform.
func processCPU() time.Duration { return 0 }
