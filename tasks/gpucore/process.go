package gpucore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// BinaryName is the compute core's executable name.
const BinaryName = "airanode-cuda"

// FindBinary looks for the core binary next to the running executable, then on PATH.
func FindBinary() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), BinaryName)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(BinaryName)
	if err != nil {
		return "", fmt.Errorf("%w: %s not found next to this executable or on PATH (build it with `make cuda`)", ErrUnavailable, BinaryName)
	}
	return p, nil
}

// process is one running core: its pipes, its reader and its exit.
type process struct {
	ordinal int
	cmd     *exec.Cmd
	in      *os.File // our end of the core's stdin
	out     *os.File // our end of the core's stdout
	stderr  *tail
	log     *slog.Logger
	started time.Time

	wmu      sync.Mutex
	wtimeout time.Duration
	info     Info // from the handshake; read-only afterwards

	mu  sync.Mutex
	run *runState // the run that receives the core's messages, if any

	dead     chan struct{} // closed by kill
	killOnce sync.Once
	done     chan struct{} // closed once the reader stopped and the process was reaped
	readErr  error         // why reading stopped after the handshake (valid after done)
	waitErr  error         // the exit status (valid after done)
}

// spawn starts the core binary for device ordinal with its stdin and stdout on pipes of ours.
func spawn(cfg *Config, ordinal int, log *slog.Logger) (*process, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("core: pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("core: pipe: %w", err)
	}
	p := &process{ordinal: ordinal, in: inW, out: outR, stderr: newTail(log), log: log,
		wtimeout: cfg.WriteTimeout, dead: make(chan struct{}), done: make(chan struct{})}
	cmd := exec.Command(cfg.Binary, cfg.Args(ordinal)...)
	cmd.Env = append(append(os.Environ(), "CUDA_DEVICE_ORDER=PCI_BUS_ID"), cfg.Env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, p.stderr
	cmd.WaitDelay = time.Second
	detach(cmd)
	err = cmd.Start()
	inR.Close() // the child holds its own copies
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("core: start %s: %w", cfg.Binary, err)
	}
	p.cmd, p.started = cmd, time.Now()
	return p, nil
}

// start runs the connection in a goroutine of its own: the handshake (its outcome is sent on the
// returned channel), then the reader, which hands every message to the registered run and kills the
// core on a message when none is registered or on a malformed frame. When the stream ends, the
// process is reaped (killed if it lingers past exitGrace) and done is closed.
func (p *process) start(maxFrame int, handshake, exitGrace time.Duration) <-chan error {
	hs := make(chan error, 1)
	go func() {
		err := p.handshake(maxFrame, handshake)
		hs <- err
		if err == nil {
			err = p.readLoop(maxFrame)
			p.readErr = err
		}
		if !errors.Is(err, io.EOF) {
			p.kill()
		}
		t := time.AfterFunc(exitGrace, p.kill)
		p.waitErr = p.cmd.Wait()
		t.Stop()
		p.in.Close()
		p.out.Close()
		close(p.done)
	}()
	return hs
}

// handshake sends Hello and reads the core's Info within timeout.
func (p *process) handshake(maxFrame int, timeout time.Duration) error {
	if err := p.write(&Hello{Magic: Magic, MinVersion: Version, MaxVersion: Version, MaxFrame: int64(maxFrame)}, MinMaxFrame); err != nil {
		return err
	}
	if err := p.out.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("core: read deadline: %w", err)
	}
	m, err := ReadMessage(p.out, maxFrame)
	if err == nil && !p.killed() {
		err = p.out.SetReadDeadline(time.Time{})
	}
	if err != nil {
		switch {
		case p.killed():
			return fmt.Errorf("%w: killed during the handshake", ErrCrashed)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("%w: no answer to hello within %v", ErrStalled, timeout)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: the core closed its output before answering hello", ErrCrashed)
		}
		return fmt.Errorf("core: handshake: %w", err)
	}
	switch m := m.(type) {
	case *Info:
		if m.Version != Version {
			return fmt.Errorf("%w: the core chose version %d, this node speaks %d", ErrVersion, m.Version, Version)
		}
		p.info = *m
		return nil
	case *Error:
		if m.Code == CodeVersion {
			return fmt.Errorf("%w: %s", ErrVersion, m.Message)
		}
		return fmt.Errorf("%w: the core answered hello with %s: %s", ErrProtocol, m.Code, m.Message)
	default:
		return fmt.Errorf("%w: the core answered hello with %s", ErrProtocol, m.Kind())
	}
}

