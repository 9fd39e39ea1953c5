// The proxy in process between a test client and an httptest provider: what reaches the provider
// (no X-Observatory-* headers, the proxy span as parent, stream usage asked for, an Accept-Encoding
// the proxy can decode), what the caller gets back, and the span that is queued.
package main

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type harness struct {
	proxy    *httptest.Server
	exporter *Exporter
	seen     chan *http.Request // each request the provider received, with its body read into seenBody
	bodies   chan string
}

// newHarness serves a provider that answers with answer, and the proxy in front of it.
func newHarness(t testing.TB, answer http.HandlerFunc) *harness {
	h := &harness{seen: make(chan *http.Request, 1000), bodies: make(chan string, 1000)}
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case h.seen <- r:
			h.bodies <- string(body)
		default:
		}
		answer(w, r)
	}))
	t.Cleanup(provider.Close)
	cfg := Config{OpenAIUpstream: provider.URL, AnthropicUpstream: provider.URL, Application: "llm-proxy",
		HeaderTimeout: 5 * time.Second, StreamIdleTimeout: 5 * time.Second, MaxRequestBytes: 1 << 20,
		MaxObservedBodyBytes: 1 << 20}
	h.exporter = NewExporter("", 1000, 100, time.Hour, time.Second, NewMetrics())
	p, err := NewProxy(cfg, h.exporter, h.exporter.metrics)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/openai/", p.handler("openai"))
	mux.Handle("/anthropic/", p.handler("anthropic"))
	h.proxy = httptest.NewServer(mux)
	t.Cleanup(h.proxy.Close)
	return h
}

func (h *harness) post(t testing.TB, path, body string, headers map[string]string) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodPost, h.proxy.URL+path, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(got)
}

func (h *harness) span(t testing.TB) *Span {
	select {
	case s := <-h.exporter.queue:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no span queued")
	}
	return nil
}

func attr(s *Span, key string) (Attr, bool) {
	for _, a := range s.Attrs {
		if a.Key == key {
			return a, true
		}
	}
	return Attr{}, false
}

const chatCompletion = `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o","choices":[{"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}`

func TestTheProvidersHeadersStripTheProxysOwnAndCarryTheProxySpanAsParent(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, chatCompletion)
	})
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	resp, body := h.post(t, "/openai/v1/chat/completions", `{"model":"gpt-4o"}`, map[string]string{
		"Authorization":             "Bearer sk-secret",
		"X-Observatory-Application": "billing",
		"X-Observatory-Team":        "finance",
		"X-Observatory-User":        "u-1",
		"x-observatory-anything":    "1",
		"Traceparent":               "00-" + trace + "-00f067aa0ba902b7-01",
		"Accept-Encoding":           "br, gzip;q=0.5",
	})
	if resp.StatusCode != 200 || body != chatCompletion {
		t.Fatalf("caller got %d %s", resp.StatusCode, body)
	}
	r := <-h.seen
	for name := range r.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-observatory-") {
			t.Errorf("%s reached the provider", name)
		}
	}
	if r.Header.Get("Authorization") != "Bearer sk-secret" {
		t.Error("the caller's key did not reach the provider")
	}
	if r.Header.Get("Accept-Encoding") != "gzip" {
		t.Errorf("Accept-Encoding %q, want gzip", r.Header.Get("Accept-Encoding"))
	}
	if r.URL.Path != "/v1/chat/completions" {
		t.Errorf("path %q", r.URL.Path)
	}
	s := h.span(t)
	parts := strings.Split(r.Header.Get("Traceparent"), "-")
	if len(parts) != 4 || parts[1] != trace || parts[2] != hex.EncodeToString(s.SpanID[:]) {
		t.Errorf("traceparent %q, span id %x", r.Header.Get("Traceparent"), s.SpanID)
	}
	if s.Application != "billing" || s.Team != "finance" || hex.EncodeToString(s.TraceID[:]) != trace {
		t.Errorf("span %+v", s)
	}
	if a, _ := attr(s, "user.id"); a.Str != "u-1" {
		t.Errorf("user.id %q", a.Str)
	}
	if a, _ := attr(s, "gen_ai.usage.input_tokens"); a.Int != 3 {
		t.Errorf("input tokens %d", a.Int)
	}
}

func TestAStreamIsAskedForUsageWithEveryOtherMemberKept(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, withUsage)
	})
	resp, body := h.post(t, "/openai/v1/chat/completions",
		`{"model":"gpt-4o","stream":true,"stream_options":{"other":1},"n":1}`, map[string]string{"Accept-Encoding": "gzip"})
	if resp.StatusCode != 200 || body != withoutUsage {
		t.Fatalf("caller got %d\n%s", resp.StatusCode, body)
	}
	r, sent := <-h.seen, <-h.bodies
	var m map[string]any
	if err := json.Unmarshal([]byte(sent), &m); err != nil {
		t.Fatal(err)
	}
	opts, _ := m["stream_options"].(map[string]any)
	if opts["include_usage"] != true || opts["other"] != 1.0 || m["n"] != 1.0 || m["model"] != "gpt-4o" {
		t.Errorf("provider got %s", sent)
	}
	if r.Header.Get("Accept-Encoding") != "" {
		t.Errorf("a stream asked for %q, want identity", r.Header.Get("Accept-Encoding"))
	}
	s := h.span(t)
	if a, _ := attr(s, "gen_ai.usage.output_tokens"); a.Int != 12 {
		t.Errorf("output tokens %d", a.Int)
	}
}

