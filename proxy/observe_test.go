// What the proxy reads from bodies and events: usage per API, finish reasons, response ids and
// models, and errors (failed statuses, error events inside streams) mapped to the stack's vocabulary.
package main

import (
	"reflect"
	"testing"
)

// read feeds bodies (whole bodies, or one stream's event data in order) to a new call.
func read(provider string, bodies ...string) *Call {
	c := &Call{Provider: provider, Operation: "chat"}
	for _, b := range bodies {
		c.readBody([]byte(b))
	}
	return c
}

type usage struct{ input, output, cacheRead, cacheWrite, reasoning int64 }

func usageOf(c *Call) usage {
	return usage{c.Input, c.Output, c.CacheRead, c.CacheWrite, c.Reasoning}
}

func TestUsageIsReadFromEachAPIsBodies(t *testing.T) {
	cases := []struct {
		name     string
		provider string
		bodies   []string
		want     usage
		model    string
		id       string
		finish   []string
	}{
		{
			name:     "openai chat completion",
			provider: "openai",
			bodies: []string{`{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024",
				"choices":[{"index":0,"message":{"content":"hi"},"finish_reason":"stop"}],
				"usage":{"prompt_tokens":18,"completion_tokens":12,"total_tokens":30,
				"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}`},
			want: usage{18, 12, 4, 0, 2}, model: "gpt-4o-2024", id: "chatcmpl-1", finish: []string{"stop"},
		},
		{
			name:     "openai chat completion with two choices and lookalike content",
			provider: "openai",
			bodies: []string{`{"id":"chatcmpl-3","object":"chat.completion","model":"gpt-4o",
				"choices":[{"index":0,"message":{"content":"{\"finish_reason\":\"fake\",\"model\":\"x\"}"},"finish_reason":"stop"},
				           {"index":1,"message":{"content":"[]}"},"finish_reason":"length"}],
				"usage":{"prompt_tokens":1,"completion_tokens":2}, "metadata": {"model": "inner"}}`},
			want: usage{1, 2, 0, 0, 0}, model: "gpt-4o", id: "chatcmpl-3", finish: []string{"stop", "length"},
		},
		{
			name:     "openai chat stream with its usage chunk",
			provider: "openai",
			bodies: []string{
				`{"id":"chatcmpl-2","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"delta":{"content":"a"},"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-2","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"delta":{},"finish_reason":"length"}],"usage":null}`,
				`{"id":"chatcmpl-2","object":"chat.completion.chunk","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}`,
			},
			want: usage{5, 7, 0, 0, 0}, model: "gpt-4o", id: "chatcmpl-2", finish: []string{"length"},
		},
		{
			name:     "openai embeddings",
			provider: "openai",
			bodies:   []string{`{"object":"list","data":[],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`},
			want:     usage{8, 0, 0, 0, 0}, model: "text-embedding-3-small",
		},
		{
			name:     "openai responses stream",
			provider: "openai",
			bodies: []string{
				`{"type":"response.created","response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-5","usage":null}}`,
				`{"type":"response.output_text.delta","delta":"Hi"}`,
				`{"type":"response.completed","response":{"id":"resp_1","object":"response","status":"completed","model":"gpt-5",
				"usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":10},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":4}}}}`,
			},
			want: usage{30, 12, 10, 0, 4}, model: "gpt-5", id: "resp_1", finish: []string{"completed"},
		},
		{
			name:     "anthropic message: input counts cache reads and writes",
			provider: "anthropic",
			bodies: []string{`{"id":"msg_1","type":"message","model":"claude-sonnet-4-5","stop_reason":"end_turn",
				"usage":{"input_tokens":10,"output_tokens":20,"cache_read_input_tokens":100,"cache_creation_input_tokens":5}}`},
			want: usage{115, 20, 100, 5, 0}, model: "claude-sonnet-4-5", id: "msg_1", finish: []string{"end_turn"},
		},
		{
			name:     "anthropic stream",
			provider: "anthropic",
			bodies: []string{
				`{"type":"message_start","message":{"id":"msg_2","model":"claude-haiku-4-5","stop_reason":null,
				"usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":3,"cache_creation_input_tokens":0}}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`,
				`{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":64}}`,
				`{"type":"message_stop"}`,
			},
			want: usage{13, 64, 3, 0, 0}, model: "claude-haiku-4-5", id: "msg_2", finish: []string{"max_tokens"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := read(tc.provider, tc.bodies...)
			if !c.HaveUsage || usageOf(c) != tc.want {
				t.Errorf("usage %+v (have %v), want %+v", usageOf(c), c.HaveUsage, tc.want)
			}
			if c.ResponseModel != tc.model || c.ResponseID != tc.id {
				t.Errorf("model %q id %q, want %q %q", c.ResponseModel, c.ResponseID, tc.model, tc.id)
			}
			if !reflect.DeepEqual(c.FinishReasons, tc.finish) {
				t.Errorf("finish reasons %v, want %v", c.FinishReasons, tc.finish)
			}
			if c.ErrorType != "" {
				t.Errorf("error %q on a successful call", c.ErrorType)
			}
		})
	}
}

