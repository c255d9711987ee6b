package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/search"
)

// LaunchSearch launches a search on the node (or, with req.DryRun, checks and signs it only).
func (c *Client) LaunchSearch(ctx context.Context, req LaunchRequest) (LaunchResponse, error) {
	var r LaunchResponse
	if err := req.Check(); err != nil {
		return r, err
	}
	return r, c.do(ctx, http.MethodPost, "/v1/searches", req, &r)
}

// Searches lists the searches the node holds, with their progress.
func (c *Client) Searches(ctx context.Context) ([]search.Status, error) {
	var sts []search.Status
	return sts, c.do(ctx, http.MethodGet, "/v1/searches", nil, &sts)
}

// Search returns one search by name or CID.
func (c *Client) Search(ctx context.Context, ref string) (SearchDetail, error) {
	var d SearchDetail
	if err := checkSearchRef(ref); err != nil {
		return d, err
	}
	return d, c.do(ctx, http.MethodGet, "/v1/searches/"+url.PathEscape(ref), nil, &d)
}

// JoinSearch makes the node run the agents of a search it holds (by name or CID) too.
func (c *Client) JoinSearch(ctx context.Context, ref string) (SearchDetail, error) {
	var d SearchDetail
	if err := checkSearchRef(ref); err != nil {
		return d, err
	}
	return d, c.do(ctx, http.MethodPost, "/v1/searches/"+url.PathEscape(ref)+"/join", struct{}{}, &d)
}

// Top returns the leaderboards q selects (q.N 0 means registry.DefaultTop).
func (c *Client) Top(ctx context.Context, q registry.TopQuery) ([]registry.Board, error) {
	var boards []registry.Board
	if q.N < 0 || q.N > registry.MaxTop {
		return nil, fmt.Errorf("%w: n %d, want 1-%d", ErrInvalid, q.N, registry.MaxTop)
	}
	v := url.Values{}
	if q.Search.Defined() {
		v.Set("search", q.Search.String())
	}
	if q.Protocol.Defined() {
		v.Set("protocol", q.Protocol.String())
	}
	if q.N != 0 {
		v.Set("n", strconv.Itoa(q.N))
	}
	if q.Unverified {
		v.Set("unverified", "1")
	}
	path := "/v1/registry/top"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	return boards, c.do(ctx, http.MethodGet, path, nil, &boards)
}

// Arch returns an architecture's detail: its pattern, size, tasks, verdicts and proposals.
func (c *Client) Arch(ctx context.Context, arch cid.Cid) (registry.ArchDetail, error) {
	var d registry.ArchDetail
	if !arch.Defined() {
		return d, fmt.Errorf("%w: no architecture CID", ErrInvalid)
	}
	return d, c.do(ctx, http.MethodGet, "/v1/registry/arch/"+url.PathEscape(arch.String()), nil, &d)
}

// Lineage returns an architecture's ancestry, restricted to one search (name or CID) unless
// search is "".
func (c *Client) Lineage(ctx context.Context, arch cid.Cid, search string) (*registry.LineageNode, error) {
	if !arch.Defined() {
		return nil, fmt.Errorf("%w: no architecture CID", ErrInvalid)
	}
	path := "/v1/registry/lineage/" + url.PathEscape(arch.String())
	if search != "" {
		if err := checkSearchRef(search); err != nil {
			return nil, err
		}
		path += "?" + url.Values{"search": {search}}.Encode()
	}
	var n registry.LineageNode
	if err := c.do(ctx, http.MethodGet, path, nil, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// Reputation lists the verification record of every peer the node has one of.
func (c *Client) Reputation(ctx context.Context) ([]PeerReputation, error) {
	var ps []PeerReputation
	return ps, c.do(ctx, http.MethodGet, "/v1/reputation", nil, &ps)
}

// Verification returns the node's verification report.
func (c *Client) Verification(ctx context.Context) (VerificationReport, error) {
	var r VerificationReport
	return r, c.do(ctx, http.MethodGet, "/v1/verification", nil, &r)
}
