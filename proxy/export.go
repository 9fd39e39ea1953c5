// The proxy's spans and their export: a bounded queue that a proxied call never waits on, drained by
// one goroutine that posts OTLP/HTTP JSON batches to the collector. A full queue drops the span and
// counts it; a failed export drops the batch and counts it. Neither reaches the caller.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
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

func newIDs() (trace [16]byte, span [8]byte) {
	_, _ = rand.Read(trace[:])
	_, _ = rand.Read(span[:])
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

// --- OTLP/HTTP JSON (opentelemetry-proto's JSON mapping: ids in hex, 64-bit integers as strings).

type jsonValue map[string]any

func value(a Attr) jsonValue {
	switch a.Kind {
	case 'i':
		return jsonValue{"intValue": strconv.FormatInt(a.Int, 10)}
	case 'd':
		return jsonValue{"doubleValue": a.Double}
	case 'b':
		return jsonValue{"boolValue": a.Bool}
	case 'a':
		values := make([]jsonValue, len(a.Strings))
		for i, s := range a.Strings {
			values[i] = jsonValue{"stringValue": s}
		}
		return jsonValue{"arrayValue": map[string]any{"values": values}}
	}
	return jsonValue{"stringValue": a.Str}
}

func attrs(list []Attr) []map[string]any {
	out := make([]map[string]any, len(list))
	for i, a := range list {
		out[i] = map[string]any{"key": a.Key, "value": value(a)}
	}
	return out
}

const spanKindClient = 3
const statusError2 = 2

// encodeSpans is the body of one export request.
func encodeSpans(spans []*Span) []byte {
	body, _ := json.Marshal(encode(spans))
	return body
}

// encode groups spans by (application, team): those are resource attributes.
func encode(spans []*Span) map[string]any {
	type key struct{ app, team string }
	order := []key{}
	groups := map[key][]map[string]any{}
	for _, s := range spans {
		k := key{s.Application, s.Team}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		js := map[string]any{
			"traceId":           hex.EncodeToString(s.TraceID[:]),
			"spanId":            hex.EncodeToString(s.SpanID[:]),
			"name":              s.Name,
			"kind":              spanKindClient,
			"startTimeUnixNano": strconv.FormatInt(s.Start.UnixNano(), 10),
			"endTimeUnixNano":   strconv.FormatInt(s.End.UnixNano(), 10),
			"attributes":        attrs(s.Attrs),
		}
		if s.ParentSpanID != ([8]byte{}) {
			js["parentSpanId"] = hex.EncodeToString(s.ParentSpanID[:])
		}
		if s.Failed {
			js["status"] = map[string]any{"code": statusError2}
		}
		groups[k] = append(groups[k], js)
	}
	resourceSpans := make([]map[string]any, 0, len(order))
	for _, k := range order {
		res := []Attr{{Key: "service.name", Kind: 's', Str: k.app}}
		if k.team != "" {
			res = append(res, Attr{Key: "team", Kind: 's', Str: k.team})
		}
		resourceSpans = append(resourceSpans, map[string]any{
			"resource": map[string]any{"attributes": attrs(res)},
			"scopeSpans": []map[string]any{{
				"scope": map[string]any{"name": "observatory-proxy", "version": version},
				"spans": groups[k],
			}},
		})
	}
	return map[string]any{"resourceSpans": resourceSpans}
}
