package p2p

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
)

// TestCloseAbortsStalledRequest checks that Close does not wait out the request timeout of a peer
// that opened a stream and stalled: the request is aborted and the peer's stream reset.
func TestCloseAbortsStalledRequest(t *testing.T) {
	tests := []struct {
		name  string
		proto protocolID
		start func(t *testing.T, h host.Host) io.Closer
	}{
		{"blocks", ProtocolBlocks, func(t *testing.T, h host.Host) io.Closer {
			cfg := testBlocksConfig()
			cfg.RequestTimeout, cfg.IdleTimeout = time.Minute, time.Minute
			return newTestBlocks(t, h, NewMemBlockStore(), cfg)
		}},
		{"sync", ProtocolSync, func(t *testing.T, h host.Host) io.Closer {
			cfg := testSyncConfig()
			cfg.RequestTimeout = time.Minute
			return newSyncNode(t, h, cfg, nil).sync
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := mockHosts(t, 2)
			svc := tt.start(t, hs[1])
			s, err := hs[0].NewStream(context.Background(), hs[1].ID(), tt.proto)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Reset()
			// A frame type and no length: the server waits for the rest.
			if _, err := s.Write([]byte{frameBlockRequest}); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, 5*time.Second, "the server never saw the stream", func() bool {
				for _, c := range hs[1].Network().ConnsToPeer(hs[0].ID()) {
					for _, st := range c.GetStreams() {
						if st.Protocol() == tt.proto {
							return true
						}
					}
				}
				return false
			})
			time.Sleep(50 * time.Millisecond) // let the handler start reading (a race only makes the test weaker)
			done := make(chan error, 1)
			go func() { done <- svc.Close() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Close: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close waits for a stalled request")
			}
			// mocknet streams ignore read deadlines: bound the read here, so that a stream left open
			// fails the test instead of hanging it.
			read := make(chan error, 1)
			go func() {
				_, err := s.Read(make([]byte, 1))
				read <- err
			}()
			select {
			case err := <-read:
				if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("the stalled stream was not aborted: read returned %v", err)
				}
			case <-time.After(5 * time.Second):
				_ = s.Reset()
				t.Fatal("the stalled stream was not aborted: the read still blocks after 5 s")
			}
		})
	}
}
