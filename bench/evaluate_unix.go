//go:build unix

package bench

import "syscall"

// cpuSeconds returns the CPU time (user + system) the process has used so far, in seconds, or 0
// where it cannot be read. It is for reports only, never part of an object.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
