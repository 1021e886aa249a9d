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

package registry_test

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
)

func benchEntries(n int) []registry.Entry {
	entries := make([]registry.Entry, 0, n)
	for i := range n {
		d := clientDoc(fmt.Sprintf("ns%d.c%d", i%100, i), fmt.Sprintf("ns%d", i%100), fmt.Sprintf("c%d", i))
		entries = append(entries, registry.Entry{Origin: fmt.Sprintf("authops-system/authops-client-%08d", i), Document: d})
	}
	return entries
}

// BenchmarkBuild measures a registry built from 10,000 client documents
// from scratch: validation, digests and assembly.
func BenchmarkBuild(b *testing.B) {
	entries := benchEntries(10000)
	log := slog.New(slog.DiscardHandler)
	b.ReportAllocs()
	for b.Loop() {
		registry.Build(entries, log)
	}
}

// BenchmarkAssemble measures what the Kubernetes loader does after a change
// among 10,000 prepared client documents.
func BenchmarkAssemble(b *testing.B) {
	entries := benchEntries(10000)
	items := make([]*registry.Prepared, 0, len(entries))
	for _, e := range entries {
		items = append(items, registry.Prepare(e))
	}
	log := slog.New(slog.DiscardHandler)
	b.ReportAllocs()
	for b.Loop() {
		registry.Assemble(items, log)
	}
}

// governedEntries are benchEntries compiled under their namespace's
// GrantPolicy (named by UID), with that policy's documents (version v:
// the access token lifetime differs).
func governedEntries(n, v int) (clients, policies []registry.Entry) {
	clients = benchEntries(n)
	seen := map[string]bool{}
	for _, e := range clients {
		c := e.Document.Client
		c.PolicyUID, c.Policy.Name = "gp-"+c.Namespace, "default"
		c.RequestedGrantTypes, c.RequestedScopes = c.GrantTypes, c.Scopes
		if !seen[c.Namespace] {
			seen[c.Namespace] = true
			policies = append(policies, registry.Entry{Origin: "authops-system/authops-policy-" + c.Namespace,
				Document: policyDoc(c.Namespace, "default", "gp-"+c.Namespace, func(p *snapshot.GrantPolicy) {
					p.AllowedGrantTypes, p.AnyScope, p.AllowedScopes = []string{"client_credentials"}, true, nil
					p.Policy.AccessTokenLifetimeSeconds = int64(60 * (v + 1))
				})})
		}
	}
	return clients, policies
}

func prepareAll(entries ...[]registry.Entry) []*registry.Prepared {
	var out []*registry.Prepared
	for _, es := range entries {
		for _, e := range es {
			out = append(out, registry.Prepare(e))
		}
	}
	return out
}

// BenchmarkClientLookup measures Registry.Client among 10,000 clients:
// inline (a client served as compiled), overlay (served under its policy
// document, computed at an earlier lookup: what nearly every request
// costs) and overlay-miss (the first lookup under a new version of the
// policy document, which computes the client under it: two registries
// with two versions are looked up in turn).
func BenchmarkClientLookup(b *testing.B) {
	const n = 10000
	ids := make([]string, n)
	for i, e := range benchEntries(n) {
		ids[i] = e.Document.Client.ID
	}
	lookups := func(b *testing.B, rs ...*registry.Registry) {
		for _, r := range rs {
			for _, id := range ids {
				if _, ok := r.Client(id); !ok {
					b.Fatalf("%s is not served", id)
				}
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			rs[i%len(rs)].Client(ids[i/len(rs)%n])
			i++
		}
	}
	b.Run("inline", func(b *testing.B) { lookups(b, registry.Build(benchEntries(n), discard)) })
	clients, v1 := governedEntries(n, 1)
	_, v2 := governedEntries(n, 2)
	prepared := prepareAll(clients)
	under := func(policies []registry.Entry) *registry.Registry {
		r := registry.Assemble(append(prepareAll(policies), prepared...), discard)
		if c, _ := r.Client(ids[0]); c.Policy.AccessTokenLifetimeSeconds == 60 {
			b.Fatal("the client is not served under its policy document")
		}
		return r
	}
	b.Run("overlay", func(b *testing.B) { lookups(b, under(v1)) })
	b.Run("overlay-miss", func(b *testing.B) { lookups(b, under(v1), under(v2)) })
}
