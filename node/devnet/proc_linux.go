//go:build linux

package devnet

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the node in its own process group (a Ctrl-C at the terminal reaches the devnet,
// which stops the nodes in order) and has the kernel kill it if the devnet process dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
