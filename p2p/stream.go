package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// The request/response plumbing shared by the stream protocols (Blocks and Sync): one request
// frame from the requester, then the responder's answer frames.

// bindStream bounds s by ctx: s's deadline becomes ctx's, and s is reset when ctx ends, so that a
// cancelled caller or a closing service unblocks pending reads and writes (a reset, unlike a
// deadline, works on every stream: mocknet ignores deadlines). The returned stop removes the
// reset hook.
func bindStream(ctx context.Context, s network.Stream) (stop func() bool) {
	if deadline, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(deadline)
	}
	return context.AfterFunc(ctx, func() { _ = s.Reset() })
}

// serveStream runs serve for an inbound stream of a service whose work life tracks. It attaches s
// to the resource-manager service and binds it (bindStream) to a context that ends after timeout
// or when the service closes. It resets s when the service is closing or serve fails, except when
// serve reports an error it has already answered with an error frame (errAnswered): then, as after
// success, s is closed gracefully so that the frame arrives.
func serveStream(life *lifecycle, log *slog.Logger, s network.Stream, service string, timeout time.Duration, serve func(context.Context, network.Stream) error) {
	if !life.enter() {
		_ = s.Reset()
		return
	}
	defer life.exit()
	ctx, cancel := context.WithTimeout(life.ctx, timeout)
	defer cancel()
	err := s.Scope().SetService(service)
	if err != nil {
		err = fmt.Errorf("attach to service: %w", err)
	} else {
		stop := bindStream(ctx, s)
		err = serve(ctx, s)
		stop()
	}
	if err != nil {
		log.Debug("serve", "peer", s.Conn().RemotePeer(), "err", err)
		if !errors.Is(err, errAnswered) {
			_ = s.Reset()
			return
		}
	}
	_ = s.Close()
}

// errAnswered marks a serve error that was reported to the peer in an error frame: the stream is
// closed gracefully so that the frame arrives.
var errAnswered = errors.New("answered with an error frame")

// refuse writes an error frame with err's text and returns err marked errAnswered.
func refuse(w *bufio.Writer, st Status, err error) error {
	if werr := writeFrame(w, frameError, errorFrame{st, err.Error()}.encode()); werr != nil {
		return err
	}
	if werr := w.Flush(); werr != nil {
		return err
	}
	return fmt.Errorf("%w: %w", errAnswered, err)
}

// openRequest opens a proto stream to p, attaches it to the resource-manager service, binds it to
// ctx (bindStream), sends the request frame typ/payload and closes its write side. The caller
// reads the answer from s, then calls end exactly once: end(true) closes s gracefully, end(false)
// resets it.
func openRequest(ctx context.Context, h host.Host, p peer.ID, proto protocol.ID, service string, typ byte, payload []byte) (s network.Stream, end func(ok bool), err error) {
	s, err = h.NewStream(ctx, p, proto)
	if err != nil {
		return nil, nil, fmt.Errorf("open stream to %s: %w", p, err)
	}
	stop := bindStream(ctx, s)
	end = func(ok bool) {
		stop()
		if ok {
			_ = s.Close()
		} else {
			_ = s.Reset()
		}
	}
	if err := s.Scope().SetService(service); err != nil {
		end(false)
		return nil, nil, fmt.Errorf("attach to service: %w", err)
	}
	w := bufio.NewWriter(s)
	err = writeFrame(w, typ, payload)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		end(false)
		return nil, nil, fmt.Errorf("send request: %w", err)
	}
	_ = s.CloseWrite()
	return s, end, nil
}
