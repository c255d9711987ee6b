package node

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
)

// maxPendingOffers bounds the offer times kept to measure claim latency.
const maxPendingOffers = 10_000

// Measures are the node's own counters since start: what the training cost, how fast it claims,
// and what went over the wire.
type Measures struct {
	// TrainCPU is the CPU time of the training threads (one per model) inside the executor;
	// TrainWall the wall time of the same runs; Runs how many executions ended (done or not).
	TrainCPU, TrainWall time.Duration
	Runs                uint64
	// ProcessCPU is the CPU time the whole process used since start (training included).
	ProcessCPU time.Duration
	// Claims counts this node's claims. ClaimLatency sums, over the ClaimSamples claims whose
	// offer this node saw arrive, the time from the offer reaching it to its claim of the task;
	// ClaimLatencyMax is the largest.
	Claims, ClaimSamples uint64
	ClaimLatency         time.Duration
	ClaimLatencyMax      time.Duration
	// Delivered counts gossip or sync envelopes the Manager took, Ignored those it ignored and
	// Refused those it refused; Published counts what the node published, by kind.
	Delivered, Ignored, Refused uint64
	Published                   map[object.Kind]uint64
	// Fetched counts blocks fetched from peers.
	Fetched uint64
	// GossipLatency sums, over GossipSamples dated messages (claims and capabilities), the time
	// from the author signing a message to this node receiving it (wall clocks, so only
	// meaningful between nodes on one machine or with synchronised clocks); GossipLatencyMax is
	// the largest.
	GossipSamples                   uint64
	GossipLatency, GossipLatencyMax time.Duration
}

// GossipLatencyMean is the mean gossip latency (0 without samples).
func (m Measures) GossipLatencyMean() time.Duration {
	if m.GossipSamples == 0 {
		return 0
	}
	return m.GossipLatency / time.Duration(m.GossipSamples)
}

// ClaimLatencyMean is the mean claim latency (0 without samples).
func (m Measures) ClaimLatencyMean() time.Duration {
	if m.ClaimSamples == 0 {
		return 0
	}
	return m.ClaimLatency / time.Duration(m.ClaimSamples)
}

// TrainingShare is TrainCPU / ProcessCPU: the fraction of the process's CPU time spent training.
func (m Measures) TrainingShare() float64 {
	if m.ProcessCPU <= 0 {
		return 0
	}
	return float64(m.TrainCPU) / float64(m.ProcessCPU)
}

// stats collects Measures; it is safe for concurrent use.
type stats struct {
	cpu0 time.Duration

	mu      sync.Mutex
	m       Measures
	offered map[string]time.Time

	claimHist  prometheus.Histogram
	gossipHist prometheus.Histogram
}

func newStats() *stats {
	return &stats{
		cpu0:    processCPU(),
		m:       Measures{Published: map[object.Kind]uint64{}},
		offered: map[string]time.Time{},
		claimHist: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "airanode_claim_latency_seconds",
			Help:    "Time from an offer reaching this node to this node claiming the task.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		gossipHist: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "airanode_gossip_latency_seconds",
			Help:    "Time from a claim or capability being signed to this node receiving it (wall clocks).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
}

func (s *stats) event(e tasks.Event) {
	now := time.Now()
	k := e.Task.KeyString()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Kind {
	case tasks.EventOffered:
		if len(s.offered) >= maxPendingOffers {
			clear(s.offered)
		}
		s.offered[k] = now
	case tasks.EventClaimed:
		s.m.Claims++
		if t, ok := s.offered[k]; ok {
			d := now.Sub(t)
			s.m.ClaimLatency += d
			s.m.ClaimSamples++
			s.m.ClaimLatencyMax = max(s.m.ClaimLatencyMax, d)
			s.claimHist.Observe(d.Seconds())
			delete(s.offered, k)
		}
	case tasks.EventDone:
		delete(s.offered, k)
	}
}

func (s *stats) trained(cpu, wall time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m.TrainCPU += cpu
	s.m.TrainWall += wall
	s.m.Runs++
}

func (s *stats) delivered(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.m.Delivered++
	case errors.Is(err, tasks.ErrIgnored):
		s.m.Ignored++
	default:
		s.m.Refused++
	}
}

func (s *stats) gossiped(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d = max(d, 0)
	s.m.GossipSamples++
	s.m.GossipLatency += d
	s.m.GossipLatencyMax = max(s.m.GossipLatencyMax, d)
	s.gossipHist.Observe(d.Seconds())
}

func (s *stats) published(k object.Kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m.Published[k]++
}

func (s *stats) fetched(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m.Fetched += uint64(n)
}

