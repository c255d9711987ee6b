package registry

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/object"
)

// Bounds of a lineage.
const (
	// MaxLineageDepth is how many generations Lineage follows.
	MaxLineageDepth = 64
	// MaxLineageNodes is how many architectures one lineage shows.
	MaxLineageNodes = 512
)

// LineageNode is one architecture in a lineage tree.
type LineageNode struct {
	Arch string `json:"arch"`
	// Spelling is the architecture's notation, when its object is held.
	Spelling string `json:"spelling,omitempty"`
	// Verified reports a verified score (the best of its tasks, in the search when the lineage is
	// restricted to one); Score is that score.
	Verified bool  `json:"verified"`
	Score    int64 `json:"score,omitempty"`
	// Proposal is the proposal followed (the first in CID order; nil for a root no proposal names,
	// e.g. a hand-submitted task).
	Proposal *ProposalInfo `json:"proposal,omitempty"`
	// Parents are the proposal's parents, expanded in turn.
	Parents []*LineageNode `json:"parents,omitempty"`
	// Repeat marks an architecture already expanded elsewhere in the tree (shared ancestor, or a
	// cycle of forged proposals); its parents are not repeated.
	Repeat bool `json:"repeat,omitempty"`
	// Truncated marks a node past MaxLineageDepth or MaxLineageNodes: its parents are not shown.
	Truncated bool `json:"truncated,omitempty"`
}

// Lineage returns the ancestry of architecture a as recorded by proposals: a's proposal, its
// parents' proposals, and so on, up to MaxLineageDepth generations and MaxLineageNodes nodes.
// With search defined only that search's proposals and verified scores count. An architecture
// with neither an object, a task nor a proposal held gives ErrNotFound.
func (r *Registry) Lineage(ctx context.Context, a, search cid.Cid) (*LineageNode, error) {
	if err := object.CheckCID(a); err != nil {
		return nil, fmt.Errorf("%w: arch: %w", ErrInvalid, err)
	}
	if search.Defined() {
		if err := object.CheckCID(search); err != nil {
			return nil, fmt.Errorf("%w: search: %w", ErrInvalid, err)
		}
	}
	seen := map[string]bool{}
	count := 0
	var walk func(c cid.Cid, depth int) (*LineageNode, error)
	walk = func(c cid.Cid, depth int) (*LineageNode, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := &LineageNode{Arch: c.String()}
		count++
		if m, err := r.loadArch(c); err == nil {
			n.Spelling = arch.Print(m)
		}
		score, ok, err := r.bestVerified(ctx, c, search)
		if err != nil {
			return nil, err
		}
		n.Score, n.Verified = score, ok
		if seen[c.KeyString()] {
			n.Repeat = true
			return n, nil
		}
		seen[c.KeyString()] = true
		ps, err := r.proposals(ctx, c, search)
		if err != nil {
			return nil, err
		}
		if len(ps) == 0 {
			return n, nil
		}
		n.Proposal = &ps[0]
		if len(ps[0].Parents) == 0 {
			return n, nil
		}
		if depth >= MaxLineageDepth || count >= MaxLineageNodes {
			n.Truncated = true
			return n, nil
		}
		for _, pc := range ps[0].Parents {
			p, err := object.ParseCID(pc)
			if err != nil {
				continue // Validate checked it; defensive
			}
			if count >= MaxLineageNodes {
				n.Truncated = true
				break
			}
			child, err := walk(p, depth+1)
			if err != nil {
				return nil, err
			}
			n.Parents = append(n.Parents, child)
		}
		return n, nil
	}
	root, err := walk(a, 0)
	if err != nil {
		return nil, err
	}
	if root.Spelling == "" && root.Proposal == nil && !root.Verified {
		ts, err := r.archTasks(ctx, a)
		if err != nil {
			return nil, err
		}
		if len(ts) == 0 {
			return nil, fmt.Errorf("%w: architecture %s: no object, task or proposal held", ErrNotFound, a)
		}
	}
	return root, nil
}

// bestVerified returns the best verified score of architecture a (in search, when defined).
func (r *Registry) bestVerified(ctx context.Context, a, search cid.Cid) (int64, bool, error) {
	ts, err := r.archTasks(ctx, a)
	if err != nil {
		return 0, false, err
	}
	var best int64
	found := false
	for _, t := range ts {
		if search.Defined() && t.task.Search != search.String() {
			continue
		}
		o, _, err := r.taskOutcome(ctx, t.c, t.task)
		if err != nil {
			return 0, false, err
		}
		if !o.Verified {
			continue
		}
		p, _ := r.protocolOf(t.task.Protocol)
		lower := LowerIsBetter(p)
		if !found || Fitness(o.Score, lower) > Fitness(best, lower) {
			best, found = o.Score, true
		}
	}
	return best, found, nil
}
