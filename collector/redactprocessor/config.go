// Package redactprocessor masks personal data in every text a span, log record or metric carries.
//
// The transform processor's OTTL reaches only top-level attribute values and string log bodies; this
// processor walks everything: resource and scope attributes, scope name and version, span names,
// status messages, span, event and link attributes (keys as well as values, recursing into arrays and
// key-value lists), event names, log bodies of any type, log event names and datapoint attributes.
package redactprocessor

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/config/configopaque"
)

// Pattern is one rule: every match of Regex (RE2 syntax) becomes Replacement, in which $1 or ${name}
// refer to the match's groups, as in regexp.ReplaceAllString.
type Pattern struct {
	Name        string `mapstructure:"name"`
	Regex       string `mapstructure:"regex"`
	Replacement string `mapstructure:"replacement"`
}

// Config is the ordered list of patterns; each text goes through all of them, first to last.
type Config struct {
	Patterns []Pattern `mapstructure:"patterns"`
	// UserIDHash, when set, replaces each span's user id by a keyed hash before the patterns run.
	UserIDHash *UserIDHash `mapstructure:"user_id_hash"`
}

// MinKeyBytes is the shortest hash key taken: a shorter one is guessable, and an empty one (an unset
// environment variable expands to nothing) would make the hash a plain SHA-256 of the id.
const MinKeyBytes = 16

// UserIDHash: the attribute holding the user id becomes hex(SHA-256(key + ":" + id)); an empty id
// names nobody and is removed. The key comes from the environment or a mounted file, expanded by the
// collector at start-up; KeyFrom says where, for the error a missing key gets.
type UserIDHash struct {
	Attribute string              `mapstructure:"attribute"`
	Key       configopaque.String `mapstructure:"key"`
	KeyFrom   string              `mapstructure:"key_from"`
}

// Validate names every bad pattern at once, so a config with several mistakes is fixed in one go.
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range c.Patterns {
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("patterns[%d]: name is empty", i))
		} else if seen[p.Name] {
			errs = append(errs, fmt.Errorf("patterns[%d]: name %q is used twice", i, p.Name))
		}
		seen[p.Name] = true
		if p.Regex == "" {
			errs = append(errs, fmt.Errorf("patterns[%d] (%s): regex is empty", i, p.Name))
		} else if _, err := regexp.Compile(p.Regex); err != nil {
			errs = append(errs, fmt.Errorf("patterns[%d] (%s): %w", i, p.Name, err))
		}
	}
	if h := c.UserIDHash; h != nil {
		if h.Attribute == "" {
			errs = append(errs, errors.New("user_id_hash.attribute is empty"))
		}
		if n := len(hashKey(h.Key)); n < MinKeyBytes {
			from := h.KeyFrom
			if from == "" {
				from = "user_id_hash.key"
			}
			errs = append(errs, fmt.Errorf(
				"user_id_hash: the key from %s is %d bytes, and at least %d are needed to hash user ids: "+
					"set it to a random value (e.g. `openssl rand -hex 32`); see docs/user-id-hash-key.md",
				from, n, MinKeyBytes))
		}
	}
	return errors.Join(errs...)
}

// hashKey is the key as used: a key file's final line break is not part of it.
func hashKey(key configopaque.String) string {
	return strings.TrimRight(string(key), "\r\n")
}
