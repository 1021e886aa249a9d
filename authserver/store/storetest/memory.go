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

package storetest

import (
	"context"
	"testing"

	"github.com/authops/authops/authserver/store"
)

// NewMemoryStore returns an in-memory SQLite store using clock (a new
// FakeClock if nil), closed when the test ends.
func NewMemoryStore(t testing.TB, clock store.Clock) store.Store {
	t.Helper()
	if clock == nil {
		clock = NewFakeClock()
	}
	s, err := store.OpenSQLite(context.Background(), ":memory:", store.WithClock(clock))
	if err != nil {
		t.Fatalf("open in-memory store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
