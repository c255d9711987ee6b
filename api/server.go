package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/search"
)

// Backend is what the API serves: the node implements it. Every method gets input the server has
// already decoded and bounded; it wraps ErrInvalid for input it refuses (nothing may change then)
// and ErrNotFound for unknown objects. Implementations must be safe for concurrent use.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	Peers(ctx context.Context) ([]Peer, error)
	Submit(ctx context.Context, req SubmitRequest) (SubmitResponse, error)
	Tasks(ctx context.Context) ([]Task, error)
	Task(ctx context.Context, c cid.Cid) (TaskDetail, error)
	Worker(ctx context.Context, req WorkerRequest) (Worker, error)

	// LaunchSearch signs a search with the node's key and, unless req.DryRun, stores it, gossips it
	// and runs its agents. req has exactly one of Spec and Preset, and Preset is a known preset.
	LaunchSearch(ctx context.Context, req LaunchRequest) (LaunchResponse, error)
	// Searches lists the searches the node holds with their progress.
	Searches(ctx context.Context) ([]search.Status, error)
	// Search returns one search by name or CID (ErrNotFound when unknown, ErrInvalid when a name
	// is shared by several searches).
	Search(ctx context.Context, ref string) (SearchDetail, error)
	// JoinSearch makes the node run the agents of a search it holds but did not launch, now and
	// after restarts (ErrNotFound when unknown).
	JoinSearch(ctx context.Context, ref string) (SearchDetail, error)
	// Top returns the leaderboards q selects (q.N in 1..registry.MaxTop); search, when not empty,
	// names the search to filter on (q.Search is then unset), resolved as Lineage's is.
	Top(ctx context.Context, q registry.TopQuery, search string) ([]registry.Board, error)
	// Arch returns an architecture's detail (ErrNotFound when nothing of it is held).
	Arch(ctx context.Context, arch cid.Cid) (registry.ArchDetail, error)
	// Lineage returns an architecture's ancestry, restricted to one search (name or CID) unless
	// search is "".
	Lineage(ctx context.Context, arch cid.Cid, search string) (*registry.LineageNode, error)
	// Reputation lists the verification record of every peer the node has one of.
	Reputation(ctx context.Context) ([]PeerReputation, error)
	// Verification reports the verification state of the tasks the node holds results for.
	Verification(ctx context.Context) (VerificationReport, error)
}

// Timeouts of the HTTP server.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 5 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Server serves the API on a loopback address. Create it with Listen; Close stops it. It is safe
// for concurrent use.
type Server struct {
	b       Backend
	log     *slog.Logger
	metrics prometheus.Gatherer
	ln      net.Listener
	srv     *http.Server
	done    chan struct{}
	once    sync.Once
	err     error
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the server's logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) {
		if l != nil {
			s.log = l
		}
	}
}

// WithMetrics serves g's metrics at /metrics in the Prometheus text format.
func WithMetrics(g prometheus.Gatherer) Option { return func(s *Server) { s.metrics = g } }

// CheckLoopback returns nil when addr (host:port) is on the loopback interface: "localhost" or a
// loopback IP. Errors wrap ErrNotLoopback or ErrInvalid.
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: api address %q: %w", ErrInvalid, addr, err)
	}
	if port == "" {
		return fmt.Errorf("%w: api address %q has no port", ErrInvalid, addr)
	}
	if !loopbackHost(host) {
		return fmt.Errorf("%w: %q (the control API is local only)", ErrNotLoopback, addr)
	}
	return nil
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Listen checks that addr is a loopback address, listens on it (port 0 picks a free port) and
// serves b until Close.
func Listen(addr string, b Backend, opts ...Option) (*Server, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: no backend", ErrInvalid)
	}
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("api: listen on %s: %w", addr, err)
	}
	s := &Server{b: b, log: slog.New(slog.DiscardHandler), ln: ln, done: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api server stopped", "err", err)
		}
	}()
	s.log.Info("control API listening", "addr", ln.Addr().String())
	return s, nil
}

// Addr returns the address the server listens on (with the port chosen when it was 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting requests, waits up to a few seconds for those in progress, then closes
// the rest, and waits for the serving goroutine. It is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.err = s.srv.Close()
		}
		<-s.done
	})
	return s.err
}

