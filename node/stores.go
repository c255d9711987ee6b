package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/p2p"
	"github.com/airanode/airanode/store"
)

// maxPrefetch bounds the object prefetches running at once; offers beyond it are fetched when
// claimed.
const maxPrefetch = 4

// blockStore adapts the store to p2p.BlockStore: block exchange answers from it and stores what
// it fetches (store.Put verifies every block against its CID).
type blockStore struct{ st *store.Store }

func (b blockStore) Get(c cid.Cid) ([]byte, error) {
	data, err := b.st.Get(c)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", p2p.ErrNotFound, err)
	}
	return data, err
}

func (b blockStore) Has(c cid.Cid) (bool, error) { return b.st.Has(c) }

func (b blockStore) Put(c cid.Cid, data []byte) error { return b.st.Put(c, data) }

// syncIndex adapts the store's indexes to p2p.SearchIndex: TasksSyncKey lists the network's
// offers and results outside searches; a search CID lists the search's objects.
type syncIndex struct {
	st      *store.Store
	network string
}

func (x syncIndex) ListSearch(search, after string, limit int) ([]cid.Cid, string, error) {
	if search == TasksSyncKey {
		return x.st.Scan(netIndex, x.network, after, limit)
	}
	if _, err := object.ParseCID(search); err != nil {
		return nil, "", fmt.Errorf("%w: sync key %q is neither %q nor a search CID", p2p.ErrMalformed, search, TasksSyncKey)
	}
	return x.st.Scan(store.IndexSearch, search, after, limit)
}

// missing returns the CIDs of cids that the store does not hold.
func (n *Node) missing(cids []cid.Cid) []cid.Cid {
	var out []cid.Cid
	for _, c := range cids {
		if ok, err := n.store.Has(c); err != nil || !ok {
			out = append(out, c)
		}
	}
	return out
}

// fetch makes sure the store holds cids, fetching what it lacks from from (when not empty) and
// then from every connected peer. Fetched blocks are verified and stored.
func (n *Node) fetch(ctx context.Context, from peer.ID, cids []cid.Cid) error {
	want := n.missing(cids)
	if len(want) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.o.fetchTimeout)
	defer cancel()
	if from != "" && from != n.id {
		if _, err := n.host.Blocks().Fetch(ctx, from, want); err == nil {
			return nil
		}
		if want = n.missing(want); len(want) == 0 {
			return nil
		}
	}
	fs, err := n.host.Blocks().FetchAny(ctx, want, 0)
	if err != nil {
		return fmt.Errorf("fetch %d objects from peers: %w", len(want), err)
	}
	for _, f := range fs {
		if f.Err != nil {
			return fmt.Errorf("fetch %s: %w", f.CID, f.Err)
		}
	}
	n.stats.fetched(len(fs))
	return nil
}

// prefetch fetches, in the background, the architecture and protocol objects of an offered task
// that the store lacks, so that a claim can start training at once. At most maxPrefetch run at
// once; beyond that the Trainer fetches them when it runs the task.
func (n *Node) prefetch(t object.Task, from peer.ID) {
	var cids []cid.Cid
	for _, s := range []string{t.Arch, t.Protocol} {
		if c, err := object.ParseCID(s); err == nil {
			cids = append(cids, c)
		}
	}
	if len(n.missing(cids)) == 0 {
		return
	}
	select {
	case n.prefetchSem <- struct{}{}:
	default:
		return
	}
	started := n.group.Go(func() {
		defer func() { <-n.prefetchSem }()
		if err := n.fetch(n.ctx, from, cids); err != nil && n.ctx.Err() == nil {
			n.log.Debug("prefetch", "arch", t.Arch, "protocol", t.Protocol, "err", err)
		}
	})
	if !started {
		<-n.prefetchSem
	}
}
