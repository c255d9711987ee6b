package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/search"
	"github.com/airanode/airanode/store"
)

func newRegistryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Query the architecture registry: leaderboards, architecture detail, lineage, verification",
		Long: "The registry is what the node holds of the network's results, judged by the verification\n" +
			"rules (docs/verification.md): only verified scores rank; unverified ones are shown only when\n" +
			"asked, marked as such. While a node runs on --data-dir, top, show and lineage ask it through\n" +
			"its control API; with none running they read the store directly (docs/search.md). peers and\n" +
			"verification report the running node's verification state, so they need a running node.",
	}
	cmd.AddCommand(newRegistryTopCmd(), newRegistryShowCmd(), newRegistryLineageCmd(),
		newRegistryPeersCmd(), newRegistryVerificationCmd())
	return cmd
}

func newRegistryTopCmd() *cobra.Command {
	var searchRef, protocol string
	var n int
	var unverified, asJSON bool
	cmd := &cobra.Command{
		Use:   "top [--search NAME|CID] [--protocol CID] [--n 20] [--unverified]",
		Short: "Show the leaderboard: the best architectures by verified score, one board per protocol",
		Example: "  airanode registry top --search mad-lite-small\n" +
			"  airanode registry top --n 5 --unverified --json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 1 || n > registry.MaxTop {
				return fmt.Errorf("%w: --n %d, want 1-%d", registry.ErrInvalid, n, registry.MaxTop)
			}
			q := registry.TopQuery{N: n, Unverified: unverified}
			if protocol != "" {
				c, err := object.ParseCID(protocol)
				if err != nil {
					return fmt.Errorf("%w: --protocol: %w", registry.ErrInvalid, err)
				}
				q.Protocol = c
			}
			if ok, err := viaNode(cmd, func(ctx context.Context, cl *api.Client, _ string) error {
				if searchRef != "" {
					// Resolved as the store path does: an unknown name or CID is an error.
					d, err := cl.Search(ctx, searchRef)
					if err != nil {
						return err
					}
					if q.Search, err = object.ParseCID(d.Status.Search); err != nil {
						return fmt.Errorf("search %q: %w", searchRef, err)
					}
				}
				boards, err := cl.Top(ctx, q)
				if err != nil {
					return err
				}
				return registryPrintTop(cmd.OutOrStdout(), boards, asJSON)
			}); ok {
				return err
			}
			st, err := searchOpenStore(cmd, false)
			if errors.Is(err, errSearchNoStore) && searchRef == "" {
				return registryPrintTop(cmd.OutOrStdout(), nil, asJSON)
			}
			if err != nil {
				return searchNotFound(err, searchRef)
			}
			defer st.Close()
			boards, err := registry.New(st, nil).TopIn(searchContext(cmd), q, searchRef)
			if err != nil {
				return err
			}
			return registryPrintTop(cmd.OutOrStdout(), boards, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&searchRef, "search", "", "only this search's tasks (name or CID)")
	fl.StringVar(&protocol, "protocol", "", "only this protocol (CID)")
	fl.IntVar(&n, "n", registry.DefaultTop, fmt.Sprintf("entries per board (1-%d)", registry.MaxTop))
	fl.BoolVar(&unverified, "unverified", false, "also list architectures without a verified score, marked")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func registryPrintTop(w io.Writer, boards []registry.Board, asJSON bool) error {
	if boards == nil {
		boards = []registry.Board{}
	}
	if asJSON {
		return searchJSON(w, boards)
	}
	if len(boards) == 0 {
		fmt.Fprintln(w, "no results yet")
		return nil
	}
	for i, b := range boards {
		if i > 0 {
			fmt.Fprintln(w)
		}
		name := b.ProtocolName
		if name == "" {
			name = "protocol"
		}
		order := "higher is better"
		if b.LowerIsBetter {
			order = "lower is better"
		}
		fmt.Fprintf(w, "%s %s — %s (%s): %d verified, %d unverified\n", name, b.Protocol, b.Metric, order, b.Verified, b.Unverified)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RANK\tSCORE\tARCHITECTURE\tPARAMS\tVOTES\tCID")
		for _, e := range b.Entries {
			rank := fmt.Sprint(e.Rank)
			score := search.FormatScore(e.Score)
			if !e.Verified {
				rank = "-"
				score += " (unverified: " + e.State.String() + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", rank, score, e.Spelling, e.Params, e.Votes, e.Arch)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// registryArch resolves an architecture argument: a CID, or a spelling (notation or JSON) whose
// normal form (vocabulary unbound, as tasks name it) gives the CID.
func registryArch(args []string) (cid.Cid, error) {
	ref := strings.Join(args, " ")
	if c, err := object.ParseCID(ref); err == nil {
		return c, nil
	}
	a, err := arch.ParseAny(ref)
	if err == nil {
		a, err = arch.Unbound(a)
	}
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %q is neither an architecture CID nor a valid architecture: %w", registry.ErrInvalid, ref, err)
	}
	return arch.CID(a)
}

func newRegistryShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ARCH",
		Short: "Show an architecture: pattern, size, FLOPs, per-task scores, verification, executors",
		Long: "show takes an architecture CID or spelling (`A M A M`, `width=64: (A M)x2`) and prints its\n" +
			"pattern, parameters and FLOPs per token, then every task of it the node holds: the verdict,\n" +
			"the score and per-task metrics, who executed it and whether their result was accepted, and who\n" +
			"checked it; then the proposals that named it (agent, parents, rationale).",
		Example: "  airanode registry show 'A M A M'\n  airanode registry show bafyrei... --json",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := registryArch(args)
			if err != nil {
				return err
			}
			emit := func(d registry.ArchDetail) error {
				if asJSON {
					return searchJSON(cmd.OutOrStdout(), d)
				}
				registryPrintShow(cmd.OutOrStdout(), d)
				return nil
			}
			return nodeOrStore(cmd, c.String(),
				func(ctx context.Context, cl *api.Client) (registry.ArchDetail, error) { return cl.Arch(ctx, c) },
				func(ctx context.Context, st *store.Store) (registry.ArchDetail, error) {
					return registry.New(st, nil).Show(ctx, c)
				}, emit)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func registryPrintShow(w io.Writer, d registry.ArchDetail) {
	fmt.Fprintf(w, "%s\n  cid      %s\n", d.Spelling, d.Arch)
	fmt.Fprintf(w, "  size     %d layers at width %d (%s), %d parameters without embeddings\n",
		d.Depth, d.Width, strings.Join(d.Kinds, ", "), d.Params)
	fmt.Fprintf(w, "  FLOPs    %.3g per token forward, %.3g training (at %d tokens, without the head)\n",
		d.FLOPsPerToken, d.TrainFLOPsPerToken, d.Seq)
	if len(d.Tasks) == 0 {
		fmt.Fprintln(w, "  no tasks of it are held")
	}
	for _, t := range d.Tasks {
		proto := t.ProtocolName
		if proto == "" {
			proto = t.Protocol
		}
		where := "outside any search"
		if t.Search != "" {
			where = "search " + t.SearchName + " (" + t.Search + ")"
			if t.SearchName == "" {
				where = "search " + t.Search
			}
		}
		fmt.Fprintf(w, "task %s\n  %s, protocol %s, seed %d\n", t.Task, where, proto, t.Seed)
		if t.Verified {
			fmt.Fprintf(w, "  verified score %s (class %s; %d votes, quorum %d)\n", search.FormatScore(t.Score), t.Class, t.Votes, t.Quorum)
		} else {
			claim := ""
			if len(t.Results) > 0 {
				claim = ", claimed " + search.FormatScore(t.Claimed)
			}
			fmt.Fprintf(w, "  %s: not verified%s (%d votes, quorum %d)\n", t.State, claim, t.Votes, t.Quorum)
		}
		fmt.Fprintf(w, "  verdict  %s\n", t.Reason)
		for _, m := range t.Metrics {
			label := "metric  "
			if !t.Verified {
				label = "claimed "
			}
			fmt.Fprintf(w, "  %s %s %s\n", label, m.Name, search.FormatScore(m.Value))
		}
		for _, r := range t.Results {
			mark := "rejected"
			if r.Accepted {
				mark = "accepted"
			} else if !t.Verified {
				mark = "pending"
			}
			fmt.Fprintf(w, "  executed by %s (%s): %s, %s\n", r.Executor, r.Class, search.FormatScore(r.Score), mark)
		}
		for _, a := range t.Attestations {
			mark := "not upheld"
			if a.Upheld {
				mark = "upheld"
			}
			fmt.Fprintf(w, "  checked by  %s: %s (%s)\n", a.Verifier, a.Verdict, mark)
		}
	}
	for _, p := range d.Proposals {
		parents := "no parents"
		if len(p.Parents) > 0 {
			parents = "parents " + strings.Join(p.Parents, ", ")
		}
		fmt.Fprintf(w, "proposed by %s (agent %s), %s\n  %s\n", p.Proposer, p.Agent, parents, p.Rationale)
	}
}

func newRegistryLineageCmd() *cobra.Command {
	var searchRef string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "lineage ARCH [--search NAME|CID]",
		Short: "Show an architecture's ancestry: the parents its proposals name, generation by generation",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := registryArch(args)
			if err != nil {
				return err
			}
			emit := func(root *registry.LineageNode) error {
				if asJSON {
					return searchJSON(cmd.OutOrStdout(), root)
				}
				registryPrintLineage(cmd.OutOrStdout(), root, "", "")
				return nil
			}
			return nodeOrStore(cmd, c.String(),
				func(ctx context.Context, cl *api.Client) (*registry.LineageNode, error) {
					return cl.Lineage(ctx, c, searchRef)
				},
				func(ctx context.Context, st *store.Store) (*registry.LineageNode, error) {
					return registry.New(st, nil).LineageIn(ctx, c, searchRef)
				}, emit)
		},
	}
	cmd.Flags().StringVar(&searchRef, "search", "", "only this search's proposals and scores (name or CID)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// registryPrintLineage prints a lineage tree, one architecture per line, parents indented below.
func registryPrintLineage(w io.Writer, n *registry.LineageNode, first, rest string) {
	spelling := n.Spelling
	if spelling == "" {
		spelling = "(architecture not held)"
	}
	score := "unverified"
	if n.Verified {
		score = search.FormatScore(n.Score)
	}
	line := fmt.Sprintf("%s%s  %s  %s", first, spelling, score, n.Arch)
	switch {
	case n.Repeat:
		line += "  (shown above)"
	case n.Proposal != nil:
		line += fmt.Sprintf("  [%s] %s", n.Proposal.Agent, n.Proposal.Rationale)
	default:
		line += "  (no proposal held)"
	}
	if n.Truncated {
		line += "  (ancestry truncated)"
	}
	fmt.Fprintln(w, line)
	for i, p := range n.Parents {
		if i == len(n.Parents)-1 {
			registryPrintLineage(w, p, rest+"└─ ", rest+"   ")
		} else {
			registryPrintLineage(w, p, rest+"├─ ", rest+"│  ")
		}
	}
}

func newRegistryPeersCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "Show the running node's reputation table: each peer's verified, rejected and disputed results",
		Long: "peers asks the node running on the data directory for the verification record it holds of\n" +
			"every peer: how many of the peer's results were verified, rejected (lost a vote) or disputed,\n" +
			"the trust that follows (docs/verification.md), and the weight it gives the peer's claims.\n" +
			"`registry verification` prints the same table after the node's verification counts.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return nodeOnly(cmd, func(ctx context.Context, cl *api.Client) error {
				ps, err := cl.Reputation(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					if ps == nil {
						ps = []api.PeerReputation{}
					}
					return searchJSON(cmd.OutOrStdout(), ps)
				}
				return registryPrintPeers(cmd.OutOrStdout(), ps)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// registryPrintPeers prints the reputation table.
func registryPrintPeers(w io.Writer, ps []api.PeerReputation) error {
	if len(ps) == 0 {
		fmt.Fprintln(w, "no peer has a verification record yet")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tVERIFIED\tREJECTED\tDISPUTED\tTRUST\tRANK WEIGHT")
	for _, p := range ps {
		id := p.Peer
		if p.Self {
			id += " (self)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.3f\t%.3f\n", id, p.Verified, p.Rejected, p.Disputed, p.Trust, p.RankWeight)
	}
	return tw.Flush()
}

func newRegistryVerificationCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verification",
		Short: "Show the running node's verification report: verdicts, overhead, verdict latency, reputation",
		Long: "verification asks the node running on the data directory how the tasks it holds results for\n" +
			"were judged: verified, disputed and pending tasks; accepted and rejected results; the extra\n" +
			"executions it asked for after disagreements; the verification overhead (training compute of\n" +
			"the honest results per unit of verified compute, about R for R replicas); the time from a\n" +
			"task's first result to its verdict; and the reputation table of `registry peers`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return nodeOnly(cmd, func(ctx context.Context, cl *api.Client) error {
				r, err := cl.Verification(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					if r.Peers == nil {
						r.Peers = []api.PeerReputation{}
					}
					return searchJSON(cmd.OutOrStdout(), r)
				}
				return registryPrintVerification(cmd.OutOrStdout(), r)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// registryPrintVerification prints a verification report.
func registryPrintVerification(w io.Writer, r api.VerificationReport) error {
	if r.Tasks == 0 {
		fmt.Fprintln(w, "no results held yet")
	} else {
		fmt.Fprintf(w, "tasks     %d with results: %d verified, %d disputed, %d pending\n", r.Tasks, r.Verified, r.Disputed, r.Pending)
		fmt.Fprintf(w, "results   %d held: %d accepted, %d rejected; %d extra executions asked for\n",
			r.Results, r.Accepted, r.Rejected, r.Extra)
		overhead := "-"
		if r.ComputeVerified > 0 {
			overhead = fmt.Sprintf("%.2fx", r.Overhead)
		}
		fmt.Fprintf(w, "compute   %.3g FLOPs executed, %.3g rejected, %.3g verified: overhead %s\n",
			r.ComputeAll, r.ComputeRejected, r.ComputeVerified, overhead)
		if q := r.VerdictSeconds; q.N > 0 {
			fmt.Fprintf(w, "verdicts  %d timed: %.1fs median, %.1fs p90, %.1fs max after the first result\n", q.N, q.P50, q.P90, q.Max)
		} else {
			fmt.Fprintln(w, "verdicts  none timed yet")
		}
	}
	fmt.Fprintln(w)
	return registryPrintPeers(w, r.Peers)
}
