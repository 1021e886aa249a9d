/*
Copyright 2026 The authops Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package scope is RFC 6749 §3.3's scope parameter: a space-delimited list
// of scope tokens.
package scope

import (
	"slices"
	"strings"
)

// Parse splits a scope parameter into its distinct tokens, in order; nil
// when s is empty. ok is false when a token is not 1*NQCHAR or s holds no
// token at all.
func Parse(s string) (scopes []string, ok bool) {
	if s == "" {
		return nil, true
	}
	var out []string
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		for _, c := range tok {
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, false
			}
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, len(out) > 0
}

// Join is the scope parameter of a list of scopes (empty for none).
func Join(scopes []string) string { return strings.Join(scopes, " ") }

// Subset reports whether every scope of a is in b.
func Subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
