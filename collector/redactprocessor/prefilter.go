package redactprocessor

import (
	"regexp/syntax"
	"sort"
	"unicode"
)

// byteSet is a set of bytes, one bit each.
type byteSet [4]uint64

func (s *byteSet) add(b byte)          { s[b>>6] |= 1 << (b & 63) }
func (s byteSet) meets(o byteSet) bool { return s[0]&o[0]|s[1]&o[1]|s[2]&o[2]|s[3]&o[3] != 0 }
func (s byteSet) size() (n int) {
	for _, w := range s {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

// present is the set of bytes a text contains: one pass over it serves every pattern's filter.
func present(text string) (s byteSet) {
	for i := 0; i < len(text); i++ {
		s.add(text[i])
	}
	return s
}

// addRune adds what a rune is encoded with: itself if ASCII, else every byte from 0x80 up (any
// non-ASCII rune's UTF-8 bytes are all there), which is coarse but never wrong.
func (s *byteSet) addRune(r rune) {
	if r < 0x80 {
		s.add(byte(r))
		return
	}
	for b := 0x80; b <= 0xff; b++ {
		s.add(byte(b))
	}
}

func (s *byteSet) addRange(lo, hi rune) {
	for r := lo; r <= hi && r < 0x80; r++ {
		s.add(byte(r))
	}
	if hi >= 0x80 {
		s.addRune(0x80)
	}
}

// required lists byte sets that every match of re contains a byte of each: a text that misses one
// of them cannot match, so the regex need not run (most attribute keys and values match no
// pattern; running nine regular expressions over each cost more than the rest of the pipeline).
// It is conservative: a construct it cannot reason about adds no set, it never adds a wrong one.
func required(re *syntax.Regexp) []byteSet {
	switch re.Op {
	case syntax.OpLiteral:
		var out []byteSet
		for _, r := range re.Rune {
			var s byteSet
			s.addRune(r)
			if re.Flags&syntax.FoldCase != 0 {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					s.addRune(f)
				}
			}
			out = append(out, s)
		}
		return out
	case syntax.OpCharClass:
		var s byteSet
		for i := 0; i+1 < len(re.Rune); i += 2 {
			s.addRange(re.Rune[i], re.Rune[i+1])
		}
		return []byteSet{s}
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		var out []byteSet
		for _, sub := range re.Sub {
			out = append(out, required(sub)...)
		}
		return out
	case syntax.OpAlternate:
		// Every match takes one branch, so a set made of one required set of each branch is required.
		// Several such sets are made: the union of each branch's smallest, of each one's second
		// smallest, and so on (smallest first, so the first union is the most selective).
		var branches [][]byteSet
		shortest := -1
		for _, sub := range re.Sub {
			sets := required(sub)
			if len(sets) == 0 {
				return nil
			}
			sort.SliceStable(sets, func(i, j int) bool { return sets[i].size() < sets[j].size() })
			branches = append(branches, sets)
			if shortest < 0 || len(sets) < shortest {
				shortest = len(sets)
			}
		}
		out := make([]byteSet, shortest)
		for _, sets := range branches {
			for i := range out {
				for w := range out[i] {
					out[i][w] |= sets[i][w]
				}
			}
		}
		return out
	}
	return nil // empty-width assertions, any-char, star, quest: nothing required
}

// filterOf is the required sets of a regex, without the ones every text meets anyway.
func filterOf(expr string) ([]byteSet, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	var out []byteSet
	for _, s := range required(re) {
		if s.size() < 256 {
			out = append(out, s)
		}
	}
	return out, nil
}

// mayMatch is false when a text lacks every byte of one of the required sets.
func mayMatch(filter []byteSet, text byteSet) bool {
	for _, s := range filter {
		if !s.meets(text) {
			return false
		}
	}
	return true
}
