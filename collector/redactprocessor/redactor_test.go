package redactprocessor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
)

const (
	email = "jane.doe@example.com"
	key   = "sk-proj-AbCdEfGhIjKlMnOpQrStUv012345"
)

var testPatterns = []Pattern{
	{Name: "email", Regex: `[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`, Replacement: "<email>"},
	{Name: "api_key", Regex: `\bsk-[A-Za-z0-9_-]{16,}`, Replacement: "<api-key>"},
	{Name: "bearer", Regex: `(?i)bearer\s+(\S{8,})`, Replacement: "Bearer <token>"},
}

func mustRedactor(t *testing.T, patterns []Pattern) *redactor {
	t.Helper()
	r, err := newRedactor(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// seed fills m with an identifier in a value, a key, an array, a kvlist and an array in a kvlist,
// beside values that must survive untouched.
func seed(m pcommon.Map, secret string) {
	m.PutStr("value", "mail "+secret+" now")
	m.PutStr("by/"+secret, "v")
	arr := m.PutEmptySlice("array")
	arr.AppendEmpty().SetStr(secret)
	arr.AppendEmpty().SetInt(42)
	kv := m.PutEmptyMap("kvlist")
	kv.PutStr("inner", secret)
	inner := kv.PutEmptySlice("array_in_kvlist")
	inner.AppendEmpty().SetEmptyMap().PutStr("deep", "x "+secret)
	m.PutInt("gen_ai.usage.input_tokens", 1234)
	m.PutStr("gen_ai.request.model", "gpt-4o-2024-08-06")
}

func checkSeeded(t *testing.T, where string, m pcommon.Map) {
	t.Helper()
	if v, _ := m.Get("value"); v.Str() != "mail <email> now" {
		t.Errorf("%s: value = %q", where, v.Str())
	}
	if v, ok := m.Get("by/<email>"); !ok || v.Str() != "v" {
		t.Errorf("%s: key not rewritten: %v", where, m.AsRaw())
	}
	if v, _ := m.Get("gen_ai.usage.input_tokens"); v.Int() != 1234 {
		t.Errorf("%s: token count changed: %v", where, v.AsRaw())
	}
	if v, _ := m.Get("gen_ai.request.model"); v.Str() != "gpt-4o-2024-08-06" {
		t.Errorf("%s: model changed: %q", where, v.Str())
	}
	arr, _ := m.Get("array")
	if arr.Slice().At(0).Str() != "<email>" || arr.Slice().At(1).Int() != 42 {
		t.Errorf("%s: array = %v", where, arr.AsRaw())
	}
	kv, _ := m.Get("kvlist")
	if v, _ := kv.Map().Get("inner"); v.Str() != "<email>" {
		t.Errorf("%s: kvlist = %v", where, kv.AsRaw())
	}
	inner, _ := kv.Map().Get("array_in_kvlist")
	if v, _ := inner.Slice().At(0).Map().Get("deep"); v.Str() != "x <email>" {
		t.Errorf("%s: array in kvlist = %v", where, inner.AsRaw())
	}
	raw := strings.Join(flatten(m.AsRaw()), "|")
	if strings.Contains(raw, email) {
		t.Errorf("%s: %s left in %s", where, email, raw)
	}
}

// flatten lists every key and string anywhere in a raw value, for a blunt "is it anywhere" check.
func flatten(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, k)
			out = append(out, flatten(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return nil
}

func newTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	seed(rs.Resource().Attributes(), email)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("scope " + email)
	ss.Scope().SetVersion("1.2.3")
	seed(ss.Scope().Attributes(), email)
	span := ss.Spans().AppendEmpty()
	span.SetName("chat for " + email)
	span.SetTraceID(pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36})
	span.Status().SetCode(ptrace.StatusCodeError)
	span.Status().SetMessage("401: Authorization: Bearer abcdefgh12345678 for " + key)
	seed(span.Attributes(), email)
	ev := span.Events().AppendEmpty()
	ev.SetName("event " + email)
	seed(ev.Attributes(), email)
	link := span.Links().AppendEmpty()
	link.TraceState().FromRaw("vendor=abc")
	seed(link.Attributes(), email)
	return td
}

func TestEveryTextOfASpanIsRedactedAndTheRestKept(t *testing.T) {
	td := newTraces()
	if _, err := mustRedactor(t, testPatterns).traces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	rs := td.ResourceSpans().At(0)
	checkSeeded(t, "resource", rs.Resource().Attributes())
	ss := rs.ScopeSpans().At(0)
	if ss.Scope().Name() != "scope <email>" || ss.Scope().Version() != "1.2.3" {
		t.Errorf("scope = %q %q", ss.Scope().Name(), ss.Scope().Version())
	}
	checkSeeded(t, "scope", ss.Scope().Attributes())
	span := ss.Spans().At(0)
	if span.Name() != "chat for <email>" {
		t.Errorf("span name = %q", span.Name())
	}
	if got := span.Status().Message(); got != "401: Authorization: Bearer <token> for <api-key>" {
		t.Errorf("status message = %q", got)
	}
	if span.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id changed: %s", span.TraceID())
	}
	checkSeeded(t, "span", span.Attributes())
	ev := span.Events().At(0)
	if ev.Name() != "event <email>" {
		t.Errorf("event name = %q", ev.Name())
	}
	checkSeeded(t, "event", ev.Attributes())
	link := span.Links().At(0)
	checkSeeded(t, "link", link.Attributes())
	if link.TraceState().AsRaw() != "vendor=abc" {
		t.Errorf("trace state changed: %q", link.TraceState().AsRaw())
	}
}

