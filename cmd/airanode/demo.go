package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/node/devnet"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/search"
)

// searchLaunch builds the launch request of --search: a preset name or a spec file.
func searchLaunch(ref string) (api.LaunchRequest, error) {
	if slices.Contains(search.Presets(), ref) {
		return api.LaunchRequest{Preset: ref}, nil
	}
	spec, err := search.LoadSpec(ref)
	if err != nil {
		return api.LaunchRequest{}, fmt.Errorf("--search %q is neither a preset (%s) nor a spec file: %w",
			ref, strings.Join(search.Presets(), ", "), err)
	}
	return api.LaunchRequest{Spec: &spec}, nil
}

// runSearchDemo launches the search on node 0 and follows it: the verified leaderboard as it
// grows, then (with --exit-when-done) the summary of what verification did.
func runSearchDemo(ctx context.Context, w io.Writer, d *devnet.Devnet, f devnetFlags, req api.LaunchRequest) error {
	first := d.Nodes()[0]
	start := time.Now()
	l, err := first.API.LaunchSearch(ctx, req)
	if err != nil {
		return fmt.Errorf("launch search on node 0: %w", err)
	}
	liars := map[string]int{}
	for _, n := range d.Nodes() {
		if n.Index >= f.nodes {
			liars[n.Info.PeerID] = n.Index
		}
	}
	fmt.Fprintf(w, "search %q launched on node 0: %s\n  budget %d evaluations, replicas %d, agents %s\n",
		l.Search.Name, l.CID, l.Search.Budget, l.Search.Policy.Replicas, agentNames(l.Search))
	if len(liars) > 0 {
		fmt.Fprintf(w, "  %d of %d nodes are demo liars: they never train and report the score %s for every task\n",
			len(liars), len(d.Nodes()), search.FormatScore(node.DemoLiarScore))
	}
	sc, err := cid.Parse(l.CID)
	if err != nil {
		return err
	}
	var lastBoard string
	var lastLine, doneAt time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		det, err := first.API.Search(ctx, l.CID)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("node 0: %w", err)
		}
		st := det.Status
		boards, err := first.API.Top(ctx, registry.TopQuery{Search: sc, N: 5})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("node 0: %w", err)
		}
		if b := formatBoards(boards); b != lastBoard && b != "" {
			lastBoard = b
			fmt.Fprintf(w, "%s verified leaderboard (%d verified of %d evaluations):\n%s", clock(start), st.Verified, st.Used, b)
		}
		if time.Since(lastLine) >= 10*time.Second {
			lastLine = time.Now()
			rejected := "?"
			if rep, err := first.API.Verification(ctx); err == nil {
				rejected = fmt.Sprint(rep.Rejected)
			}
			fmt.Fprintf(w, "%s %s: %d/%d evaluations started, %d verified, %d disputed, %d pending; %s results rejected\n",
				clock(start), st.State, st.Used, st.Budget, st.Verified, st.Disputed, st.Pending, rejected)
		}
		// Done: the budget is spent and every task settled. A settled task can become pending
		// again when a late result arrives (a vote more, against it), so wait for that too, up to
		// a minute after the runner finished.
		finished := st.State == search.StateDone || st.State == search.StateExhausted
		if finished && doneAt.IsZero() {
			doneAt = time.Now()
		}
		if f.exitWhenDone && finished && (st.Pending == 0 || time.Since(doneAt) > time.Minute) {
			return printSearchSummary(ctx, w, d, f, l, sc, liars, time.Since(start))
		}
	}
}

func agentNames(s object.Search) string {
	var names []string
	for _, a := range s.Agents {
		names = append(names, a.Name)
	}
	return strings.Join(names, ", ")
}

func clock(start time.Time) string {
	s := int(time.Since(start).Seconds())
	return fmt.Sprintf("[%02d:%02d]", s/60, s%60)
}

