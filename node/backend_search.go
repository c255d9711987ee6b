package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/search"
)

// apiError maps the registry's and the search package's errors onto the API's.
func apiError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registry.ErrNotFound):
		return fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, registry.ErrInvalid), errors.Is(err, registry.ErrAmbiguous), errors.Is(err, search.ErrSpec):
		return fmt.Errorf("%w: %w", api.ErrInvalid, err)
	}
	return err
}

func (b backend) LaunchSearch(ctx context.Context, req api.LaunchRequest) (api.LaunchResponse, error) {
	return b.n.LaunchSearch(ctx, req)
}

func (b backend) Searches(ctx context.Context) ([]search.Status, error) {
	infos, err := registry.Searches(b.n.store)
	if err != nil {
		return nil, err
	}
	out := make([]search.Status, 0, len(infos))
	for _, info := range infos {
		st, _, err := b.n.searches.status(ctx, info)
		if err != nil {
			return nil, apiError(err)
		}
		out = append(out, st)
	}
	return out, nil
}

func (b backend) Search(ctx context.Context, ref string) (api.SearchDetail, error) {
	info, err := registry.FindSearch(b.n.store, ref)
	if err != nil {
		return api.SearchDetail{}, apiError(err)
	}
	return b.n.searches.detail(ctx, info)
}

func (b backend) JoinSearch(ctx context.Context, ref string) (api.SearchDetail, error) {
	return b.n.JoinSearch(ctx, ref)
}

func (b backend) Top(ctx context.Context, q registry.TopQuery, search string) ([]registry.Board, error) {
	boards, err := b.n.registry.TopIn(ctx, q, search)
	return boards, apiError(err)
}

func (b backend) Arch(ctx context.Context, a cid.Cid) (registry.ArchDetail, error) {
	d, err := b.n.registry.Show(ctx, a)
	return d, apiError(err)
}

func (b backend) Lineage(ctx context.Context, a cid.Cid, ref string) (*registry.LineageNode, error) {
	n, err := b.n.registry.LineageIn(ctx, a, ref)
	return n, apiError(err)
}

func (b backend) Reputation(context.Context) ([]api.PeerReputation, error) {
	return b.n.verifier.reputation()
}

func (b backend) Verification(ctx context.Context) (api.VerificationReport, error) {
	return b.n.Verification(ctx)
}
