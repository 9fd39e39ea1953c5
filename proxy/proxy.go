// The proxying of one call: strip the proxy's own headers, ask OpenAI for stream usage when the
// caller did not (and hide it again), forward, and end the span when the body has been passed on,
// the provider failed, or the caller went away. The caller receives the provider's status, headers
// and bytes unchanged; what the proxy itself answers (limits, unreachable provider) is JSON.
package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The headers a caller sets for the proxy; every X-Observatory-* header is removed before forwarding.
const (
	headerPrefix      = "X-Observatory-"
	headerApplication = "X-Observatory-Application"
	headerTeam        = "X-Observatory-Team"
	headerUser        = "X-Observatory-User"
)

type Proxy struct {
	cfg       Config
	exporter  *Exporter
	metrics   *Metrics
	upstreams map[string]*url.URL
	reverse   map[string]*httputil.ReverseProxy
	slots     chan struct{}
}

// Each call being copied holds a buffer for as long as it lasts, so an open stream costs one; 8 KiB
// (not the reverse proxy's 32 KiB) holds several events of either provider.
const copyBufferBytes = 8 << 10

type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, copyBufferBytes)
}

func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }

var copyBuffers = &bufferPool{}

type callKey struct{}

// callState travels with the request from the handler to the reverse proxy's hooks.
type callState struct {
	call      *Call
	span      *Span
	user      string
	hideUsage bool
	inbound   context.Context
	outbound  context.Context         // the call to the provider's: inbound, plus cancel
	cancel    context.CancelCauseFunc // ends the call to the provider (the stream idle timeout)
	once      sync.Once
	p         *Proxy
	host      string
	port      int64
}

func NewProxy(cfg Config, exporter *Exporter, metrics *Metrics) (*Proxy, error) {
	p := &Proxy{cfg: cfg, exporter: exporter, metrics: metrics,
		upstreams: map[string]*url.URL{}, reverse: map[string]*httputil.ReverseProxy{}}
	if cfg.MaxConcurrent > 0 {
		p.slots = make(chan struct{}, cfg.MaxConcurrent)
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.HeaderTimeout,
		DisableCompression:    true, // the caller's Accept-Encoding decides, as without the proxy
	}
	for provider, base := range map[string]string{"openai": cfg.OpenAIUpstream, "anthropic": cfg.AnthropicUpstream} {
		u, err := url.Parse(base)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, errors.New(provider + " upstream is not an absolute URL: " + base)
		}
		p.upstreams[provider] = u
		prefix := "/" + provider
		p.reverse[provider] = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(u) // joins the base path with the path below the prefix
				r.Out.URL.Path = strings.TrimSuffix(u.Path, "/") + strings.TrimPrefix(r.In.URL.Path, prefix)
				r.Out.URL.RawPath = ""
				for name := range r.Out.Header {
					if strings.HasPrefix(http.CanonicalHeaderKey(name), headerPrefix) {
						r.Out.Header.Del(name)
					}
				}
				if s, ok := r.In.Context().Value(callKey{}).(*callState); ok && s.span != nil {
					r.Out.Header.Set("Traceparent", "00-"+hex.EncodeToString(s.span.TraceID[:])+"-"+
						hex.EncodeToString(s.span.SpanID[:])+"-01")
					if s.call.Stream || !acceptsGzip(r.In.Header.Values("Accept-Encoding")) {
						r.Out.Header.Del("Accept-Encoding") // events are read one by one; identity
					} else {
						// Only what the proxy decodes (Go's standard library: gzip), so the body's
						// tokens are never lost to br or zstd; the caller listed gzip, so it reads it.
						r.Out.Header.Set("Accept-Encoding", "gzip")
					}
				}
			},
			// 0: a body of known length is written through the server's buffer and flushed at its end;
			// the reverse proxy still flushes every write of an event stream (by its content type)
			// and of a body of unknown length, so streams are never held back. (-1 here cost a
			// goroutine and a flush per call for every non-streamed body.)
			FlushInterval:  0,
			BufferPool:     copyBuffers,
			Transport:      transport,
			ModifyResponse: p.modifyResponse,
			ErrorHandler:   p.upstreamError,
		}
	}
	return p, nil
}

