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
	"slices"
	"strings"
	"sync"

	"github.com/authops/authops/authserver/snapshot"
)

// interner shares equal strings and string lists among prepared client
// documents. A decoded document owns every string and list it holds, yet
// thousands of clients carry the same namespace, type, authentication
// method, grant types, scopes and policy: shared, they cost one copy
// instead of one per client (about 300 bytes of each typical client, see
// BenchmarkHeapPerClient). Sharing is safe because a Registry's clients
// are read-only, and every shared list is clipped, so that an append to
// one copies it.
//
// The tables are emptied when they reach maxInterned entries: values
// that are not shared (a scope list of its own per client) then cost a
// bounded table, and only the sharing of later documents is lost.
type interner struct {
	mu    sync.Mutex
	strs  map[string]string
	lists map[string][]string
}

// maxInterned bounds the entries of an interner's tables.
const maxInterned = 1 << 14

// shared is the interner of Prepare.
var shared = &interner{}

// str returns s, or an equal string already interned (under mu).
func (in *interner) str(s string) string {
	if s == "" {
		return s
	}
	if v, ok := in.strs[s]; ok {
		return v
	}
	in.room()
	in.strs[s] = s
	return s
}

// list returns l, clipped, or an equal list already interned (under mu).
func (in *interner) list(l []string) []string {
	if len(l) == 0 {
		return l
	}
	// Two lists with the same key ("a\x00b" and "a", "b") are told apart
	// by the comparison: the second is not shared.
	key := strings.Join(l, "\x00")
	if v, ok := in.lists[key]; ok {
		if slices.Equal(v, l) {
			return v
		}
		return slices.Clip(l)
	}
	in.room()
	v := make([]string, len(l))
	for i, s := range l {
		v[i] = in.str(s)
	}
	in.lists[key] = v
	return v
}

// room empties the tables when they are full (under mu).
func (in *interner) room() {
	if in.strs == nil || len(in.strs)+len(in.lists) >= maxInterned {
		in.strs = map[string]string{}
		in.lists = map[string][]string{}
	}
}

// client replaces the shared-looking strings and lists of a client
// document by their interned copies. The ID, redirect URIs and names of a
// client are its own and stay as decoded.
func (in *interner) client(c *snapshot.Client, src *snapshot.Source) {
	in.mu.Lock()
	defer in.mu.Unlock()
	c.Namespace = in.str(c.Namespace)
	c.Type = in.str(c.Type)
	c.TokenEndpointAuthMethod = in.str(c.TokenEndpointAuthMethod)
	c.GrantTypes = in.list(c.GrantTypes)
	c.RequestedGrantTypes = in.list(c.RequestedGrantTypes)
	c.Scopes = in.list(c.Scopes)
	c.RequestedScopes = in.list(c.RequestedScopes)
	c.DefaultScopes = in.list(c.DefaultScopes)
	c.Audiences = in.list(c.Audiences)
	p := &c.Policy
	for _, f := range []*string{&p.Name, &p.PKCE, &p.PushedAuthorizationRequests, &p.Consent, &p.DPoP, &p.DPoPNonce,
		&p.ErrorProfile, &p.RefreshTokenRotation} {
		*f = in.str(*f)
	}
	// The clients of a namespace name its policy by one UID.
	c.PolicyUID = in.str(c.PolicyUID)
	src.Kind = in.str(src.Kind)
	src.Namespace = in.str(src.Namespace)
}
