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

import "github.com/authops/authops/authserver/snapshot"

// Policy is a GrantPolicy document (snapshot.KindPolicy) as served: the
// clients compiled under that GrantPolicy are served under it (see
// [Registry.Client]), so that a policy change is served by this one
// document, not by one document per client.
type Policy struct {
	snapshot.GrantPolicy
	Source snapshot.Source
}

// governs reports whether p is the policy document the client was compiled
// under: the GrantPolicy of the client's namespace that the client names,
// by UID and by name, of the generation the client was compiled under or
// newer. A document of another namespace never governs a client, even one
// that claims the UID the client names; nor does an older version than the
// client's own (the manager compiled the client under a newer policy than
// the document it has written so far).
func (p *Policy) governs(c *Client) bool {
	return p.Source.UID == c.PolicyUID && p.Source.Namespace == c.Namespace && p.Source.Name == c.Policy.Name &&
		p.Source.Generation >= c.PolicyGeneration
}

// served is the client as requests see it: under the policy document it
// names when the Registry has that one, else as compiled.
func (r *Registry) served(c *Client) *Client {
	if c.PolicyUID == "" {
		return c
	}
	p, ok := r.policies[c.PolicyUID]
	if !ok || !p.governs(c) {
		return c
	}
	return c.under(p)
}

// under returns the client under the policy document p, computed once per
// pair: the client remembers its last one, so a lookup costs a comparison
// until the Registry serves another version of p (or two registries with
// different versions are in use at once, for the moment of a swap: then a
// Registry may return equal copies of the client, not always the same
// one). Of two requests that compute it at once, the first to publish
// wins, and both get the published one.
func (c *Client) under(p *Policy) *Client {
	m := c.memo.Load()
	if m != nil && m.underPolicy == p {
		return m
	}
	u := &Client{Client: c.Client.Under(&p.GrantPolicy), Source: c.Source, digests: c.digests, keys: c.keys,
		origin: c.origin, underPolicy: p}
	for !c.memo.CompareAndSwap(m, u) {
		if m = c.memo.Load(); m != nil && m.underPolicy == p {
			return m
		}
	}
	return u
}
