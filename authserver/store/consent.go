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
	"slices"
)

func (s *sqlStore) SaveConsent(ctx context.Context, c Consent) error {
	if err := errors.Join(requireString("account ID", c.AccountID), requireString("client ID", c.ClientID),
		requireExpiry(c.ExpiresAt)); err != nil {
		return err
	}
	scopes, err := encodeScopes(c.Scopes)
	if err != nil {
		return err
	}
	_, err = s.b.writer().exec(ctx, `INSERT INTO consents (account_id, client_id, client_uid, scopes,
		created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (account_id, client_id) DO UPDATE SET client_uid = excluded.client_uid,
			scopes = excluded.scopes, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.AccountID, c.ClientID, c.ClientUID, scopes, s.now(), micro(c.ExpiresAt))
	if err != nil {
		return dbErr("save consent", err)
	}
	return nil
}

func (s *sqlStore) HasConsent(ctx context.Context, accountID, clientID, clientUID string, scopes []string) (bool, error) {
	var stored, storedUID string
	var expires int64
	err := s.b.reader().queryRow(ctx, `SELECT scopes, expires_at, client_uid FROM consents
		WHERE account_id = $1 AND client_id = $2`, accountID, clientID).Scan(&stored, &expires, &storedUID)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, dbErr("read consent", err)
	}
	if expires <= s.now() || (storedUID != "" && storedUID != clientUID) {
		return false, nil
	}
	granted := splitScopes(stored)
	for _, sc := range scopes {
		if !slices.Contains(granted, sc) {
			return false, nil
		}
	}
	return true, nil
}
