//go:build cuda

package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/airanode/airanode/gpu/cuda"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "airanode-cuda:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] != "info" {
		return fmt.Errorf("usage: airanode-cuda info")
	}
	n, err := cuda.Count()
	if err != nil {
		return err
	}
	infos := make([]cuda.Info, 0, n)
	for i := range n {
		in, err := cuda.Describe(i)
		if err != nil {
			return err
		}
		infos = append(infos, in)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(infos)
}
