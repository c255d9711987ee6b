package store

import (
	"fmt"
	"testing"

	"github.com/airanode/airanode/object"
)

// BenchmarkPut measures Put of fresh 1 KiB raw blocks (hash, verify, write), and PutDurable on
// disk (plus an fsync).
func BenchmarkPut(b *testing.B) {
	for _, bc := range []struct {
		name    string
		disk    bool
		durable bool
	}{
		{"memory", false, false},
		{"disk", true, false},
		{"disk-durable", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := ""
			if bc.disk {
				dir = b.TempDir()
			}
			s, err := Open(dir, testOptions())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := make([]byte, 1024)
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				copy(data, fmt.Sprint(i))
				i++
				c := object.RawCID(data)
				if bc.durable {
					err = s.PutDurable(c, data)
				} else {
					err = s.Put(c, data)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGet measures Get (read and re-verify) of a 1 KiB raw block and of a sealed object
// (which re-checks the envelope signature).
func BenchmarkGet(b *testing.B) {
	s, err := Open(b.TempDir(), testOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	raw := make([]byte, 1024)
	rawCID := object.RawCID(raw)
	sk, _ := newKey(b)
	env, err := object.Seal(sk, object.KindResult, testObject{N: 1, Note: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	envCID, _, err := object.SealedCID(env)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []struct {
		name string
		data []byte
	}{{"raw", raw}, {"sealed", env}} {
		c := rawCID
		if p.name == "sealed" {
			c = envCID
		}
		if err := s.Put(c, p.data); err != nil {
			b.Fatal(err)
		}
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Get(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