func TestEveryTextOfALogRecordIsRedacted(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	seed(rl.Resource().Attributes(), email)
	sl := rl.ScopeLogs().AppendEmpty()
	seed(sl.Scope().Attributes(), email)
	str := sl.LogRecords().AppendEmpty()
	str.Body().SetStr("user " + email + " logged in")
	str.SetEventName("login/" + email)
	seed(str.Attributes(), email)
	structured := sl.LogRecords().AppendEmpty()
	seed(structured.Body().SetEmptyMap(), email)
	list := sl.LogRecords().AppendEmpty()
	list.Body().SetEmptySlice().AppendEmpty().SetStr(email)
	if _, err := mustRedactor(t, testPatterns).logs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	checkSeeded(t, "resource", rl.Resource().Attributes())
	checkSeeded(t, "scope", sl.Scope().Attributes())
	if str.Body().Str() != "user <email> logged in" || str.EventName() != "login/<email>" {
		t.Errorf("string body %q, event name %q", str.Body().Str(), str.EventName())
	}
	checkSeeded(t, "log attributes", str.Attributes())
	checkSeeded(t, "map body", structured.Body().Map())
	if list.Body().Slice().At(0).Str() != "<email>" {
		t.Errorf("array body = %v", list.Body().AsRaw())
	}
}

func TestDatapointAndExemplarAttributesOfEveryMetricTypeAreRedacted(t *testing.T) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	seed(rm.Resource().Attributes(), email)
	sm := rm.ScopeMetrics().AppendEmpty()
	var attrs []pcommon.Map
	gauge := sm.Metrics().AppendEmpty()
	gauge.SetDescription("per " + email)
	gp := gauge.SetEmptyGauge().DataPoints().AppendEmpty()
	attrs = append(attrs, gp.Attributes(), gp.Exemplars().AppendEmpty().FilteredAttributes())
	attrs = append(attrs, sm.Metrics().AppendEmpty().SetEmptySum().DataPoints().AppendEmpty().Attributes())
	attrs = append(attrs, sm.Metrics().AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty().Attributes())
	attrs = append(attrs, sm.Metrics().AppendEmpty().SetEmptyExponentialHistogram().DataPoints().AppendEmpty().Attributes())
	attrs = append(attrs, sm.Metrics().AppendEmpty().SetEmptySummary().DataPoints().AppendEmpty().Attributes())
	for _, m := range attrs {
		seed(m, email)
	}
	if _, err := mustRedactor(t, testPatterns).metrics(context.Background(), md); err != nil {
		t.Fatal(err)
	}
	checkSeeded(t, "resource", rm.Resource().Attributes())
	if gauge.Description() != "per <email>" {
		t.Errorf("description = %q", gauge.Description())
	}
	for i, m := range attrs {
		checkSeeded(t, "datapoint "+string(rune('0'+i)), m)
	}
}