// write sends one frame to the core within the write timeout; a failure kills the core (it does
// not read its input, or is gone).
func (p *process) write(m Message, peerMax int) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.wtimeout > 0 {
		if err := p.in.SetWriteDeadline(time.Now().Add(p.wtimeout)); err != nil {
			p.kill()
			return fmt.Errorf("%w: write deadline: %w", ErrCrashed, err)
		}
	}
	if err := WriteMessage(p.in, m, peerMax); err != nil {
		if errors.Is(err, ErrFrame) || errors.Is(err, ErrFrameTooLarge) {
			return err // nothing was written
		}
		p.kill()
		return fmt.Errorf("%w: %w", ErrCrashed, err)
	}
	return nil
}

// send writes m with the frame cap the core announced.
func (p *process) send(m Message) error { return p.write(m, int(p.info.MaxFrame)) }

func (p *process) readLoop(maxFrame int) error {
	for {
		m, err := ReadMessage(p.out, maxFrame)
		if err != nil {
			return err
		}
		p.mu.Lock()
		r := p.run
		p.mu.Unlock()
		if r == nil {
			return fmt.Errorf("%w: %s while no task runs", ErrProtocol, m.Kind())
		}
		select {
		case r.in <- m:
		case <-p.dead:
			return fmt.Errorf("%w: killed", ErrCrashed)
		}
	}
}

// setRun registers (or, with nil, unregisters) the run that receives the core's messages.
func (p *process) setRun(r *runState) {
	p.mu.Lock()
	p.run = r
	p.mu.Unlock()
}

// kill ends the process at once. It is idempotent.
func (p *process) kill() {
	p.killOnce.Do(func() {
		close(p.dead)
		if p.cmd != nil && p.cmd.Process != nil {
			_ = p.cmd.Process.Kill() // fails only when it has already exited
		}
		// Unblock a reader stuck on a pipe that a descendant of the core may still hold open.
		_ = p.out.SetReadDeadline(time.Now())
	})
}

// killed reports whether kill was called.
func (p *process) killed() bool {
	select {
	case <-p.dead:
		return true
	default:
		return false
	}
}

// shutdown asks the core to exit, waits up to timeout, then kills it; it returns once the process
// is reaped.
func (p *process) shutdown(timeout time.Duration) {
	if err := p.write(&Shutdown{}, MinMaxFrame); err != nil {
		p.log.Debug("core: shutdown not sent", "err", err)
	}
	p.wmu.Lock()
	p.in.Close() // end of input: a core that missed Shutdown stops too
	p.wmu.Unlock()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.log.Warn("core: did not exit in time: killing it", "timeout", timeout)
		p.kill()
		<-p.done
	}
}

// exit describes how the process ended (valid after done), with the tail of its error output.
func (p *process) exit() string {
	var b strings.Builder
	switch {
	case p.waitErr != nil:
		b.WriteString(p.waitErr.Error())
	case p.cmd.ProcessState != nil:
		b.WriteString(p.cmd.ProcessState.String())
	}
	if p.readErr != nil && !errors.Is(p.readErr, io.EOF) {
		fmt.Fprintf(&b, " (after: %v)", p.readErr)
	}
	if t := p.stderr.String(); t != "" {
		fmt.Fprintf(&b, "; last output: %s", t)
	}
	return b.String()
}

// pid returns the process ID.
func (p *process) pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// tail is the core's standard error: every line goes to the log, and the last tailSize bytes are
// kept for error messages. It is safe for concurrent use.
type tail struct {
	log  *slog.Logger
	mu   sync.Mutex
	line []byte
	last []byte
}

const (
	tailSize = 2048
	maxLine  = 1024
)

func newTail(log *slog.Logger) *tail { return &tail{log: log} }

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = append(t.last, b...)
	if len(t.last) > tailSize {
		t.last = append(t.last[:0], t.last[len(t.last)-tailSize:]...)
	}
	rest := b
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			t.line = append(t.line, rest[:min(len(rest), max(0, maxLine-len(t.line)))]...)
			break
		}
		t.line = append(t.line, rest[:min(i, max(0, maxLine-len(t.line)))]...)
		t.log.Info("core output", "line", string(t.line))
		t.line = t.line[:0]
		rest = rest[i+1:]
	}
	return len(b), nil
}

// String returns the kept tail, trimmed of surrounding space.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(strings.ToValidUTF8(string(t.last), "\uFFFD"))
}
