package p2p

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/airanode/airanode/object"
)

func testCIDs(n int) []cid.Cid {
	out := make([]cid.Cid, n)
	for i := range out {
		if i%2 == 0 {
			out[i] = object.RawCID([]byte{byte(i), byte(i >> 8)})
		} else {
			out[i] = object.ObjectCID([]byte{0xa0, byte(i)})
		}
	}
	return out
}

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		typ   byte
		parts [][]byte
	}{
		{"empty", frameError, nil},
		{"one part", frameBlockRequest, [][]byte{{1, 2, 3}}},
		{"two parts", frameBlock, [][]byte{{1}, bytes.Repeat([]byte{7}, 300)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			if err := writeFrame(w, tt.typ, tt.parts...); err != nil {
				t.Fatal(err)
			}
			_ = w.Flush()
			typ, p, err := readFrame(bufio.NewReader(&buf), 1024)
			if err != nil {
				t.Fatal(err)
			}
			if typ != tt.typ || !bytes.Equal(p, bytes.Join(tt.parts, nil)) {
				t.Fatalf("got type %x payload %x", typ, p)
			}
			if _, _, err := readFrame(bufio.NewReader(&buf), 1024); !errors.Is(err, io.EOF) {
				t.Fatalf("after the last frame: %v, want EOF", err)
			}
		})
	}
}

func TestReadFrameRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"over cap", []byte{frameBlock, 0x81, 0x01}, 128, ErrTooLarge}, // 129 > 128
		{"huge length", []byte{frameBlock, 0xff, 0xff, 0xff, 0xff, 0x0f}, 1 << 20, ErrTooLarge},
		{"non-minimal length", []byte{frameBlock, 0x81, 0x00}, 128, ErrMalformed},
		{"truncated length", []byte{frameBlock, 0x81}, 128, ErrMalformed},
		{"truncated payload", []byte{frameBlock, 0x05, 1, 2}, 128, ErrMalformed},
		{"empty", nil, 128, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readFrame(bufio.NewReader(bytes.NewReader(tt.in)), tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBlockRequestCodec(t *testing.T) {
	for _, n := range []int{1, 2, 64} {
		req := blockRequest{CIDs: testCIDs(n)}
		got, err := decodeBlockRequest(req.encode(), 64)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(got.CIDs) != n {
			t.Fatalf("n=%d: got %d CIDs", n, len(got.CIDs))
		}
		for i := range got.CIDs {
			if !got.CIDs[i].Equals(req.CIDs[i]) {
				t.Fatalf("CID %d differs", i)
			}
		}
	}
	v0, _ := cid.Prefix{Version: 0, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("x"))
	sha1, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA1, MhLength: -1}.Sum([]byte("x"))
	good := testCIDs(1)[0].Bytes()
	bad := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"zero count", []byte{0}},
		{"over max want", blockRequest{CIDs: testCIDs(65)}.encode()},
		{"count beyond data", []byte{2, byte(len(good))}},
		{"trailing", append(blockRequest{CIDs: testCIDs(1)}.encode(), 0)},
		{"CIDv0", blockRequest{CIDs: []cid.Cid{v0}}.encode()},
		{"sha1", blockRequest{CIDs: []cid.Cid{sha1}}.encode()},
		{"garbage CID", []byte{1, 3, 1, 2, 3}},
		{"CID too long", append([]byte{1, 0x81, 0x01}, make([]byte, 129)...)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeBlockRequest(tt.in, 64); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestBlockAndMissingCodec(t *testing.T) {
	c := testCIDs(1)[0]
	payload := append(blockHeader(c), "hello"...)
	gc, data, err := decodeBlock(payload)
	if err != nil || !gc.Equals(c) || string(data) != "hello" {
		t.Fatalf("decodeBlock = %s %q %v", gc, data, err)
	}
	for _, st := range []Status{StatusNotFound, StatusTooLarge, StatusRateLimited, StatusRefused} {
		gc, gs, err := decodeMissing(encodeMissing(c, st))
		if err != nil || !gc.Equals(c) || gs != st {
			t.Fatalf("missing %v: got %s %v %v", st, gc, gs, err)
		}
	}
	for name, in := range map[string][]byte{
		"no status":      blockHeader(c),
		"unknown status": append(blockHeader(c), 9),
		"trailing":       append(encodeMissing(c, StatusNotFound), 0),
		"no CID":         nil,
	} {
		if _, _, err := decodeMissing(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	if _, _, err := decodeBlock([]byte{5, 1}); !errors.Is(err, ErrMalformed) {
		t.Errorf("short block: err = %v", err)
	}
}

func TestErrorFrameCodec(t *testing.T) {
	e := errorFrame{Status: StatusRateLimited, Text: "slow down"}
	got, err := decodeError(e.encode())
	if err != nil || got != e {
		t.Fatalf("got %+v %v", got, err)
	}
	if !errors.Is(got.err(), ErrRateLimited) {
		t.Fatalf("err() = %v", got.err())
	}
	long := errorFrame{Status: StatusRefused, Text: strings.Repeat("é", 200)} // 400 bytes, cut inside a rune
	if got, err := decodeError(long.encode()); err != nil || len(got.Text) > MaxErrorText {
		t.Fatalf("long text: %d bytes, %v", len(got.Text), err)
	}
	for name, in := range map[string][]byte{
		"empty":          nil,
		"unknown status": {0},
		"bad utf8":       {1, 0xff},
		"too long":       append([]byte{1}, make([]byte, MaxErrorText+1)...),
	} {
		if _, err := decodeError(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestSyncCodecs(t *testing.T) {
	req := syncRequest{Search: "bafysearch", After: "cursor", Limit: 100}
	got, err := decodeSyncRequest(req.encode(), 1024)
	if err != nil || got != req {
		t.Fatalf("request: %+v %v", got, err)
	}
	for name, r := range map[string]syncRequest{
		"empty search": {Search: "", Limit: 1},
		"zero limit":   {Search: "s", Limit: 0},
		"over limit":   {Search: "s", Limit: 1025},
		"bad utf8":     {Search: "\xff", Limit: 1},
		"long search":  {Search: strings.Repeat("s", MaxSearchBytes+1), Limit: 1},
		"long cursor":  {Search: "s", After: strings.Repeat("c", MaxCursorBytes+1), Limit: 1},
	} {
		if _, err := decodeSyncRequest(r.encode(), 1024); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	page := syncPage{CIDs: testCIDs(10), Next: "next"}
	gp, err := decodeSyncPage(page.encode(), 10)
	if err != nil || len(gp.CIDs) != 10 || gp.Next != "next" {
		t.Fatalf("page: %+v %v", gp, err)
	}
	if len(page.encode()) > syncPageMax(10) {
		t.Fatalf("page of 10 is %d bytes, over syncPageMax %d", len(page.encode()), syncPageMax(10))
	}
	if _, err := decodeSyncPage(page.encode(), 9); !errors.Is(err, ErrMalformed) {
		t.Fatalf("page over the limit asked: %v", err)
	}
	if _, err := decodeSyncPage(append(page.encode(), 0), 10); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing: %v", err)
	}
	empty, err := decodeSyncPage(syncPage{}.encode(), 10)
	if err != nil || len(empty.CIDs) != 0 || empty.Next != "" {
		t.Fatalf("empty page: %+v %v", empty, err)
	}
}

// Fuzz targets: every stream decoder must reject or accept without panicking, and anything it
// accepts must re-encode to the same bytes (one meaning per encoding).

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{frameBlock, 3, 1, 2, 3})
	f.Add([]byte{frameBlock, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{frameError, 0x80, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		typ, p, err := readFrame(bufio.NewReader(bytes.NewReader(in)), 4096)
		if err != nil {
			return
		}
		if len(p) > 4096 {
			t.Fatalf("payload of %d bytes over the cap", len(p))
		}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		_ = writeFrame(w, typ, p)
		_ = w.Flush()
		if !bytes.HasPrefix(in, buf.Bytes()) {
			t.Fatalf("accepted a frame that re-encodes to %x, not a prefix of %x", buf.Bytes(), in)
		}
	})
}

func FuzzDecodeBlockRequest(f *testing.F) {
	f.Add(blockRequest{CIDs: testCIDs(3)}.encode())
	f.Add([]byte{0})
	f.Add([]byte{1, 36})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := decodeBlockRequest(in, 64)
		if err != nil {
			return
		}
		if !bytes.Equal(m.encode(), in) {
			t.Fatalf("accepted %x but re-encodes to %x", in, m.encode())
		}
	})
}

func FuzzDecodeBlock(f *testing.F) {
	f.Add(append(blockHeader(testCIDs(1)[0]), "data"...))
	f.Add([]byte{36})
	f.Fuzz(func(t *testing.T, in []byte) {
		c, data, err := decodeBlock(in)
		if err != nil {
			return
		}
		if !bytes.Equal(append(blockHeader(c), data...), in) {
			t.Fatalf("accepted %x but re-encodes differently", in)
		}
	})
}

func FuzzDecodeMissing(f *testing.F) {
	f.Add(encodeMissing(testCIDs(1)[0], StatusNotFound))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, in []byte) {
		c, s, err := decodeMissing(in)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeMissing(c, s), in) {
			t.Fatalf("accepted %x but re-encodes differently", in)
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	f.Add(errorFrame{StatusRefused, "no"}.encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := decodeError(in)
		if err != nil {
			return
		}
		if !bytes.Equal(e.encode(), in) {
			t.Fatalf("accepted %x but re-encodes differently", in)
		}
	})
}

func FuzzDecodeSyncRequest(f *testing.F) {
	f.Add(syncRequest{Search: "s", After: "a", Limit: 10}.encode())
	f.Add([]byte{1, 's', 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := decodeSyncRequest(in, 1024)
		if err != nil {
			return
		}
		if !bytes.Equal(m.encode(), in) {
			t.Fatalf("accepted %x but re-encodes differently", in)
		}
	})
}

func FuzzDecodeSyncPage(f *testing.F) {
	f.Add(syncPage{CIDs: testCIDs(2), Next: "n"}.encode())
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := decodeSyncPage(in, 16)
		if err != nil {
			return
		}
		if !bytes.Equal(m.encode(), in) {
			t.Fatalf("accepted %x but re-encodes differently", in)
		}
	})
}
