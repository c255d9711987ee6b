package tasks

import (
	"context"
	"time"

	"github.com/airanode/airanode/object"
)

// outMsg is an envelope queued for publication; after, if set, learns the outcome.
type outMsg struct {
	search string
	kind   object.Kind
	env    []byte
	after  func(error)
}

// enqueue queues an envelope; m.mu must be held. One publisher goroutine sends the queue in
// order, so a claimer's messages leave in sequence order and a result leaves after it is stored.
func (m *Manager) enqueue(search string, kind object.Kind, env []byte, after func(error)) {
	m.outbox = append(m.outbox, outMsg{search, kind, env, after})
}

func (m *Manager) kickPublisher() {
	select {
	case m.outSig <- struct{}{}:
	default:
	}
}

// publisher sends the outbox until Close, then flushes what is left within PublishTimeout.
func (m *Manager) publisher() {
	defer m.pubWG.Done()
	for {
		select {
		case <-m.outSig:
			m.flush(time.Time{})
		case <-m.pubStop:
			m.flush(time.Now().Add(m.cfg.PublishTimeout))
			return
		}
	}
}

// flush publishes everything queued; a non-zero deadline bounds the whole flush.
func (m *Manager) flush(deadline time.Time) {
	for {
		m.mu.Lock()
		batch := m.outbox
		m.outbox = nil
		m.inFlight = len(batch)
		if len(batch) == 0 {
			m.notifyChanged()
		}
		m.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, msg := range batch {
			d := time.Now().Add(m.cfg.PublishTimeout)
			if !deadline.IsZero() && deadline.Before(d) {
				d = deadline
			}
			ctx, cancel := context.WithDeadline(context.Background(), d)
			err := m.cfg.Bus.Publish(ctx, msg.search, msg.kind, msg.env)
			cancel()
			if err != nil {
				m.log.Warn("publish", "kind", msg.kind, "err", err)
			}
			if msg.after != nil {
				msg.after(err)
			}
		}
		m.mu.Lock()
		m.inFlight = 0
		m.mu.Unlock()
	}
}