// formatBoards prints the verified entries of the boards.
func formatBoards(boards []registry.Board) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	n := 0
	for _, bd := range boards {
		for _, e := range bd.Entries {
			if !e.Verified {
				continue
			}
			n++
			fmt.Fprintf(tw, "  %d.\t%s\t%s\t%d params\t%d votes\n", e.Rank, search.FormatScore(e.Score), e.Spelling, e.Params, e.Votes)
		}
	}
	_ = tw.Flush()
	if n == 0 {
		return ""
	}
	return b.String()
}

// printSearchSummary prints what the search and its verification did, from node 0's view, and
// checks every verified task for a liar's result in its winning group (a false verification).
func printSearchSummary(ctx context.Context, w io.Writer, d *devnet.Devnet, f devnetFlags, l api.LaunchResponse,
	sc cid.Cid, liars map[string]int, elapsed time.Duration) error {
	first := d.Nodes()[0]
	det, err := first.API.Search(ctx, l.CID)
	if err != nil {
		return err
	}
	rep, err := first.API.Verification(ctx)
	if err != nil {
		return err
	}
	boards, err := first.API.Top(ctx, registry.TopQuery{Search: sc, N: registry.MaxTop, Unverified: true})
	if err != nil {
		return err
	}
	falseVerified, liarResults, partial := 0, 0, false
	for _, bd := range boards {
		// A board lists at most registry.MaxTop architectures of each kind.
		partial = partial || bd.Verified+bd.Unverified > len(bd.Entries)
		for _, e := range bd.Entries {
			ac, err := cid.Parse(e.Arch)
			if err != nil {
				return err
			}
			ad, err := first.API.Arch(ctx, ac)
			if err != nil {
				return fmt.Errorf("arch %s: %w", e.Arch, err)
			}
			for _, t := range ad.Tasks {
				if t.Search != l.CID {
					continue
				}
				for _, r := range t.Results {
					if _, lie := liars[r.Executor]; lie {
						liarResults++
						if t.Verified && r.Accepted {
							falseVerified++
						}
					}
				}
			}
		}
	}
	st := det.Status
	fmt.Fprintf(w, "\nsearch %q finished in %s (%s)\n", l.Search.Name, elapsed.Round(time.Second), st.State)
	fmt.Fprintf(w, "  candidates evaluated  %d (budget %d)\n", st.Used, st.Budget)
	fmt.Fprintf(w, "  verified              %d tasks (%d disputed, %d pending)\n", st.Verified, st.Disputed, st.Pending)
	fmt.Fprintf(w, "  results               %d held: %d accepted, %d rejected; %d extra executions asked for after disagreements\n",
		rep.Results, rep.Accepted, rep.Rejected, rep.Extra)
	fmt.Fprintf(w, "  fabricated results    %d from demo liars, %d verified (false verifications)\n", liarResults, falseVerified)
	if partial {
		fmt.Fprintf(w, "                        (counted over the best %d verified and %d unverified architectures only)\n",
			registry.MaxTop, registry.MaxTop)
	}
	fmt.Fprintf(w, "  verification overhead %.2fx honest training compute per verified compute; time to verdict p50 %.1f s, p90 %.1f s\n",
		rep.Overhead, rep.VerdictSeconds.P50, rep.VerdictSeconds.P90)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NODE\tPEER\tROLE\tVERIFIED\tREJECTED\tDISPUTED\tTRUST\tRANK WEIGHT")
	byPeer := map[string]api.PeerReputation{}
	for _, p := range rep.Peers {
		byPeer[p.Peer] = p
	}
	for _, n := range d.Nodes() {
		role := "honest"
		if _, lie := liars[n.Info.PeerID]; lie {
			role = "DEMO LIAR"
		}
		p := byPeer[n.Info.PeerID]
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%d\t%d\t%.2f\t%.2f\n", n.Index, short(n.Info.PeerID), role, p.Verified, p.Rejected, p.Disputed, p.Trust, p.RankWeight)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if st.Best != nil {
		fmt.Fprintf(w, "  best architecture     %s  score %s  (%s)\n", st.Best.Spelling, search.FormatScore(st.Best.Score), st.Best.Arch)
	} else {
		fmt.Fprintln(w, "  best architecture     none verified")
	}
	if falseVerified > 0 {
		return errors.New("devnet: a fabricated score was verified")
	}
	return nil
}
