package p2p

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-varint"

	"github.com/airanode/airanode/object"
)

// Wire format of the stream protocols (docs/protocol.md has the full specification).
//
// A stream carries frames. A frame is one type byte, the payload length as a minimal uvarint, and
// the payload. Every reader states the largest payload it accepts before anything is allocated.
// Inside payloads, CIDs and strings are a minimal uvarint length followed by the bytes, and
// payloads must be consumed exactly: trailing bytes are malformed.

// Frame types.
const (
	frameBlockRequest byte = 0x01 // requester → responder: the CIDs wanted
	frameBlock        byte = 0x02 // responder → requester: one block
	frameMissing      byte = 0x03 // responder → requester: one CID not served, with a Status
	frameSyncRequest  byte = 0x10 // requester → responder: search, cursor, limit
	frameSyncPage     byte = 0x11 // responder → requester: CIDs and the next cursor
	frameError        byte = 0x7f // responder → requester: the whole request failed, with a Status
)

// Caps of the wire format, independent of configuration.
const (
	// MaxCIDBytes is the longest binary CID accepted (a CIDv1 sha2-256 is 36 bytes).
	MaxCIDBytes = 128
	// MaxSearchBytes is the longest search key in a sync request.
	MaxSearchBytes = 256
	// MaxCursorBytes is the longest paging cursor.
	MaxCursorBytes = 512
	// MaxErrorText is the longest message in an error frame.
	MaxErrorText = 256
	// HardMaxWant is the most CIDs any block request may carry, whatever the configuration.
	HardMaxWant = 1024
	// HardMaxPage is the most CIDs any sync page may carry, whatever the configuration.
	HardMaxPage = 4096
)

// Status says why a block (or a whole request) was not served.
type Status byte

// Status values. Unknown values decode as StatusRefused.
const (
	StatusNotFound    Status = 1 // the responder does not hold the block
	StatusTooLarge    Status = 2 // the block is over the responder's cap
	StatusRateLimited Status = 3 // the requester exceeded its rate limit
	StatusRefused     Status = 4 // bad request or internal error
)

// Err returns the sentinel error for s.
func (s Status) Err() error {
	switch s {
	case StatusNotFound:
		return ErrNotFound
	case StatusTooLarge:
		return ErrTooLarge
	case StatusRateLimited:
		return ErrRateLimited
	default:
		return ErrRefused
	}
}

func (s Status) String() string {
	switch s {
	case StatusNotFound:
		return "not-found"
	case StatusTooLarge:
		return "too-large"
	case StatusRateLimited:
		return "rate-limited"
	case StatusRefused:
		return "refused"
	default:
		return fmt.Sprintf("status-%d", byte(s))
	}
}

// readFrame reads one frame whose payload is at most max bytes. It never allocates more than the
// announced length, and only after checking it against max.
func readFrame(r *bufio.Reader, max int) (byte, []byte, error) {
	typ, err := r.ReadByte()
	if err != nil {
		return 0, nil, err // io.EOF before a frame is a clean end
	}
	n, err := varint.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, fmt.Errorf("%w: frame length: %w", ErrMalformed, err)
	}
	if n > uint64(max) {
		return 0, nil, fmt.Errorf("%w: frame 0x%02x of %d bytes, cap %d", ErrTooLarge, typ, n, max)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, fmt.Errorf("%w: frame 0x%02x payload: %w", ErrMalformed, typ, err)
	}
	return typ, p, nil
}

