package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/search"
)

// The handlers of searches, the registry and verification. Each validates its path, query and
// body before it calls the Backend; a request that fails gets 400 and the Backend is not called.

func (s *Server) searchesRoot(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.listSearches(w, r)
	case http.MethodPost:
		s.launch(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "method", fmt.Sprintf("%s %s: use GET or POST", r.Method, r.URL.Path))
	}
}

// noQuery answers 400 (and returns false) when a request to an endpoint without parameters has a
// query.
func (s *Server) noQuery(w http.ResponseWriter, r *http.Request) bool {
	if _, err := decodeQuery(r.URL.RawQuery); err != nil {
		s.reply(w, r, nil, err)
		return false
	}
	return true
}

func (s *Server) launch(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	body, ok := readBodyN(w, r, MaxLaunchBody)
	if !ok {
		return
	}
	req, err := DecodeLaunch(body)
	if err != nil {
		s.reply(w, r, nil, err)
		return
	}
	resp, err := s.b.LaunchSearch(r.Context(), req)
	if err == nil && resp.Stored {
		writeJSON(w, http.StatusCreated, resp)
		return
	}
	s.reply(w, r, resp, err)
}

func (s *Server) listSearches(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	sts, err := s.b.Searches(r.Context())
	if sts == nil {
		sts = []search.Status{}
	}
	s.reply(w, r, sts, err)
}

func (s *Server) searchDetail(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	ref := r.PathValue("ref")
	if err := checkSearchRef(ref); err != nil {
		s.reply(w, r, nil, err)
		return
	}
	d, err := s.b.Search(r.Context(), ref)
	s.reply(w, r, d, err)
}

func (s *Server) joinSearch(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if err := decodeEmpty(body); err != nil {
		s.reply(w, r, nil, err)
		return
	}
	ref := r.PathValue("ref")
	if err := checkSearchRef(ref); err != nil {
		s.reply(w, r, nil, err)
		return
	}
	d, err := s.b.JoinSearch(r.Context(), ref)
	s.reply(w, r, d, err)
}

func (s *Server) top(w http.ResponseWriter, r *http.Request) {
	t, err := decodeTop(r.URL.RawQuery)
	if err != nil {
		s.reply(w, r, nil, err)
		return
	}
	boards, err := s.b.Top(r.Context(), t.Query, t.SearchName)
	if boards == nil && err == nil {
		boards = []registry.Board{}
	}
	s.reply(w, r, boards, err)
}

func (s *Server) arch(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	c, err := object.ParseCID(r.PathValue("cid"))
	if err != nil {
		s.reply(w, r, nil, fmt.Errorf("%w: architecture CID: %w", ErrInvalid, err))
		return
	}
	d, err := s.b.Arch(r.Context(), c)
	s.reply(w, r, d, err)
}

func (s *Server) lineage(w http.ResponseWriter, r *http.Request) {
	v, err := decodeQuery(r.URL.RawQuery, "search")
	if err != nil {
		s.reply(w, r, nil, err)
		return
	}
	c, err := object.ParseCID(r.PathValue("cid"))
	if err != nil {
		s.reply(w, r, nil, fmt.Errorf("%w: architecture CID: %w", ErrInvalid, err))
		return
	}
	ref := v["search"]
	if ref != "" {
		if err := checkSearchRef(ref); err != nil {
			s.reply(w, r, nil, err)
			return
		}
	}
	n, err := s.b.Lineage(r.Context(), c, ref)
	if err == nil && n == nil {
		err = fmt.Errorf("%w: architecture %s: no lineage", ErrNotFound, c)
	}
	s.reply(w, r, n, err)
}

func (s *Server) reputation(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	ps, err := s.b.Reputation(r.Context())
	if ps == nil {
		ps = []PeerReputation{}
	}
	s.reply(w, r, ps, err)
}

func (s *Server) verification(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	rep, err := s.b.Verification(r.Context())
	if rep.Peers == nil {
		rep.Peers = []PeerReputation{}
	}
	s.reply(w, r, rep, err)
}

// decodeEmpty accepts an empty body or an empty JSON object: what a POST without parameters
// carries.
func decodeEmpty(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v struct{}
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%w: body: %w (want {} or nothing)", ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: body: data after the object", ErrInvalid)
	}
	return nil
}
