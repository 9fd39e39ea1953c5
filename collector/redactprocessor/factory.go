package redactprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
)

// Type is the processor's name in a collector config: `processors: {redact: {patterns: [...]}}`.
var Type = component.MustNewType("redact")

// NewFactory is what the builder's generated components.go registers.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		Type,
		func() component.Config { return &Config{} },
		processor.WithTraces(createTraces, component.StabilityLevelBeta),
		processor.WithLogs(createLogs, component.StabilityLevelBeta),
		processor.WithMetrics(createMetrics, component.StabilityLevelBeta),
	)
}

// It rewrites data in place: the pipeline hands it its own copy when a fan-out shares the data.
var mutates = processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true})

// fromConfig is the redactor a config describes: its patterns, and the user-id hash when set. Every
// signal gets both: a user id on a log record or an application's datapoint (a Prometheus label) is
// the same person as on a span, and hashed alike, so it can still be matched across them.
func fromConfig(cfg component.Config) (*redactor, error) {
	c := cfg.(*Config)
	r, err := newRedactor(c.Patterns)
	if err != nil {
		return nil, err
	}
	if c.UserIDHash != nil {
		r.userID = &userIDHasher{attribute: c.UserIDHash.Attribute, key: hashKey(c.UserIDHash.Key)}
	}
	return r, nil
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	r, err := fromConfig(cfg)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, r.traces, mutates)
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	r, err := fromConfig(cfg)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, r.logs, mutates)
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	r, err := fromConfig(cfg)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, r.metrics, mutates)
}
