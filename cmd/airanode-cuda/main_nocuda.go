//go:build !cuda && !cudaemu

package main

import (
	"fmt"
	"os"
)

// Without the cuda build tag the core has no device code: say how to build it.
func main() {
	fmt.Fprintln(os.Stderr, "airanode-cuda: built without the cuda tag; build it with `make cuda`")
	os.Exit(2)
}
