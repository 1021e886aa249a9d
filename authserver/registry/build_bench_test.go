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
