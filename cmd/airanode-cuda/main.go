//go:build cuda || cudaemu

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
	if len(args) == 0 {
		return fmt.Errorf("usage: airanode-cuda info | bench [--configs A,B] | eval [--twice] | serve [--device N] | help")
	}
	switch args[0] {
	case "info":
	case "bench":
		return runBench(args[1:])
	case "eval":
		return runEval(args[1:])
	case "serve":
		return runServe(args[1:])
	case "help", "-h", "--help":
		fmt.Println("airanode-cuda: the CUDA compute core\n  info    list devices as JSON\n  bench   training throughput on configs A, B, C of shared/perf (--profile N: time per kernel; --kernels: a kernel choice)\n  eval    a MAD-lite evaluation on GPU 0 (--twice, --reference: require identical Results; --cpu: compare the score; --kernels)\n  serve   run tasks for the node over the core protocol on stdin/stdout (docs/gpu.md)")
		return nil
	default:
		return fmt.Errorf("unknown command %q (want info, bench, eval, serve or help)", args[0])
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
