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

package registry

import (
	"fmt"
	"slices"
	"testing"
	"time"
	"unsafe"
)

// TestInterner: equal strings and lists are shared, lists clipped; lists
// whose keys collide are not confused; the tables stay bounded.
func TestInterner(t *testing.T) {
	in := &interner{}
	in.mu.Lock()
	defer in.mu.Unlock()
	a := in.list([]string{"authorization_code", "refresh_token"})
	b := in.list(append(make([]string, 0, 8), "authorization_code", "refresh_token"))
	if unsafe.SliceData(a) != unsafe.SliceData(b) || cap(b) != len(b) {
		t.Error("equal lists are not shared, or not clipped")
	}
	if unsafe.StringData(in.str(string([]byte("refresh_token")))) != unsafe.StringData(a[1]) {
		t.Error("a list's strings are not shared with equal strings")
	}
	joined := in.list([]string{"a\x00b"})
	split := in.list([]string{"a", "b"})
	if !slices.Equal(joined, []string{"a\x00b"}) || !slices.Equal(split, []string{"a", "b"}) {
		t.Errorf("colliding keys confused: %q %q", joined, split)
	}
	for i := range 3 * maxInterned {
		in.str(fmt.Sprint(i))
	}
	if n := len(in.strs) + len(in.lists); n > maxInterned {
		t.Errorf("%d entries interned, at most %d", n, maxInterned)
	}
}

// TestPrepareShares: two clients prepared from separately decoded
// documents share their common strings and lists, and keep their own;
// their decoded secrets are not kept, their digests are.
func TestPrepareShares(t *testing.T) {
	_, d1 := typicalClient(1)
	_, d2 := typicalClient(501) // same namespace and policy
	p1, p2 := Prepare(Entry{Origin: "a", Document: d1}), Prepare(Entry{Origin: "b", Document: d2})
	c1, c2 := p1.client, p2.client
	if c1 == nil || c2 == nil {
		t.Fatal(p1.Err(), p2.Err())
	}
	if unsafe.SliceData(c1.GrantTypes) != unsafe.SliceData(c2.GrantTypes) ||
		unsafe.SliceData(c1.Scopes) != unsafe.SliceData(c2.Scopes) ||
		unsafe.StringData(c1.Policy.Name) != unsafe.StringData(c2.Policy.Name) ||
		unsafe.StringData(c1.Namespace) != unsafe.StringData(c2.Source.Namespace) {
		t.Error("common strings and lists are not shared")
	}
	if c1.ID == c2.ID || c1.RedirectURIs[0] == c2.RedirectURIs[0] {
		t.Error("a client's own values are shared")
	}
	if c1.Secrets != nil || len(c1.SecretDigests(time.Now())) != 1 {
		t.Error("the decoded secrets are kept, or the digests lost")
	}
}
