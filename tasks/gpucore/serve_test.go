package gpucore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/object"
	core "github.com/airanode/airanode/tasks/gpucore"
)

// link is a node's end of an in-process Serve over pipes.
type link struct {
	t      *testing.T
	toCore *io.PipeWriter
	inbox  chan core.Message
	rerr   chan error
	done   chan error
	cancel context.CancelFunc
}

// serveLink runs Serve with the CPU device and run; cleanup closes the pipes and waits for it.
func serveLink(t *testing.T, run core.RunFunc, opts ...core.ServeOption) *link {
	t.Helper()
	dev, err := cpu.New(1)
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	l := &link{t: t, toCore: inW, inbox: make(chan core.Message, 64), rerr: make(chan error, 1), done: make(chan error, 1), cancel: cancel}
	opts = append([]core.ServeOption{core.WithLogger(testLogger(t))}, opts...)
	go func() {
		err := core.Serve(ctx, inR, outW, dev, run, opts...)
		outW.Close()
		l.done <- err
	}()
	go func() {
		for {
			m, err := core.ReadMessage(outR, 0)
			if err != nil {
				l.rerr <- err
				return
			}
			l.inbox <- m
		}
	}()
	t.Cleanup(func() {
		cancel()
		inW.Close()
		outR.Close()
		inR.Close()
		select {
		case <-l.done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
		dev.Close()
	})
	return l
}

func (l *link) send(m core.Message) {
	l.t.Helper()
	if err := core.WriteMessage(l.toCore, m, 0); err != nil {
		l.t.Fatal(err)
	}
}

// raw writes b without waiting for the core to read it all (a core that stops reading at a bad
// frame would block an io.Pipe writer for good).
func (l *link) raw(b []byte) {
	go func() { _, _ = l.toCore.Write(b) }()
}

// recv returns the core's next message.
func (l *link) recv() core.Message {
	l.t.Helper()
	select {
	case m := <-l.inbox:
		return m
	case err := <-l.rerr:
		l.rerr <- err
		select { // what the core sent before the stream ended comes first
		case m := <-l.inbox:
			return m
		default:
		}
		l.t.Fatalf("reading from the core: %v", err)
	case <-time.After(10 * time.Second):
		l.t.Fatal("nothing from the core")
	}
	return nil
}

// quiet fails if the core says anything within d.
func (l *link) quiet(d time.Duration) {
	l.t.Helper()
	select {
	case m := <-l.inbox:
		l.t.Fatalf("unexpected %s: %+v", m.Kind(), m)
	case <-time.After(d):
	}
}

// wait returns Serve's error.
func (l *link) wait() error {
	l.t.Helper()
	select {
	case err := <-l.done:
		l.done <- err // for cleanup
		return err
	case <-time.After(10 * time.Second):
		l.t.Fatal("Serve did not return")
	}
	return nil
}

func hello() *core.Hello {
	return &core.Hello{Magic: core.Magic, MinVersion: 1, MaxVersion: 1, MaxFrame: core.DefaultMaxFrame}
}

// expect asserts m's type and returns it.
func expect[T core.Message](t *testing.T, m core.Message) T {
	t.Helper()
	v, ok := m.(T)
	if !ok {
		var want T
		t.Fatalf("got %s %+v, want %T", m.Kind(), m, want)
	}
	return v
}

// handshake sends Hello and returns the Info.
func (l *link) handshake() *core.Info {
	l.t.Helper()
	l.send(hello())
	return expect[*core.Info](l.t, l.recv())
}

func TestServeHandshake(t *testing.T) {
	l := serveLink(t, core.EvalRun, core.WithMemory(1<<30), core.WithEngine("eng/1"))
	info := l.handshake()
	if info.Version != core.Version || info.Class != "cpu-v1" || info.Memory != 1<<30 || info.Engine != "eng/1" ||
		info.MaxFrame != core.DefaultMaxFrame || info.PID <= 0 || !strings.HasPrefix(info.Name, "cpu") {
		t.Fatalf("info: %+v", info)
	}
	l.send(&core.Shutdown{})
	if err := l.wait(); err != nil {
		t.Fatalf("after shutdown: %v", err)
	}
}

func TestServeConnectionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(l *link)
		code string // the Error the core sends ("" for none)
		want error  // what Serve returns
	}{
		{"version", func(l *link) {
			l.send(&core.Hello{Magic: core.Magic, MinVersion: 2, MaxVersion: 3, MaxFrame: core.DefaultMaxFrame})
		}, core.CodeVersion, core.ErrVersion},
		{"no hello", func(l *link) { l.send(&core.Cancel{ID: 1}) }, core.CodeProtocol, core.ErrProtocol},
		{"second hello", func(l *link) { l.handshake(); l.send(hello()) }, core.CodeProtocol, core.ErrProtocol},
		{"core-bound kind", func(l *link) { l.handshake(); l.send(&core.Progress{ID: 1, Seq: 1}) }, core.CodeProtocol, core.ErrProtocol},
		{"garbage", func(l *link) { l.handshake(); l.raw([]byte("GET / HTTP/1.1\r\n\r\n")) }, core.CodeProtocol, core.ErrFrameTooLarge},
		{"bad header", func(l *link) { l.handshake(); l.raw(frame(core.KindCancel, []byte{0xa0}, nil)) }, core.CodeProtocol, core.ErrFrame},
		{"node error", func(l *link) { l.handshake(); l.send(&core.Error{Code: core.CodeProtocol, Message: "bye"}) }, "", core.ErrProtocol},
		{"end of input", func(l *link) { l.handshake(); l.toCore.Close() }, "", nil},
		{"truncated", func(l *link) { l.handshake(); _, _ = l.toCore.Write([]byte{0, 0}); l.toCore.Close() }, core.CodeProtocol, core.ErrFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := serveLink(t, core.EvalRun)
			tc.do(l)
			if tc.code != "" {
				if e := expect[*core.Error](t, l.recv()); e.Code != tc.code {
					t.Fatalf("error frame %+v, want code %s", e, tc.code)
				}
			}
			err := l.wait()
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Serve: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestServeRun drives a run function that uses every Job call, as a node would.
func TestServeRun(t *testing.T) {
	block := []byte("model checkpoint")
	bc := object.RawCID(block)
	data := []byte("dataset block")
	dc := object.RawCID(data)
	seen := make(chan *core.Job, 1)
	run := func(ctx context.Context, dev gpu.Device, job *core.Job) (*core.Report, error) {
		seen <- job
		if err := job.Progress(1, 3, 0.5); err != nil {
			return nil, err
		}
		if err := job.PutBlock(bc, block); err != nil {
			return nil, err
		}
		if err := job.PutBlock(bc, []byte("not the block")); err == nil {
			return nil, errors.New("PutBlock accepted bytes that do not match the CID")
		}
		got, err := job.GetBlock(dc)
		if err != nil || string(got) != string(data) {
			return nil, fmt.Errorf("GetBlock: %q, %v", got, err)
		}
		if _, err := job.GetBlock(bc); err == nil || !strings.Contains(err.Error(), "not here") {
			return nil, fmt.Errorf("GetBlock of a missing block: %v", err)
		}
		if err := job.SaveState(2, 3, []byte("state")); err != nil {
			return nil, err
		}
		return &core.Report{Result: object.Result{Task: job.TaskCID.String(), Class: dev.Class(), Engine: "e", Steps: 3},
			Scores: []byte("scores")}, nil
	}
	l := serveLink(t, run)
	l.handshake()
	r := sampleRun(t)
	r.Resume, r.ResumeStep = []byte("resume"), 2
	l.send(r)
	p := expect[*core.Progress](t, l.recv())
	if p.ID != 1 || p.Step != 1 || p.Of != 3 || p.Loss != 500000 {
		t.Fatalf("progress %+v", p)
	}
	l.send(&core.Ack{ID: 1, Seq: p.Seq})
	ck := expect[*core.Checkpoint](t, l.recv())
	if ck.CID != bc.String() || string(ck.Data) != string(block) {
		t.Fatalf("checkpoint %+v", ck)
	}
	l.send(&core.Ack{ID: 1, Seq: ck.Seq})
	g := expect[*core.Get](t, l.recv())
	if g.CID != dc.String() {
		t.Fatalf("get %+v", g)
	}
	l.send(&core.Block{ID: 1, Seq: g.Seq, CID: g.CID, Data: data})
	g = expect[*core.Get](t, l.recv())
	l.send(&core.Block{ID: 1, Seq: g.Seq, CID: g.CID, Err: "not here"})
	st := expect[*core.State](t, l.recv())
	if st.Step != 2 || st.Of != 3 || string(st.Data) != "state" {
		t.Fatalf("state %+v", st)
	}
	l.send(&core.Ack{ID: 1, Seq: 999}) // a reply to nothing is ignored
	l.send(&core.Ack{ID: 1, Seq: st.Seq})
	res := expect[*core.Result](t, l.recv())
	job := <-seen
	if res.ID != 1 || res.Result.Task != job.TaskCID.String() || res.Result.Class != "cpu-v1" || string(res.Scores) != "scores" {
		t.Fatalf("result %+v", res)
	}
	if string(job.Arch) != string(r.Arch) || string(job.Protocol) != string(r.Protocol) || string(job.Resume) != "resume" ||
		job.ResumeStep != 2 || job.ID != 1 {
		t.Fatalf("job %+v", job)
	}
	// The core takes the next run.
	l.send(&core.Run{ID: 2, Task: r.Task, Arch: r.Arch, Protocol: r.Protocol})
	expect[*core.Progress](t, l.recv())
	l.send(&core.Cancel{ID: 2})
	for {
		m := l.recv()
		if e, ok := m.(*core.Error); ok {
			if e.ID != 2 || e.Code != core.CodeCanceled {
				t.Fatalf("after cancel: %+v", e)
			}
			break
		}
		if m.Kind() != core.KindCheckpoint { // sent before the core saw the Cancel; left unanswered
			t.Fatalf("after cancel: %s", m.Kind())
		}
	}
}

// TestServeWindow: a core sends at most ProgressWindow unacknowledged progress frames, then
// waits (how a node holds a paused run at a step boundary).
func TestServeWindow(t *testing.T) {
	run := func(ctx context.Context, dev gpu.Device, job *core.Job) (*core.Report, error) {
		for i := range 100 {
			if err := job.Progress(int64(i+1), 100, 1); err != nil {
				return nil, err
			}
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	l := serveLink(t, run)
	l.handshake()
	l.send(sampleRun(t))
	var last *core.Progress
	for range core.ProgressWindow {
		last = expect[*core.Progress](t, l.recv())
	}
	l.quiet(200 * time.Millisecond)
	l.send(&core.Ack{ID: 1, Seq: 1})
	if p := expect[*core.Progress](t, l.recv()); p.Seq != last.Seq+1 {
		t.Fatalf("after one ack: %+v", p)
	}
	l.quiet(100 * time.Millisecond)
	l.send(&core.Cancel{ID: 1})
	if e := expect[*core.Error](t, l.recv()); e.Code != core.CodeCanceled {
		t.Fatalf("after cancel: %+v", e)
	}
}

func TestServeRunOutcomes(t *testing.T) {
	blocking := func(ctx context.Context, _ gpu.Device, _ *core.Job) (*core.Report, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	for _, tc := range []struct {
		name  string
		run   core.RunFunc
		code  string
		text  string
		serve error // what Serve returns at the end
	}{
		{"invalid", func(context.Context, gpu.Device, *core.Job) (*core.Report, error) {
			return nil, fmt.Errorf("%w: arch does not bind", core.ErrTask)
		}, core.CodeInvalid, "arch does not bind", nil},
		{"failed", func(context.Context, gpu.Device, *core.Job) (*core.Report, error) {
			return nil, errors.New("out of device memory")
		}, core.CodeFailed, "out of device memory", nil},
		{"no report", func(context.Context, gpu.Device, *core.Job) (*core.Report, error) { return nil, nil }, core.CodeFailed, "no report", nil},
		{"another task", func(context.Context, gpu.Device, *core.Job) (*core.Report, error) {
			return &core.Report{Result: object.Result{Task: object.RawCID([]byte("x")).String(), Class: "c"}}, nil
		}, core.CodeFailed, "the report is of task", nil},
		{"unsendable result", func(_ context.Context, _ gpu.Device, j *core.Job) (*core.Report, error) {
			return &core.Report{Result: object.Result{Task: j.TaskCID.String()}}, nil // no class
		}, core.CodeFailed, "send result", nil},
		{"checkpoint refused", func(_ context.Context, _ gpu.Device, j *core.Job) (*core.Report, error) {
			b := []byte("ck")
			return nil, j.PutBlock(object.RawCID(b), b)
		}, core.CodeFailed, "disk full", nil},
		{"panic", func(context.Context, gpu.Device, *core.Job) (*core.Report, error) { panic("boom") }, core.CodePanic, "boom", core.ErrRun},
		{"shutdown", blocking, core.CodeCanceled, "context canceled", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := serveLink(t, tc.run)
			l.handshake()
			l.send(sampleRun(t))
			if tc.name == "shutdown" {
				l.send(&core.Shutdown{})
			}
			var e *core.Error
			for e == nil {
				switch m := l.recv().(type) {
				case *core.Checkpoint:
					l.send(&core.Ack{ID: m.ID, Seq: m.Seq, Err: "disk full"})
				case *core.Error:
					e = m
				default:
					t.Fatalf("unexpected %s", m.Kind())
				}
			}
			if e.ID != 1 || e.Code != tc.code || !strings.Contains(e.Message, tc.text) {
				t.Fatalf("error frame %+v, want %s mentioning %q", e, tc.code, tc.text)
			}
			if tc.name != "panic" && tc.name != "shutdown" {
				l.send(&core.Shutdown{}) // the core is idle again and stops cleanly
			}
			if err := l.wait(); (tc.serve == nil) != (err == nil) || !errors.Is(err, tc.serve) {
				t.Fatalf("Serve: %v, want %v", err, tc.serve)
			}
		})
	}
}

// TestServeBusy: a second Run while one is in progress is refused; cancelling Serve's context
// cancels the run, reports it and returns the context's error.
func TestServeBusy(t *testing.T) {
	l := serveLink(t, func(ctx context.Context, _ gpu.Device, _ *core.Job) (*core.Report, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	l.handshake()
	r := sampleRun(t)
	l.send(r)
	second := *r
	second.ID = 2
	l.send(&second)
	if e := expect[*core.Error](t, l.recv()); e.ID != 2 || e.Code != core.CodeBusy {
		t.Fatalf("second run: %+v", e)
	}
	l.send(&core.Cancel{ID: 7}) // not the running one: ignored
	l.quiet(100 * time.Millisecond)
	l.cancel()
	if e := expect[*core.Error](t, l.recv()); e.ID != 1 || e.Code != core.CodeCanceled {
		t.Fatalf("after the context: %+v", e)
	}
	if err := l.wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve: %v", err)
	}
}

// TestServeEvalInvalid: a task whose architecture object is not an architecture is refused by
// EvalRun as invalid.
func TestServeEvalInvalid(t *testing.T) {
	l := serveLink(t, core.EvalRun)
	l.handshake()
	r := sampleRun(t)
	var task object.Task
	if err := object.Unmarshal(r.Task, &task); err != nil {
		t.Fatal(err)
	}
	task.Arch = task.Protocol // the protocol object where the architecture should be
	tb, _, err := object.Encode(task)
	if err != nil {
		t.Fatal(err)
	}
	l.send(&core.Run{ID: 1, Task: tb, Arch: r.Protocol, Protocol: r.Protocol})
	if e := expect[*core.Error](t, l.recv()); e.Code != core.CodeInvalid || !strings.Contains(e.Message, "arch") {
		t.Fatalf("invalid arch: %+v", e)
	}
}

func TestServeConfig(t *testing.T) {
	dev, err := cpu.New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	r, w := io.Pipe()
	defer r.Close()
	for _, tc := range []struct {
		name string
		dev  gpu.Device
		run  core.RunFunc
		opts []core.ServeOption
	}{
		{"no device", nil, core.EvalRun, nil},
		{"no run", dev, nil, nil},
		{"small frame cap", dev, core.EvalRun, []core.ServeOption{core.WithMaxFrame(1000)}},
	} {
		if err := core.Serve(context.Background(), r, w, tc.dev, tc.run, tc.opts...); !errors.Is(err, core.ErrConfig) {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
}
