package redactprocessor

import (
	"context"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// traces redacts resources, scopes, span names, status messages, span attributes, events and links.
// Trace state is W3C key=value vendor data, not text a person wrote, and is left alone.
func (r *redactor) traces(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	for _, rs := range td.ResourceSpans().All() {
		r.attributes(rs.Resource().Attributes())
		for _, ss := range rs.ScopeSpans().All() {
			r.scope(ss.Scope())
			for _, span := range ss.Spans().All() {
				r.userID.hash(span.Attributes()) // first: the patterns would mask an id that is an address
				r.setText(span.Name, span.SetName)
				r.setText(span.Status().Message, span.Status().SetMessage)
				r.attributes(span.Attributes())
				for _, ev := range span.Events().All() {
					r.setText(ev.Name, ev.SetName)
					r.attributes(ev.Attributes())
				}
				for _, link := range span.Links().All() {
					r.attributes(link.Attributes())
				}
			}
		}
	}
	return td, nil
}

// logs hashes user ids and redacts resources, scopes, log bodies of any type, attributes and event
// names.
func (r *redactor) logs(_ context.Context, ld plog.Logs) (plog.Logs, error) {
	for _, rl := range ld.ResourceLogs().All() {
		r.attributes(rl.Resource().Attributes())
		for _, sl := range rl.ScopeLogs().All() {
			r.scope(sl.Scope())
			for _, lr := range sl.LogRecords().All() {
				r.userID.hash(lr.Attributes())
				r.value(lr.Body())
				r.attributes(lr.Attributes())
				r.setText(lr.EventName, lr.SetEventName)
			}
		}
	}
	return ld, nil
}

// metrics redacts resources, scopes, metric descriptions and every datapoint's and exemplar's
// attributes (which become Prometheus labels), a datapoint's user id hashed first. Metric names and units are identifiers the
// application chose, not data, and are left alone.
func (r *redactor) metrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	for _, rm := range md.ResourceMetrics().All() {
		r.attributes(rm.Resource().Attributes())
		for _, sm := range rm.ScopeMetrics().All() {
			r.scope(sm.Scope())
			for _, m := range sm.Metrics().All() {
				r.setText(m.Description, m.SetDescription)
				r.datapoints(m)
			}
		}
	}
	return md, nil
}

func (r *redactor) exemplars(es pmetric.ExemplarSlice) {
	for _, e := range es.All() {
		r.attributes(e.FilteredAttributes())
	}
}

func (r *redactor) datapoints(m pmetric.Metric) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			r.userID.hash(dp.Attributes())
			r.attributes(dp.Attributes())
			r.exemplars(dp.Exemplars())
		}
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			r.userID.hash(dp.Attributes())
			r.attributes(dp.Attributes())
			r.exemplars(dp.Exemplars())
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			r.userID.hash(dp.Attributes())
			r.attributes(dp.Attributes())
			r.exemplars(dp.Exemplars())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			r.userID.hash(dp.Attributes())
			r.attributes(dp.Attributes())
			r.exemplars(dp.Exemplars())
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			r.userID.hash(dp.Attributes())
			r.attributes(dp.Attributes())
		}
	}
}
