package redactprocessor

import (
	"strings"
	"sync"
)

// cleanSet remembers short texts no pattern matched, so the next span carrying the same one (a model
// name, a service name, an attribute key: most texts repeat from span to span) skips the regexes,
// which cost 1 to 3 µs each per text (docs/BENCHMARKS.md). It only ever saves work: a text in it is
// one the patterns leave as it is, so the output is the same with or without it.
type cleanSet struct {
	mu    sync.RWMutex
	texts map[string]struct{}
}

const (
	// Longer texts are rarely repeated (messages, ids with a payload) and would only fill the set.
	cleanMaxBytes = 128
	// At most this many texts (about 1 MiB with the map's overhead); when full the set starts over,
	// which costs one regex pass per text again and keeps no text for ever.
	cleanMaxTexts = 8192
)

func newCleanSet() *cleanSet { return &cleanSet{texts: make(map[string]struct{})} }

func (c *cleanSet) has(s string) bool {
	if len(s) > cleanMaxBytes {
		return false
	}
	c.mu.RLock()
	_, ok := c.texts[s]
	c.mu.RUnlock()
	return ok
}

func (c *cleanSet) add(s string) {
	if len(s) > cleanMaxBytes {
		return
	}
	c.mu.Lock()
	if len(c.texts) >= cleanMaxTexts {
		clear(c.texts)
	}
	// A copy: s may point into a request's buffer, which the set must not keep alive.
	c.texts[strings.Clone(s)] = struct{}{}
	c.mu.Unlock()
}