// Handler returns the API's HTTP handler, for tests and for embedding in another server.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/status", s.method(http.MethodGet, s.status))
	mux.HandleFunc("/v1/peers", s.method(http.MethodGet, s.peers))
	mux.HandleFunc("/v1/tasks", s.tasksRoot)
	mux.HandleFunc("/v1/tasks/{cid}", s.method(http.MethodGet, s.task))
	mux.HandleFunc("/v1/worker/{action}", s.method(http.MethodPost, s.worker))
	mux.HandleFunc("/v1/searches", s.searchesRoot)
	mux.HandleFunc("/v1/searches/{ref}", s.method(http.MethodGet, s.searchDetail))
	mux.HandleFunc("/v1/searches/{ref}/join", s.method(http.MethodPost, s.joinSearch))
	mux.HandleFunc("/v1/registry/top", s.method(http.MethodGet, s.top))
	mux.HandleFunc("/v1/registry/arch/{cid}", s.method(http.MethodGet, s.arch))
	mux.HandleFunc("/v1/registry/lineage/{cid}", s.method(http.MethodGet, s.lineage))
	mux.HandleFunc("/v1/reputation", s.method(http.MethodGet, s.reputation))
	mux.HandleFunc("/v1/verification", s.method(http.MethodGet, s.verification))
	if s.metrics != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no endpoint %s", r.URL.Path))
	})
	return s.guard(mux)
}

// guard refuses requests whose Host header is not a loopback name (DNS rebinding) and POSTs that
// are not application/json (cross-site form posts).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !loopbackHost(strings.Trim(host, "[]")) {
			writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("host %q is not a loopback name", r.Host))
			return
		}
		if r.Method == http.MethodPost {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, "invalid", "POST bodies must be application/json")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) method(m string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m {
			w.Header().Set("Allow", m)
			writeError(w, http.StatusMethodNotAllowed, "method", fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, m))
			return
		}
		h(w, r)
	}
}

func (s *Server) tasksRoot(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.listTasks(w, r)
	case http.MethodPost:
		s.submit(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "method", fmt.Sprintf("%s %s: use GET or POST", r.Method, r.URL.Path))
	}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.b.Status(r.Context())
	s.reply(w, r, st, err)
}

func (s *Server) peers(w http.ResponseWriter, r *http.Request) {
	ps, err := s.b.Peers(r.Context())
	if ps == nil {
		ps = []Peer{}
	}
	s.reply(w, r, ps, err)
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	ts, err := s.b.Tasks(r.Context())
	if ts == nil {
		ts = []Task{}
	}
	s.reply(w, r, ts, err)
}

func (s *Server) task(w http.ResponseWriter, r *http.Request) {
	c, err := object.ParseCID(r.PathValue("cid"))
	if err != nil {
		s.reply(w, r, nil, fmt.Errorf("%w: task CID: %w", ErrInvalid, err))
		return
	}
	d, err := s.b.Task(r.Context(), c)
	s.reply(w, r, d, err)
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	req, err := DecodeSubmit(body)
	if err != nil {
		s.reply(w, r, nil, err)
		return
	}
	resp, err := s.b.Submit(r.Context(), req)
	if err == nil {
		writeJSON(w, http.StatusCreated, resp)
		return
	}
	s.reply(w, r, nil, err)
}

func (s *Server) worker(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	req, err := DecodeWorker(r.PathValue("action"), body)
	if err != nil {
		s.reply(w, r, nil, err)
		return
	}
	st, err := s.b.Worker(r.Context(), req)
	s.reply(w, r, st, err)
}

// readBody reads a bounded body; on failure it has answered already.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	return readBodyN(w, r, MaxBody)
}

// readBodyN reads a body of at most limit bytes; on failure it has answered already.
func readBodyN(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", limit))
		} else {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("read body: %v", err))
		}
		return nil, false
	}
	return b, true
}

// reply writes v, or the error's JSON body with its status code.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, v)
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	default:
		s.log.Warn("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", fmt.Sprintf("encode answer: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, kind, msg string) {
	b, _ := json.Marshal(Error{Error: msg, Code: kind})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
