package registry

import (
	"context"
	"fmt"
	"sort"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// The registry's own indexes.
const (
	// IndexSearches maps a search name to the CIDs of the sealed searches of that name (names are
	// labels, not identities: several searches may share one).
	IndexSearches store.IndexName = "searches"
	// IndexProposals maps an architecture CID to the CIDs of the sealed proposals of it.
	IndexProposals store.IndexName = "proposal"
)

// SearchInfo is a search the store holds: its CID, its launcher-signed object.
type SearchInfo struct {
	CID    string        `json:"cid"`
	Search object.Search `json:"search"`
}

// PutSearch checks a search envelope (object.OpenSearch: signature, strict decoding, bounds,
// signer = launcher), stores it under its sealed CID (synced to disk when sync is set, as for
// objects this node signs) and files it under IndexSearches (its name), store.IndexSearch (its own
// CID, so a sync of the search lists it) and store.IndexAuthor. It is idempotent. Errors wrap an
// object sentinel for bad envelopes, or a store error.
func PutSearch(st *store.Store, env []byte, sync bool) (cid.Cid, object.Search, error) {
	sg, err := openSmall(env)
	if err != nil {
		return cid.Undef, object.Search{}, err
	}
	return putSearch(st, env, sg, sync)
}

// putSearch is PutSearch for an envelope already opened (sg) and checked against the size cap.
func putSearch(st *store.Store, env []byte, sg object.Signed, sync bool) (cid.Cid, object.Search, error) {
	s, err := object.SearchOf(sg)
	if err != nil {
		return cid.Undef, object.Search{}, err
	}
	c := object.ObjectCID(sg.Data) // the sealed CID
	err = putSealed(st, env, c, sync, "search",
		indexEntry{IndexSearches, s.Name}, indexEntry{store.IndexSearch, c.String()}, indexEntry{store.IndexAuthor, s.Launcher})
	if err != nil {
		return cid.Undef, object.Search{}, err
	}
	return c, s, nil
}

// PutProposal checks a proposal envelope (object.OpenProposal), stores it under its sealed CID
// and files it under IndexProposals (its architecture), store.IndexSearch (its search) and
// store.IndexAuthor (its proposer). It is idempotent. The search need not be held yet (gossip
// may bring a proposal before its search).
func PutProposal(st *store.Store, env []byte, sync bool) (cid.Cid, object.Proposal, error) {
	sg, err := openSmall(env)
	if err != nil {
		return cid.Undef, object.Proposal{}, err
	}
	return putProposal(st, env, sg, sync)
}

// putProposal is PutProposal for an envelope already opened (sg) and checked against the size cap.
func putProposal(st *store.Store, env []byte, sg object.Signed, sync bool) (cid.Cid, object.Proposal, error) {
	p, err := object.ProposalOf(sg)
	if err != nil {
		return cid.Undef, object.Proposal{}, err
	}
	c := object.ObjectCID(sg.Data) // the sealed CID
	err = putSealed(st, env, c, sync, "proposal",
		indexEntry{IndexProposals, p.Arch}, indexEntry{store.IndexSearch, p.Search}, indexEntry{store.IndexAuthor, p.Proposer})
	if err != nil {
		return cid.Undef, object.Proposal{}, err
	}
	return c, p, nil
}

// indexEntry is one index key to file an object under.
type indexEntry struct {
	ix  store.IndexName
	key string
}

// putSealed stores a checked envelope under its sealed CID c (synced when sync is set) and files c
// under each entry. what names the object in errors.
func putSealed(st *store.Store, env []byte, c cid.Cid, sync bool, what string, entries ...indexEntry) error {
	if err := st.PutWith(c, env, store.PutOptions{Sync: sync}); err != nil {
		return fmt.Errorf("store %s: %w", what, err)
	}
	for _, e := range entries {
		if err := st.Index(e.ix, e.key, c); err != nil {
			return fmt.Errorf("index %s: %w", what, err)
		}
	}
	return nil
}

// openSmall opens a search or proposal envelope, refusing one over object.MaxSearchEnvelope
// before checking its signature.
func openSmall(env []byte) (object.Signed, error) {
	if len(env) > object.MaxSearchEnvelope {
		return object.Signed{}, fmt.Errorf("open envelope: %d bytes, cap %d: %w", len(env), object.MaxSearchEnvelope, object.ErrTooLarge)
	}
	return object.OpenAny(env)
}

// Ingest stores a search or proposal envelope from the network with PutSearch or PutProposal,
// by its kind. Other kinds give an error wrapping object.ErrKind. Oversized bytes are refused
// before any signature check (both kinds share object.MaxSearchEnvelope), and the signature is
// checked once.
func Ingest(st *store.Store, env []byte) (object.Kind, cid.Cid, error) {
	s, err := openSmall(env)
	if err != nil {
		return "", cid.Undef, err
	}
	if s.Kind != object.KindSearch && s.Kind != object.KindProposal {
		return s.Kind, cid.Undef, fmt.Errorf("ingest: %w: %q is neither a search nor a proposal", object.ErrKind, s.Kind)
	}
	var c cid.Cid
	if s.Kind == object.KindSearch {
		c, _, err = putSearch(st, env, s, false)
	} else {
		c, _, err = putProposal(st, env, s, false)
	}
	return s.Kind, c, err
}

// Searches lists every search the store holds, by name and then CID.
func Searches(st *store.Store) ([]SearchInfo, error) {
	var out []SearchInfo
	after := ""
	for {
		es, next, err := st.ScanAll(IndexSearches, after, store.MaxScanLimit)
		if err != nil {
			return nil, fmt.Errorf("list searches: %w", err)
		}
		for _, e := range es {
			s, err := LoadSearch(st, e.CID)
			if err != nil {
				continue // an entry whose block is gone or bad is not a search we hold
			}
			out = append(out, SearchInfo{CID: e.CID.String(), Search: s})
		}
		if next == "" {
			break
		}
		after = next
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Search.Name != out[j].Search.Name {
			return out[i].Search.Name < out[j].Search.Name
		}
		return out[i].CID < out[j].CID
	})
	return out, nil
}

