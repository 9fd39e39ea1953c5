// The proxy's spans and their export: a bounded queue that a proxied call never waits on, drained by
// one goroutine that posts OTLP/HTTP JSON batches to the collector. A full queue drops the span and
// counts it; a failed export drops the batch and counts it. Neither reaches the caller.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Span is one proxied call, as the exporter needs it.
type Span struct {
	TraceID      [16]byte
	SpanID       [8]byte
	ParentSpanID [8]byte // zero when the caller sent no traceparent
	Name         string
	Start, End   time.Time
	Attrs        []Attr
	Failed       bool
	Application  string // resource service.name
	Team         string // resource team
}

// Attr is one span attribute; exactly one of the value fields is used, by Kind.
type Attr struct {
	Key     string
	Kind    byte // 's' string, 'i' int, 'd' double, 'b' bool, 'a' string array
	Str     string
	Int     int64
	Double  float64
	Bool    bool
	Strings []string
}

// newIDs draws trace and span ids from the runtime's per-thread generator (math/rand/v2): ids need
// to be unique, not secret, and crypto/rand costs a system call per call on most kernels.
func newIDs() (trace [16]byte, span [8]byte) {
	binary.LittleEndian.PutUint64(trace[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(trace[8:], rand.Uint64()|1) // never all zero (invalid)
	binary.LittleEndian.PutUint64(span[:], rand.Uint64()|1)
	return
}

// Exporter owns the queue. Offer never blocks.
type Exporter struct {
	queue    chan *Span
	endpoint string // .../v1/traces; empty: spans are counted as dropped
	client   *http.Client
	batch    int
	interval time.Duration
	metrics  *Metrics
}

func NewExporter(endpoint string, queueSize, batch int, interval, timeout time.Duration, m *Metrics) *Exporter {
	return &Exporter{
		queue:    make(chan *Span, queueSize),
		endpoint: endpoint,
		client:   &http.Client{Timeout: timeout},
		batch:    batch,
		interval: interval,
		metrics:  m,
	}
}

// Offer queues a span, or drops and counts it when the queue is full.
func (e *Exporter) Offer(s *Span) {
	select {
	case e.queue <- s:
	default:
		e.metrics.spansDropped.Add(1)
	}
}

func (e *Exporter) QueueLength() int { return len(e.queue) }

// Run drains the queue until ctx ends, then flushes what is left (best effort).
func (e *Exporter) Run(ctx context.Context) {
	ticker := time.NewTicker(e.interval)
	defer ticker.Stop()
	pending := make([]*Span, 0, e.batch)
	flush := func() {
		if len(pending) > 0 {
			e.send(pending)
			pending = pending[:0]
		}
	}
	for {
		select {
		case s := <-e.queue:
			pending = append(pending, s)
			if len(pending) >= e.batch {
				flush()
			}
		case <-ticker.C:
			flush()
		case <-ctx.Done():
			for {
				select {
				case s := <-e.queue:
					pending = append(pending, s)
				default:
					flush()
					return
				}
			}
		}
	}
}

func (e *Exporter) send(spans []*Span) {
	if e.endpoint == "" {
		e.metrics.spansDropped.Add(uint64(len(spans)))
		return
	}
	body := encodeSpans(spans)
	resp, err := e.client.Post(e.endpoint, "application/json", bytes.NewReader(body))
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			err = &statusError{resp.StatusCode}
		}
	}
	if err != nil {
		e.metrics.exportFailures.Add(1)
		e.metrics.spansDropped.Add(uint64(len(spans)))
		log.Printf("span export failed, %d spans dropped: %v", len(spans), err)
		return
	}
	e.metrics.spansExported.Add(uint64(len(spans)))
}

type statusError struct{ code int }

func (s *statusError) Error() string { return "collector answered HTTP " + strconv.Itoa(s.code) }

// --- OTLP/HTTP JSON (opentelemetry-proto's JSON mapping: ids in hex, 64-bit integers as strings),
// appended to one buffer: a batch is encoded without a map or interface value per field.

const spanKindClient = 3
const statusCodeError = 2

// encodeSpans is the body of one export request; spans are grouped by (application, team), which
// are resource attributes, in the order each group first appears.
func encodeSpans(spans []*Span) []byte {
	type key struct{ app, team string }
	order := []key{}
	groups := map[key][]*Span{}
	for _, s := range spans {
		k := key{s.Application, s.Team}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	b := make([]byte, 0, 256+1024*len(spans))
	b = append(b, `{"resourceSpans":[`...)
	for i, k := range order {
		if i > 0 {
			b = append(b, ',')
		}
		res := []Attr{{Key: "service.name", Kind: 's', Str: k.app}}
		if k.team != "" {
			res = append(res, Attr{Key: "team", Kind: 's', Str: k.team})
		}
		b = append(b, `{"resource":{"attributes":`...)
		b = appendAttrs(b, res)
		b = append(b, `},"scopeSpans":[{"scope":{"name":"observatory-proxy","version":`...)
		b = appendString(b, version)
		b = append(b, `},"spans":[`...)
		for j, s := range groups[k] {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendSpan(b, s)
		}
		b = append(b, `]}]}`...)
	}
	return append(b, `]}`...)
}

func appendSpan(b []byte, s *Span) []byte {
	b = append(b, `{"traceId":"`...)
	b = hex.AppendEncode(b, s.TraceID[:])
	b = append(b, `","spanId":"`...)
	b = hex.AppendEncode(b, s.SpanID[:])
	b = append(b, '"')
	if s.ParentSpanID != ([8]byte{}) {
		b = append(b, `,"parentSpanId":"`...)
		b = hex.AppendEncode(b, s.ParentSpanID[:])
		b = append(b, '"')
	}
	b = append(b, `,"name":`...)
	b = appendString(b, s.Name)
	b = append(b, `,"kind":`...)
	b = strconv.AppendInt(b, spanKindClient, 10)
	b = append(b, `,"startTimeUnixNano":`...)
	b = appendQuotedInt(b, s.Start.UnixNano())
	b = append(b, `,"endTimeUnixNano":`...)
	b = appendQuotedInt(b, s.End.UnixNano())
	if s.Failed {
		b = append(b, `,"status":{"code":`...)
		b = strconv.AppendInt(b, statusCodeError, 10)
		b = append(b, '}')
	}
	b = append(b, `,"attributes":`...)
	b = appendAttrs(b, s.Attrs)
	return append(b, '}')
}

func appendAttrs(b []byte, list []Attr) []byte {
	b = append(b, '[')
	for i, a := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = appendString(b, a.Key)
		b = append(b, `,"value":`...)
		b = appendValue(b, a)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendValue(b []byte, a Attr) []byte {
	switch a.Kind {
	case 'i':
		b = append(b, `{"intValue":`...)
		b = appendQuotedInt(b, a.Int)
	case 'd':
		b = append(b, `{"doubleValue":`...)
		b = strconv.AppendFloat(b, a.Double, 'g', -1, 64)
	case 'b':
		b = append(b, `{"boolValue":`...)
		b = strconv.AppendBool(b, a.Bool)
	case 'a':
		b = append(b, `{"arrayValue":{"values":[`...)
		for i, s := range a.Strings {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"stringValue":`...)
			b = appendString(b, s)
			b = append(b, '}')
		}
		b = append(b, `]}`...)
	default:
		b = append(b, `{"stringValue":`...)
		b = appendString(b, a.Str)
	}
	return append(b, '}')
}
