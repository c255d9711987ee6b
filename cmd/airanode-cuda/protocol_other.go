//go:build !linux

package main

import "os"

// protocolOutput returns standard output, the protocol stream to the node. (On Linux it is moved
// to a descriptor of its own first; see protocol_linux.go.)
func protocolOutput() (*os.File, error) { return os.Stdout, nil }
