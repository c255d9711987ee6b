package p2ptest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
}

func TestWaitFor(t *testing.T) {
	n := 0
	WaitFor(t, time.Second, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("cond called %d times", n)
	}
	f := &fakeTB{TB: t}
	WaitFor(f, 100*time.Millisecond, func() error { return errors.New("never") })
	if !strings.Contains(f.msg, "never") {
		t.Fatalf("timeout not reported: %q", f.msg)
	}
}

func TestClusterStopRestartPartition(t *testing.T) {
	c := NewCluster(t, 3)
	WaitFor(t, 30*time.Second, c.FullyConnected)
	id := c.Node(2).ID()
	c.Stop(2)
	if len(c.Running()) != 2 {
		t.Fatal("stopped node still running")
	}
	if n := c.Restart(2); n.ID() != id {
		t.Fatal("restart changed the peer ID")
	}
	WaitFor(t, 30*time.Second, c.FullyConnected)
	c.Partition([]int{0}, []int{1, 2})
	WaitFor(t, 10*time.Second, func() error {
		if c.FullyConnected() == nil {
			return errors.New("still fully connected")
		}
		return nil
	})
	c.Heal()
	WaitFor(t, 10*time.Second, c.FullyConnected)
}
