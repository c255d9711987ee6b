//go:build unix

package gpucore

import (
	"os/exec"
	"syscall"
)

// detach puts the core in a process group of its own, so that a terminal's Ctrl-C reaches only the
// node, which then shuts its cores down in order.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
