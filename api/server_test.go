package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/airanode/airanode/object"
)

// memBackend is the in-memory Backend of these tests: it keeps submitted tasks and the worker
// state, and counts the calls that could change state, so tests can assert that bad input never
// reaches it.
type memBackend struct {
	mu      sync.Mutex
	tasks   map[string]Task
	order   []string
	worker  Worker
	changes int // Submit and Worker calls
	searchState
}

func newMemBackend() *memBackend {
	return &memBackend{tasks: map[string]Task{}, worker: Worker{State: WorkerWorking, Workers: 2}}
}

func (b *memBackend) Status(context.Context) (Status, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Status{PeerID: "12D3KooWtest", Network: "test", Worker: b.worker, Tasks: Counts{Known: len(b.tasks), Pending: len(b.tasks)}}, nil
}

func (b *memBackend) Peers(context.Context) ([]Peer, error) {
	return []Peer{{ID: "12D3KooWpeer", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}, AgentVersion: "airanode/test", Score: 1.5, Scored: true}}, nil
}

// Submit names the task by the CID of the request's canonical encoding, as the node names a task
// by its object.
func (b *memBackend) Submit(_ context.Context, r SubmitRequest) (SubmitResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.changes++
	if r.Arch == "refuse" {
		return SubmitResponse{}, fmt.Errorf("%w: architecture %q does not parse", ErrInvalid, r.Arch)
	}
	c, err := object.CID(struct {
		Arch string `cbor:"arch"`
		Seed uint64 `cbor:"seed"`
	}{r.Arch, r.Seed})
	if err != nil {
		return SubmitResponse{}, err
	}
	rep := max(r.Replicas, 1)
	b.tasks[c.String()] = Task{CID: c.String(), Arch: r.Arch, Seed: r.Seed, Replicas: rep, State: "pending"}
	b.order = append(b.order, c.String())
	return SubmitResponse{Task: c.String(), Seed: r.Seed, Replicas: rep}, nil
}

func (b *memBackend) Tasks(context.Context) ([]Task, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Task, 0, len(b.order))
	for _, k := range b.order {
		out = append(out, b.tasks[k])
	}
	return out, nil
}

func (b *memBackend) Task(_ context.Context, c cid.Cid) (TaskDetail, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tasks[c.String()]
	if !ok {
		return TaskDetail{}, fmt.Errorf("%w: task %s", ErrNotFound, c)
	}
	return TaskDetail{Task: t}, nil
}

func (b *memBackend) Worker(_ context.Context, r WorkerRequest) (Worker, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.changes++
	switch r.Action {
	case ActionPause:
		b.worker.Paused, b.worker.State = true, WorkerPaused
	case ActionResume:
		b.worker.Paused, b.worker.Draining, b.worker.State = false, false, WorkerWorking
	case ActionDrain:
		b.worker.Draining, b.worker.State = true, WorkerDrained
	case ActionWorkers:
		b.worker.Workers = r.Workers
	}
	return b.worker, nil
}

func (b *memBackend) changeCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changes
}