func TestAnErrorInsideAStreamThatBeganWith200IsRecordedWithTheProvidersCode(t *testing.T) {
	cases := []struct {
		name, provider string
		bodies         []string
		kind, raw      string
	}{
		{"openai chat chunk error object", "openai", []string{
			`{"id":"c","object":"chat.completion.chunk","choices":[{"delta":{"content":"a"}}]}`,
			`{"error":{"message":"boom","type":"server_error","param":null,"code":"server_error"}}`,
		}, "server_error", "server_error"},
		{"openai chat chunk error without a code", "openai", []string{
			`{"error":{"message":"slow down","type":"rate_limit_error","code":null}}`,
		}, "rate_limit", "rate_limit_error"},
		{"responses error then response.failed: the first stands", "openai", []string{
			`{"type":"error","code":"rate_limit_exceeded","message":"later"}`,
			`{"type":"response.failed","response":{"object":"response","status":"failed","error":{"code":"server_error"}}}`,
		}, "rate_limit", "rate_limit_exceeded"},
		{"responses response.failed alone", "openai", []string{
			`{"type":"response.failed","response":{"object":"response","status":"failed","error":{"code":"context_length_exceeded"}}}`,
		}, "context_length", "context_length_exceeded"},
		{"anthropic error event", "anthropic", []string{
			`{"type":"message_start","message":{"id":"m","model":"claude"}}`,
			`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		}, "server_error", "overloaded_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := read(tc.provider, tc.bodies...)
			if c.ErrorType != tc.kind || c.ErrorRaw != tc.raw {
				t.Errorf("error %q (raw %q), want %q (raw %q)", c.ErrorType, c.ErrorRaw, tc.kind, tc.raw)
			}
			if !c.StreamDone {
				t.Error("the provider ended the stream; the call should count as complete")
			}
		})
	}
}

func TestAFailedResponseIsClassifiedByItsStatusAndCode(t *testing.T) {
	cases := []struct {
		status    int
		body      string
		kind, raw string
	}{
		{429, `{"error":{"message":"x","type":"tokens","code":"rate_limit_exceeded"}}`, "rate_limit", "rate_limit_exceeded"},
		{500, `{"error":{"message":"x","type":"server_error","code":null}}`, "server_error", "server_error"},
		{529, `{"type":"error","error":{"type":"overloaded_error","message":"x"}}`, "server_error", "overloaded_error"},
		{400, `{"error":{"type":"invalid_request_error","code":"context_length_exceeded"}}`, "context_length", "context_length_exceeded"},
		{400, `{"error":{"type":"invalid_request_error","code":"content_filter"}}`, "content_filter", "content_filter"},
		{401, `{"type":"error","error":{"type":"authentication_error"}}`, "auth", "authentication_error"},
		{404, `not json`, "not_found", "404"},
		{413, ``, "context_length", "413"},
		{504, ``, "timeout", "504"},
		{422, `{}`, "bad_request", "422"},
	}
	for _, tc := range cases {
		c := &Call{}
		c.readError(tc.status, []byte(tc.body))
		if c.ErrorType != tc.kind || c.ErrorRaw != tc.raw {
			t.Errorf("%d %s: %q (raw %q), want %q (raw %q)", tc.status, tc.body, c.ErrorType, c.ErrorRaw, tc.kind, tc.raw)
		}
	}
}

func TestOperationsAreNamedOnlyForObservedPaths(t *testing.T) {
	cases := map[[2]string]string{
		{"openai", "/v1/chat/completions"}: "chat",
		{"openai", "/v1/responses"}:        "chat",
		{"openai", "/v1/embeddings"}:       "embeddings",
		{"openai", "/v1/models"}:           "",
		{"anthropic", "/v1/messages"}:      "chat",
		{"anthropic", "/v1/embeddings"}:    "",
	}
	for in, want := range cases {
		if got := operation(in[0], in[1]); got != want {
			t.Errorf("operation%v = %q, want %q", in, got, want)
		}
	}
}

func TestTheRequestsModelAndStreamFlagAreRead(t *testing.T) {
	c := &Call{}
	f := c.readRequest([]byte(`{"messages":[{"role":"user","content":"\"model\": \"no\""}],"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false}}`))
	if c.RequestModel != "gpt-4o" || !c.Stream || includesUsage(f.StreamOptions) {
		t.Errorf("model %q stream %v include_usage %v", c.RequestModel, c.Stream, includesUsage(f.StreamOptions))
	}
	c = &Call{}
	f = c.readRequest([]byte(`{"model":"m","stream_options":{"include_usage":true}}`))
	if c.Stream || !includesUsage(f.StreamOptions) {
		t.Errorf("stream %v include_usage %v", c.Stream, includesUsage(f.StreamOptions))
	}
}
