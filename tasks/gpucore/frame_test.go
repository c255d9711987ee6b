package gpucore_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/object"
	core "github.com/airanode/airanode/tasks/gpucore"
)

// sampleRun returns a valid Run with real task, arch and protocol objects.
func sampleRun(t testing.TB) *core.Run {
	t.Helper()
	a, err := arch.Parse("width=16: A M")
	if err == nil {
		a, err = arch.Normalize(a)
	}
	if err != nil {
		t.Fatal(err)
	}
	ab, ac, err := arch.Encode(a)
	if err != nil {
		t.Fatal(err)
	}
	pb, pc, err := tinyProtocol().Encode()
	if err != nil {
		t.Fatal(err)
	}
	tb, _, err := object.Encode(object.Task{Arch: ac.String(), Protocol: pc.String(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return &core.Run{ID: 1, Task: tb, Arch: ab, Protocol: pb}
}

// sampleMessages returns one valid message of every kind.
func sampleMessages(t testing.TB) []core.Message {
	t.Helper()
	block := []byte("a checkpoint")
	bc := object.RawCID(block).String()
	run := sampleRun(t)
	resumed := *run
	resumed.ID, resumed.ResumeStep, resumed.Resume = 2, 40, []byte(`{"state":1}`)
	var task object.Task
	if err := object.Unmarshal(run.Task, &task); err != nil {
		t.Fatal(err)
	}
	_, tc, _ := object.Encode(task)
	return []core.Message{
		&core.Hello{Magic: core.Magic, MinVersion: 1, MaxVersion: 3, MaxFrame: core.DefaultMaxFrame},
		&core.Info{Version: 1, Name: "cuda:0 (NVIDIA H100)", Class: "cuda-v1", Engine: "airanode-eval/1", Memory: 80 << 30, MaxFrame: core.DefaultMaxFrame, PID: 1234},
		run,
		&resumed,
		&core.Progress{ID: 1, Seq: 1, Step: 3, Of: 10, Loss: 2_345_678},
		&core.Progress{ID: 1, Seq: 2, Step: 0, Of: 0, Loss: -5},
		&core.Checkpoint{ID: 1, Seq: 3, CID: bc, Data: block},
		&core.State{ID: 1, Seq: 4, Step: 5, Of: 10, Data: []byte("state")},
		&core.Get{ID: 1, Seq: 5, CID: bc},
		&core.Block{ID: 1, Seq: 5, CID: bc, Data: block},
		&core.Block{ID: 1, Seq: 6, CID: bc, Err: "not found"},
		&core.Ack{ID: 1, Seq: 4},
		&core.Ack{ID: 1, Seq: 3, Err: "disk full"},
		&core.Result{ID: 1, Result: object.Result{Task: tc.String(), Class: "cuda-v1", Engine: "e", Steps: 10,
			Segments: []object.Segment{{Step: 10, Digest: make([]byte, object.DigestSize), Loss: 12}},
			Metrics:  []object.Metric{{Name: "m", Value: 1}}, Score: 5}, Scores: []byte("scores")},
		&core.Error{ID: 1, Code: core.CodeFailed, Message: "out of memory"},
		&core.Error{Code: core.CodeProtocol},
		&core.Cancel{ID: 1},
		&core.Shutdown{},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, m := range sampleMessages(t) {
		t.Run(m.Kind().String(), func(t *testing.T) {
			b, err := core.AppendFrame(nil, m, 0)
			if err != nil {
				t.Fatal(err)
			}
			if n := binary.BigEndian.Uint32(b); int(n) != len(b)-4 || core.Kind(b[4]) != m.Kind() {
				t.Fatalf("frame length %d for %d bytes, kind %d", n, len(b), b[4])
			}
			got, err := core.ParseFrame(b, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip:\n got  %#v\n want %#v", got, m)
			}
			var buf bytes.Buffer
			if err := core.WriteMessage(&buf, m, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), b) {
				t.Fatal("WriteMessage and AppendFrame disagree")
			}
		})
	}
}

// TestReadStream reads several frames from one stream, then a clean end.
func TestReadStream(t *testing.T) {
	msgs := sampleMessages(t)
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := core.WriteMessage(&buf, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range msgs {
		m, err := core.ReadMessage(&buf, 0)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if m.Kind() != msgs[i].Kind() {
			t.Fatalf("frame %d: %s, want %s", i, m.Kind(), msgs[i].Kind())
		}
	}
	if _, err := core.ReadMessage(&buf, 0); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

// frame builds a raw frame from a kind, a header and a payload.
func frame(kind core.Kind, header, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(5+len(header)+len(payload)))
	b = append(b, byte(kind))
	b = binary.BigEndian.AppendUint32(b, uint32(len(header)))
	b = append(b, header...)
	return append(b, payload...)
}

// header is the canonical encoding of v.
func header(t testing.TB, v any) []byte {
	t.Helper()
	b, err := object.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFrameBad(t *testing.T) {
	block := []byte("a checkpoint")
	bc := object.RawCID(block).String()
	good := frame(core.KindCancel, header(t, map[string]uint64{"id": 1}), nil)
	run := sampleRun(t)
	otherArch := *run
	otherArch.Arch = append([]byte(nil), run.Arch...)
	otherArch.Arch[len(otherArch.Arch)-1] ^= 1
	// A frame whose length field says more than the cap.
	huge := binary.BigEndian.AppendUint32(nil, core.DefaultMaxFrame+1)
	huge = append(huge, byte(core.KindBlock), 0, 0, 0, 1)
	runFrame := func(r *core.Run) []byte {
		type wire struct {
			ID       uint64 `cbor:"id"`
			Task     []byte `cbor:"task"`
			Arch     []byte `cbor:"arch"`
			Protocol []byte `cbor:"protocol"`
		}
		return frame(core.KindRun, header(t, wire{r.ID, r.Task, r.Arch, r.Protocol}), nil)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, core.ErrFrame},
		{"short length", []byte{0, 0}, core.ErrFrame},
		{"length below the fixed fields", []byte{0, 0, 0, 4, 1, 0, 0, 0}, core.ErrFrame},
		{"truncated fixed fields", good[:6], core.ErrFrame},
		{"truncated header", good[:len(good)-1], core.ErrFrame},
		{"trailing bytes", append(append([]byte(nil), good...), 0), core.ErrFrame},
		{"too large", huge, core.ErrFrameTooLarge},
		{"unknown kind", frame(99, header(t, map[string]uint64{"id": 1}), nil), core.ErrFrame},
		{"kind zero", frame(0, header(t, map[string]uint64{"id": 1}), nil), core.ErrFrame},
		{"header longer than the frame", func() []byte {
			b := append([]byte(nil), good...)
			binary.BigEndian.PutUint32(b[5:], 1000)
			return b
		}(), core.ErrFrame},
		{"empty header", frame(core.KindShutdown, nil, nil), core.ErrFrame},
		{"payload on a kind without one", frame(core.KindCancel, header(t, map[string]uint64{"id": 1}), []byte{1}), core.ErrFrame},
		{"not cbor", frame(core.KindCancel, []byte{0xff}, nil), core.ErrFrame},
		{"unknown field", frame(core.KindCancel, header(t, map[string]uint64{"id": 1, "zz": 2}), nil), core.ErrFrame},
		{"non-canonical integer", frame(core.KindCancel, []byte{0xa1, 0x62, 'i', 'd', 0x18, 0x01}, nil), core.ErrFrame},
		{"float", frame(core.KindProgress, []byte{0xa1, 0x64, 'l', 'o', 's', 's', 0xfa, 0x3f, 0x80, 0, 0}, nil), core.ErrFrame},
		{"trailing cbor", frame(core.KindCancel, append(header(t, map[string]uint64{"id": 1}), 0), nil), core.ErrFrame},
		{"id zero", frame(core.KindCancel, header(t, map[string]uint64{"id": 0}), nil), core.ErrFrame},
		{"wrong magic", frame(core.KindHello, header(t, map[string]any{"magic": "x", "min": 1, "max": 1, "max_frame": core.DefaultMaxFrame}), nil), core.ErrVersion},
		{"hello versions reversed", frame(core.KindHello, header(t, map[string]any{"magic": core.Magic, "min": 2, "max": 1, "max_frame": core.DefaultMaxFrame}), nil), core.ErrFrame},
		{"hello tiny frame cap", frame(core.KindHello, header(t, map[string]any{"magic": core.Magic, "min": 1, "max": 1, "max_frame": 10}), nil), core.ErrFrame},
		{"info without class", frame(core.KindInfo, header(t, map[string]any{"version": 1, "name": "x", "class": "", "max_frame": core.DefaultMaxFrame}), nil), core.ErrFrame},
		{"step after of", frame(core.KindProgress, header(t, map[string]any{"id": 1, "seq": 1, "step": 5, "of": 4}), nil), core.ErrFrame},
		{"negative step", frame(core.KindProgress, header(t, map[string]any{"id": 1, "seq": 1, "step": -1, "of": 4}), nil), core.ErrFrame},
		{"seq zero", frame(core.KindAck, header(t, map[string]any{"id": 1, "seq": 0}), nil), core.ErrFrame},
		{"checkpoint hash mismatch", frame(core.KindCheckpoint, header(t, map[string]any{"id": 1, "seq": 1, "cid": bc}), []byte("another")), core.ErrFrame},
		{"checkpoint bad cid", frame(core.KindCheckpoint, header(t, map[string]any{"id": 1, "seq": 1, "cid": "bafy-nope"}), block), core.ErrFrame},
		{"block with error and data", frame(core.KindBlock, header(t, map[string]any{"id": 1, "seq": 1, "cid": bc, "err": "x"}), block), core.ErrFrame},
		{"empty state", frame(core.KindState, header(t, map[string]any{"id": 1, "seq": 1, "step": 1, "of": 2}), nil), core.ErrFrame},
		{"run without objects", frame(core.KindRun, header(t, map[string]any{"id": 1, "task": []byte{0xa0}}), nil), core.ErrFrame},
		{"run arch not the task's", runFrame(&otherArch), core.ErrFrame},
		{"run task not a task", func() []byte { r := *run; r.Task = header(t, map[string]int{"x": 1}); return runFrame(&r) }(), core.ErrFrame},
		{"result without class", frame(core.KindResult, header(t, map[string]any{"id": 1, "result": object.Result{Task: bc}}), nil), core.ErrFrame},
		{"error without code", frame(core.KindError, header(t, map[string]any{"id": 1}), nil), core.ErrFrame},
		{"error message too long", frame(core.KindError, header(t, map[string]any{"code": "x", "msg": strings.Repeat("x", 5000)}), nil), core.ErrFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := core.ParseFrame(tc.b, 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseFrame: %v, %v; want %v", m, err, tc.want)
			}
		})
	}
}

// TestFrameCap: a reader's cap applies, and a writer refuses (writing nothing) a frame over the
// cap the peer announced.
func TestFrameCap(t *testing.T) {
	data := bytes.Repeat([]byte{7}, core.MinMaxFrame)
	m := &core.Checkpoint{ID: 1, Seq: 1, CID: object.RawCID(data).String(), Data: data}
	var buf bytes.Buffer
	if err := core.WriteMessage(&buf, m, core.MinMaxFrame); !errors.Is(err, core.ErrFrameTooLarge) || buf.Len() != 0 {
		t.Fatalf("write over the cap: %v, %d bytes written", err, buf.Len())
	}
	if err := core.WriteMessage(&buf, m, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := core.ReadMessage(bytes.NewReader(buf.Bytes()), core.MinMaxFrame); !errors.Is(err, core.ErrFrameTooLarge) {
		t.Fatalf("read over the cap: %v", err)
	}
	if _, err := core.ReadMessage(&buf, 0); err != nil {
		t.Fatal(err)
	}
	// Invalid messages are not written either.
	for _, bad := range []core.Message{nil, &core.Cancel{}, &core.Progress{ID: 1, Seq: 1, Step: 2, Of: 1}, &core.State{ID: 1, Seq: 1}} {
		if err := core.WriteMessage(&buf, bad, 0); !errors.Is(err, core.ErrFrame) || buf.Len() != 0 {
			t.Fatalf("write %#v: %v, %d bytes written", bad, err, buf.Len())
		}
	}
}

// FuzzParseFrame: any input decodes to a valid message or fails with a package error, never
// panics; what decodes re-encodes to the same bytes.
func FuzzParseFrame(f *testing.F) {
	for _, m := range sampleMessages(f) {
		b, err := core.AppendFrame(nil, m, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0, 5, 13, 0, 0, 0, 0})
	f.Add([]byte("Usage: airanode-cuda"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := core.ParseFrame(b, 1<<16)
		if err != nil {
			if !errors.Is(err, core.ErrFrame) && !errors.Is(err, core.ErrFrameTooLarge) && !errors.Is(err, core.ErrVersion) {
				t.Fatalf("error outside the package's sentinels: %v", err)
			}
			return
		}
		again, err := core.AppendFrame(nil, m, 0)
		if err != nil {
			t.Fatalf("a decoded %s does not encode: %v", m.Kind(), err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%s re-encodes differently:\n in  %x\n out %x", m.Kind(), b, again)
		}
	})
}
