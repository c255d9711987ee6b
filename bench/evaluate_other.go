//go:build !unix

package bench

// cpuSeconds returns 0: this platform has no getrusage.
func cpuSeconds() float64 { return 0 }
