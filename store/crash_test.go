//go:build unix

package store

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/airanode/airanode/object"
)

// crashDirEnv tells the test binary, re-executed as a child, to run TestCrashChild in this dir.
const crashDirEnv = "AIRANODE_STORE_CRASH_DIR"

// crashLine prefixes each CID the child reports as durable.
const crashLine = "DURABLE "

// crashBlock returns the i-th block the child writes: raw blocks (some big enough to be chunked),
// plain objects and sealed objects in turn.
func crashBlock(sk crypto.PrivKey, i int) (cid.Cid, []byte, error) {
	switch i % 4 {
	case 0:
		b := make([]byte, 1000+i)
		if _, err := rand.Read(b); err != nil {
			return cid.Undef, nil, err
		}
		return object.RawCID(b), b, nil
	case 1:
		b, c, err := object.Encode(testObject{N: i, Note: "crash"})
		return c, b, err
	case 2:
		env, err := object.Seal(sk, object.KindResult, testObject{N: i, Note: "sealed"})
		if err != nil {
			return cid.Undef, nil, err
		}
		c, _, err := object.SealedCID(env)
		return c, env, err
	default:
		b := make([]byte, diskChunkSize+1+i) // two chunks
		if _, err := rand.Read(b); err != nil {
			return cid.Undef, nil, err
		}
		return object.RawCID(b), b, nil
	}
}

// TestCrashChild is the child half of TestCrashDurability: it writes blocks, index entries and
// meta durably and prints each CID once its writes have returned, until it is killed (or gives up
// after a bound, should the parent be gone).
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashDurability")
	}
	s, err := Open(dir, Options{GCInterval: -1, MemTableSize: 8 << 20, BlockCacheSize: 1 << 20, ValueLogFileSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
		c, data, err := crashBlock(sk, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutDurable(c, data); err != nil {
			t.Fatal(err)
		}
		if err := s.IndexWith(IndexTask, "crash", c, PutOptions{Sync: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutMetaWith("crash/"+c.String(), []byte(fmt.Sprint(len(data))), PutOptions{Sync: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Fprintf(os.Stdout, "%s%s\n", crashLine, c); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("child was not killed")
}

// TestCrashDurability kills a writing child with SIGKILL mid-stream, reopens its store and checks
// that every write the child reported durable is there and verifies.
func TestCrashDurability(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the child")
	}
	const killAfter = 30
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var reported []string
	killed := false
	timeout := time.After(60 * time.Second)
read:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break read
			}
			if c, found := strings.CutPrefix(l, crashLine); found {
				reported = append(reported, c)
			}
			if len(reported) == killAfter && !killed {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		case <-timeout:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child reported %d writes in 60 s; stderr:\n%s", len(reported), stderr.String())
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before the kill (%v) after %d writes; stderr:\n%s", err, len(reported), stderr.String())
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL; stderr:\n%s", err, stderr.String())
	}
	t.Logf("child reported %d durable writes (%d after the kill was sent)", len(reported), len(reported)-killAfter)

	s := mustOpen(t, dir, testOptions())
	indexed := map[string]bool{}
	for _, c := range scanPages(t, s, IndexTask, "crash", 100) {
		indexed[c.String()] = true
	}
	for _, str := range reported {
		c, err := object.ParseCID(str)
		if err != nil {
			t.Fatalf("child printed %q: %v", str, err)
		}
		data, err := s.Get(c)
		if err != nil {
			t.Fatalf("reported block %s after crash: %v", c, err)
		}
		if err := object.VerifyBlock(c, data); err != nil {
			t.Fatalf("reported block %s: %v", c, err)
		}
		if !indexed[str] {
			t.Fatalf("reported index entry for %s missing", c)
		}
		v, err := s.GetMeta("crash/" + str)
		if err != nil || string(v) != fmt.Sprint(len(data)) {
			t.Fatalf("reported meta for %s = %q, %v; want %d", c, v, err, len(data))
		}
	}
	// Whatever the child wrote beyond what it reported must be whole too: every indexed block
	// that is present verifies.
	for str := range indexed {
		c, _ := object.ParseCID(str)
		if has, err := s.Has(c); err != nil || !has {
			continue
		}
		if _, err := s.Get(c); err != nil {
			t.Fatalf("unreported block %s is present but broken: %v", c, err)
		}
	}
}
