// The response body on its way to the caller: events split however the network splits them, the
// usage chunk hidden with the rest of the bytes unchanged, gzip bodies read, stalls bounded.
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// pieces reads its parts one per Read, the way a network splits a stream.
type pieces struct{ parts [][]byte }

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.parts[0])
	if n == len(p.parts[0]) {
		p.parts = p.parts[1:]
	} else {
		p.parts[0] = p.parts[0][n:]
	}
	return n, nil
}

func (p *pieces) Close() error { return nil }

// split cuts s into pieces of size n (the last may be shorter).
func split(s string, n int) *pieces {
	p := &pieces{}
	for len(s) > 0 {
		k := min(n, len(s))
		p.parts = append(p.parts, []byte(s[:k]))
		s = s[k:]
	}
	return p
}

// chat stream chunks as OpenAI sends them when asked for usage, and as the caller expects them when
// it did not ask.
const (
	withUsage = `data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}

data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hello \"usage\": null"},"finish_reason":null}],"usage":null}

data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}], "usage" : null }

data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":18,"completion_tokens":12,"total_tokens":30}}

data: [DONE]

`
	withoutUsage = `data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hello \"usage\": null"},"finish_reason":null}]}

data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}] }

data: [DONE]

`
)

func streamBody(upstream io.ReadCloser, hide bool) (*observedBody, *Call, *bool) {
	c := &Call{Provider: "openai", Operation: "chat", Stream: true}
	finished := false
	b := &observedBody{upstream: upstream, call: c, sse: true, start: time.Now(), hideUsage: hide, limit: 1 << 20}
	b.finish = func(error, bool) { finished = true }
	return b, c, &finished
}

func TestTheHiddenUsageChunkLeavesTheCallerTheBytesOfAStreamWithoutUsage(t *testing.T) {
	for _, size := range []int{1, 2, 7, 64, 100, 4096} {
		b, c, finished := streamBody(split(withUsage, size), true)
		got, err := io.ReadAll(b)
		_ = b.Close()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != withoutUsage {
			t.Errorf("pieces of %d bytes: the caller got\n%s\nwant\n%s", size, got, withoutUsage)
		}
		if usageOf(c) != (usage{18, 12, 0, 0, 0}) || !c.StreamDone || !*finished {
			t.Errorf("pieces of %d bytes: usage %+v done %v finished %v", size, usageOf(c), c.StreamDone, *finished)
		}
	}
}

func TestAStreamWhoseCallerAskedForUsagePassesByteForByte(t *testing.T) {
	for _, size := range []int{1, 13, 4096} {
		b, c, _ := streamBody(split(withUsage, size), false)
		got, _ := io.ReadAll(b)
		_ = b.Close()
		if string(got) != withUsage {
			t.Errorf("pieces of %d bytes: bytes changed", size)
		}
		if !c.HaveUsage || c.Input != 18 || !c.HaveTTFC {
			t.Errorf("pieces of %d bytes: usage %+v ttfc %v", size, usageOf(c), c.HaveTTFC)
		}
	}
}

