package taskstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
)

// ErrOffline is what Publish returns on an endpoint that has left the network.
var ErrOffline = errors.New("taskstest: endpoint offline")

// Handler receives envelopes; *tasks.Manager implements it.
type Handler interface {
	HandleEnvelope(from peer.ID, env []byte) error
}

// Message is one publication on the Network.
type Message struct {
	From   peer.ID
	Search string
	Kind   object.Kind
	Data   []byte
	// At is when it was published.
	At time.Time
}

// Network is an in-memory gossip network: every publication reaches every other attached
// endpoint, in publication order per publisher, asynchronously (each endpoint has its own delivery
// goroutine). Offers and results are also retained and replayed to endpoints that attach later,
// as a node's sync protocol would do on join.
type Network struct {
	mu       sync.Mutex
	members  map[peer.ID]*Endpoint
	log      []Message
	retained []Message
}

// NewNetwork returns an empty network.
func NewNetwork() *Network { return &Network{members: map[peer.ID]*Endpoint{}} }

// Join returns the endpoint of peer id, replacing (and detaching) any earlier endpoint of id.
// It publishes at once but receives nothing until Attach.
func (n *Network) Join(id peer.ID) *Endpoint {
	e := &Endpoint{net: n, id: id, wake: make(chan struct{}, 1), done: make(chan struct{})}
	n.mu.Lock()
	old := n.members[id]
	n.members[id] = e
	n.mu.Unlock()
	if old != nil {
		old.Leave()
	}
	return e
}

// Messages returns every publication so far, in order.
func (n *Network) Messages() []Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.log)
}

// Endpoint is one peer's attachment to a Network; it implements tasks.Bus.
type Endpoint struct {
	net  *Network
	id   peer.ID
	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	handler  Handler
	queue    []Message
	left     bool
	attached bool
	errs     []error
	maxLag   time.Duration
}

// ID returns the endpoint's peer ID.
func (e *Endpoint) ID() peer.ID { return e.id }

// Publish sends env to every other attached endpoint. It fails with ErrOffline after Leave.
func (e *Endpoint) Publish(ctx context.Context, search string, kind object.Kind, env []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	left := e.left
	e.mu.Unlock()
	if left {
		return fmt.Errorf("%w: %s", ErrOffline, e.id)
	}
	msg := Message{From: e.id, Search: search, Kind: kind, Data: slices.Clone(env), At: time.Now()}
	n := e.net
	n.mu.Lock()
	n.log = append(n.log, msg)
	if kind == object.KindOffer || kind == object.KindResult {
		n.retained = append(n.retained, msg)
	}
	var to []*Endpoint
	for id, m := range n.members {
		if id != e.id {
			to = append(to, m)
		}
	}
	n.mu.Unlock()
	for _, m := range to {
		m.push(msg)
	}
	return nil
}

func (e *Endpoint) push(msgs ...Message) {
	e.mu.Lock()
	if !e.left {
		e.queue = append(e.queue, msgs...)
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Attach starts delivering to h: first the retained offers and results of other peers (as a
// sync on join would), then everything published from now on. It may be called once.
func (e *Endpoint) Attach(h Handler) {
	e.net.mu.Lock()
	var replay []Message
	for _, m := range e.net.retained {
		if m.From != e.id {
			replay = append(replay, m)
		}
	}
	e.net.mu.Unlock()
	e.mu.Lock()
	if e.attached || e.left {
		e.mu.Unlock()
		return
	}
	e.attached, e.handler = true, h
	e.queue = append(replay, e.queue...)
	e.mu.Unlock()
	e.wg.Add(1)
	go e.deliver()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *Endpoint) deliver() {
	defer e.wg.Done()
	for {
		select {
		case <-e.done:
			return
		case <-e.wake:
		}
		for {
			e.mu.Lock()
			if e.left || len(e.queue) == 0 {
				e.mu.Unlock()
				break
			}
			msg := e.queue[0]
			e.queue = e.queue[1:]
			h := e.handler
			e.mu.Unlock()
			err := h.HandleEnvelope(msg.From, msg.Data)
			lag := time.Since(msg.At)
			e.mu.Lock()
			if err != nil {
				e.errs = append(e.errs, err)
			}
			e.maxLag = max(e.maxLag, lag)
			e.mu.Unlock()
		}
	}
}

// MaxLag returns the longest time a message took from publication to the end of its handling
// here.
func (e *Endpoint) MaxLag() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.maxLag
}

// Errors returns the errors the handler returned so far.
func (e *Endpoint) Errors() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.errs)
}

// Leave takes the endpoint off the network at once, like a crash: queued messages are dropped,
// nothing more is delivered, and Publish fails. It waits for a delivery in progress and is
// idempotent.
func (e *Endpoint) Leave() {
	e.mu.Lock()
	if e.left {
		e.mu.Unlock()
		e.wg.Wait()
		return
	}
	e.left = true
	e.queue = nil
	e.mu.Unlock()
	close(e.done)
	e.wg.Wait()
	n := e.net
	n.mu.Lock()
	if n.members[e.id] == e {
		delete(n.members, e.id)
	}
	n.mu.Unlock()
}
