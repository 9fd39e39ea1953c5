package redactprocessor

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The rendered config the project ships (stack/otel-collector/config.yaml, from observatory.yaml):
// its `redact` processor holds the built-in patterns as users run them.
const shippedConfig = "../../stack/otel-collector/config.yaml"

func shippedPatterns(t *testing.T) []Pattern {
	t.Helper()
	conf, err := confmaptest.LoadConf(shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	processors, err := conf.Sub("processors")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := processors.Sub("redact")
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := sub.Unmarshal(&cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Patterns) == 0 {
		t.Fatalf("%s has no redact patterns", shippedConfig)
	}
	// The collector turns the config's `$$` into `$` when it expands it; LoadConf does not expand.
	for i := range cfg.Patterns {
		cfg.Patterns[i].Regex = strings.ReplaceAll(cfg.Patterns[i].Regex, "$$", "$")
		cfg.Patterns[i].Replacement = strings.ReplaceAll(cfg.Patterns[i].Replacement, "$$", "$")
	}
	return cfg.Patterns
}

// Texts holding one identifier of each built-in kind, as applications send them.
var shippedSeeds = []string{
	"mail jane.doe@example.com now", "+44 20 7946 0958", "call (415) 555-0134", "4111 1111 1111 1111",
	"card 5500-0000-0000-0004", "sk-proj-AbCdEfGhIjKlMnOpQrStUv012345", "AKIAIOSFODNN7EXAMPLE",
	"Authorization: Bearer tok9f8e7d6c5b4a3210", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
	"ssn 078-05-1120", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
	"ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gpt-4o-2024-08-06", "4bf92f3577b34da6a3ce929d0e0e4736",
}

// The filters are only a shortcut: with them, every text must come out exactly as the shipped patterns
// applied one after the other, without them, would make it. Random texts and edited identifiers, so
// near misses (where a wrongly required byte would show) are tried by the thousand.
func TestTheShippedPatternsRedactTheSameWithAndWithoutTheFilters(t *testing.T) {
	patterns := shippedPatterns(t)
	r, err := newRedactor(patterns)
	if err != nil {
		t.Fatal(err)
	}
	alphabet := []rune("aAbBeEgGhHkKsSTWxXyYzJ@._%+-=:/ ()\t0123456789é")
	rng := rand.New(rand.NewSource(28))
	changed := 0
	for n := 0; n < 60000; n++ {
		var text []rune
		if n%3 == 0 {
			text = make([]rune, rng.Intn(40))
			for i := range text {
				text[i] = alphabet[rng.Intn(len(alphabet))]
			}
		} else {
			text = []rune(shippedSeeds[rng.Intn(len(shippedSeeds))])
			for e := rng.Intn(4); e > 0 && len(text) > 0; e-- {
				text[rng.Intn(len(text))] = alphabet[rng.Intn(len(alphabet))]
			}
		}
		s := string(text)
		want := s
		for _, ru := range r.rules {
			want = ru.re.ReplaceAllString(want, ru.replacement)
		}
		got, _ := r.text(s)
		if got != want {
			t.Fatalf("%q: the filtered redactor gives %q, the patterns alone %q", s, got, want)
		}
		if got != s {
			changed++
		}
	}
	if changed < 10000 {
		t.Errorf("only %d of 60000 texts were redacted: the test would not see a filter that is wrong", changed)
	}
	for _, s := range shippedSeeds[:13] {
		if got, _ := r.text(s); got == s {
			t.Errorf("%q is not redacted by the shipped patterns", s)
		}
	}
}

// A typical LLM span as the corpus holds them: GenAI attributes, a resource, an event; one e-mail
// address in it, and a response id never seen before. What redacting it costs, with the shipped
// patterns (docs/BENCHMARKS.md).
func BenchmarkRedactATypicalLLMSpan(b *testing.B) {
	r, err := newRedactor(shippedPatterns(&testing.T{}))
	if err != nil {
		b.Fatal(err)
	}
	template := ptrace.NewTraces()
	rs := template.ResourceSpans().AppendEmpty()
	for k, v := range map[string]string{"service.name": "chat-api", "service.version": "1.4.2",
		"deployment.environment.name": "production", "telemetry.sdk.name": "opentelemetry",
		"telemetry.sdk.language": "python", "telemetry.sdk.version": "1.38.0", "host.name": "ip-10-0-3-17"} {
		rs.Resource().Attributes().PutStr(k, v)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("opentelemetry.instrumentation.openai_v2")
	ss.Scope().SetVersion("0.58b0")
	span := ss.Spans().AppendEmpty()
	span.SetName("chat gpt-4o-2024-08-06")
	attrs := span.Attributes()
	for k, v := range map[string]string{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
		"gen_ai.request.model": "gpt-4o-2024-08-06", "gen_ai.response.model": "gpt-4o-2024-08-06",
		"gen_ai.response.id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "server.address": "api.openai.com",
		"user.id": "jane.doe@example.com", "llm.cost.price_effective_from": "2024-08-06"} {
		attrs.PutStr(k, v)
	}
	attrs.PutInt("gen_ai.usage.input_tokens", 1234)
	attrs.PutInt("gen_ai.usage.output_tokens", 56)
	attrs.PutDouble("llm.cost.usd", 0.0037)
	attrs.PutEmptySlice("gen_ai.response.finish_reasons").AppendEmpty().SetStr("stop")
	ev := span.Events().AppendEmpty()
	ev.SetName("gen_ai.choice")
	ev.Attributes().PutStr("gen_ai.system", "openai")
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		b.StopTimer()
		td := ptrace.NewTraces()
		template.CopyTo(td)
		// Each response id is new, as in real traffic: the clean set cannot save its regex passes.
		n++
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr(
			"gen_ai.response.id", fmt.Sprintf("chatcmpl-B9MBs8CjcvOU2jLn4n%011dT", n))
		b.StartTimer()
		if _, err := r.traces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
}
