package p2ptest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/p2p"
)

// GossipResult is what MeasureGossip measured.
type GossipResult struct {
	Nodes, Messages, Deliveries int
	P50, P90, P99, Max          time.Duration
}

func (r GossipResult) String() string {
	return fmt.Sprintf("%d nodes, %d messages, %d deliveries: p50 %v, p90 %v, p99 %v, max %v",
		r.Nodes, r.Messages, r.Deliveries, r.P50, r.P90, r.P99, r.Max)
}

// MeasureGossip starts a cluster of n nodes on loopback, all on one search topic, publishes msgs
// signed objects from random nodes, one every interval, and measures for every other node the
// time from Publish to delivery to its subscriber (after validation: envelope signature, decode,
// replay cache).
func MeasureGossip(tb testing.TB, n, msgs int, interval time.Duration) GossipResult {
	tb.Helper()
	const search = "bench"
	c := NewCluster(tb, n)
	WaitFor(tb, time.Minute, func() error {
		for i, nd := range c.Running() {
			if got := len(nd.Libp2p().Network().Peers()); got < min(n-1, 8) {
				return fmt.Errorf("node %d has %d peers", i, got)
			}
		}
		return nil
	})
	nodes := c.Running()
	name := p2p.SearchTopic(Network, SearchCID(search))
	var (
		mu    sync.Mutex
		sent  = map[cid.Cid]time.Time{}
		seen  = map[string]bool{}
		dups  int
		lat   []time.Duration
		done  = make(chan struct{})
		total = msgs * (n - 1)
	)
	topics := make([]*p2p.Topic, n)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i, nd := range nodes {
		t, err := nd.Gossip().Join(name, Decoder(search))
		if err != nil {
			tb.Fatal(err)
		}
		topics[i] = t
		sub, err := t.Subscribe(1024)
		if err != nil {
			tb.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Cancel()
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					return
				}
				now := time.Now()
				if m.Local {
					continue
				}
				mu.Lock()
				key := string(nd.ID()) + m.Decoded.CID.KeyString()
				if seen[key] {
					dups++
					mu.Unlock()
					continue
				}
				seen[key] = true
				if t0, ok := sent[m.Decoded.CID]; ok {
					lat = append(lat, now.Sub(t0))
					if len(lat) == total {
						close(done)
					}
				}
				mu.Unlock()
			}
		}()
	}
	WaitFor(tb, time.Minute, func() error {
		for i, t := range topics {
			if got := len(t.Peers()); got < min(n-1, 6) {
				return fmt.Errorf("node %d sees %d topic peers", i, got)
			}
		}
		return nil
	})
	time.Sleep(2 * time.Second) // a few heartbeats: meshes are grafted
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range msgs {
		i := rng.IntN(n)
		env, c := Seal(tb, nodes[i].Key, search, int64(k), 256)
		mu.Lock()
		sent[c] = time.Now()
		mu.Unlock()
		if err := topics[i].Publish(ctx, env); err != nil {
			tb.Fatal(err)
		}
		time.Sleep(interval)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) < total {
		tb.Errorf("only %d of %d deliveries", len(lat), total)
	}
	if dups > 0 {
		tb.Errorf("%d duplicate deliveries", dups)
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return GossipResult{Nodes: n, Messages: msgs, Deliveries: len(lat), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: q(1)}
}

// BlocksResult is what MeasureBlocks measured, in MB/s (10^6 bytes per second).
type BlocksResult struct {
	Bytes      int
	BlockSize  int
	Blocks     float64 // block exchange: request, frame, verify (sha2-256), store
	TCP        float64 // a plain TCP copy of the same bytes over loopback
	BlocksTime time.Duration
	TCPTime    time.Duration
	// BlocksCPU and TCPCPU are the process CPU time (both ends, user + system) per GiB moved:
	// a figure that depends less than the rates on how busy the machine is.
	BlocksCPU, TCPCPU time.Duration
}

func (r BlocksResult) String() string {
	return fmt.Sprintf("%d MiB in %d KiB blocks: block exchange %.0f MB/s (%v, CPU %v/GiB), plain TCP %.0f MB/s (%v, CPU %v/GiB), ratio %.2f",
		r.Bytes>>20, r.BlockSize>>10, r.Blocks, r.BlocksTime.Round(time.Millisecond), r.BlocksCPU.Round(time.Millisecond),
		r.TCP, r.TCPTime.Round(time.Millisecond), r.TCPCPU.Round(time.Millisecond), r.Blocks/r.TCP)
}

// MeasureBlocks moves total bytes in blocks of blockSize from one node to another over loopback
// TCP with the block-exchange protocol (every block verified and stored), then copies the same
// number of bytes over a plain loopback TCP connection, and reports both rates.
func MeasureBlocks(tb testing.TB, total, blockSize int) BlocksResult {
	tb.Helper()
	c := NewCluster(tb, 2, WithConfig(func(_ int, cfg *p2p.Config) {
		cfg.Blocks.PeerBytesPerSecond = 1e12
		cfg.Blocks.PeerBlocksPerSecond = 1e9
		cfg.Blocks.PeerBlockBurst = 1 << 20
		cfg.Blocks.MaxBlockSize = max(cfg.Blocks.MaxBlockSize, blockSize)
	}))
	WaitFor(tb, 30*time.Second, c.FullyConnected)
	a, b := c.Node(0), c.Node(1)
	rng := rand.New(rand.NewPCG(3, 4))
	var cids []cid.Cid
	for sent := 0; sent < total; sent += blockSize {
		blk := make([]byte, blockSize)
		for i := 0; i+8 <= len(blk); i += 8 {
			v := rng.Uint64()
			for k := range 8 {
				blk[i+k] = byte(v >> (8 * k))
			}
		}
		bc := object.RawCID(blk)
		if err := b.Store.Put(bc, blk); err != nil {
			tb.Fatal(err)
		}
		cids = append(cids, bc)
	}
	cpu0, start := processCPU(), time.Now()
	if _, err := a.Blocks().Fetch(context.Background(), b.ID(), cids); err != nil {
		tb.Fatal(err)
	}
	blocksTime, blocksCPU := time.Since(start), processCPU()-cpu0
	moved := len(cids) * blockSize

	cpu0 = processCPU()
	tcpTime := tcpCopy(tb, moved, blockSize)
	tcpCPU := processCPU() - cpu0
	perGiB := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) * float64(1<<30) / float64(moved))
	}
	return BlocksResult{
		Bytes: moved, BlockSize: blockSize,
		Blocks: float64(moved) / blocksTime.Seconds() / 1e6, BlocksTime: blocksTime,
		TCP: float64(moved) / tcpTime.Seconds() / 1e6, TCPTime: tcpTime,
		BlocksCPU: perGiB(blocksCPU), TCPCPU: perGiB(tcpCPU),
	}
}

// tcpCopy sends n bytes over a loopback TCP connection in writes of chunk bytes and returns the
// time until the reader has them all.
func tcpCopy(tb testing.TB, n, chunk int) time.Duration {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	buf := make([]byte, chunk)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		for sent := 0; sent < n; sent += chunk {
			if _, err := conn.Write(buf[:min(chunk, n-sent)]); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	got, err := io.Copy(io.Discard, conn)
	if err != nil || int(got) != n {
		tb.Fatalf("tcp copy: %d of %d bytes, %v", got, n, err)
	}
	return time.Since(start)
}
