// What a call says about itself: the request's model and stream flag, and the response's model,
// token counts, finish reasons and error, read from JSON bodies and server-sent events of the OpenAI
// (chat completions, responses, embeddings) and Anthropic Messages APIs. Attribute names are the
// OpenTelemetry GenAI conventions the collector normalises to (src/observatory/semconv.py).
package main

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Call accumulates what the proxy learns about one call.
type Call struct {
	Provider, Operation         string
	RequestModel, ResponseModel string
	ResponseID                  string
	Stream                      bool
	Input, Output               int64 // input includes cached tokens, output includes reasoning
	CacheRead, CacheWrite       int64
	Reasoning                   int64
	HaveUsage                   bool
	FinishReasons               []string
	Status                      int
	ErrorType, ErrorRaw         string // ErrorType in the stack's vocabulary (dialects.yaml)
	TTFCSeconds                 float64
	HaveTTFC                    bool
	// StreamDone: the stream's last event arrived ([DONE], message_stop, response.completed), so a
	// caller that hangs up now has everything and the call is not cancelled.
	StreamDone        bool
	anthropicUncached int64 // Anthropic counts input without cache reads and writes
}

// operation names the GenAI operation from the path after the provider prefix; "" is not observed.
func operation(provider, path string) string {
	switch {
	case provider == "openai" && strings.HasSuffix(path, "/chat/completions"):
		return "chat"
	case provider == "openai" && strings.HasSuffix(path, "/responses"):
		return "chat"
	case provider == "openai" && strings.HasSuffix(path, "/embeddings"):
		return "embeddings"
	case provider == "anthropic" && strings.HasSuffix(path, "/messages"):
		return "chat"
	}
	return ""
}

type requestFields struct {
	Model         string
	Stream        bool
	StreamOptions json.RawMessage // nil when the request has none
}

// readRequest takes the model and stream flag from a request body (which is not changed here). Only
// the top-level members are walked: the messages, often most of the body, are skipped unread.
func (c *Call) readRequest(body []byte) requestFields {
	var f requestFields
	topLevel(body, func(key, value []byte) bool {
		switch string(key) {
		case "model":
			f.Model = jsonString(value)
		case "stream":
			f.Stream = string(value) == "true"
		case "stream_options":
			f.StreamOptions = value
		}
		return true
	})
	c.RequestModel, c.Stream = f.Model, f.Stream
	return f
}

