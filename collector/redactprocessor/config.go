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
	return errors.Join(errs...)
}
