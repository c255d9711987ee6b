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
	boards := map[string]*topBoard{}
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
			b = r.newTopBoard(t.task.Protocol)
			boards[t.task.Protocol] = b
		}
		b.add(t.task, o)
	}
	keys := make([]string, 0, len(boards))
	for k := range boards {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Board, 0, len(keys))
	for _, k := range keys {
		out = append(out, boards[k].finish(q, r.describe))
	}
	return out, nil
}

// topBoard is one protocol's board while Top reads the tasks: each architecture's best task so far.
type topBoard struct {
	Board
	lower bool // the protocol's metric is lower-is-better
	archs map[string]*topBest
}

// topBest is an architecture's best task on a board so far.
type topBest struct {
	entry    Entry
	fitness  int64
	verified bool
}

// newTopBoard starts the board of protocol p (named, and with its metric, when the protocol object
// is held).
func (r *Registry) newTopBoard(p string) *topBoard {
	b := &topBoard{Board: Board{Protocol: p, Metric: bench.MetricAccuracy}, archs: map[string]*topBest{}}
	if pr, ok := r.protocolOf(p); ok {
		b.ProtocolName = pr.Name
		b.lower = LowerIsBetter(pr)
		if b.lower {
			b.Metric, b.LowerIsBetter = bench.MetricBPB, true
		}
	}
	return b
}

// add counts task's outcome o for its architecture, keeping the architecture's best task: a
// verified one over an unverified one, then the better fitness, then the smaller task CID.
func (b *topBoard) add(task object.Task, o TaskOutcome) {
	score := o.Score
	if !o.Verified {
		score = o.Claimed
	}
	fit := Fitness(score, b.lower)
	cur := b.archs[task.Arch]
	if cur == nil {
		cur = &topBest{}
		b.archs[task.Arch] = cur
	}
	cur.entry.Tasks++
	better := cur.entry.Task == "" ||
		o.Verified && !cur.verified ||
		o.Verified == cur.verified && (fit > cur.fitness || fit == cur.fitness && o.Task < cur.entry.Task)
	if better {
		tasks := cur.entry.Tasks
		cur.entry = Entry{Arch: task.Arch, Verified: o.Verified, State: o.State, Score: score,
			Task: o.Task, Search: task.Search, Votes: o.Votes, Tasks: tasks}
		cur.fitness, cur.verified = fit, o.Verified
	}
}

// finish ranks the board: the verified architectures by fitness (then architecture CID), the best
// q.N of them numbered from 1, then, with q.Unverified, the best q.N unverified ones, unnumbered;
// describe fills each entry's architecture fields.
func (b *topBoard) finish(q TopQuery, describe func(Entry) Entry) Board {
	var ver, unver []*topBest
	for _, e := range b.archs {
		if e.verified {
			ver = append(ver, e)
		} else {
			unver = append(unver, e)
		}
	}
	order := func(s []*topBest) {
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
	ver, unver = ver[:min(len(ver), q.N)], unver[:min(len(unver), q.N)]
	if !q.Unverified {
		unver = nil
	}
	b.Entries = make([]Entry, 0, len(ver)+len(unver))
	for i, e := range ver {
		e.entry.Rank = i + 1
		b.Entries = append(b.Entries, describe(e.entry))
	}
	for _, e := range unver {
		b.Entries = append(b.Entries, describe(e.entry))
	}
	return b.Board
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
