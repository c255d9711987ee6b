package gpucore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/store"
	"github.com/airanode/airanode/tasks"
)

// StoreBlocks is the node's store as a Supervisor's Blocks, keeping blocks as the node's CPU
// trainer does: checkpoints for Retention and scores for good, both indexed under their task
// (store.IndexTask). It is safe for concurrent use.
type StoreBlocks struct {
	// Store holds the blocks; the caller owns it.
	Store *store.Store
	// Fetch, when not nil, fetches missing blocks from peers into Store.
	Fetch func(ctx context.Context, cids []cid.Cid) error
	// Retention is how long checkpoints are kept: 0 means tasks.DefaultRetention.
	Retention time.Duration
}

var _ Blocks = (*StoreBlocks)(nil)

// Get returns block c from the store, fetching it from peers when it is missing there.
func (b *StoreBlocks) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := b.Store.Get(c)
	if errors.Is(err, store.ErrNotFound) && b.Fetch != nil {
		if ferr := b.Fetch(ctx, []cid.Cid{c}); ferr != nil {
			return nil, fmt.Errorf("%w (and from peers: %w)", err, ferr)
		}
		return b.Store.Get(c)
	}
	return data, err
}

// PutCheckpoint keeps a checkpoint of task for the retention window.
func (b *StoreBlocks) PutCheckpoint(_ context.Context, task, c cid.Cid, data []byte) error {
	ttl := b.Retention
	if ttl <= 0 {
		ttl = tasks.DefaultRetention
	}
	o := store.PutOptions{TTL: ttl}
	if err := b.Store.PutWith(c, data, o); err != nil {
		return err
	}
	return b.Store.IndexWith(store.IndexTask, task.String(), c, o)
}

// PutScores keeps the scores of task.
func (b *StoreBlocks) PutScores(_ context.Context, task, c cid.Cid, data []byte) error {
	if err := b.Store.Put(c, data); err != nil {
		return err
	}
	return b.Store.Index(store.IndexTask, task.String(), c)
}
