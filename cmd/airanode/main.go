// Command airanode is the node and command-line client of the airanode volunteer compute network for
// neural-architecture search: `airanode init`, `airanode arch ...`, and the commands listed by
// `airanode help`.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