func TestARedactedKeyThatCollidesGetsTheFirstFreeSuffixInAttributeOrder(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("user/<email>", "already there")
	m.PutStr("user/a@example.com", "first")
	m.PutStr("user/b@example.org", "second")
	mustRedactor(t, testPatterns).attributes(m)
	want := map[string]any{"user/<email>": "already there", "user/<email>#2": "first", "user/<email>#3": "second"}
	if got := m.AsRaw(); len(got) != 3 || got["user/<email>#2"] != "first" || got["user/<email>#3"] != "second" || got["user/<email>"] != "already there" {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPatternsApplyInOrderAndGroupsExpandInTheReplacement(t *testing.T) {
	r := mustRedactor(t, []Pattern{
		{Name: "keep_domain", Regex: `[a-z.]+@([a-z]+\.com)`, Replacement: "<user>@$1"},
		{Name: "domain", Regex: `example`, Replacement: "<domain>"},
	})
	if got, _ := r.text("to jane@example.com"); got != "to <user>@<domain>.com" {
		t.Errorf("got %q", got)
	}
	if got, changed := r.text("nothing to see"); changed || got != "nothing to see" {
		t.Errorf("unmatched text changed: %q", got)
	}
}

func TestConfigNamesEveryBadPatternAtOnce(t *testing.T) {
	cfg := &Config{Patterns: []Pattern{
		{Name: "ok", Regex: `x`},
		{Name: "ok", Regex: `(`},
		{Name: "", Regex: `(?<=x)`},
	}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`patterns[1]: name "ok" is used twice`, "patterns[1] (ok): error parsing regexp", "patterns[2]: name is empty", "patterns[2] ():"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if (&Config{Patterns: testPatterns}).Validate() != nil {
		t.Error("valid patterns refused")
	}
}

// Through the factory, as the collector builds it: the processor redacts what reaches the next consumer.
func TestTheFactorysProcessorsRedactWhatTheyPassOn(t *testing.T) {
	f := NewFactory()
	if f.Type().String() != "redact" {
		t.Fatalf("type %q", f.Type())
	}
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Patterns = testPatterns
	set := processortest.NewNopSettings(f.Type())
	ctx := context.Background()

	traces := new(consumertest.TracesSink)
	tp, err := f.CreateTraces(ctx, set, cfg, traces)
	if err != nil {
		t.Fatal(err)
	}
	if !tp.Capabilities().MutatesData {
		t.Error("a processor that rewrites data must say so, or a fan-out would share it")
	}
	if err := tp.Start(ctx, componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	if err := tp.ConsumeTraces(ctx, newTraces()); err != nil {
		t.Fatal(err)
	}
	got := traces.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	if got.Name() != "chat for <email>" {
		t.Errorf("span name %q", got.Name())
	}
	logs := new(consumertest.LogsSink)
	lp, err := f.CreateLogs(ctx, set, cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(email)
	if err := lp.ConsumeLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	if body := logs.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str(); body != "<email>" {
		t.Errorf("log body %q", body)
	}
	metrics := new(consumertest.MetricsSink)
	if _, err := f.CreateMetrics(ctx, set, cfg, metrics); err != nil {
		t.Fatal(err)
	}
	for _, p := range []interface{ Shutdown(context.Context) error }{tp, lp} {
		if err := p.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestATextGivesTheSameResultWhenSeenAgainAndTheCleanSetStaysBounded(t *testing.T) {
	r, err := newRedactor(testPatterns)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"gpt-4o-2024-08-06", "mail jane@example.com", "", "gen_ai.request.model"} {
		first, _ := r.text(s)
		again, changed := r.text(s)
		if again != first || changed != (first != s) {
			t.Errorf("%q: %q the first time, %q (changed %v) the second", s, first, again, changed)
		}
	}
	if _, ok := r.clean.texts["mail jane@example.com"]; ok {
		t.Error("a text a pattern changed is in the clean set")
	}
	long := strings.Repeat("x", cleanMaxBytes+1)
	r.text(long)
	if _, ok := r.clean.texts[long]; ok {
		t.Error("a text over cleanMaxBytes is in the clean set")
	}
	for i := 0; i < 3*cleanMaxTexts; i++ {
		r.text(fmt.Sprintf("model-%d", i))
	}
	if n := len(r.clean.texts); n > cleanMaxTexts || n == 0 {
		t.Errorf("clean set holds %d texts, bound %d", n, cleanMaxTexts)
	}
}

func TestConcurrentSpansAreRedactedAlike(t *testing.T) {
	r, err := newRedactor(testPatterns)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				clean := fmt.Sprintf("model-%d", i%300)
				if got, _ := r.text(clean); got != clean {
					errs <- got
					return
				}
				if got, _ := r.text("to jane@example.com"); got != "to <email>" {
					errs <- got
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for got := range errs {
		t.Errorf("concurrent redaction gave %q", got)
	}
}