// writeFrame writes a frame whose payload is the concatenation of parts.
func writeFrame(w *bufio.Writer, typ byte, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var hdr [1 + varint.MaxLenUvarint63]byte
	hdr[0] = typ
	k := varint.PutUvarint(hdr[1:], uint64(n))
	if _, err := w.Write(hdr[:1+k]); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// payloadReader consumes a payload field by field.
type payloadReader struct {
	b   []byte
	err error
}

func (r *payloadReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (r *payloadReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n, err := varint.FromUvarint(r.b)
	if err != nil {
		r.fail("%s: %v", what, err)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *payloadReader) bytes(what string, max int) []byte {
	n := r.uvarint(what + " length")
	if r.err != nil {
		return nil
	}
	if n > uint64(max) {
		r.fail("%s: %d bytes, cap %d", what, n, max)
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("%s: %d bytes, %d left", what, n, len(r.b))
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *payloadReader) cid(what string) cid.Cid {
	b := r.bytes(what, MaxCIDBytes)
	if r.err != nil {
		return cid.Undef
	}
	c, err := object.CastCID(b)
	if err != nil {
		r.fail("%s: %v", what, err)
		return cid.Undef
	}
	// cid.Cast accepts some non-minimal forms; insist on the one encoding so that a frame has one meaning.
	if string(c.Bytes()) != string(b) {
		r.fail("%s: non-canonical CID bytes", what)
		return cid.Undef
	}
	return c
}

func (r *payloadReader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// blockRequest is the payload of frameBlockRequest: uvarint count, then count CIDs.
type blockRequest struct {
	CIDs []cid.Cid
}

func (m blockRequest) encode() []byte { return appendCIDs(nil, m.CIDs) }

// appendCIDs appends a CID list: a uvarint count, then each CID.
func appendCIDs(dst []byte, cids []cid.Cid) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(cids)))
	for _, c := range cids {
		dst = appendBytes(dst, c.Bytes())
	}
	return dst
}

// cids reads n CIDs (a count already read and bounded by the caller).
func (r *payloadReader) cids(n uint64) []cid.Cid {
	out := make([]cid.Cid, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		out = append(out, r.cid("cid"))
	}
	return out
}

// decodeBlockRequest decodes a block request of 1 to maxWant allowed CIDs.
func decodeBlockRequest(p []byte, maxWant int) (blockRequest, error) {
	r := payloadReader{b: p}
	n := r.uvarint("count")
	if r.err == nil && (n == 0 || n > uint64(maxWant)) {
		r.fail("count %d, want 1..%d", n, maxWant)
	}
	if r.err != nil {
		return blockRequest{}, r.err
	}
	m := blockRequest{CIDs: r.cids(n)}
	if err := r.end(); err != nil {
		return blockRequest{}, err
	}
	return m, nil
}

// blockHeader encodes the CID part of a frameBlock payload; the block bytes follow it.
func blockHeader(c cid.Cid) []byte { return appendBytes(nil, c.Bytes()) }

// decodeBlock decodes a frameBlock payload into its CID and data (a sub-slice of p). The data is
// not verified here.
func decodeBlock(p []byte) (cid.Cid, []byte, error) {
	r := payloadReader{b: p}
	c := r.cid("cid")
	if r.err != nil {
		return cid.Undef, nil, r.err
	}
	return c, r.b, nil
}

// encodeMissing encodes a frameMissing payload: a CID and a status byte.
func encodeMissing(c cid.Cid, s Status) []byte {
	return append(appendBytes(nil, c.Bytes()), byte(s))
}

func decodeMissing(p []byte) (cid.Cid, Status, error) {
	r := payloadReader{b: p}
	c := r.cid("cid")
	if r.err == nil && len(r.b) < 1 {
		r.fail("missing status")
	}
	if r.err != nil {
		return cid.Undef, 0, r.err
	}
	s := Status(r.b[0])
	r.b = r.b[1:]
	if err := r.end(); err != nil {
		return cid.Undef, 0, err
	}
	if s < StatusNotFound || s > StatusRefused {
		return cid.Undef, 0, fmt.Errorf("%w: unknown status %d", ErrMalformed, s)
	}
	return c, s, nil
}

// errorFrame is the payload of frameError: a status byte and a short UTF-8 text.
type errorFrame struct {
	Status Status
	Text   string
}

func (m errorFrame) encode() []byte {
	t := m.Text
	if len(t) > MaxErrorText {
		t = t[:MaxErrorText]
	}
	for !utf8.ValidString(t) { // cut inside a rune: drop its leading bytes
		t = t[:len(t)-1]
	}
	return append([]byte{byte(m.Status)}, t...)
}

func decodeError(p []byte) (errorFrame, error) {
	if len(p) < 1 || len(p) > 1+MaxErrorText {
		return errorFrame{}, fmt.Errorf("%w: error frame of %d bytes", ErrMalformed, len(p))
	}
	s := Status(p[0])
	if s < StatusNotFound || s > StatusRefused {
		return errorFrame{}, fmt.Errorf("%w: unknown status %d", ErrMalformed, s)
	}
	if !utf8.Valid(p[1:]) {
		return errorFrame{}, fmt.Errorf("%w: error text is not UTF-8", ErrMalformed)
	}
	return errorFrame{Status: s, Text: string(p[1:])}, nil
}

func (m errorFrame) err() error {
	return fmt.Errorf("%w: %s", m.Status.Err(), m.Text)
}

// syncRequest is the payload of frameSyncRequest.
type syncRequest struct {
	Search string // the search whose CIDs are listed
	After  string // opaque cursor from the previous page; "" for the first page
	Limit  int    // most CIDs wanted in this page (1..MaxPage)
}

func (m syncRequest) encode() []byte {
	b := appendBytes(nil, []byte(m.Search))
	b = appendBytes(b, []byte(m.After))
	return binary.AppendUvarint(b, uint64(m.Limit))
}

func decodeSyncRequest(p []byte, maxPage int) (syncRequest, error) {
	r := payloadReader{b: p}
	search := r.bytes("search", MaxSearchBytes)
	after := r.bytes("cursor", MaxCursorBytes)
	limit := r.uvarint("limit")
	if err := r.end(); err != nil {
		return syncRequest{}, err
	}
	if len(search) == 0 || !utf8.Valid(search) {
		return syncRequest{}, fmt.Errorf("%w: search must be non-empty UTF-8", ErrMalformed)
	}
	if limit == 0 || limit > uint64(maxPage) {
		return syncRequest{}, fmt.Errorf("%w: limit %d, want 1..%d", ErrMalformed, limit, maxPage)
	}
	return syncRequest{Search: string(search), After: string(after), Limit: int(limit)}, nil
}

// syncPage is the payload of frameSyncPage: uvarint count, count CIDs, then the next cursor ("" when
// the list is exhausted).
type syncPage struct {
	CIDs []cid.Cid
	Next string
}

func (m syncPage) encode() []byte {
	return appendBytes(appendCIDs(nil, m.CIDs), []byte(m.Next))
}

// decodeSyncPage decodes a page of at most limit CIDs.
func decodeSyncPage(p []byte, limit int) (syncPage, error) {
	r := payloadReader{b: p}
	n := r.uvarint("count")
	if r.err == nil && n > uint64(limit) {
		r.fail("count %d over the %d asked for", n, limit)
	}
	if r.err != nil {
		return syncPage{}, r.err
	}
	cids := r.cids(n)
	next := r.bytes("cursor", MaxCursorBytes)
	if err := r.end(); err != nil {
		return syncPage{}, err
	}
	return syncPage{CIDs: cids, Next: string(next)}, nil
}

// syncPageMax is the largest frameSyncPage payload for a page of n CIDs.
func syncPageMax(n int) int {
	return varint.MaxLenUvarint63 + n*(2+MaxCIDBytes) + varint.MaxLenUvarint63 + MaxCursorBytes
}
