package redactprocessor

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

type rule struct {
	re          *regexp.Regexp
	replacement string
	// Byte sets a text must each meet before re can match it (prefilter.go): most texts need no
	// regex at all, where running every pattern over every key and value was the pipeline's
	// largest cost (docs/BENCHMARKS.md).
	filter []byteSet
}

// redactor applies the patterns to one text at a time and walks pdata values and maps.
type redactor struct {
	rules  []rule
	userID *userIDHasher // nil: user ids are left as they are (bar the patterns)
	clean  *cleanSet     // short texts already seen to match nothing (clean.go)
}

// userIDHasher replaces a user id by hex(SHA-256(key + ":" + id)), the hash the collector's OTTL
// computed before it moved here (so per-user history continues), and removes an empty one.
type userIDHasher struct {
	attribute string
	key       string
}

func (h *userIDHasher) hash(attrs pcommon.Map) {
	if h == nil {
		return
	}
	value, ok := attrs.Get(h.attribute)
	if !ok {
		return
	}
	id := value.AsString()
	if id == "" {
		attrs.Remove(h.attribute)
		return
	}
	sum := sha256.Sum256([]byte(h.key + ":" + id))
	value.SetStr(hex.EncodeToString(sum[:]))
}

func newRedactor(patterns []Pattern) (*redactor, error) {
	r := &redactor{clean: newCleanSet()}
	for _, p := range patterns {
		re, err := regexp.Compile(p.Regex)
		if err != nil {
			return nil, err
		}
		filter, err := filterOf(p.Regex)
		if err != nil {
			return nil, err
		}
		r.rules = append(r.rules, rule{re: re, replacement: p.Replacement, filter: filter})
	}
	return r, nil
}

// text is s with every pattern applied in order, and whether anything changed.
func (r *redactor) text(s string) (string, bool) {
	if s == "" || len(r.rules) == 0 || r.clean.has(s) {
		return s, false
	}
	bytes := present(s)
	out := s
	for _, ru := range r.rules {
		if !mayMatch(ru.filter, bytes) || !ru.re.MatchString(out) {
			continue
		}
		out = ru.re.ReplaceAllString(out, ru.replacement)
		bytes = present(out) // a replacement brings its own bytes to the patterns after it
	}
	if out == s {
		r.clean.add(s)
	}
	return out, out != s
}

// setText redacts a string field through its getter and setter, writing only when it changed.
func (r *redactor) setText(get func() string, set func(string)) {
	if s, changed := r.text(get()); changed {
		set(s)
	}
}

// value redacts a string, or every string inside an array or key-value list, at any depth. Numbers,
// booleans and bytes are not text and are left alone.
func (r *redactor) value(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s, changed := r.text(v.Str()); changed {
			v.SetStr(s)
		}
	case pcommon.ValueTypeMap:
		r.attributes(v.Map())
	case pcommon.ValueTypeSlice:
		items := v.Slice()
		for i := 0; i < items.Len(); i++ {
			r.value(items.At(i))
		}
	}
}

type rename struct{ from, to string }

// attributes redacts every value of m and every key. A redacted key that collides with a key already
// present gets the first free suffix "#2", "#3", ...: nothing is lost, and the same input always gives
// the same names (pdata keeps attributes in order).
func (r *redactor) attributes(m pcommon.Map) {
	var renames []rename
	for k, v := range m.All() {
		r.value(v)
		if to, changed := r.text(k); changed {
			renames = append(renames, rename{k, to})
		}
	}
	for _, rn := range renames {
		v, ok := m.Get(rn.from)
		if !ok {
			continue
		}
		// Moved out first: PutEmpty may grow the map's storage, which would leave v pointing at the old one.
		moved := pcommon.NewValueEmpty()
		v.MoveTo(moved)
		m.Remove(rn.from)
		key := rn.to
		for n := 2; ; n++ {
			if _, taken := m.Get(key); !taken {
				break
			}
			key = rn.to + "#" + strconv.Itoa(n)
		}
		moved.MoveTo(m.PutEmpty(key))
	}
}

// scope redacts an instrumentation scope's name, version and attributes.
func (r *redactor) scope(s pcommon.InstrumentationScope) {
	r.setText(s.Name, s.SetName)
	r.setText(s.Version, s.SetVersion)
	r.attributes(s.Attributes())
}