func TestEventsAreSplitAtBlankLinesAndTheirDataJoined(t *testing.T) {
	for _, tc := range []struct {
		event, data string
		done        bool
	}{
		{"event: message_start\ndata: {\"a\":1}", `{"a":1}`, false},
		{"data:{\"a\":1}", `{"a":1}`, false},
		{"event: x\r\ndata: {\"a\":\r\ndata: 1}\r", "{\"a\":\n1}", false},
		{": a comment", "", false},
		{"data: [DONE]", "", true},
	} {
		data, done := eventData([]byte(tc.event))
		if string(data) != tc.data || done != tc.done {
			t.Errorf("eventData(%q) = %q, %v; want %q, %v", tc.event, data, done, tc.data, tc.done)
		}
	}
	for in, want := range map[string][]int{
		"a\n\nb":          {1, 3},
		"a\r\n\r\nb\n\nc": {1, 5},
		"a\nb":            nil,
	} {
		got := eventEnd([]byte(in))
		if len(got) != len(want) || (got != nil && (got[0] != want[0] || got[1] != want[1])) {
			t.Errorf("eventEnd(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestCRLFEventsAreReadToo(t *testing.T) {
	stream := "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"claude\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\r\n\r\n" +
		"event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n"
	c := &Call{Provider: "anthropic", Stream: true}
	b := &observedBody{upstream: split(stream, 5), call: c, sse: true, start: time.Now(), finish: func(error, bool) {}}
	got, _ := io.ReadAll(b)
	_ = b.Close()
	if string(got) != stream || c.Input != 3 || c.ResponseID != "m" || !c.StreamDone {
		t.Errorf("bytes equal %v, call %+v", string(got) == stream, c)
	}
}

func TestAGzipBodyIsReadForUsageAndPassedOnCompressed(t *testing.T) {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	_, _ = w.Write([]byte(`{"id":"chatcmpl-9","object":"chat.completion","model":"gpt-4o","choices":[{"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":2}}`))
	_ = w.Close()
	c := &Call{Provider: "openai"}
	b := &observedBody{upstream: split(z.String(), 10), call: c, gzipped: true, keep: true, limit: 1 << 20,
		start: time.Now(), finish: func(error, bool) {}}
	got, _ := io.ReadAll(b)
	_ = b.Close()
	if !bytes.Equal(got, z.Bytes()) || c.Input != 4 || c.Output != 2 || c.ResponseID != "chatcmpl-9" {
		t.Errorf("bytes equal %v, usage %+v id %q", bytes.Equal(got, z.Bytes()), usageOf(c), c.ResponseID)
	}
}

// stalling sends its first part, then blocks until closed.
type stalling struct {
	first  []byte
	closed chan struct{}
}

func (s *stalling) Read(b []byte) (int, error) {
	if len(s.first) > 0 {
		n := copy(b, s.first)
		s.first = s.first[n:]
		return n, nil
	}
	<-s.closed
	return 0, errors.New("read on closed body")
}

func (s *stalling) Close() error { return nil }

func TestAProviderThatGoesQuietIsCutByTheIdleTimer(t *testing.T) {
	up := &stalling{first: []byte("data: {}\n\n"), closed: make(chan struct{})}
	b, _, _ := streamBody(up, false)
	fired := make(chan time.Time, 1)
	b.idle = newIdleTimer(50*time.Millisecond, func() { fired <- time.Now(); close(up.closed) })
	buf := make([]byte, 64)
	if _, err := b.Read(buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a slow caller: time outside the provider's Read does not count
	select {
	case <-fired:
		t.Fatal("the idle timer fired while no read was waiting on the provider")
	default:
	}
	started := time.Now()
	if _, err := b.Read(buf); err == nil {
		t.Fatal("the stalled read returned no error")
	}
	if waited := time.Since(started); waited < 50*time.Millisecond || waited > 2*time.Second {
		t.Errorf("cut after %v, want about 50ms", waited)
	}
	_ = b.Close()
}

func TestHideUsageKeepsEverythingButTopLevelUsageNull(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1,"usage":null}`:                       `{"a":1}`,
		`{"a":1, "usage" : null ,"b":2}`:             `{"a":1 ,"b":2}`, // the space before the comma stays
		`{"a":"x,\"usage\":null}"}`:                  `{"a":"x,\"usage\":null}"}`,
		`{"choices":[],"usage":{"prompt_tokens":1}}`: ``,
		`{"choices":[],"usage":null}`:                `{"choices":[]}`,
	} {
		event := "data: " + in + "\n\n"
		data, _ := eventData([]byte(strings.TrimSuffix(event, "\n\n")))
		got := string(hideUsage([]byte(event), data))
		wantEvent := ""
		if want != "" {
			wantEvent = "data: " + want + "\n\n"
		}
		if got != wantEvent {
			t.Errorf("hideUsage(%s) = %q, want %q", in, got, wantEvent)
		}
	}
}