func (s *stats) snapshot() Measures {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.m
	m.Published = make(map[object.Kind]uint64, len(s.m.Published))
	for k, v := range s.m.Published {
		m.Published[k] = v
	}
	m.ProcessCPU = processCPU() - s.cpu0
	return m
}

// Measures returns the node's counters since start.
func (n *Node) Measures() Measures { return n.stats.snapshot() }

// newRegistry returns the Prometheus registry behind /metrics: Go and process collectors, the
// claim-latency histogram and the node collector.
func (n *Node) newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		n.stats.claimHist,
		n.stats.gossipHist,
		n.verifier.latency,
		nodeCollector{n},
	)
	return reg
}

var (
	descPeers     = prometheus.NewDesc("airanode_peers", "Connected peers.", nil, nil)
	descTaskPeers = prometheus.NewDesc("airanode_task_peers", "Peers that advertised a capability recently.", nil, nil)
	descTasks     = prometheus.NewDesc("airanode_tasks", "Offered tasks known, by state.", []string{"state"}, nil)
	descRunning   = prometheus.NewDesc("airanode_worker_running", "Tasks running on this node.", nil, nil)
	descWorkers   = prometheus.NewDesc("airanode_worker_workers", "Tasks this node runs at once at most.", nil, nil)
	descPaused    = prometheus.NewDesc("airanode_worker_paused", "1 while the worker is paused.", nil, nil)
	descDraining  = prometheus.NewDesc("airanode_worker_draining", "1 while the worker drains.", nil, nil)
	descOutcomes  = prometheus.NewDesc("airanode_runs_total", "Task runs ended on this node, by outcome.", []string{"outcome"}, nil)
	descTrainCPU  = prometheus.NewDesc("airanode_train_cpu_seconds_total", "CPU time of the training threads.", nil, nil)
	descTrainWall = prometheus.NewDesc("airanode_train_wall_seconds_total", "Wall time of task executions.", nil, nil)
	descDelivered = prometheus.NewDesc("airanode_envelopes_total", "Task envelopes from the network, by outcome.", []string{"outcome"}, nil)
	descPublished = prometheus.NewDesc("airanode_published_total", "Task envelopes published, by kind.", []string{"kind"}, nil)
	descFetched   = prometheus.NewDesc("airanode_blocks_fetched_total", "Blocks fetched from peers.", nil, nil)
	descVerdicts  = prometheus.NewDesc("airanode_verdicts_total", "Final verdicts this node reached since start, by state (verified, disputed).", []string{"state"}, nil)
	descExtra     = prometheus.NewDesc("airanode_extra_executions_total", "Extra executions this node asked for after results disagreed.", nil, nil)
)

// nodeCollector exports the Manager's stats and the node's Measures at scrape time.
type nodeCollector struct{ n *Node }

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeers, descTaskPeers, descTasks, descRunning, descWorkers, descPaused,
		descDraining, descOutcomes, descTrainCPU, descTrainWall, descDelivered, descPublished, descFetched,
		descVerdicts, descExtra} {
		ch <- d
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	m := n.Manager()
	if m == nil {
		return
	}
	st := m.Stats()
	ms := n.Measures()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	gauge(descPeers, float64(len(n.host.Libp2p().Network().Peers())))
	gauge(descTaskPeers, float64(st.Peers))
	gauge(descTasks, float64(st.Tasks), "known")
	gauge(descTasks, float64(st.Pending), "pending")
	gauge(descTasks, float64(st.Claimed), "claimed")
	gauge(descTasks, float64(st.Done), "done")
	gauge(descRunning, float64(st.Running))
	gauge(descWorkers, float64(st.Workers))
	gauge(descPaused, b(st.Paused))
	gauge(descDraining, b(st.Draining))
	counter(descOutcomes, float64(st.Completed), "completed")
	counter(descOutcomes, float64(st.Abandoned), "abandoned")
	counter(descOutcomes, float64(st.Released), "released")
	counter(descOutcomes, float64(st.Failed), "failed")
	counter(descTrainCPU, ms.TrainCPU.Seconds())
	counter(descTrainWall, ms.TrainWall.Seconds())
	counter(descDelivered, float64(ms.Delivered), "delivered")
	counter(descDelivered, float64(ms.Ignored), "ignored")
	counter(descDelivered, float64(ms.Refused), "refused")
	for k, v := range ms.Published {
		counter(descPublished, float64(v), string(k))
	}
	counter(descFetched, float64(ms.Fetched))
	if v := n.verifier; v != nil {
		verified, disputed, extra := v.counters()
		counter(descVerdicts, float64(verified), "verified")
		counter(descVerdicts, float64(disputed), "disputed")
		counter(descExtra, float64(extra))
	}
}
