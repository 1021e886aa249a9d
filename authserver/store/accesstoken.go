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

func (s *sqlStore) revokeAccessToken(ctx context.Context, q querier, jti string, expiresAt int64) error {
	_, err := q.exec(ctx, s.sql(`INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET
			expires_at = GREATEST(revoked_access_tokens.expires_at, excluded.expires_at)`), jti, expiresAt)
	if err != nil {
		return dbErr("revoke access token", err)
	}
	return nil
}

func (s *sqlStore) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := errors.Join(requireString("jti", jti), requireExpiry(expiresAt)); err != nil {
		return err
	}
	return s.revokeAccessToken(ctx, s.b.writer(), jti, micro(expiresAt))
}

func (s *sqlStore) IsAccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.b.reader().queryRow(ctx, `SELECT 1 FROM revoked_access_tokens WHERE jti = $1`, jti).Scan(&one)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, dbErr("read revoked access token", err)
	}
	return true, nil
}
