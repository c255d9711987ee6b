package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// maxAnswer bounds the answer bodies the client reads.
const maxAnswer = 64 << 20

// Client talks to a node's control API. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client of the API at addr (host:port).
func NewClient(addr string) (*Client, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("%w: api address %q: %w", ErrInvalid, addr, err)
	}
	return &Client{
		base: "http://" + addr,
		hc:   &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{Proxy: nil, MaxIdleConns: 4}},
	}, nil
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// Peers returns the node's connected peers.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var ps []Peer
	return ps, c.do(ctx, http.MethodGet, "/v1/peers", nil, &ps)
}

// Submit submits a task.
func (c *Client) Submit(ctx context.Context, req SubmitRequest) (SubmitResponse, error) {
	var r SubmitResponse
	return r, c.do(ctx, http.MethodPost, "/v1/tasks", req, &r)
}

// Tasks lists the tasks the node knows.
func (c *Client) Tasks(ctx context.Context) ([]Task, error) {
	var ts []Task
	return ts, c.do(ctx, http.MethodGet, "/v1/tasks", nil, &ts)
}

// Task returns one task with its results.
func (c *Client) Task(ctx context.Context, task string) (TaskDetail, error) {
	var d TaskDetail
	return d, c.do(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(task), nil, &d)
}

// Worker applies a volunteer control and returns the worker's state.
func (c *Client) Worker(ctx context.Context, req WorkerRequest) (Worker, error) {
	var w Worker
	var body any = struct{}{}
	if req.Action == ActionWorkers {
		body = req
	}
	return w, c.do(ctx, http.MethodPost, "/v1/worker/"+url.PathEscape(req.Action), body, &w)
}

// CloseIdle closes idle connections.
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%w: encode request: %w", ErrInvalid, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w at %s (is `airanode run` running?): %w", ErrUnavailable, c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%w: read answer: %w", ErrServer, err)
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		msg := string(bytes.TrimSpace(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		switch resp.StatusCode {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			return fmt.Errorf("%w: %s", ErrInvalid, trimPrefix(msg, ErrInvalid))
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s", ErrNotFound, trimPrefix(msg, ErrNotFound))
		}
		return fmt.Errorf("%w: %s: %s", ErrServer, resp.Status, msg)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: decode answer: %w", ErrServer, err)
	}
	return nil
}

// trimPrefix drops a sentinel's text that the server already put at the front of msg, so that
// wrapping it again does not repeat it.
func trimPrefix(msg string, sentinel error) string {
	p := sentinel.Error() + ": "
	if len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

// IsUnavailable reports whether err means that no node answered.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
