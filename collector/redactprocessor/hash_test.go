package redactprocessor

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
)

// hex(SHA-256("0123456789abcdef:alice@example.com")), computed with Python's hashlib: the value the
// collector's OTTL wrote before the hash moved here, so per-user history continues across the change.
const aliceHash = "4a8a225882d4d7e48bfb0be1fd797bcb4fabbd0669cb171c113d4ee6fabebab7"

func hashingConfig(key string) *Config {
	return &Config{
		Patterns:   testPatterns,
		UserIDHash: &UserIDHash{Attribute: "user.id", Key: configopaqueString(key), KeyFrom: "the environment variable K"},
	}
}

func TestAUserIDIsHashedWithTheKeyBeforeThePatternsAndAnEmptyOneRemoved(t *testing.T) {
	f := NewFactory()
	sink := new(consumertest.TracesSink)
	tp, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), hashingConfig("0123456789abcdef\n"), sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	spans.AppendEmpty().Attributes().PutStr("user.id", "alice@example.com")
	spans.AppendEmpty().Attributes().PutStr("user.id", "")
	spans.AppendEmpty().Attributes().PutStr("other", "bob@example.com")
	if err := tp.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	got := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	if id, _ := got.At(0).Attributes().Get("user.id"); id.Str() != aliceHash {
		t.Errorf("hashed id %q, want %q (the key file's final line break is not part of the key)", id.Str(), aliceHash)
	}
	if _, ok := got.At(1).Attributes().Get("user.id"); ok {
		t.Error("an empty user id should be removed, not hashed")
	}
	if other, _ := got.At(2).Attributes().Get("other"); other.Str() != "<email>" {
		t.Errorf("the patterns still apply to the rest: %q", other.Str())
	}
}

func TestAMissingOrShortHashKeyStopsTheCollectorAndSaysHowToSetIt(t *testing.T) {
	for _, key := range []string{"", "\n", "short-key", "0123456789abcde\n"} {
		err := hashingConfig(key).Validate()
		if err == nil {
			t.Fatalf("key %q accepted", key)
		}
		for _, want := range []string{"the environment variable K", "at least 16", "openssl rand"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("key %q: error %q does not say %q", key, err, want)
			}
		}
	}
	if err := hashingConfig("0123456789abcdef").Validate(); err != nil {
		t.Errorf("a 16-byte key refused: %v", err)
	}
}

func configopaqueString(s string) configopaque.String { return configopaque.String(s) }

func TestAUserIDOnALogRecordOrADatapointIsHashedAsOnASpan(t *testing.T) {
	f := NewFactory()
	ctx, set := context.Background(), processortest.NewNopSettings(f.Type())
	logSink, metricSink := new(consumertest.LogsSink), new(consumertest.MetricsSink)
	lp, err := f.CreateLogs(ctx, set, hashingConfig("0123456789abcdef"), logSink)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := f.CreateMetrics(ctx, set, hashingConfig("0123456789abcdef"), metricSink)
	if err != nil {
		t.Fatal(err)
	}

	ld := plog.NewLogs()
	records := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	records.AppendEmpty().Attributes().PutStr("user.id", "alice@example.com")
	records.AppendEmpty().Attributes().PutStr("user.id", "")
	if err := lp.ConsumeLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	got := logSink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	if id, _ := got.At(0).Attributes().Get("user.id"); id.Str() != aliceHash {
		t.Errorf("log record: user id %q, want %q", id.Str(), aliceHash)
	}
	if _, ok := got.At(1).Attributes().Get("user.id"); ok {
		t.Error("log record: an empty user id should be removed")
	}

	md := pmetric.NewMetrics()
	metrics := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	metrics.AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().Attributes().PutStr("user.id", "alice@example.com")
	metrics.AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty().Attributes().PutStr("user.id", "alice@example.com")
	if err := mp.ConsumeMetrics(ctx, md); err != nil {
		t.Fatal(err)
	}
	out := metricSink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	gauge, _ := out.At(0).Gauge().DataPoints().At(0).Attributes().Get("user.id")
	histogram, _ := out.At(1).Histogram().DataPoints().At(0).Attributes().Get("user.id")
	if gauge.Str() != aliceHash || histogram.Str() != aliceHash {
		t.Errorf("datapoints: user ids %q and %q, want %q", gauge.Str(), histogram.Str(), aliceHash)
	}
}
