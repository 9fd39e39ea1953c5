// The proxy's own Prometheus metrics, in the text exposition format: calls by provider and outcome,
// calls in flight, and what happened to their spans (exported, dropped, failed exports). Counters
// are atomics so a proxied call never takes a lock for them.
package main

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
)

type Metrics struct {
	inFlight       atomic.Int64
	spansExported  atomic.Uint64
	spansDropped   atomic.Uint64
	exportFailures atomic.Uint64
	mu             sync.Mutex
	requests       map[[3]string]*atomic.Uint64 // provider, operation, error type ("" when none)
}

func NewMetrics() *Metrics { return &Metrics{requests: map[[3]string]*atomic.Uint64{}} }

func (m *Metrics) countRequest(provider, op, errorType string) {
	k := [3]string{provider, op, errorType}
	m.mu.Lock()
	c, ok := m.requests[k]
	if !ok {
		c = &atomic.Uint64{}
		m.requests[k] = c
	}
	m.mu.Unlock()
	c.Add(1)
}

// Metric names; src/observatory/names.py spells the same ones for the alerts.
const (
	metricRequests       = "observatory_proxy_requests_total"
	metricInFlight       = "observatory_proxy_requests_in_flight"
	metricSpansExported  = "observatory_proxy_spans_exported_total"
	metricSpansDropped   = "observatory_proxy_spans_dropped_total"
	metricExportFailures = "observatory_proxy_export_failures_total"
	metricQueueLength    = "observatory_proxy_queue_spans"
	metricQueueCapacity  = "observatory_proxy_queue_capacity_spans"
)

func (m *Metrics) write(w io.Writer, queueLength, queueCapacity int) {
	fmt.Fprintf(w, "# HELP %s Proxied calls by provider, operation and error type (empty: none).\n# TYPE %s counter\n", metricRequests, metricRequests)
	m.mu.Lock()
	keys := make([][3]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0]+"\x00"+keys[i][1]+"\x00"+keys[i][2] < keys[j][0]+"\x00"+keys[j][1]+"\x00"+keys[j][2]
	})
	for _, k := range keys {
		m.mu.Lock()
		v := m.requests[k].Load()
		m.mu.Unlock()
		fmt.Fprintf(w, "%s{provider=%q,operation=%q,error_type=%q} %d\n", metricRequests, k[0], k[1], k[2], v)
	}
	gauge := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge(metricInFlight, "Calls being proxied now.", m.inFlight.Load())
	counter(metricSpansExported, "Spans the collector accepted.", m.spansExported.Load())
	counter(metricSpansDropped, "Spans dropped: queue full, or their export failed.", m.spansDropped.Load())
	counter(metricExportFailures, "Span exports that failed (each drops its batch).", m.exportFailures.Load())
	gauge(metricQueueLength, "Spans waiting for export.", int64(queueLength))
	gauge(metricQueueCapacity, "The span queue's size.", int64(queueCapacity))
}
