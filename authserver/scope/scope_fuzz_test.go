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

package scope_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/authops/authops/authserver/scope"
)

// FuzzParseScope: a scope parameter (RFC 6749 §3.3) is accepted only when
// every token is 1*NQCHAR; the result is the distinct space-separated
// tokens in order, none empty.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"openid profile", "  a  b a ", "a\tb", "\"x\"", "a\\b", "é", "", " ", "~!#$%&'()*+,-./:;<=>?@[]^_`{|}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := scope.Parse(in)
		var want []string
		valid := true
		for _, tok := range strings.Split(in, " ") {
			if tok == "" {
				continue
			}
			for i := 0; i < len(tok); i++ {
				if c := tok[i]; c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
					valid = false
				}
			}
			if !slices.Contains(want, tok) {
				want = append(want, tok)
			}
		}
		switch {
		case in == "":
			if !ok || got != nil {
				t.Fatalf("empty: %q %v", got, ok)
			}
		case !valid || len(want) == 0:
			if ok {
				t.Fatalf("accepted %q as %q", in, got)
			}
		default:
			if !ok || strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("%q: got %q %v, want %q", in, got, ok, want)
			}
		}
	})
}
