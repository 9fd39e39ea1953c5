// The targeted JSON reading and writing agree with encoding/json on what the proxy uses.
package main

import (
	"encoding/json"
	"testing"
)

func TestOnlyTopLevelMembersAreReadFromARequest(t *testing.T) {
	for body, want := range map[string]requestFields{
		`{"messages":[{"role":"user","stream":true,"model":"inner"}],"model":"gpt-4o"}`:   {Model: "gpt-4o"},
		` { "model" : "a\"b\u00e9" , "stream" : true }`:                                   {Model: "a\"bé", Stream: true},
		`{"stream":"true","model":5,"metadata":{"stream_options":{}}}`:                    {},
		`{"model":"m","stream":true,"stream_options":{"include_usage":true},"n":[1,[2]]}`: {Model: "m", Stream: true, StreamOptions: json.RawMessage(`{"include_usage":true}`)},
		`{"messages":[{"content":"}]\"{["}],"model":"x"}`:                                 {Model: "x"},
		`[1,2]`: {},
		`{}`:    {},
	} {
		c := &Call{}
		got := c.readRequest([]byte(body))
		if got.Model != want.Model || got.Stream != want.Stream || string(got.StreamOptions) != string(want.StreamOptions) {
			t.Errorf("readRequest(%s) = %+v, want %+v", body, got, want)
		}
	}
}

func TestStreamUsageIsInsertedWithTheCallersBytesUnchanged(t *testing.T) {
	for body, want := range map[string]string{
		`{"model":"m","stream":true}`:         `{"stream_options":{"include_usage":true},"model":"m","stream":true}`,
		" \n{ \"model\" : \"m\" }":            " \n{\"stream_options\":{\"include_usage\":true}, \"model\" : \"m\" }",
		`{}`:                                  `{"stream_options":{"include_usage":true}}`,
		`{"stream_options":{"x":1}}`:          `{"stream_options":{"include_usage":true,"x":1}}`,
		`{"model":"m","stream_options":null}`: `{"model":"m","stream_options":{"include_usage":true}}`,
	} {
		c := &Call{}
		got := string(withStreamUsage([]byte(body), c.readRequest([]byte(body))))
		if got != want {
			t.Errorf("withStreamUsage(%q) = %q, want %q", body, got, want)
		}
	}
}

func TestStringsAreEncodedAsEncodingJSONReadsThem(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "tab\tnl\n\x00\x1f", "é ☃ 😀", "<&>", "bad \xff utf8"} {
		var back string
		if err := json.Unmarshal(appendString(nil, s), &back); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q came back as %q, want %q", s, back, wantBack)
		}
	}
}
