package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/bench"
)

func newTaskCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "task",
		Short: "Submit and inspect training tasks through a running node",
		Long: "task talks to the node running on the data directory (through its control API, see\n" +
			"`airanode run`): submit announces a task to the network, list and show report what the node\n" +
			"knows about tasks, their leases and their results.",
	}
	cmd.AddCommand(newTaskSubmitCmd(), newTaskListCmd(), newTaskShowCmd())
	return cmd
}

func newTaskSubmitCmd() *cobra.Command {
	var (
		req                api.SubmitRequest
		protoFile, dataCID string
		asJSON             bool
	)
	cmd := &cobra.Command{
		Use:   "submit --arch ARCH [--protocol NAME | --protocol-file FILE] [--seed N] [--replicas R]",
		Short: "Announce a training task to the network",
		Long: "submit asks the running node to announce a task: train ARCH under the protocol with the\n" +
			"seed, executed by R distinct nodes (default 2). The node checks that the architecture builds\n" +
			"under every setting of the protocol before anything is announced; the task's CID names the\n" +
			"work, so submitting the same task twice is one task.",
		Example: "  airanode task submit --arch 'A M A M'\n" +
			"  airanode task submit --arch 'width=32: A M' --protocol-file smoke.json --seed 3 --replicas 3\n" +
			"  airanode task submit --arch 'A S A S' --protocol text --data bafy...",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Arch == "" {
				return fmt.Errorf("%w: --arch is required", api.ErrInvalid)
			}
			req.Data = dataCID
			if protoFile != "" {
				if cmd.Flags().Changed("protocol") {
					return fmt.Errorf("%w: --protocol and --protocol-file exclude each other", api.ErrInvalid)
				}
				b, err := readSmallFile(protoFile, api.MaxProtocolObject)
				if err != nil {
					return fmt.Errorf("--protocol-file: %w", err)
				}
				req.Protocol, req.ProtocolObject = "", b
			}
			if err := req.Check(); err != nil {
				return err
			}
			cl, err := apiClient(cmd)
			if err != nil {
				return err
			}
			r, err := cl.Submit(cmdContext(cmd), req)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "task %s\n  arch     %s (%s)\n  protocol %s\n  seed %d, replicas %d\n",
				r.Task, r.Spelling, r.Arch, r.Protocol, r.Seed, r.Replicas)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Arch, "arch", "", "architecture, in the notation (e.g. 'A M A M') or JSON")
	fl.StringVar(&req.Protocol, "protocol", bench.NameMADLite, "protocol: "+strings.Join(bench.Names(), ", "))
	fl.StringVar(&protoFile, "protocol-file", "", "read the protocol object from a JSON file instead")
	fl.StringVar(&dataCID, "data", "", "dataset manifest CID (text protocol)")
	fl.Uint64Var(&req.Seed, "seed", 0, "task seed: model initialisation")
	fl.IntVar(&req.Replicas, "replicas", 0, "R, how many distinct nodes execute the task (0: 2)")
	fl.BoolVar(&asJSON, "json", false, "print the answer as JSON")
	return cmd
}

func newTaskListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tasks the node knows, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := apiClient(cmd)
			if err != nil {
				return err
			}
			ts, err := cl.Tasks(cmdContext(cmd))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), ts)
			}
			return printTasks(cmd.OutOrStdout(), ts)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the tasks as JSON")
	return cmd
}

func printTasks(w io.Writer, ts []api.Task) error {
	if len(ts) == 0 {
		fmt.Fprintln(w, "no tasks")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tSTATE\tRESULTS\tLEASES\tSEED\tHERE")
	for _, t := range ts {
		here := "-"
		if t.Local != nil {
			here = t.Local.State
			if t.Local.State == "running" && t.Local.Of > 0 {
				here = fmt.Sprintf("running %d/%d", t.Local.Step, t.Local.Of)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%d\t%s\n", t.CID, t.State, len(t.Results), t.Replicas, len(t.Leases), t.Seed, here)
	}
	return tw.Flush()
}

func newTaskShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show CID",
		Short: "Show one task: its objects, leases and results with their digest chains",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := apiClient(cmd)
			if err != nil {
				return err
			}
			d, err := cl.Task(cmdContext(cmd), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), d)
			}
			return printTask(cmd.OutOrStdout(), d)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the task as JSON")
	return cmd
}

func printTask(w io.Writer, d api.TaskDetail) error {
	fmt.Fprintf(w, "task      %s\n", d.CID)
	fmt.Fprintf(w, "state     %s, %d of %d results\n", d.State, len(d.Results), d.Replicas)
	fmt.Fprintf(w, "arch      %s\n", d.Arch)
	fmt.Fprintf(w, "protocol  %s\n", d.Protocol)
	fmt.Fprintf(w, "seed      %d\n", d.Seed)
	if d.Search != "" {
		fmt.Fprintf(w, "search    %s\n", d.Search)
	}
	fmt.Fprintf(w, "needs     %.1f MiB, %.3g FLOPs\n", float64(d.Memory)/(1<<20), float64(d.Compute))
	if l := d.Local; l != nil {
		switch {
		case l.Result != "":
			fmt.Fprintf(w, "here      %s, result %s\n", l.State, l.Result)
		default:
			fmt.Fprintf(w, "here      %s, step %d/%d, checkpoint at step %d", l.State, l.Step, l.Of, l.Checkpoint)
			if l.Paused {
				fmt.Fprint(w, ", held (paused)")
			}
			if l.Failures > 0 {
				fmt.Fprintf(w, ", %d failures", l.Failures)
			}
			fmt.Fprintln(w)
		}
	}
	for _, l := range d.Leases {
		fmt.Fprintf(w, "lease     %s %s step %d/%d, expires in %.1fs\n", l.Peer, l.State, l.Step, l.Of, float64(l.ExpiresIn)/1000)
	}
	for _, o := range d.Outcomes {
		fmt.Fprintf(w, "result    %s by %s\n", o.CID, o.Executor)
		fmt.Fprintf(w, "          score %.4f, %d steps, %d tokens, %s %s\n", float64(o.Score)/1e6, o.Steps, o.Tokens, o.Class, o.Engine)
		if len(o.Digests) > 0 {
			fmt.Fprintf(w, "          %d segments, last digest %s\n", len(o.Digests), o.Digests[len(o.Digests)-1])
		}
	}
	return nil
}

// readSmallFile reads a file of at most limit bytes.
func readSmallFile(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s is over %d bytes", path, limit)
	}
	return b, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
