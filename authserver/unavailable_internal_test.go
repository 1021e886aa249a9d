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
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/store/storetest"
)

// TestServerErrorUnavailable: store failures that a retry can fix (the store
// marks them store.ErrUnavailable; which ones is tested in the store, next to
// the drivers) are 503 temporarily_unavailable; anything else stays 500
// server_error, whatever it wraps.
func TestServerErrorUnavailable(t *testing.T) {
	st := storetest.NewMemoryStore(t, nil)
	past, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	fromStore := st.CreateSession(past, store.Session{IDHash: store.HashToken("s"), AccountID: "alice",
		ExpiresAt: time.Now().Add(time.Hour)})
	closed := storetest.NewMemoryStore(t, nil)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	afterClose := closed.RevokeAccessToken(t.Context(), "jti", time.Now().Add(time.Hour))

	for err, want := range map[error]oautherr.Code{
		fromStore: oautherr.TemporarilyUnavailable,
		fmt.Errorf("store: read session: %w", store.ErrUnavailable):                            oautherr.TemporarilyUnavailable,
		fmt.Errorf("wrapped twice: %w", fmt.Errorf("x: %w", store.ErrUnavailable)):             oautherr.TemporarilyUnavailable,
		fmt.Errorf("tx: %w", errors.Join(errors.New("rollback failed"), store.ErrUnavailable)): oautherr.TemporarilyUnavailable,
		afterClose:                                 oautherr.ServerError,
		errors.New("no signing key"):               oautherr.ServerError,
		errors.New("unknown poll outcome x"):       oautherr.ServerError,
		fmt.Errorf("store: %w", store.ErrConflict): oautherr.ServerError,
		// Not from the store: the HTTP layer does not judge errors itself.
		fmt.Errorf("sign: %w", context.DeadlineExceeded): oautherr.ServerError,
		errors.New("conn closed"):                        oautherr.ServerError,
	} {
		if err == nil {
			t.Fatalf("the store call meant to fail succeeded (want %s)", want)
		}
		e := serverError(err)
		if e.Code != want {
			t.Errorf("%v: %s, want %s", err, e.Code, want)
		}
		if r := oautherr.Resolve(e, oautherr.Extended, ""); (want == oautherr.TemporarilyUnavailable) != (r.Status == 503) {
			t.Errorf("%v: status %d", err, r.Status)
		}
		if !errors.Is(e.Cause, err) {
			t.Errorf("%v: cause %v", err, e.Cause)
		}
	}
}
