package gpucore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ipfs/go-cid"
)

// Probe starts the core of device ordinal as a Supervisor would (cfg's Binary, Args, Env,
// HandshakeTimeout and Logger; Blocks and Devices are not needed), completes the handshake, shuts the
// core down and returns its Info: what `airanode gpu` shows as the core's status. ctx bounds the
// whole probe. The error of a core that does not start carries its exit status and last output.
func Probe(ctx context.Context, cfg Config, ordinal int) (Info, error) {
	if cfg.Blocks == nil {
		cfg.Blocks = noBlocks{}
	}
	cfg.Devices = []int{ordinal}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.fill(); err != nil {
		return Info{}, err
	}
	log := cfg.Logger.With("device", ordinal)
	p, err := spawn(&cfg, ordinal, log)
	if err != nil {
		return Info{}, err
	}
	hs := p.start(cfg.MaxFrame, cfg.HandshakeTimeout, exitGrace)
	stop := context.AfterFunc(ctx, p.kill)
	defer stop()
	if err := <-hs; err != nil {
		<-p.done
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return Info{}, fmt.Errorf("device %d: %w (%s)", ordinal, err, p.exit())
	}
	info := p.info
	p.shutdown(cfg.ShutdownTimeout)
	return info, nil
}

// noBlocks is the Blocks of a probe, which runs no task.
type noBlocks struct{}

func (noBlocks) Get(context.Context, cid.Cid) ([]byte, error) {
	return nil, fmt.Errorf("%w: a probe serves no blocks", ErrProtocol)
}

func (noBlocks) PutCheckpoint(context.Context, cid.Cid, cid.Cid, []byte) error {
	return fmt.Errorf("%w: a probe keeps no blocks", ErrProtocol)
}

func (noBlocks) PutScores(context.Context, cid.Cid, cid.Cid, []byte) error {
	return fmt.Errorf("%w: a probe keeps no blocks", ErrProtocol)
}
