package redactprocessor

import (
	"math/rand"
	"regexp"
	"testing"
)

// Patterns of every construct the filter reasons about: literals, (?i), classes, alternations,
// bounded and unbounded repeats, optional parts, groups, word boundaries, non-ASCII.
var filterPatterns = []string{
	`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`,
	`(?:\+[1-9][0-9]{0,2}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?){2,4}[0-9]{2,4})|(?:\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4})`,
	`\b(?:A[DELTZ]|B[AEGHIRY]|GB|DE)[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b`,
	`\b(?:00[1-9]|[1-5][0-9]{2})-(?:0[1-9]|[1-9][0-9])-[0-9]{4}\b`,
	`(?i)bearer\s+[A-Za-z0-9._~+/=-]{8,}`,
	`(?i)straße|kelvin`,
	`x*y?z{0,3}`, // matches the empty text: nothing may be required
	`é+|ü`,
	`(?s).a`,
	`[^a-z]b`,
}

var seeds = []string{"jane@example.com", "+44 20 7946 0958", "(415) 555-0134", "GB82 WEST 1234 5698 7654 32",
	"DE89370400440532013000", "123-45-6789", "Bearer abcdefgh1234", "STRASSE", "KELVIN", "\u212aelvin", "",
	"éé", "\na", "Xb"}

func TestTheFilterNeverTurnsAwayATextItsPatternMatches(t *testing.T) {
	alphabet := []rune("aAbBeErRzZsSkK@.-+ ()0123456789GBDE\tßüé\u212a\u017fxyJ=")
	rng := rand.New(rand.NewSource(17))
	for _, expr := range filterPatterns {
		re := regexp.MustCompile(expr)
		filter, err := filterOf(expr)
		if err != nil {
			t.Fatal(err)
		}
		matched := 0
		for n := 0; n < 40000; n++ {
			var text []rune
			if n%2 == 0 { // random text
				text = make([]rune, rng.Intn(30))
				for i := range text {
					text[i] = alphabet[rng.Intn(len(alphabet))]
				}
			} else { // a matching example with a few random edits, so that near misses are tried too
				text = []rune(seeds[rng.Intn(len(seeds))])
				for e := rng.Intn(3); e > 0 && len(text) > 0; e-- {
					text[rng.Intn(len(text))] = alphabet[rng.Intn(len(alphabet))]
				}
			}
			s := string(text)
			if re.MatchString(s) {
				matched++
				if !mayMatch(filter, present(s)) {
					t.Fatalf("%s: filter turns away %q, which matches", expr, s)
				}
			}
		}
		for _, s := range seeds {
			if re.MatchString(s) && !mayMatch(filter, present(s)) {
				t.Fatalf("%s: filter turns away %q, which matches", expr, s)
			}
		}
		t.Logf("%s: %d random matches, %d required sets", expr, matched, len(filter))
	}
}

func TestTheFilterTurnsAwayTextsThatLackWhatAPatternNeeds(t *testing.T) {
	for expr, text := range map[string]string{
		filterPatterns[0]:             "gen_ai.request.model", // no @
		filterPatterns[3]:             "gen_ai.system",        // no digit, no dash
		filterPatterns[4]:             "chat completion",      // no b/B
		`\beyJ[A-Za-z0-9_-]{8,}\.eyJ`: "openai",               // no J
	} {
		filter, err := filterOf(expr)
		if err != nil {
			t.Fatal(err)
		}
		if mayMatch(filter, present(text)) {
			t.Errorf("%s: filter lets %q through; it requires %d sets", expr, text, len(filter))
		}
	}
}