func startServer(t *testing.T, b Backend, opts ...Option) (*Server, *Client) {
	t.Helper()
	s, err := Listen("127.0.0.1:0", b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c, err := NewClient(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdle)
	return s, c
}

func TestClientRoundTrip(t *testing.T) {
	b := newMemBackend()
	_, c := startServer(t, b)
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil || st.PeerID != "12D3KooWtest" || st.Worker.State != WorkerWorking {
		t.Fatalf("status = %+v, %v", st, err)
	}
	ps, err := c.Peers(ctx)
	if err != nil || len(ps) != 1 || ps[0].Score != 1.5 || !ps[0].Scored {
		t.Fatalf("peers = %+v, %v", ps, err)
	}
	resp, err := c.Submit(ctx, SubmitRequest{Arch: "A M", Protocol: "mad-lite", Seed: 7, Replicas: 3})
	if err != nil || resp.Seed != 7 || resp.Replicas != 3 {
		t.Fatalf("submit = %+v, %v", resp, err)
	}
	ts, err := c.Tasks(ctx)
	if err != nil || len(ts) != 1 || ts[0].CID != resp.Task {
		t.Fatalf("tasks = %+v, %v", ts, err)
	}
	d, err := c.Task(ctx, resp.Task)
	if err != nil || d.CID != resp.Task || d.Arch != "A M" {
		t.Fatalf("task = %+v, %v", d, err)
	}
	for _, tc := range []struct {
		req  WorkerRequest
		want string
	}{
		{WorkerRequest{Action: ActionPause}, WorkerPaused},
		{WorkerRequest{Action: ActionResume}, WorkerWorking},
		{WorkerRequest{Action: ActionDrain}, WorkerDrained},
	} {
		w, err := c.Worker(ctx, tc.req)
		if err != nil || w.State != tc.want {
			t.Fatalf("%s: %+v, %v", tc.req.Action, w, err)
		}
	}
	w, err := c.Worker(ctx, WorkerRequest{Action: ActionWorkers, Workers: 5})
	if err != nil || w.Workers != 5 {
		t.Fatalf("workers: %+v, %v", w, err)
	}

	// Errors map back onto the sentinels.
	if _, err := c.Task(ctx, "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown task: %v, want ErrNotFound", err)
	}
	if _, err := c.Task(ctx, "not-a-cid"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad cid: %v, want ErrInvalid", err)
	}
	if _, err := c.Submit(ctx, SubmitRequest{Arch: "refuse", Protocol: "p"}); !errors.Is(err, ErrInvalid) ||
		strings.Count(err.Error(), ErrInvalid.Error()) != 1 {
		t.Fatalf("refused submit: %v, want one ErrInvalid", err)
	}
}

// TestBadInput sends every kind of bad request: each gets its status code and a JSON error body,
// and none reaches the backend.
func TestBadInput(t *testing.T) {
	b := newMemBackend()
	s, _ := startServer(t, b)
	base := "http://" + s.Addr()
	long := strings.Repeat("x", MaxBody+10)
	tests := []struct {
		name, method, path, body, ctype, host string
		code                                  int
	}{
		{"empty body", "POST", "/v1/tasks", "", "application/json", "", 400},
		{"not json", "POST", "/v1/tasks", "arch=A", "application/json", "", 400},
		{"unknown field", "POST", "/v1/tasks", `{"arch":"A","protocol":"p","gpu":true}`, "application/json", "", 400},
		{"trailing data", "POST", "/v1/tasks", `{"arch":"A","protocol":"p"} {}`, "application/json", "", 400},
		{"trailing brace", "POST", "/v1/tasks", `{"arch":"A","protocol":"p"}}`, "application/json", "", 400},
		{"no arch", "POST", "/v1/tasks", `{"protocol":"p"}`, "application/json", "", 400},
		{"no protocol", "POST", "/v1/tasks", `{"arch":"A"}`, "application/json", "", 400},
		{"both protocols", "POST", "/v1/tasks", `{"arch":"A","protocol":"p","protocol_object":{}}`, "application/json", "", 400},
		{"negative replicas", "POST", "/v1/tasks", `{"arch":"A","protocol":"p","replicas":-1}`, "application/json", "", 400},
		{"too many replicas", "POST", "/v1/tasks", `{"arch":"A","protocol":"p","replicas":17}`, "application/json", "", 400},
		{"negative seed", "POST", "/v1/tasks", `{"arch":"A","protocol":"p","seed":-1}`, "application/json", "", 400},
		{"string seed", "POST", "/v1/tasks", `{"arch":"A","protocol":"p","seed":"1"}`, "application/json", "", 400},
		{"huge arch", "POST", "/v1/tasks", `{"arch":"` + strings.Repeat("A ", MaxArch) + `","protocol":"p"}`, "application/json", "", 400},
		{"body too large", "POST", "/v1/tasks", `{"arch":"` + long + `"}`, "application/json", "", 413},
		{"form post", "POST", "/v1/tasks", `{"arch":"A","protocol":"p"}`, "application/x-www-form-urlencoded", "", 415},
		{"text post", "POST", "/v1/worker/pause", ``, "text/plain", "", 415},
		{"rebinding host", "POST", "/v1/worker/pause", `{}`, "application/json", "evil.example:4050", 403},
		{"rebinding host get", "GET", "/v1/status", ``, "", "evil.example", 403},
		{"unknown action", "POST", "/v1/worker/explode", `{}`, "application/json", "", 400},
		{"workers zero", "POST", "/v1/worker/workers", `{"workers":0}`, "application/json", "", 400},
		{"workers too many", "POST", "/v1/worker/workers", `{"workers":100000}`, "application/json", "", 400},
		{"workers on pause", "POST", "/v1/worker/pause", `{"workers":3}`, "application/json", "", 400},
		{"pause by GET", "GET", "/v1/worker/pause", ``, "", "", 405},
		{"status by POST", "POST", "/v1/status", `{}`, "application/json", "", 405},
		{"tasks by DELETE", "DELETE", "/v1/tasks", ``, "", "", 405},
		{"bad task cid", "GET", "/v1/tasks/bafynotacid", ``, "", "", 400},
		{"unknown path", "GET", "/v2/status", ``, "", "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := b.changeCount()
			req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			var e Error
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || e.Code == "" {
				t.Fatalf("error body %q: %v", body, err)
			}
			if got := b.changeCount(); got != before {
				t.Fatalf("backend called %d times by a bad request", got-before)
			}
		})
	}
	ts, _ := b.Tasks(context.Background())
	if len(ts) != 0 {
		t.Fatalf("bad requests made %d tasks", len(ts))
	}
}