// openaiUsage covers chat completions (prompt/completion) and responses (input/output) spellings.
type openaiUsage struct {
	PromptTokens        *int64 `json:"prompt_tokens"`
	CompletionTokens    *int64 `json:"completion_tokens"`
	InputTokens         *int64 `json:"input_tokens"`
	OutputTokens        *int64 `json:"output_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	InputTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
	OutputTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
}

func (c *Call) addOpenAIUsage(u *openaiUsage) {
	if u == nil {
		return
	}
	c.HaveUsage = true
	for _, v := range []*int64{u.PromptTokens, u.InputTokens} {
		if v != nil {
			c.Input = *v
		}
	}
	for _, v := range []*int64{u.CompletionTokens, u.OutputTokens} {
		if v != nil {
			c.Output = *v
		}
	}
	if d := u.PromptTokensDetails; d != nil {
		c.CacheRead = d.CachedTokens
	}
	if d := u.InputTokensDetails; d != nil {
		c.CacheRead = d.CachedTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		c.Reasoning = d.ReasoningTokens
	}
	if d := u.OutputTokensDetails; d != nil {
		c.Reasoning = d.ReasoningTokens
	}
}

type anthropicUsage struct {
	InputTokens  *int64 `json:"input_tokens"`
	OutputTokens *int64 `json:"output_tokens"`
	CacheRead    *int64 `json:"cache_read_input_tokens"`
	CacheWrite   *int64 `json:"cache_creation_input_tokens"`
}

func (c *Call) addAnthropicUsage(u *anthropicUsage) {
	if u == nil {
		return
	}
	c.HaveUsage = true
	if u.InputTokens != nil {
		c.anthropicUncached = *u.InputTokens
	}
	if u.OutputTokens != nil {
		c.Output = *u.OutputTokens
	}
	if u.CacheRead != nil {
		c.CacheRead = *u.CacheRead
	}
	if u.CacheWrite != nil {
		c.CacheWrite = *u.CacheWrite
	}
	// The conventions count cache reads and writes as input; Anthropic's input_tokens does not.
	c.Input = c.anthropicUncached + c.CacheRead + c.CacheWrite
}

// openaiBody is a chat completion, a chat chunk, an embeddings list or a response object: the
// members the span needs (scanOpenAI reads them).
type openaiBody struct {
	ID, Object, Model, Status string
	FinishReasons             []string // of the choices, in order, where set
	Usage                     *openaiUsage
	// Responses API streaming events wrap the response object.
	Type     string
	Response *openaiBody
	// An error inside a stream that began with 200: a chat chunk {"error": {...}}, the error of a
	// failed response (response.failed), or the code of a Responses API `error` event.
	Error *openaiError
	Code  *string
}

// scanOpenAI reads an OpenAI body or event's data into b. Only the members above are decoded; the
// rest (message content, embeddings, output items: most of the bytes) is skipped by a byte walk
// rather than decoded by encoding/json, which the proxy did for every body and every event.
func scanOpenAI(data []byte, b *openaiBody) bool {
	return topLevel(data, func(key, v []byte) bool {
		switch string(key) {
		case "id":
			b.ID = jsonString(v)
		case "object":
			b.Object = jsonString(v)
		case "model":
			b.Model = jsonString(v)
		case "status":
			b.Status = jsonString(v)
		case "type":
			b.Type = jsonString(v)
		case "code":
			if v[0] == '"' {
				code := jsonString(v)
				b.Code = &code
			}
		case "choices":
			arrayItems(v, func(choice []byte) {
				topLevel(choice, func(k, fr []byte) bool {
					if string(k) == "finish_reason" && fr[0] == '"' {
						if reason := jsonString(fr); reason != "" {
							b.FinishReasons = append(b.FinishReasons, reason)
						}
					}
					return true
				})
			})
		case "usage":
			if v[0] == '{' {
				b.Usage = &openaiUsage{}
				_ = json.Unmarshal(v, b.Usage) // small: counts only
			}
		case "response":
			if v[0] == '{' {
				b.Response = &openaiBody{}
				scanOpenAI(v, b.Response)
			}
		case "error":
			if v[0] == '{' {
				b.Error = &openaiError{}
				_ = json.Unmarshal(v, b.Error)
			}
		}
		return true
	})
}

type openaiError struct {
	Type string          `json:"type"`
	Code json.RawMessage `json:"code"` // a string, or null
}

// raw is the provider's code, else its type: what llm.error.raw_type keeps.
func (e *openaiError) raw() string {
	var code string
	if json.Unmarshal(e.Code, &code) == nil && code != "" {
		return code
	}
	return e.Type
}

func (c *Call) readOpenAI(data []byte) {
	var b openaiBody
	if !scanOpenAI(data, &b) {
		return
	}
	switch b.Type {
	case "response.completed", "response.incomplete", "response.failed":
		c.StreamDone = true
	}
	switch {
	case b.Type == "error": // Responses API: {"type": "error", "code": ..., "message": ...}
		raw := "error"
		if b.Code != nil && *b.Code != "" {
			raw = *b.Code
		}
		c.streamError(raw)
	case b.Error != nil && b.Type == "": // a chat completions chunk that is an error object
		c.streamError(b.Error.raw())
		c.StreamDone = true // the provider ends the stream after it: the caller has all there is
	case b.Type == "response.failed" && b.Response != nil && b.Response.Error != nil:
		c.streamError(b.Response.Error.raw())
	}
	if b.Response != nil { // response.created / response.completed / response.incomplete events
		c.readOpenAIObject(b.Response)
		return
	}
	c.readOpenAIObject(&b)
}

// streamError records an error event inside a stream that began with 200; the first one stands
// (a Responses stream sends `error` and then `response.failed` for the same failure).
func (c *Call) streamError(raw string) {
	if c.ErrorType == "" {
		c.ErrorRaw, c.ErrorType = raw, classifyCode(raw)
	}
}

func (c *Call) readOpenAIObject(b *openaiBody) {
	if b.Model != "" {
		c.ResponseModel = b.Model
	}
	if b.ID != "" {
		c.ResponseID = b.ID
	}
	c.FinishReasons = append(c.FinishReasons, b.FinishReasons...)
	if b.Object == "response" && (b.Status == "completed" || b.Status == "incomplete") {
		c.FinishReasons = []string{b.Status}
	}
	c.addOpenAIUsage(b.Usage)
}

type anthropicBody struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Model      string          `json:"model"`
	StopReason *string         `json:"stop_reason"`
	Usage      *anthropicUsage `json:"usage"`
	Message    *anthropicBody  `json:"message"` // message_start
	Delta      *struct {
		StopReason *string `json:"stop_reason"`
	} `json:"delta"` // message_delta
	Error *struct {
		Type string `json:"type"`
	} `json:"error"` // an error event inside a stream that began with 200
}

func (c *Call) readAnthropic(data []byte) {
	var b anthropicBody
	if json.Unmarshal(data, &b) != nil {
		return
	}
	if b.Type == "message_stop" {
		c.StreamDone = true
	}
	if b.Type == "error" && b.Error != nil {
		c.streamError(b.Error.Type)
		c.StreamDone = true // the provider ended the stream: the caller has all there is
		return
	}
	if b.Message != nil {
		b = *b.Message
	}
	if b.Model != "" {
		c.ResponseModel = b.Model
	}
	if b.ID != "" {
		c.ResponseID = b.ID
	}
	if b.StopReason != nil && *b.StopReason != "" {
		c.FinishReasons = []string{*b.StopReason}
	}
	if b.Delta != nil && b.Delta.StopReason != nil && *b.Delta.StopReason != "" {
		c.FinishReasons = []string{*b.Delta.StopReason}
	}
	c.addAnthropicUsage(b.Usage)
}

// readBody reads a whole (non-streamed) success body, or an event's data.
func (c *Call) readBody(data []byte) {
	if c.Provider == "anthropic" {
		c.readAnthropic(data)
	} else {
		c.readOpenAI(data)
	}
}

// providerError is the error object both providers put in a failed response's body.
type providerError struct {
	Error *openaiError `json:"error"`
}

// readError classifies a failed response by its status and body: the raw value is the provider's
// error code (else its type, else the status), the type the stack's vocabulary.
func (c *Call) readError(status int, body []byte) {
	raw := strconv.Itoa(status)
	var e providerError
	if json.Unmarshal(body, &e) == nil && e.Error != nil && e.Error.raw() != "" {
		raw = e.Error.raw()
	}
	c.ErrorRaw, c.ErrorType = raw, classify(status, raw)
}

// classify maps a failed status and the provider's code to the vocabulary of dialects.yaml.
func classify(status int, raw string) string {
	r := strings.ToLower(raw)
	switch {
	case strings.Contains(r, "context_length") || status == 413:
		return "context_length"
	case strings.Contains(r, "content_filter") || strings.Contains(r, "content_policy"):
		return "content_filter"
	case status == 429:
		return "rate_limit"
	case status == 401 || status == 403:
		return "auth"
	case status == 404:
		return "not_found"
	case status == 408 || status == 504:
		return "timeout"
	case status == 499:
		return "cancelled"
	case status >= 400 && status < 500:
		return "bad_request"
	case status >= 500:
		return "server_error"
	}
	return "other"
}

// classifyCode maps a provider's error code without a failed status (an error event inside a stream
// that began with 200) to the vocabulary of dialects.yaml.
func classifyCode(raw string) string {
	r := strings.ToLower(raw)
	for _, m := range []struct{ part, kind string }{
		{"context_length", "context_length"},
		{"content_filter", "content_filter"},
		{"content_policy", "content_filter"},
		{"rate_limit", "rate_limit"},
		{"quota", "rate_limit"},
		{"overloaded", "server_error"},
		{"api_error", "server_error"},
		{"server_error", "server_error"},
		{"timeout", "timeout"},
		{"authentication", "auth"},
		{"permission", "auth"},
		{"not_found", "not_found"},
		{"invalid_request", "bad_request"},
	} {
		if strings.Contains(r, m.part) {
			return m.kind
		}
	}
	return "other"
}

// attributes are the span's GenAI attributes; server is upstream host and port.
func (c *Call) attributes(host string, port int64, user string) []Attr {
	a := make([]Attr, 0, 20) // every attribute below fits: one allocation per span
	a = append(a, []Attr{
		{Key: "gen_ai.provider.name", Kind: 's', Str: c.Provider},
		{Key: "gen_ai.operation.name", Kind: 's', Str: c.Operation},
		{Key: "gen_ai.request.stream", Kind: 'b', Bool: c.Stream},
		{Key: "server.address", Kind: 's', Str: host},
		{Key: "server.port", Kind: 'i', Int: port},
	}...)
	str := func(k, v string) {
		if v != "" {
			a = append(a, Attr{Key: k, Kind: 's', Str: v})
		}
	}
	str("gen_ai.request.model", c.RequestModel)
	str("gen_ai.response.model", c.ResponseModel)
	str("gen_ai.response.id", c.ResponseID)
	str("user.id", user)
	if c.Status != 0 {
		a = append(a, Attr{Key: "http.response.status_code", Kind: 'i', Int: int64(c.Status)})
	}
	if c.HaveUsage {
		a = append(a,
			Attr{Key: "gen_ai.usage.input_tokens", Kind: 'i', Int: c.Input},
			Attr{Key: "gen_ai.usage.output_tokens", Kind: 'i', Int: c.Output},
			Attr{Key: "gen_ai.usage.cache_read.input_tokens", Kind: 'i', Int: c.CacheRead},
			Attr{Key: "gen_ai.usage.cache_creation.input_tokens", Kind: 'i', Int: c.CacheWrite},
			Attr{Key: "gen_ai.usage.reasoning.output_tokens", Kind: 'i', Int: c.Reasoning},
		)
	}
	if len(c.FinishReasons) > 0 {
		a = append(a, Attr{Key: "gen_ai.response.finish_reasons", Kind: 'a', Strings: c.FinishReasons})
	}
	if c.HaveTTFC {
		a = append(a, Attr{Key: "gen_ai.response.time_to_first_chunk", Kind: 'd', Double: c.TTFCSeconds})
	}
	if c.ErrorType != "" {
		a = append(a, Attr{Key: "error.type", Kind: 's', Str: c.ErrorType})
		a = append(a, Attr{Key: "llm.error.raw_type", Kind: 's', Str: c.ErrorRaw})
	}
	return a
}
