package p2p

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

type protocolID = protocol.ID

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// rawRequest sends the frame typ/payload to p on a fresh proto stream from h, bypassing the
// client's checks, and reads one answer frame of at most max bytes.
func rawRequest(t *testing.T, h host.Host, p peer.ID, proto protocolID, typ byte, payload []byte, max int) (byte, []byte, error) {
	t.Helper()
	s, err := h.NewStream(context.Background(), p, proto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	w := bufio.NewWriter(s)
	_ = writeFrame(w, typ, payload)
	_ = w.Flush()
	_ = s.CloseWrite()
	return readFrame(bufio.NewReader(s), max)
}

// waitUntil polls cond every 20 ms until it holds, failing the test with what after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