func TestListen(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:0", "example.com:0", ":0"} {
		if _, err := Listen(addr, newMemBackend()); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("Listen(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1", "localhost:", ""} {
		if _, err := Listen(addr, newMemBackend()); !errors.Is(err, ErrInvalid) {
			t.Errorf("Listen(%q) = %v, want ErrInvalid", addr, err)
		}
	}
	if _, err := Listen("127.0.0.1:0", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil backend: %v", err)
	}
	// A port in use is an error.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if s, err := Listen(ln.Addr().String(), newMemBackend()); err == nil {
		_ = s.Close()
		t.Fatal("listening on a port in use succeeded")
	}
	// Close is idempotent and the port is free afterwards.
	s, err := Listen("localhost:0", newMemBackend())
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := NewClient(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Status(ctx); !IsUnavailable(err) {
		t.Fatalf("status after close: %v, want ErrUnavailable", err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "airanode_test_gauge", Help: "test"})
	g.Set(42)
	reg.MustRegister(g)
	s, _ := startServer(t, newMemBackend(), WithMetrics(reg))
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "airanode_test_gauge 42") {
		t.Fatalf("metrics: %d %s", resp.StatusCode, b)
	}
}

func TestSubmitCheck(t *testing.T) {
	ok := SubmitRequest{Arch: "A M", Protocol: "mad-lite"}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	obj := SubmitRequest{Arch: "A", ProtocolObject: json.RawMessage(`{"name":"x"}`), Replicas: 16}
	if err := obj.Check(); err != nil {
		t.Fatal(err)
	}
	r, err := DecodeSubmit([]byte(`{"arch":"A","protocol":"p","protocol_object":null}`))
	if err != nil || r.ProtocolObject != nil {
		t.Fatalf("null protocol_object: %+v, %v", r, err)
	}
	bad := []SubmitRequest{
		{Arch: "A\xff", Protocol: "p"},
		{Arch: "A", ProtocolObject: json.RawMessage(`{`)},
		{Arch: "A", Protocol: strings.Repeat("p", MaxName+1)},
		{Arch: "A", Protocol: "p", Data: strings.Repeat("d", MaxName+1)},
		{Arch: "A", ProtocolObject: json.RawMessage(`"` + strings.Repeat("x", MaxProtocolObject) + `"`)},
	}
	for i, r := range bad {
		if err := r.Check(); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad request %d: %v", i, err)
		}
	}
}
