package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/airanode/airanode/api"
)

func newPeersCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List the peers the running node is connected to",
		Long: "peers asks the node running on the data directory (through its control API) for its\n" +
			"connected peers: peer ID, the addresses of the connections, the agent version the peer\n" +
			"reported, its gossip score (peers below 0 lost trust; very negative ones are ignored), and\n" +
			"what it last advertised on the tasks topic: how many tasks it runs at once (and whether it\n" +
			"accepts new ones) and its reproducibility classes (cpu-v1; cuda-v1 for a node with GPUs).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := apiClient(cmd)
			if err != nil {
				return err
			}
			ps, err := cl.Peers(cmdContext(cmd))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), ps)
			}
			return printPeers(cmd.OutOrStdout(), ps)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the peers as JSON")
	return cmd
}

func printPeers(w io.Writer, ps []api.Peer) error {
	if len(ps) == 0 {
		fmt.Fprintln(w, "no peers connected")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tADDRESSES\tAGENT\tSCORE\tLATENCY\tDIRECTION\tWORKERS\tCLASSES")
	for _, p := range ps {
		score := "-"
		if p.Scored {
			score = fmt.Sprintf("%.2f", p.Score)
		}
		lat := "-"
		if p.LatencyMS > 0 {
			lat = fmt.Sprintf("%.1fms", p.LatencyMS)
		}
		dir := "outbound"
		if p.Inbound {
			dir = "inbound"
		}
		agent := p.AgentVersion
		if agent == "" {
			agent = "-"
		}
		// What the peer advertised on the tasks topic: its workers (paused or draining: not
		// accepting) and its reproducibility classes.
		workers, classes := "-", "-"
		if c := p.Capability; c != nil {
			workers = fmt.Sprint(c.Workers)
			if !c.Accepting {
				workers += " (not accepting)"
			}
			if c.Classes != "" {
				classes = c.Classes
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, strings.Join(p.Addrs, ","), agent, score, lat, dir, workers, classes)
	}
	return tw.Flush()
}