func (p *Proxy) handler(provider string) http.Handler {
	prefix := "/" + provider
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.slots != nil {
			select {
			case p.slots <- struct{}{}:
				defer func() { <-p.slots }()
			default:
				p.metrics.countRequest(provider, "", "proxy_limit")
				w.Header().Set("Retry-After", "1")
				proxyError(w, http.StatusServiceUnavailable, "the proxy is at its limit of concurrent calls")
				return
			}
		}
		p.metrics.inFlight.Add(1)
		defer p.metrics.inFlight.Add(-1)
		op := operation(provider, strings.TrimPrefix(r.URL.Path, prefix))
		if op == "" || r.Method != http.MethodPost {
			p.reverse[provider].ServeHTTP(w, r) // models lists, files, ...: forwarded, not observed
			return
		}
		body, err := readRequestBody(w, r, p.cfg.MaxRequestBytes)
		if err != nil {
			proxyError(w, http.StatusRequestEntityTooLarge, "request body larger than the proxy accepts or unreadable")
			return
		}
		s, fields := p.begin(provider, op, r, body)
		if s.hideUsage {
			body = withStreamUsage(body, fields)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		ctx, cancel := context.WithCancelCause(context.WithValue(r.Context(), callKey{}, s))
		defer cancel(nil)
		s.outbound, s.cancel = ctx, cancel
		p.reverse[provider].ServeHTTP(w, r.WithContext(ctx))
	})
}

// readRequestBody reads the whole request body, into one buffer of its declared size when it has one.
func readRequestBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength <= 0 || r.ContentLength > limit {
		return io.ReadAll(body)
	}
	buf := make([]byte, r.ContentLength+1) // one byte more: a body longer than declared is an error
	n, err := io.ReadFull(body, buf)
	if err == io.ErrUnexpectedEOF && int64(n) == r.ContentLength {
		return buf[:n], nil
	}
	if err == nil {
		return nil, errors.New("request body longer than its Content-Length")
	}
	return nil, err
}

func (p *Proxy) begin(provider, op string, r *http.Request, body []byte) (*callState, requestFields) {
	call := &Call{Provider: provider, Operation: op}
	fields := call.readRequest(body)
	span := &Span{Start: time.Now(), Application: r.Header.Get(headerApplication), Team: r.Header.Get(headerTeam)}
	if span.Application == "" {
		span.Application = p.cfg.Application
	}
	span.TraceID, span.SpanID = newIDs()
	if trace, parent, ok := parseTraceparent(r.Header.Get("Traceparent")); ok {
		span.TraceID, span.ParentSpanID = trace, parent
	}
	u := p.upstreams[provider]
	port, _ := strconv.ParseInt(u.Port(), 10, 64)
	if port == 0 {
		port = map[string]int64{"https": 443, "http": 80}[u.Scheme]
	}
	s := &callState{call: call, span: span, user: r.Header.Get(headerUser), inbound: r.Context(), p: p,
		host: u.Hostname(), port: port}
	// OpenAI chat streams carry usage only when asked; the proxy asks, and hides the answer.
	s.hideUsage = provider == "openai" && op == "chat" && strings.HasSuffix(r.URL.Path, "/chat/completions") &&
		fields.Stream && !includesUsage(fields.StreamOptions)
	return s, fields
}

// acceptsGzip: an Accept-Encoding lists gzip (or *) without q=0. Values are comma-separated
// codings, each with optional ;q= parameters (RFC 9110 12.5.3).
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "*" {
				continue
			}
			q := strings.ReplaceAll(strings.ToLower(params), " ", "")
			if q == "q=0" || strings.HasPrefix(q, "q=0.") && strings.Trim(q[4:], "0") == "" {
				continue // q=0, q=0.0, q=0.000: not acceptable
			}
			return true
		}
	}
	return false
}

func includesUsage(raw json.RawMessage) bool {
	if raw == nil {
		return false
	}
	var o struct {
		IncludeUsage bool `json:"include_usage"`
	}
	return json.Unmarshal(raw, &o) == nil && o.IncludeUsage
}