func TestAcceptEncodingIsNarrowedToGzipOnlyWhenTheCallerAcceptsIt(t *testing.T) {
	for in, want := range map[string]bool{
		"gzip":               true,
		"br, gzip":           true,
		"GZIP;q=0.5":         true,
		"*":                  true,
		"br, zstd":           false,
		"gzip;q=0":           false,
		"gzip; q=0.000, br":  false,
		"identity":           false,
		"":                   false,
		"deflate, gzip;q=1.": true,
	} {
		if got := acceptsGzip([]string{in}); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestTraceparentIsParsedOnlyWhenValid(t *testing.T) {
	for in, ok := range map[string]bool{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": true,
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": false,
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01": false,
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01":  false,
		"garbage": false,
	} {
		if _, _, got := parseTraceparent(in); got != ok {
			t.Errorf("parseTraceparent(%q) ok = %v, want %v", in, got, ok)
		}
	}
}

func TestSpansAreEncodedAsOTLPJSONGroupedByResource(t *testing.T) {
	start := time.Unix(1700000000, 5)
	spans := []*Span{
		{TraceID: [16]byte{1}, SpanID: [8]byte{2}, Name: "chat gpt-4o", Start: start, End: start.Add(time.Second),
			Application: "a", Failed: true, Attrs: []Attr{
				{Key: "s", Kind: 's', Str: "x\"y"}, {Key: "i", Kind: 'i', Int: 1 << 40}, {Key: "d", Kind: 'd', Double: 0.25},
				{Key: "b", Kind: 'b', Bool: true}, {Key: "a", Kind: 'a', Strings: []string{"stop"}}}},
		{TraceID: [16]byte{3}, SpanID: [8]byte{4}, ParentSpanID: [8]byte{5}, Name: "embeddings", Start: start,
			End: start, Application: "b", Team: "t"},
		{TraceID: [16]byte{6}, SpanID: [8]byte{7}, Name: "chat", Start: start, End: start, Application: "a"},
	}
	var got any
	if err := json.Unmarshal(encodeSpans(spans), &got); err != nil {
		t.Fatal(err)
	}
	want := `{"resourceSpans":[
	{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}}]},
	 "scopeSpans":[{"scope":{"name":"observatory-proxy","version":"dev"},"spans":[
		{"traceId":"01000000000000000000000000000000","spanId":"0200000000000000","name":"chat gpt-4o","kind":3,
		 "startTimeUnixNano":"1700000000000000005","endTimeUnixNano":"1700000001000000005","status":{"code":2},
		 "attributes":[{"key":"s","value":{"stringValue":"x\"y"}},{"key":"i","value":{"intValue":"1099511627776"}},
		   {"key":"d","value":{"doubleValue":0.25}},{"key":"b","value":{"boolValue":true}},
		   {"key":"a","value":{"arrayValue":{"values":[{"stringValue":"stop"}]}}}]},
		{"traceId":"06000000000000000000000000000000","spanId":"0700000000000000","name":"chat","kind":3,
		 "startTimeUnixNano":"1700000000000000005","endTimeUnixNano":"1700000000000000005","attributes":[]}]}]},
	{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"b"}},{"key":"team","value":{"stringValue":"t"}}]},
	 "scopeSpans":[{"scope":{"name":"observatory-proxy","version":"dev"},"spans":[
		{"traceId":"03000000000000000000000000000000","spanId":"0400000000000000","parentSpanId":"0500000000000000",
		 "name":"embeddings","kind":3,"startTimeUnixNano":"1700000000000000005","endTimeUnixNano":"1700000000000000005",
		 "attributes":[]}]}]}]}`
	var wantJSON any
	if err := json.Unmarshal([]byte(want), &wantJSON); err != nil {
		t.Fatal(err)
	}
	if g, _ := json.Marshal(got); string(g) != string(mustMarshal(wantJSON)) {
		t.Errorf("encoded\n%s\nwant\n%s", g, mustMarshal(wantJSON))
	}
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// BenchmarkNonStreamedCall is one observed, non-streamed chat call through the proxy, end to end
// over loopback: what the proxy adds per call (go test -bench . -cpuprofile cpu.out).
func BenchmarkNonStreamedCall(b *testing.B) {
	h := newHarness(b, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, chatCompletion)
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	body := `{"model":"gpt-4o","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello."}]}`
	go func() { // the exporter's queue, drained as the exporter would
		for range h.exporter.queue {
		}
	}()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(h.proxy.URL+"/openai/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
