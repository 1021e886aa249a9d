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

package authserver

import (
	"strings"
	"testing"
)

// FuzzNormalizeUserCode: what a person types is accepted only as exactly
// eight characters of the user-code alphabet; the stored form is stable
// (normalising it, its display form or its lower case gives it back).
func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "BCDFGHJK", "BCDF-GHJ", "BCDF-GHJKL", "AEIO-UUUU", "bcdf\tghjk", "ßcdf-ghjk", "ǅBCD-FGHJ", "ＢＣＤＦ-ＧＨＪＫ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, ok := normalizeUserCode(in)
		if !ok {
			return
		}
		if len(c) != userCodeLength {
			t.Fatalf("%q normalised to %q", in, c)
		}
		for i := 0; i < len(c); i++ {
			if !strings.ContainsRune(userCodeAlphabet, rune(c[i])) {
				t.Fatalf("%q normalised to %q", in, c)
			}
		}
		for _, again := range []string{c, displayUserCode(c), strings.ToLower(displayUserCode(c))} {
			if c2, ok := normalizeUserCode(again); !ok || c2 != c {
				t.Fatalf("%q: %q gives %q %v", in, again, c2, ok)
			}
		}
	})
}
