//go:build !unix

package gpucore

import "os/exec"

// detach leaves the core in the node's process group where process groups are not available.
func detach(*exec.Cmd) {}
