//go:build !linux

package devnet

import "os/exec"

// setProcAttr leaves the process attributes alone: outside Linux a node stays in the devnet's
// process group, so a Ctrl-C at the terminal reaches both (each node stops cleanly on its own).
func setProcAttr(*exec.Cmd) {}
