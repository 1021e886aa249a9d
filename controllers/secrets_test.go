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

package controllers

import (
	"strings"
	"testing"
	"time"

	"github.com/authops/authops/authserver/snapshot"
)

func TestGenerateSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, err := GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) < 43 || strings.Trim(s, unreserved) != "" {
			t.Fatalf("secret of %d characters with characters outside A-Za-z0-9-._~", len(s))
		}
		if seen[s] {
			t.Fatal("a generated secret repeated")
		}
		seen[s] = true
	}
}

func TestDigest(t *testing.T) {
	// sha256("abc") from FIPS 180-2.
	if got := Digest("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Digest(abc) = %s", got)
	}
}

func TestRotateDigests(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	cur, old, older := Digest("current"), Digest("old"), Digest("older")
	tests := []struct {
		name        string
		existing    []snapshot.SecretDigest
		overlap     time.Duration
		want        []snapshot.SecretDigest
		wantRotated bool
	}{
		{"first secret", nil, time.Hour, []snapshot.SecretDigest{{SHA256: cur}}, false},
		{"unchanged", []snapshot.SecretDigest{{SHA256: cur}}, time.Hour, []snapshot.SecretDigest{{SHA256: cur}}, false},
		{"changed: previous valid for the overlap", []snapshot.SecretDigest{{SHA256: old}}, time.Hour,
			[]snapshot.SecretDigest{{SHA256: cur}, {SHA256: old, NotAfter: at(time.Hour)}}, true},
		{"changed with overlap 0s: previous ends at once", []snapshot.SecretDigest{{SHA256: old}}, 0,
			[]snapshot.SecretDigest{{SHA256: cur}}, true},
		{"during the overlap: unchanged", []snapshot.SecretDigest{{SHA256: cur}, {SHA256: old, NotAfter: at(time.Minute)}}, time.Hour,
			[]snapshot.SecretDigest{{SHA256: cur}, {SHA256: old, NotAfter: at(time.Minute)}}, false},
		{"overlap over: previous dropped", []snapshot.SecretDigest{{SHA256: cur}, {SHA256: old, NotAfter: at(0)}}, time.Hour,
			[]snapshot.SecretDigest{{SHA256: cur}}, false},
		{"changed again during the overlap: both previous kept", []snapshot.SecretDigest{{SHA256: old}, {SHA256: older, NotAfter: at(time.Minute)}}, time.Hour,
			[]snapshot.SecretDigest{{SHA256: cur}, {SHA256: old, NotAfter: at(time.Hour)}, {SHA256: older, NotAfter: at(time.Minute)}}, true},
		{"changed back to a previous secret", []snapshot.SecretDigest{{SHA256: old}, {SHA256: cur, NotAfter: at(time.Minute)}}, time.Hour,
			[]snapshot.SecretDigest{{SHA256: cur}, {SHA256: old, NotAfter: at(time.Hour)}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rotated := RotateDigests(tt.existing, cur, now, tt.overlap)
			if rotated != tt.wantRotated || !digestsEqual(got, tt.want) {
				t.Errorf("got %s rotated=%v, want %s rotated=%v", show(got), rotated, show(tt.want), tt.wantRotated)
			}
		})
	}
}

func digestsEqual(a, b []snapshot.SecretDigest) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].SHA256 != b[i].SHA256 || (a[i].NotAfter == nil) != (b[i].NotAfter == nil) ||
			(a[i].NotAfter != nil && !a[i].NotAfter.Equal(*b[i].NotAfter)) {
			return false
		}
	}
	return true
}

func show(ds []snapshot.SecretDigest) string {
	var parts []string
	for _, d := range ds {
		s := d.SHA256[:8]
		if d.NotAfter != nil {
			s += "@" + d.NotAfter.Format(time.RFC3339)
		}
		parts = append(parts, s)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
