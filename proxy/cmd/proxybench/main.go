// proxybench: the proxy's benchmark driver (scripts/bench_proxy.py runs it). `upstream` serves a fast
// fake OpenAI API and an OTLP sink that discards; `load` sends requests to two base URLs alternately
// (the fake directly, and the proxy in front of it), so both see the same machine at the same time,
// and prints latency percentiles of each as JSON; `streams` holds N streams open through the proxy.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// A chat completion as the capture's fake provider writes it (about 600 bytes).
const completion = `{"id": "chatcmpl-bench", "object": "chat.completion", "created": 1767225600, "model": "gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help?", "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30, "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}, "service_tier": "default", "system_fingerprint": "fp_bench"}`

const chunk = `data: {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1767225600, "model": "gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "delta": {"content": " word"}, "logprobs": null, "finish_reason": null}]%s}` + "\n\n"
const usageChunk = `data: {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1767225600, "model": "gpt-4o-mini-2024-07-18", "choices": [], "usage": {"prompt_tokens": 18, "completion_tokens": 12, "total_tokens": 30}}` + "\n\n"

func upstream(addr string, events int, holdEvery time.Duration) {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	})
	mux.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Stream        bool `json:"stream"`
			StreamOptions struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
			Hold int `json:"hold_seconds"` // bench only: keep the stream open this long
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if !body.Stream {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(completion))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		flusher := w.(http.Flusher)
		extra := ""
		if body.StreamOptions.IncludeUsage {
			extra = `, "usage": null`
		}
		for i := 0; i < events; i++ {
			fmt.Fprintf(w, chunk, extra)
			flusher.Flush()
		}
		for i := 0; i < body.Hold; i++ {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(holdEvery):
			}
			fmt.Fprintf(w, chunk, extra)
			flusher.Flush()
		}
		if body.StreamOptions.IncludeUsage {
			_, _ = w.Write([]byte(usageChunk))
		}
		_, _ = w.Write([]byte("data: [DONE]\n\n"))
	})
	server := &http.Server{Addr: addr, Handler: mux}
	if err := server.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type result struct {
	Target  string    `json:"target"`
	Count   int       `json:"count"`
	Errors  int       `json:"errors"`
	P50Ms   float64   `json:"p50_ms"`
	P99Ms   float64   `json:"p99_ms"`
	MaxMs   float64   `json:"max_ms"`
	PerSec  float64   `json:"per_second"`
	samples []float64 // ms
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

// once sends one request; for a stream it returns the time to the first body byte, and reads the rest.
func once(client *http.Client, base string, stream bool) (time.Duration, error) {
	body := `{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}]}`
	if stream {
		body = `{"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "Say hello."}]}`
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-bench")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var first time.Duration
	buf := make([]byte, 32*1024)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 && first == 0 {
			first = time.Since(start)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if stream {
		return first, nil
	}
	return time.Since(start), nil
}

// load: `rate` > 0 is an open loop at that many requests per second in total (both targets);
// rate 0 is saturation: `workers` closed loops as fast as they go.
func load(targets []string, rate float64, workers int, duration time.Duration, stream bool) []result {
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: 4096, MaxIdleConnsPerHost: 2048, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	results := make([]result, len(targets))
	var mu sync.Mutex
	record := func(i int, d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			results[i].Errors++
			return
		}
		results[i].samples = append(results[i].samples, float64(d.Microseconds())/1000)
	}
	// Warm-up: connections open, caches warm, not timed.
	for i := 0; i < 50; i++ {
		for _, t := range targets {
			_, _ = once(client, t, stream)
		}
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	started := time.Now()
	if rate > 0 {
		interval := time.Duration(float64(time.Second) / rate)
		next := time.Now()
		for n := 0; ctx.Err() == nil; n++ {
			next = next.Add(interval)
			time.Sleep(time.Until(next))
			i := n % len(targets)
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := once(client, targets[i], stream)
				record(i, d, err)
			}()
		}
	} else {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for n := w; ctx.Err() == nil; n++ {
					i := n % len(targets)
					d, err := once(client, targets[i], stream)
					record(i, d, err)
				}
			}(w)
		}
	}
	wg.Wait()
	elapsed := time.Since(started).Seconds()
	for i := range results {
		s := results[i].samples
		sort.Float64s(s)
		results[i].Target = targets[i]
		results[i].Count = len(s)
		results[i].P50Ms = percentile(s, 0.50)
		results[i].P99Ms = percentile(s, 0.99)
		if len(s) > 0 {
			results[i].MaxMs = s[len(s)-1]
		}
		results[i].PerSec = float64(len(s)) / elapsed
	}
	return results
}

// streams opens n streams through base that stay open `hold` seconds, and reports when all are open.
func streams(base string, n, hold int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}}
	body := fmt.Sprintf(`{"model": "gpt-4o-mini", "stream": true, "hold_seconds": %d, "messages": []}`, hold)
	var open, failed sync.WaitGroup
	open.Add(n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		failed.Add(1)
		go func() {
			defer failed.Done()
			req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				open.Done()
				return
			}
			defer resp.Body.Close()
			buf := make([]byte, 4096)
			_, err = resp.Body.Read(buf)
			open.Done()
			if err != nil {
				errs <- err
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			if err != nil {
				errs <- err
			}
		}()
	}
	open.Wait()
	fmt.Println("open") // the driver reads the proxy's memory now, while all are open
	failed.Wait()
	close(errs)
	count := 0
	for range errs {
		count++
	}
	fmt.Printf("done %d errors\n", count)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: proxybench upstream|load|streams [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:0", "upstream: address")
	events := fs.Int("events", 10, "upstream: events per stream")
	targets := fs.String("targets", "", "load: base URLs, comma-separated")
	rate := fs.Float64("rate", 0, "load: requests per second in total; 0: saturation")
	workers := fs.Int("workers", 32, "load: closed loops at saturation")
	seconds := fs.Float64("seconds", 20, "load: how long")
	stream := fs.Bool("stream", false, "load: streamed calls, timed to the first byte")
	base := fs.String("base", "", "streams: base URL")
	n := fs.Int("n", 1000, "streams: how many")
	hold := fs.Int("hold", 5, "streams: seconds each stays open")
	_ = fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "upstream":
		upstream(*addr, *events, time.Second)
	case "load":
		out := load(strings.Split(*targets, ","), *rate, *workers, time.Duration(*seconds*float64(time.Second)), *stream)
		_ = json.NewEncoder(os.Stdout).Encode(out)
	case "streams":
		streams(*base, *n, *hold)
	}
}
