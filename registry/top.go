package registry

import (
	"context"
	"fmt"
	"sort"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/consensus"
	"github.com/airanode/airanode/object"
)

// TopQuery selects a leaderboard.
type TopQuery struct {
	// Search restricts the board to one search's tasks (cid.Undef: every task held).
	Search cid.Cid
	// Protocol restricts it to one protocol (cid.Undef: every protocol, one board each).
	Protocol cid.Cid
	// N is the number of verified entries per board (0: DefaultTop; at most MaxTop).
	N int
	// Unverified also lists, after the verified entries and marked as such, the architectures
	// that have results but no verified score yet (up to N of them).
	Unverified bool
}

// Board is the leaderboard of one protocol: scores under different protocols do not compare.
type Board struct {
	Protocol     string `json:"protocol"`
	ProtocolName string `json:"protocol_name,omitempty"`
	// Metric is bench.MetricAccuracy (higher is better) or bench.MetricBPB (lower is better).
	Metric        string `json:"metric"`
	LowerIsBetter bool   `json:"lower_is_better,omitempty"`
	// Verified and Unverified count the architectures with and without a verified score (before
	// the cut at N).
	Verified   int `json:"verified"`
	Unverified int `json:"unverified"`
	// Entries are the verified architectures, best first (Rank 1, 2, ...), then, when asked, the
	// unverified ones (Rank 0, Verified false).
	Entries []Entry `json:"entries"`
}

// Entry is one architecture on a board.
type Entry struct {
	// Rank is the position among verified entries (from 1), 0 for an unverified entry.
	Rank int `json:"rank"`
	// Arch is the architecture's CID, Spelling its notation (arch.Print), Params its parameters
	// without the vocabulary-bound embeddings and head (the protocol binds them per setting).
	Arch     string `json:"arch"`
	Spelling string `json:"spelling"`
	Depth    int    `json:"depth"`
	Width    int    `json:"width"`
	Params   int64  `json:"params"`
	// Verified is true when Score is a verified score; otherwise Score is what its executors
	// claim (TaskOutcome.Claimed) and State says why it is not verified.
	Verified bool            `json:"verified"`
	State    consensus.State `json:"state"`
	Score    int64           `json:"score"`
	// Task is the task that gave the score (the best verified one), Search its search (if any),
	// Votes its voters; Tasks counts this architecture's tasks on the board.
	Task   string `json:"task"`
	Search string `json:"search,omitempty"`
	Votes  int    `json:"votes"`
	Tasks  int    `json:"tasks"`
}

// Top returns the leaderboards the query selects: one per protocol, in protocol CID order, each
// holding the best N architectures by verified score (one entry per architecture, its best
// verified task). Only verified scores rank; with q.Unverified the architectures without one
// follow, marked. An unknown search gives an empty result, not an error.
func (r *Registry) Top(ctx context.Context, q TopQuery) ([]Board, error) {
	if q.N == 0 {
		q.N = DefaultTop
	}
	if q.N < 0 || q.N > MaxTop {
		return nil, fmt.Errorf("%w: n = %d, want 1-%d", ErrInvalid, q.N, MaxTop)
	}
	var tasks []taskRef
	var err error
	if q.Search.Defined() {
		if err := object.CheckCID(q.Search); err != nil {
			return nil, fmt.Errorf("%w: search: %w", ErrInvalid, err)
		}
		tasks, err = r.searchTasks(ctx, q.Search)
	} else {
		tasks, err = r.allTasks(ctx)
	}
	if err != nil {
		return nil, err
	}
	type best struct {
		entry    Entry
		fitness  int64
		verified bool
	}
	type board struct {
		Board
		lower bool
		archs map[string]*best
	}
	boards := map[string]*board{}
	for _, t := range tasks {
		if q.Protocol.Defined() && t.task.Protocol != q.Protocol.String() {
			continue
		}
		o, _, err := r.taskOutcome(ctx, t.c, t.task)
		if err != nil {
			return nil, err
		}
		if !o.Verified && o.Results == 0 {
			continue // nothing to show yet
		}
		b := boards[t.task.Protocol]
		if b == nil {
			b = &board{Board: Board{Protocol: t.task.Protocol, Metric: bench.MetricAccuracy}, archs: map[string]*best{}}
			if p, ok := r.protocolOf(t.task.Protocol); ok {
				b.ProtocolName = p.Name
				b.lower = LowerIsBetter(p)
				if b.lower {
					b.Metric, b.LowerIsBetter = bench.MetricBPB, true
				}
			}
			boards[t.task.Protocol] = b
		}
		score := o.Score
		if !o.Verified {
			score = o.Claimed
		}
		fit := Fitness(score, b.lower)
		cur := b.archs[t.task.Arch]
		if cur == nil {
			cur = &best{}
			b.archs[t.task.Arch] = cur
		}
		cur.entry.Tasks++
		better := cur.entry.Task == "" ||
			o.Verified && !cur.verified ||
			o.Verified == cur.verified && (fit > cur.fitness || fit == cur.fitness && o.Task < cur.entry.Task)
		if better {
			tasks := cur.entry.Tasks
			cur.entry = Entry{Arch: t.task.Arch, Verified: o.Verified, State: o.State, Score: score,
				Task: o.Task, Search: t.task.Search, Votes: o.Votes, Tasks: tasks}
			cur.fitness, cur.verified = fit, o.Verified
		}
	}
	keys := make([]string, 0, len(boards))
	for k := range boards {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Board, 0, len(keys))
	for _, k := range keys {
		b := boards[k]
		var ver, unver []*best
		for _, e := range b.archs {
			if e.verified {
				ver = append(ver, e)
			} else {
				unver = append(unver, e)
			}
		}
		order := func(s []*best) {
			sort.Slice(s, func(i, j int) bool {
				if s[i].fitness != s[j].fitness {
					return s[i].fitness > s[j].fitness
				}
				return s[i].entry.Arch < s[j].entry.Arch
			})
		}
		order(ver)
		order(unver)
		b.Verified, b.Unverified = len(ver), len(unver)
		if len(ver) > q.N {
			ver = ver[:q.N]
		}
		if len(unver) > q.N {
			unver = unver[:q.N]
		}
		if !q.Unverified {
			unver = nil
		}
		b.Entries = make([]Entry, 0, len(ver)+len(unver))
		for i, e := range ver {
			e.entry.Rank = i + 1
			b.Entries = append(b.Entries, r.describe(e.entry))
		}
		for _, e := range unver {
			b.Entries = append(b.Entries, r.describe(e.entry))
		}
		out = append(out, b.Board)
	}
	return out, nil
}

// describe fills an entry's architecture fields from the architecture object, when held.
func (r *Registry) describe(e Entry) Entry {
	c, err := object.ParseCID(e.Arch)
	if err != nil {
		return e
	}
	a, err := r.loadArch(c)
	if err != nil {
		return e
	}
	e.Spelling, e.Depth, e.Width = arch.Print(a), len(a.Layers), a.Width
	if n, err := arch.Params(a); err == nil {
		e.Params = n
	}
	return e
}
