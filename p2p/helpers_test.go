package p2p

import (
	"io"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/protocol"
)

type protocolID = protocol.ID

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
