package gpucore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/airanode/airanode/object"
)

// A frame on the wire:
//
//	length  uint32, big-endian: the number of bytes that follow (kind, header length, header, payload)
//	kind    uint8
//	hlen    uint32, big-endian: the header's length, at most object.MaxSize
//	header  hlen bytes: the message's fields in canonical CBOR (object.Marshal)
//	payload length-5-hlen raw bytes (block bytes, states, scores); empty for kinds without one

// capFrame returns the frame cap for a caller's value (≤ 0 means DefaultMaxFrame).
func capFrame(maxFrame int) int64 {
	if maxFrame <= 0 {
		return DefaultMaxFrame
	}
	return int64(maxFrame)
}

// AppendFrame appends m's frame to dst. It checks m's fields (bounds, not hashes) and the frame
// size against maxFrame (≤ 0: DefaultMaxFrame).
func AppendFrame(dst []byte, m Message, maxFrame int) ([]byte, error) {
	head, pay, err := encode(m, maxFrame)
	if err != nil {
		return dst, err
	}
	dst = append(dst, head...)
	return append(dst, pay...), nil
}

// encode returns m's frame as its fixed part with the header, and the payload.
func encode(m Message, maxFrame int) (head, pay []byte, err error) {
	if m == nil {
		return nil, nil, fmt.Errorf("%w: nil message", ErrFrame)
	}
	k := m.Kind()
	if err := m.check(false); err != nil {
		return nil, nil, fmt.Errorf("encode: %w", err)
	}
	meta, err := object.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrFrame, k, err)
	}
	pay = m.payload()
	if len(pay) > 0 && !hasPayload(k) {
		return nil, nil, fmt.Errorf("%w: %s carries no payload", ErrFrame, k)
	}
	n := int64(frameFixed) + int64(len(meta)) + int64(len(pay))
	if limit := capFrame(maxFrame); n > limit {
		return nil, nil, fmt.Errorf("%w: %s frame of %d bytes, cap %d", ErrFrameTooLarge, k, n, limit)
	}
	head = make([]byte, 4+frameFixed, 4+frameFixed+len(meta))
	binary.BigEndian.PutUint32(head[0:4], uint32(n))
	head[4] = byte(k)
	binary.BigEndian.PutUint32(head[5:9], uint32(len(meta)))
	return append(head, meta...), pay, nil
}

// WriteMessage writes m as one frame to w. maxFrame (≤ 0: DefaultMaxFrame) is the cap the reader
// announced: a larger frame is not written and gives ErrFrameTooLarge. Callers serialise writes
// to one stream.
func WriteMessage(w io.Writer, m Message, maxFrame int) error {
	head, pay, err := encode(m, maxFrame)
	if err != nil {
		return err
	}
	if len(pay) <= 64<<10 {
		_, err = w.Write(append(head, pay...))
	} else if _, err = w.Write(head); err == nil {
		_, err = w.Write(pay)
	}
	if err != nil {
		return fmt.Errorf("core: write %s: %w", m.Kind(), err)
	}
	return nil
}

// ReadMessage reads one frame from r and decodes it, checking every field, decoding embedded
// objects and verifying block hashes. maxFrame ≤ 0 means DefaultMaxFrame. At a clean end of the
// stream (no byte of a new frame) it returns io.EOF. Other errors wrap ErrFrame (a malformed or
// truncated frame, with io.ErrUnexpectedEOF for the latter), ErrFrameTooLarge or ErrVersion (a
// Hello without the magic), or are r's read errors; after any of them the stream is out of step and
// must be abandoned.
func ReadMessage(r io.Reader, maxFrame int) (Message, error) {
	var hdr [4 + frameFixed]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated length: %w", ErrFrame, err)
		}
		return nil, err
	}
	n := int64(binary.BigEndian.Uint32(hdr[:4]))
	if n > capFrame(maxFrame) {
		return nil, fmt.Errorf("%w: %d bytes announced, cap %d (is the peer an airanode core?)", ErrFrameTooLarge, n, capFrame(maxFrame))
	}
	if n < frameFixed {
		return nil, fmt.Errorf("%w: length %d", ErrFrame, n)
	}
	if _, err := io.ReadFull(r, hdr[4:]); err != nil {
		return nil, truncated(err)
	}
	k := Kind(hdr[4])
	m := newMessage(k)
	if m == nil {
		return nil, fmt.Errorf("%w: unknown kind %d", ErrFrame, hdr[4])
	}
	hlen := int64(binary.BigEndian.Uint32(hdr[5:9]))
	if hlen > n-frameFixed || hlen > object.MaxSize {
		return nil, fmt.Errorf("%w: %s: header of %d bytes in a frame of %d", ErrFrame, k, hlen, n)
	}
	plen := n - frameFixed - hlen
	if plen > 0 && !hasPayload(k) {
		return nil, fmt.Errorf("%w: %s carries no payload, got %d bytes", ErrFrame, k, plen)
	}
	body := make([]byte, n-frameFixed)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, truncated(err)
	}
	if err := object.Unmarshal(body[:hlen], m); err != nil {
		return nil, fmt.Errorf("%w: %s header: %w", ErrFrame, k, err)
	}
	if plen > 0 {
		m.setPayload(body[hlen:])
	}
	if err := m.check(true); err != nil {
		return nil, err
	}
	return m, nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated frame: %w", ErrFrame, io.ErrUnexpectedEOF)
	}
	return err
}

// ParseFrame decodes b, which must hold exactly one frame, as ReadMessage does.
func ParseFrame(b []byte, maxFrame int) (Message, error) {
	r := bytes.NewReader(b)
	m, err := ReadMessage(r, maxFrame)
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: empty input", ErrFrame)
	}
	if err != nil {
		return nil, err
	}
	if r.Len() > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the frame", ErrFrame, r.Len())
	}
	return m, nil
}
