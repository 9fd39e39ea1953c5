// The response body on its way to the caller: passed through as it arrives (each read is written and
// flushed by the reverse proxy), while a copy is read for the span. Server-sent events are split at
// blank lines so each event's data is read as soon as it is complete; a successful non-streamed body
// is kept (up to a limit) and read at its end. Closing the body ends the call's span.
package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"regexp"
	"time"
)

// observedBody wraps the upstream response body.
type observedBody struct {
	upstream io.ReadCloser
	call     *Call
	finish   func(readErr error, sawEOF bool)
	sse      bool
	gzipped  bool
	keep     bool // keep a copy of a non-streamed body to read at the end
	limit    int  // bytes of it at most
	start    time.Time
	pending  []byte // SSE: bytes of the event not yet complete
	kept     bytes.Buffer
	// hideUsage: the proxy asked OpenAI for stream usage the caller did not ask for, so the final
	// usage chunk is left out and `"usage": null` is taken out of the other chunks.
	hideUsage bool
	out       []byte // SSE with hideUsage: rewritten bytes not yet handed to the reverse proxy
	buf       []byte // hideUsage: what upstream reads go into
	// idle bounds each wait for the provider's next bytes (nil: no bound). Only the time blocked in
	// the provider's Read counts: a caller that reads slowly holds the proxy back, not the provider.
	idle    *idleTimer
	readErr error
	sawEOF  bool
	closed  bool
}

func (b *observedBody) Read(p []byte) (int, error) {
	if b.hideUsage {
		return b.readRewritten(p)
	}
	n, err := b.readUpstream(p)
	if n > 0 {
		b.observe(p[:n])
	}
	b.note(err)
	return n, err
}

// idleTimer is a stopped timer that fires after d once started; started before each upstream read
// and stopped after it.
type idleTimer struct {
	timer *time.Timer
	d     time.Duration
}

func newIdleTimer(d time.Duration, fire func()) *idleTimer {
	t := time.AfterFunc(d, fire)
	t.Stop()
	return &idleTimer{timer: t, d: d}
}

func (b *observedBody) readUpstream(p []byte) (int, error) {
	if b.idle == nil {
		return b.upstream.Read(p)
	}
	b.idle.timer.Reset(b.idle.d)
	n, err := b.upstream.Read(p)
	b.idle.timer.Stop()
	return n, err
}

func (b *observedBody) note(err error) {
	if err == io.EOF {
		b.sawEOF = true
	} else if err != nil && b.readErr == nil {
		b.readErr = err
	}
}