// LoadSearch reads and opens the search named c. One the store does not hold is ErrNotFound.
func LoadSearch(st *store.Store, c cid.Cid) (object.Search, error) {
	b, err := getBlock(st, c, "search")
	if err != nil {
		return object.Search{}, err
	}
	s, err := object.OpenSearch(b)
	if err != nil {
		return object.Search{}, fmt.Errorf("search %s: %w", c, err)
	}
	return s, nil
}

// searchCID is FindSearch's CID for a query filter: cid.Undef (no filter) for an empty ref.
func searchCID(st *store.Store, ref string) (cid.Cid, error) {
	if ref == "" {
		return cid.Undef, nil
	}
	info, err := FindSearch(st, ref)
	if err != nil {
		return cid.Undef, err
	}
	return object.ParseCID(info.CID)
}

// TopIn is Top over the search ref names (a name or CID, resolved as searchCID does); an empty ref
// leaves q.Search as it is.
func (r *Registry) TopIn(ctx context.Context, q TopQuery, ref string) ([]Board, error) {
	if ref != "" {
		var err error
		if q.Search, err = searchCID(r.st, ref); err != nil {
			return nil, err
		}
	}
	return r.Top(ctx, q)
}

// LineageIn is Lineage within the search ref names (a name or CID; empty: every search).
func (r *Registry) LineageIn(ctx context.Context, a cid.Cid, ref string) (*LineageNode, error) {
	sc, err := searchCID(r.st, ref)
	if err != nil {
		return nil, err
	}
	return r.Lineage(ctx, a, sc)
}

// FindSearch resolves a reference to a search the store holds: a search CID, or a name. A name
// shared by several searches is ambiguous (ErrAmbiguous, listing their CIDs); an unknown one is
// ErrNotFound.
func FindSearch(st *store.Store, ref string) (SearchInfo, error) {
	if ref == "" {
		return SearchInfo{}, fmt.Errorf("%w: empty search reference", ErrInvalid)
	}
	if c, err := object.ParseCID(ref); err == nil {
		s, err := LoadSearch(st, c)
		if err != nil {
			return SearchInfo{}, err
		}
		return SearchInfo{CID: c.String(), Search: s}, nil
	}
	if len(ref) > store.MaxIndexKey {
		return SearchInfo{}, fmt.Errorf("%w: search name of %d bytes", ErrInvalid, len(ref))
	}
	cids, _, err := st.Scan(IndexSearches, ref, "", store.MaxScanLimit)
	if err != nil {
		return SearchInfo{}, fmt.Errorf("%w: search %q: %w", ErrInvalid, ref, err)
	}
	var found []SearchInfo
	for _, c := range cids {
		if s, err := LoadSearch(st, c); err == nil {
			found = append(found, SearchInfo{CID: c.String(), Search: s})
		}
	}
	switch len(found) {
	case 0:
		return SearchInfo{}, fmt.Errorf("%w: no search named %q (and it is not a search CID)", ErrNotFound, ref)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, f := range found {
		names[i] = f.CID
	}
	return SearchInfo{}, fmt.Errorf("%w: %d searches are named %q: give one of their CIDs: %v", ErrAmbiguous, len(found), ref, names)
}