// withStreamUsage sets stream_options.include_usage, keeping every other member as sent. A request
// without stream_options (the usual case) gets the member inserted first, its own bytes unchanged;
// one with stream_options is decoded and encoded again.
func withStreamUsage(body []byte, f requestFields) []byte {
	if f.StreamOptions == nil {
		i := skipSpace(body, 0) // readRequest found an object: body[i] is its '{'
		member := `"stream_options":{"include_usage":true}`
		if j := skipSpace(body, i+1); j < len(body) && body[j] != '}' {
			member += ","
		}
		out := make([]byte, 0, len(body)+len(member))
		out = append(out, body[:i+1]...)
		out = append(out, member...)
		return append(out, body[i+1:]...)
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	opts := map[string]json.RawMessage{}
	if raw, ok := m["stream_options"]; ok {
		_ = json.Unmarshal(raw, &opts)
	}
	if opts == nil { // "stream_options": null decodes to a nil map
		opts = map[string]json.RawMessage{}
	}
	opts["include_usage"] = json.RawMessage("true")
	m["stream_options"], _ = json.Marshal(opts)
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// parseTraceparent reads a W3C traceparent: version-traceid-parentid-flags, lowercase hex.
func parseTraceparent(h string) (trace [16]byte, parent [8]byte, ok bool) {
	parts := strings.Split(strings.TrimSpace(h), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" || len(parts[1]) != 32 || len(parts[2]) != 16 {
		return trace, parent, false
	}
	if _, err := hex.Decode(trace[:], []byte(parts[1])); err != nil || trace == ([16]byte{}) {
		return trace, parent, false
	}
	if _, err := hex.Decode(parent[:], []byte(parts[2])); err != nil || parent == ([8]byte{}) {
		return trace, parent, false
	}
	return trace, parent, true
}

func (p *Proxy) modifyResponse(resp *http.Response) error {
	s, ok := resp.Request.Context().Value(callKey{}).(*callState)
	if !ok {
		return nil
	}
	s.call.Status = resp.StatusCode
	failed := resp.StatusCode >= 400
	sse := !failed && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	limit := p.cfg.MaxObservedBodyBytes
	if failed {
		limit = 64 << 10 // an error body: enough for its code
	}
	b := &observedBody{
		upstream:  resp.Body,
		call:      s.call,
		sse:       sse,
		gzipped:   resp.Header.Get("Content-Encoding") == "gzip",
		keep:      !sse,
		limit:     limit,
		start:     s.span.Start,
		hideUsage: sse && s.hideUsage,
	}
	if b.keep && resp.ContentLength > 0 && resp.ContentLength <= int64(limit) {
		b.kept.Grow(int(resp.ContentLength)) // one allocation for the copy read at the end
	}
	if p.cfg.StreamIdleTimeout > 0 {
		b.idle = newIdleTimer(p.cfg.StreamIdleTimeout, func() { s.cancel(errStreamIdle) })
	}
	b.finish = func(readErr error, sawEOF bool) {
		if failed {
			s.call.readError(resp.StatusCode, b.kept.Bytes())
		} else if !sawEOF && !s.call.StreamDone {
			s.transportError(readErr)
		}
		s.end()
	}
	resp.Body = b
	return nil
}

// upstreamError: the provider could not be reached or did not answer in time, or the caller left.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	s, _ := r.Context().Value(callKey{}).(*callState)
	status := http.StatusBadGateway
	if s != nil {
		s.transportError(err)
		if s.call.ErrorType == "timeout" {
			status = http.StatusGatewayTimeout
		}
		s.end()
	}
	if r.Context().Err() != nil {
		return // the caller is gone; nothing to answer
	}
	msg := "the proxy could not reach the provider"
	if status == http.StatusGatewayTimeout {
		msg = "the provider did not answer within the proxy's upstream timeout"
	}
	proxyError(w, status, msg)
}

// errStreamIdle ends a call whose provider sent nothing for longer than the stream idle timeout.
var errStreamIdle = errors.New("no bytes from the provider within the stream idle timeout")

// transportError classifies a call that broke off: the provider went quiet mid-body (timeout), the
// caller left (cancelled), the provider was too slow (timeout), or the connection failed.
func (s *callState) transportError(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errStreamIdle) || s.idleFired():
		s.call.ErrorType, s.call.ErrorRaw = "timeout", "upstream_idle_timeout"
	case s.inbound.Err() != nil:
		s.call.ErrorType, s.call.ErrorRaw = "cancelled", "client_disconnected"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		s.call.ErrorType, s.call.ErrorRaw = "timeout", "upstream_timeout"
	default:
		s.call.ErrorType, s.call.ErrorRaw = "connection", "upstream_connection_error"
	}
}

func (s *callState) idleFired() bool {
	return s.cancel != nil && errors.Is(context.Cause(s.outbound), errStreamIdle)
}

func (s *callState) end() {
	s.once.Do(func() {
		s.span.End = time.Now()
		c := s.call
		s.span.Name = c.Operation
		if c.RequestModel != "" {
			s.span.Name += " " + c.RequestModel
		}
		s.span.Failed = c.ErrorType != ""
		s.span.Attrs = c.attributes(s.host, s.port, s.user)
		s.p.metrics.countRequest(c.Provider, c.Operation, c.ErrorType)
		s.p.exporter.Offer(s.span)
	})
}

func proxyError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"type": "observatory_proxy_error", "message": message}})
	_, _ = w.Write(body)
}
