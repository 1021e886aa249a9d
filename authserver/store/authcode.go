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
)

const authCodeCols = `hash, client_id, redirect_uri, code_challenge, code_challenge_method, scopes,
	account_id, nonce, auth_time, created_at, expires_at, used_at, family_id, access_token_id,
	access_token_expires_at, client_uid, resources, binding, dpop_jkt`

func scanAuthCode(sc scanner) (AuthCode, error) {
	var (
		c                                           AuthCode
		hash                                        []byte
		scopes, resources                           string
		authTime, created, expires, used, atExpires int64
	)
	if err := sc.Scan(&hash, &c.ClientID, &c.RedirectURI, &c.CodeChallenge, &c.CodeChallengeMethod,
		&scopes, &c.AccountID, &c.Nonce, &authTime, &created, &expires, &used,
		&c.FamilyID, &c.AccessTokenID, &atExpires, &c.ClientUID, &resources, &c.Binding, &c.DPoPJKT); err != nil {
		return c, err
	}
	h, err := toHash(hash)
	if err != nil {
		return c, err
	}
	c.Hash = h
	c.Scopes = splitScopes(scopes)
	c.Resources = splitScopes(resources)
	c.AuthTime = fromMicro(authTime)
	c.CreatedAt = fromMicro(created)
	c.ExpiresAt = fromMicro(expires)
	c.UsedAt = fromMicro(used)
	c.AccessTokenExpiresAt = fromMicro(atExpires)
	return c, nil
}

func (s *sqlStore) CreateAuthCode(ctx context.Context, c AuthCode) error {
	if err := errors.Join(requireHash("code", c.Hash), requireString("client ID", c.ClientID),
		requireString("account ID", c.AccountID), requireExpiry(c.ExpiresAt)); err != nil {
		return err
	}
	scopes, err := encodeScopes(c.Scopes)
	if err != nil {
		return err
	}
	resources, err := encodeResources(c.Resources)
	if err != nil {
		return err
	}
	_, err = s.b.writer().exec(ctx, `INSERT INTO auth_codes (hash, client_id, client_uid, redirect_uri,
		code_challenge, code_challenge_method, scopes, resources, account_id, binding, nonce, auth_time,
		created_at, expires_at, dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		c.Hash[:], c.ClientID, c.ClientUID, c.RedirectURI, c.CodeChallenge, c.CodeChallengeMethod, scopes,
		resources, c.AccountID, c.Binding, c.Nonce, micro(c.AuthTime), s.now(), micro(c.ExpiresAt), c.DPoPJKT)
	return wrapInsert("authorization code", err)
}

func (s *sqlStore) RedeemAuthCode(ctx context.Context, hash Hash, clientID string, issued Issued) (AuthCode, error) {
	if issued.AccessTokenID != "" && issued.AccessTokenExpiresAt.IsZero() {
		return AuthCode{}, errors.New("store: Issued.AccessTokenExpiresAt is required with AccessTokenID")
	}
	var (
		code   AuthCode
		result error
	)
	err := s.b.inTx(ctx, func(q querier) error {
		now := s.now()
		c, err := scanAuthCode(q.queryRow(ctx, `UPDATE auth_codes
			SET used_at = $1, family_id = $2, access_token_id = $3, access_token_expires_at = $4
			WHERE hash = $5 AND client_id = $6 AND used_at = 0 AND expires_at > $1
			RETURNING `+authCodeCols,
			now, issued.FamilyID, issued.AccessTokenID, micro(issued.AccessTokenExpiresAt), hash[:], clientID))
		if err == nil {
			code = c
			if issued.Issue == nil {
				return nil
			}
			t, err := issued.Issue(c)
			if err != nil {
				result = err // the redemption stands
				return nil
			}
			if t == nil {
				return nil
			}
			if t.FamilyID != issued.FamilyID || t.ClientID != clientID {
				return errors.New("store: the refresh token Issue returned is not of the family and client of the redemption")
			}
			if err := validRefresh(*t); err != nil {
				return err
			}
			return s.createRefresh(ctx, q, *t, now)
		}
		if !isNoRows(err) {
			return dbErr("redeem authorization code", err)
		}
		// Not redeemed: find out why.
		c, err = scanAuthCode(q.queryRow(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE hash = $1`, hash[:]))
		switch {
		case isNoRows(err) || (err == nil && c.ClientID != clientID):
			result = fmt.Errorf("store: authorization code: %w", ErrNotFound)
			return nil
		case err != nil:
			return dbErr("read authorization code", err)
		case !c.UsedAt.IsZero():
			// Replay: revoke what the first redemption issued, atomically
			// with detecting it.
			if c.FamilyID != "" {
				if err := s.revokeFamily(ctx, q, c.FamilyID, now); err != nil {
					return err
				}
			}
			if c.AccessTokenID != "" {
				if err := s.revokeAccessToken(ctx, q, c.AccessTokenID, micro(c.AccessTokenExpiresAt)); err != nil {
					return err
				}
			}
			code = c
			result = fmt.Errorf("store: authorization code: %w", ErrAlreadyUsed)
			return nil
		case micro(c.ExpiresAt) <= now:
			code = c
			result = fmt.Errorf("store: authorization code: %w", ErrExpired)
			return nil
		default:
			return fmt.Errorf("store: authorization code changed concurrently: %w", ErrConflict)
		}
	})
	if err != nil {
		return AuthCode{}, err
	}
	return code, result
}
