package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
	"github.com/airanode/airanode/tasks"
)

// Submit checks a task request and announces the task: it resolves the architecture (normalised,
// vocabulary unbound) and the protocol, checks that the architecture builds under every setting
// of the protocol (and, for a text protocol, that the dataset is held), stores both objects, and
// submits the task to the tasks Manager, which gossips its offer. Bad input wraps api.ErrInvalid
// and is found before anything is stored.
func (n *Node) Submit(ctx context.Context, req api.SubmitRequest) (api.SubmitResponse, error) {
	if n.closed.Load() {
		return api.SubmitResponse{}, ErrClosed
	}
	if err := req.Check(); err != nil {
		return api.SubmitResponse{}, err
	}
	a, err := ResolveArch(req.Arch)
	if err != nil {
		return api.SubmitResponse{}, err
	}
	p, err := ResolveProtocol(req.Protocol, req.ProtocolObject, req.Data)
	if err != nil {
		return api.SubmitResponse{}, err
	}
	if err := CheckBuild(a, p, n.store); err != nil {
		return api.SubmitResponse{}, err
	}
	ab, ac, err := arch.Encode(a)
	if err != nil {
		return api.SubmitResponse{}, fmt.Errorf("%w: arch: %w", api.ErrInvalid, err)
	}
	pb, pc, err := p.Encode()
	if err != nil {
		return api.SubmitResponse{}, fmt.Errorf("%w: protocol: %w", api.ErrInvalid, err)
	}
	// The objects are promised to peers by the offer: durable before it leaves.
	for _, o := range []struct {
		c cid.Cid
		b []byte
	}{{ac, ab}, {pc, pb}} {
		if err := n.store.PutWith(o.c, o.b, store.PutOptions{Sync: true}); err != nil {
			return api.SubmitResponse{}, fmt.Errorf("store %s: %w", o.c, err)
		}
	}
	task := object.Task{Arch: ac.String(), Protocol: pc.String(), Seed: req.Seed}
	tc, err := n.verifier.Submit(ctx, task, req.Replicas)
	if err != nil {
		if errors.Is(err, tasks.ErrInvalid) || errors.Is(err, tasks.ErrEstimate) {
			return api.SubmitResponse{}, fmt.Errorf("%w: %w", api.ErrInvalid, err)
		}
		if !tc.Defined() {
			return api.SubmitResponse{}, err
		}
		// The offer is stored and will be re-announced; only its first publication failed.
		n.log.Warn("submit: publish", "task", tc, "err", err)
	}
	replicas := req.Replicas
	if replicas == 0 {
		replicas = object.DefaultReplicas
	}
	return api.SubmitResponse{Task: tc.String(), Arch: ac.String(), Protocol: pc.String(),
		Spelling: arch.Print(a), Seed: req.Seed, Replicas: replicas}, nil
}

// ResolveArch parses an architecture (notation or JSON) and returns its normal form with the
// vocabulary unbound: the object a task names. Errors wrap api.ErrInvalid.
func ResolveArch(spec string) (arch.Arch, error) {
	a, err := arch.ParseAny(spec)
	if err == nil {
		a, err = arch.Unbound(a)
	}
	if err != nil {
		return arch.Arch{}, fmt.Errorf("%w: arch: %w", api.ErrInvalid, err)
	}
	return a, nil
}

// ResolveProtocol returns the protocol a request names: a registered protocol by name (data is
// the dataset manifest CID of the text protocol), or a protocol object in JSON (data, when given,
// sets or must match its dataset). The protocol is valid. Errors wrap api.ErrInvalid.
func ResolveProtocol(name string, obj json.RawMessage, data string) (*bench.Protocol, error) {
	var dc cid.Cid
	if data != "" {
		var err error
		if dc, err = object.ParseCID(data); err != nil {
			return nil, fmt.Errorf("%w: data: %w", api.ErrInvalid, err)
		}
	}
	if len(obj) == 0 {
		p, err := bench.Lookup(name, dc)
		if err != nil {
			return nil, fmt.Errorf("%w: protocol: %w", api.ErrInvalid, err)
		}
		return p, nil
	}
	var p bench.Protocol
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: protocol_object: %w", api.ErrInvalid, err)
	}
	if dc.Defined() {
		if p.Data.Defined() && !p.Data.Equals(dc) {
			return nil, fmt.Errorf("%w: data %s differs from the protocol's dataset %s", api.ErrInvalid, dc, p.Data)
		}
		p.Data = dc
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: protocol_object: %w", api.ErrInvalid, err)
	}
	return &p, nil
}

// CheckBuild checks, without training, that the engine builds a under every setting of p: the
// primitives are the engine's, and the architecture bound to each setting's vocabulary (and, with
// learned positions, its row length) is valid. A text protocol's dataset must be readable from
// st. Errors wrap api.ErrInvalid.
func CheckBuild(a arch.Arch, p *bench.Protocol, st bench.BlockStore) error {
	if err := bench.CheckArch(a, p, st); err != nil {
		return fmt.Errorf("%w: %w", api.ErrInvalid, err)
	}
	return nil
}