// readRewritten hands out whole events only, each rewritten, so what it drops never half-reaches
// the caller.
func (b *observedBody) readRewritten(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.sawEOF || b.readErr != nil {
			if len(b.pending) > 0 { // a last event without its blank line
				b.out, b.pending = b.pending, nil
				break
			}
			if b.readErr != nil {
				return 0, b.readErr
			}
			return 0, io.EOF
		}
		if b.buf == nil {
			b.buf = make([]byte, copyBufferBytes)
		}
		n, err := b.readUpstream(b.buf)
		b.note(err)
		if n > 0 {
			b.out = append(b.out, b.events(b.buf[:n], true)...)
		}
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

func (b *observedBody) observe(chunk []byte) {
	if !b.call.HaveTTFC && b.call.Stream {
		b.call.HaveTTFC = true
		b.call.TTFCSeconds = time.Since(b.start).Seconds()
	}
	if b.sse {
		b.events(chunk, false)
		return
	}
	if b.keep && b.kept.Len()+len(chunk) <= b.limit {
		b.kept.Write(chunk)
	}
}

// eventEnd finds the blank line that ends an event: start and end of the separator, or nil. The
// events of both providers end in "\n\n"; "\r\n\r\n" is allowed by the SSE format too.
func eventEnd(b []byte) []int {
	i := bytes.Index(b, []byte("\n\n"))
	j := bytes.Index(b, []byte("\r\n\r\n"))
	switch {
	case j >= 0 && (i < 0 || j < i):
		return []int{j, j + 4}
	case i >= 0:
		return []int{i, i + 2}
	}
	return nil
}

// events splits complete events off the pending bytes, reads each, and returns the bytes to pass on
// (only used with rewrite).
func (b *observedBody) events(chunk []byte, rewrite bool) []byte {
	if !b.call.HaveTTFC {
		b.call.HaveTTFC = true
		b.call.TTFCSeconds = time.Since(b.start).Seconds()
	}
	b.pending = append(b.pending, chunk...)
	var out []byte
	for {
		loc := eventEnd(b.pending)
		if loc == nil {
			break
		}
		event := b.pending[:loc[1]]
		data, done := eventData(event[:loc[0]])
		if done {
			b.call.StreamDone = true
		}
		if data != nil {
			b.call.readBody(data)
		}
		if rewrite {
			out = append(out, hideUsage(event, data)...)
		}
		b.pending = b.pending[loc[1]:]
	}
	if len(b.pending) > 1<<20 { // an event longer than 1 MiB is passed on unread
		out = append(out, b.pending...)
		b.pending = nil
	}
	return out
}

// eventData joins an event's data lines (nil when it has none, or it is the OpenAI [DONE] marker,
// which sets done).
func eventData(event []byte) (data []byte, done bool) {
	for _, line := range bytes.Split(event, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if rest, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, bytes.TrimPrefix(rest, []byte(" "))...)
		}
	}
	if bytes.Equal(data, []byte("[DONE]")) {
		return nil, true
	}
	return data, false
}

// A top-level `"usage": null` member of a chat chunk, with the comma that joins it to the previous
// member: JSON string contents escape their quotes, so an unescaped `"usage"` followed by a colon is
// always a key. The lookahead-free form checks the next character is the object's end or a comma.
var usageNull = regexp.MustCompile(`,\s*"usage"\s*:\s*null(\s*[,}])`)

// The final usage chunk: no choices, usage set.
var usageChunk = regexp.MustCompile(`"choices"\s*:\s*\[\s*\]`)

var (
	usageKey         = []byte(`"usage"`)
	compactUsageNull = []byte(`,"usage":null}`)
)

// hideUsage returns the event as the caller would have had it without the proxy's include_usage:
// nil for the final usage chunk, else the event without its `"usage": null` members. It may
// rewrite event in place.
func hideUsage(event, data []byte) []byte {
	if data == nil {
		return event
	}
	// The fast path, with the regular expressions' result: OpenAI's compact chunks end in
	// `,"usage":null}` and name usage nowhere else, so the one match is that member.
	switch n := bytes.Count(event, usageKey); {
	case n == 0:
		return event
	case n == 1 && bytes.HasSuffix(data, compactUsageNull):
		if i := bytes.Index(event, compactUsageNull); i >= 0 {
			cut := len(compactUsageNull) - 1 // the closing brace stays
			copy(event[i:], event[i+cut:])
			return event[:len(event)-cut]
		}
	}
	if usageChunk.Match(data) && bytes.Contains(data, []byte(`"usage"`)) && !usageNull.Match(data) {
		return nil
	}
	return usageNull.ReplaceAll(event, []byte("$1"))
}

func (b *observedBody) Close() error {
	if b.idle != nil {
		b.idle.timer.Stop()
	}
	err := b.upstream.Close()
	if !b.closed {
		b.closed = true
		if b.keep && b.sawEOF {
			data := b.kept.Bytes()
			if b.gzipped {
				if r, gerr := gzip.NewReader(bytes.NewReader(data)); gerr == nil {
					data, _ = io.ReadAll(r)
				}
			}
			b.call.readBody(data)
		}
		b.finish(b.readErr, b.sawEOF)
	}
	return err
}
