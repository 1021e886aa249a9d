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
	"fmt"
	"slices"
)

func (s *sqlStore) SaveConsent(ctx context.Context, c Consent) error {
	if err := errors.Join(requireString("account ID", c.AccountID), requireString("client ID", c.ClientID),
		requireExpiry(c.ExpiresAt)); err != nil {
		return err
	}
	scopes, err := joinScopes(c.Scopes)
	if err != nil {
		return err
	}
	_, err = s.b.writer().exec(ctx, `INSERT INTO consents (account_id, client_id, scopes, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account_id, client_id) DO UPDATE SET
			scopes = excluded.scopes, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.AccountID, c.ClientID, scopes, s.now(), micro(c.ExpiresAt))
	if err != nil {
		return dbErr("save consent", err)
	}
	return nil
}

func (s *sqlStore) GetConsent(ctx context.Context, accountID, clientID string) (Consent, error) {
	c := Consent{AccountID: accountID, ClientID: clientID}
	var scopes string
	var created, expires int64
	err := s.b.reader().queryRow(ctx, `SELECT scopes, created_at, expires_at FROM consents
		WHERE account_id = $1 AND client_id = $2`, accountID, clientID).Scan(&scopes, &created, &expires)
	if isNoRows(err) {
		return Consent{}, fmt.Errorf("store: consent: %w", ErrNotFound)
	}
	if err != nil {
		return Consent{}, dbErr("read consent", err)
	}
	c.Scopes = splitScopes(scopes)
	c.CreatedAt = fromMicro(created)
	c.ExpiresAt = fromMicro(expires)
	if expires <= s.now() {
		return Consent{}, fmt.Errorf("store: consent: %w", ErrExpired)
	}
	return c, nil
}

func (s *sqlStore) HasConsent(ctx context.Context, accountID, clientID string, scopes []string) (bool, error) {
	c, err := s.GetConsent(ctx, accountID, clientID)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrExpired) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return false, nil
		}
	}
	return true, nil
}

func (s *sqlStore) DeleteConsent(ctx context.Context, accountID, clientID string) error {
	n, err := s.b.writer().exec(ctx, `DELETE FROM consents WHERE account_id = $1 AND client_id = $2`, accountID, clientID)
	if err != nil {
		return dbErr("delete consent", err)
	}
	if n == 0 {
		return fmt.Errorf("store: consent: %w", ErrNotFound)
	}
	return nil
}
