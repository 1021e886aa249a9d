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

package store

import (
	"context"
	"errors"
	"time"
)

// Scopes of [Store.FirstUse]: one per kind of single-use key, so that the
// same value used by two mechanisms never collides.
const (
	// ScopeClientAssertion holds the jti of client assertions (RFC 7523),
	// keyed by the assertion's issuer and jti.
	ScopeClientAssertion = "client_assertion"
	// ScopeDPoP holds the jti of DPoP proofs (RFC 9449 §11.1), keyed by
	// the proof key's thumbprint and the jti.
	ScopeDPoP = "dpop"
)

func (s *sqlStore) FirstUse(ctx context.Context, scope, key string, expiresAt time.Time) (bool, error) {
	if err := errors.Join(requireString("scope", scope), requireString("key", key), requireExpiry(expiresAt)); err != nil {
		return false, err
	}
	h := HashToken(key)
	// One statement: a row that is there and live is a replay (no row
	// changes); a row whose expiry has passed but is not swept yet is taken
	// over, as if it were new.
	n, err := s.b.writer().exec(ctx, `INSERT INTO first_uses (scope, key_hash, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (scope, key_hash) DO UPDATE SET expires_at = excluded.expires_at
		WHERE first_uses.expires_at <= $4`, scope, h[:], micro(expiresAt), s.now())
	if err != nil {
		return false, dbErr("record first use", err)
	}
	return n == 1, nil
}
