package p2p_test

import (
	"testing"
	"time"

	"github.com/airanode/airanode/p2p/p2ptest"
)

// BenchmarkGossipPropagation measures publish-to-delivery latency across 20 nodes on loopback.
// It measures once whatever b.N is: run it with -benchtime 1x.
//
//	go test -run '^$' -bench GossipPropagation -benchtime 1x ./p2p/
func BenchmarkGossipPropagation(b *testing.B) {
	r := p2ptest.MeasureGossip(b, 20, 200, 20*time.Millisecond)
	b.Log(r)
	b.ReportMetric(float64(r.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.P99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkBlockExchange compares block-exchange throughput with a plain TCP copy over loopback,
// in the same run. It measures once whatever b.N is: run it with -benchtime 1x.
//
//	go test -run '^$' -bench BlockExchange -benchtime 1x ./p2p/
func BenchmarkBlockExchange(b *testing.B) {
	for _, size := range []int{256 << 10, 1 << 20, 4 << 20} {
		b.Run(byteSize(size), func(b *testing.B) {
			r := p2ptest.MeasureBlocks(b, 128<<20, size)
			b.Log(r)
			b.ReportMetric(r.Blocks, "blocks-MB/s")
			b.ReportMetric(r.TCP, "tcp-MB/s")
			b.ReportMetric(r.BlocksCPU.Seconds(), "blocks-cpu-s/GiB")
			b.ReportMetric(r.TCPCPU.Seconds(), "tcp-cpu-s/GiB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func byteSize(n int) string {
	if n >= 1<<20 {
		return itoa(n>>20) + "MiB"
	}
	return itoa(n>>10) + "KiB"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
