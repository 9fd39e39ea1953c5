// observatory-proxy: an OpenAI- and Anthropic-compatible reverse proxy that emits one OpenTelemetry
// GenAI span per call, for applications that cannot be instrumented. Each provider has its own path
// prefix (/openai/..., /anthropic/...) forwarded to its configured base URL; bodies pass through as
// they arrive, and the span goes to a bounded queue that a call never waits on (export.go).
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var version = "dev"

// Config is every setting; `observatory proxy` passes them as flags from the spec's proxy section.
type Config struct {
	Listen               string
	OpenAIUpstream       string
	AnthropicUpstream    string
	OTLPEndpoint         string // the collector's OTLP/HTTP base URL; "" exports nothing
	Application          string // service.name when the caller sends no application header
	HeaderTimeout        time.Duration
	StreamIdleTimeout    time.Duration // longest wait for the next bytes of a response body; 0: none
	MaxRequestBytes      int64
	MaxConcurrent        int
	QueueSpans           int
	BatchSpans           int
	ExportInterval       time.Duration
	ExportTimeout        time.Duration
	ShutdownTimeout      time.Duration
	MaxObservedBodyBytes int
}

func parseFlags(args []string) Config {
	var c Config
	fs := flag.NewFlagSet("observatory-proxy", flag.ExitOnError)
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:4180", "address to listen on")
	fs.StringVar(&c.OpenAIUpstream, "openai-upstream", "https://api.openai.com", "OpenAI base URL that /openai/ forwards to")
	fs.StringVar(&c.AnthropicUpstream, "anthropic-upstream", "https://api.anthropic.com", "Anthropic base URL that /anthropic/ forwards to")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", "http://127.0.0.1:4318", "collector OTLP/HTTP base URL (spans go to /v1/traces); empty: none")
	fs.StringVar(&c.Application, "default-application", "llm-proxy", "service.name of calls that send no X-Observatory-Application")
	fs.DurationVar(&c.HeaderTimeout, "upstream-timeout", 600*time.Second, "longest wait for a provider's response headers")
	fs.DurationVar(&c.StreamIdleTimeout, "stream-idle-timeout", 300*time.Second, "longest wait for the next bytes of a response body (stream events); 0: no limit")
	fs.Int64Var(&c.MaxRequestBytes, "max-request-bytes", 32<<20, "largest request body accepted")
	fs.IntVar(&c.MaxConcurrent, "max-concurrent", 4096, "calls proxied at once; more get 503 (0: no limit)")
	fs.IntVar(&c.QueueSpans, "queue-spans", 8192, "spans waiting for export at most; more are dropped and counted")
	fs.IntVar(&c.BatchSpans, "batch-spans", 512, "spans per export request at most")
	fs.DurationVar(&c.ExportInterval, "export-interval", time.Second, "longest a span waits for its batch")
	fs.DurationVar(&c.ExportTimeout, "export-timeout", 5*time.Second, "longest an export request may take")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long open calls may finish after SIGTERM")
	fs.IntVar(&c.MaxObservedBodyBytes, "max-observed-body-bytes", 8<<20, "largest non-streamed body read for usage")
	_ = fs.Parse(args)
	return c
}

func main() {
	// `observatory-proxy -check URL`: the container health check (the image has no shell or curl).
	if len(os.Args) == 3 && os.Args[1] == "-check" {
		os.Exit(check(os.Args[2]))
	}
	cfg := parseFlags(os.Args[1:])
	metrics := NewMetrics()
	endpoint := ""
	if cfg.OTLPEndpoint != "" {
		endpoint = strings.TrimSuffix(cfg.OTLPEndpoint, "/") + "/v1/traces"
	}
	exporter := NewExporter(endpoint, cfg.QueueSpans, cfg.BatchSpans, cfg.ExportInterval, cfg.ExportTimeout, metrics)
	proxy, err := NewProxy(cfg, exporter, metrics)
	if err != nil {
		log.Fatalf("observatory-proxy: %v", err)
	}
	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		metrics.write(w, exporter.QueueLength(), cfg.QueueSpans)
	})
	mux.Handle("/openai/", proxy.handler("openai"))
	mux.Handle("/anthropic/", proxy.handler("anthropic"))

	listener, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Fatalf("observatory-proxy: %v", err)
	}
	// No write timeout: streams last as long as the provider streams.
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	exportCtx, stopExport := context.WithCancel(context.Background())
	exported := make(chan struct{})
	go func() { exporter.Run(exportCtx); close(exported) }()

	// Credentials never reach the log: only addresses and base URLs are printed.
	log.Printf("observatory-proxy %s listening on %s (openai -> %s, anthropic -> %s, spans -> %s)",
		version, listener.Addr(), cfg.OpenAIUpstream, cfg.AnthropicUpstream, endpointOrNone(endpoint))
	ready.Store(true)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		ready.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()
	if err := server.Serve(listener); err != nil && err != http.ErrServerClosed {
		log.Fatalf("observatory-proxy: %v", err)
	}
	// Serve returns as soon as Shutdown begins; open calls (streams) finish first, then their spans go.
	<-drained
	stopExport()
	<-exported
}

func check(url string) int {
	client := &http.Client{Timeout: 4 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

func endpointOrNone(e string) string {
	if e == "" {
		return "nowhere"
	}
	return e
}
