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
	"strings"
	"time"
)

const refreshCols = `hash, family_id, client_id, account_id, scopes, auth_time, binding, created_at,
	expires_at, rotated_at, client_uid, resources, dpop_jkt`

func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

func scanRefresh(sc scanner, extra ...any) (RefreshToken, error) {
	var (
		t                                   RefreshToken
		hash                                []byte
		scopes, resources                   string
		authTime, created, expires, rotated int64
	)
	dest := append([]any{&hash, &t.FamilyID, &t.ClientID, &t.AccountID, &scopes, &authTime,
		&t.Binding, &created, &expires, &rotated, &t.ClientUID, &resources, &t.DPoPJKT}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return t, err
	}
	h, err := toHash(hash)
	if err != nil {
		return t, err
	}
	t.Hash = h
	t.Scopes = splitScopes(scopes)
	t.Resources = splitScopes(resources)
	t.AuthTime = fromMicro(authTime)
	t.CreatedAt = fromMicro(created)
	t.ExpiresAt = fromMicro(expires)
	t.RotatedAt = fromMicro(rotated)
	return t, nil
}

func (s *sqlStore) CreateRefreshToken(ctx context.Context, t RefreshToken) error {
	if err := validRefresh(t); err != nil {
		return err
	}
	return s.b.inTx(ctx, func(q querier) error {
		return s.createRefresh(ctx, q, t, s.now())
	})
}

func validRefresh(t RefreshToken) error {
	if err := errors.Join(requireHash("refresh token", t.Hash), requireString("family ID", t.FamilyID),
		requireString("client ID", t.ClientID), requireString("account ID", t.AccountID),
		requireExpiry(t.ExpiresAt)); err != nil {
		return err
	}
	_, err := encodeScopes(t.Scopes)
	if err != nil {
		return err
	}
	_, err = encodeResources(t.Resources)
	return err
}

// createRefresh stores t in q's transaction, creating its family if new.
func (s *sqlStore) createRefresh(ctx context.Context, q querier, t RefreshToken, now int64) error {
	var clientID, accountID string
	var revokedAt int64
	err := q.queryRow(ctx, s.sql(`INSERT INTO refresh_families (id, client_id, account_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET expires_at = GREATEST(refresh_families.expires_at, excluded.expires_at)
		RETURNING client_id, account_id, revoked_at`),
		t.FamilyID, t.ClientID, t.AccountID, now, micro(t.ExpiresAt)).Scan(&clientID, &accountID, &revokedAt)
	if err != nil {
		return dbErr("upsert refresh family", err)
	}
	if revokedAt != 0 {
		return fmt.Errorf("store: refresh family: %w", ErrRevoked)
	}
	if clientID != t.ClientID || accountID != t.AccountID {
		return fmt.Errorf("store: refresh family belongs to another client or account: %w", ErrConflict)
	}
	return s.insertRefresh(ctx, q, t, now)
}

func (s *sqlStore) insertRefresh(ctx context.Context, q querier, t RefreshToken, now int64) error {
	scopes, err := encodeScopes(t.Scopes)
	if err != nil {
		return err
	}
	resources, err := encodeResources(t.Resources)
	if err != nil {
		return err
	}
	_, err = q.exec(ctx, `INSERT INTO refresh_tokens (hash, family_id, client_id, client_uid, account_id,
		scopes, resources, auth_time, binding, created_at, expires_at, dpop_jkt)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		t.Hash[:], t.FamilyID, t.ClientID, t.ClientUID, t.AccountID, scopes, resources, micro(t.AuthTime),
		t.Binding, now, micro(t.ExpiresAt), t.DPoPJKT)
	return wrapInsert("refresh token", err)
}

var refreshWithFamilySelect = `SELECT ` + prefixCols("t.", refreshCols) + `, f.revoked_at
	FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1`

// classifyRefresh turns a token that cannot be used into its sentinel
// error, in the order: rotated (reuse), revoked, expired.
func classifyRefresh(t RefreshToken, revokedAt, now int64) error {
	switch {
	case !t.RotatedAt.IsZero():
		return fmt.Errorf("store: refresh token was rotated: %w", ErrAlreadyUsed)
	case revokedAt != 0:
		return fmt.Errorf("store: refresh token family: %w", ErrRevoked)
	case micro(t.ExpiresAt) <= now:
		return fmt.Errorf("store: refresh token: %w", ErrExpired)
	}
	return nil
}

func (s *sqlStore) GetRefreshToken(ctx context.Context, hash Hash) (RefreshToken, error) {
	var revokedAt int64
	t, err := scanRefresh(s.b.reader().queryRow(ctx, refreshWithFamilySelect, hash[:]), &revokedAt)
	if isNoRows(err) {
		return RefreshToken{}, fmt.Errorf("store: refresh token: %w", ErrNotFound)
	}
	if err != nil {
		return RefreshToken{}, dbErr("read refresh token", err)
	}
	return t, classifyRefresh(t, revokedAt, s.now())
}

func (s *sqlStore) RotateRefreshToken(ctx context.Context, r Rotation) (RefreshToken, error) {
	if err := errors.Join(requireHash("new refresh token", r.NewHash), requireString("client ID", r.ClientID),
		requireExpiry(r.NewExpiresAt)); err != nil {
		return RefreshToken{}, err
	}
	if _, err := encodeScopes(r.Scopes); err != nil {
		return RefreshToken{}, err
	}
	if _, err := encodeResources(r.Resources); err != nil {
		return RefreshToken{}, err
	}
	var (
		out    RefreshToken
		result error
	)
	err := s.b.inTx(ctx, func(q querier) error {
		now := s.now()
		old, err := scanRefresh(q.queryRow(ctx, `UPDATE refresh_tokens SET rotated_at = $1
			WHERE hash = $2 AND client_id = $3 AND rotated_at = 0 AND expires_at > $1
			AND NOT EXISTS (SELECT 1 FROM refresh_families f
				WHERE f.id = refresh_tokens.family_id AND f.revoked_at <> 0)
			RETURNING `+refreshCols, now, r.OldHash[:], r.ClientID))
		if err == nil {
			old.RotatedAt = time.Time{} // as it was before this statement
			out, err = s.storeSuccessor(ctx, q, old, r, now)
			return err
		}
		if !isNoRows(err) {
			return dbErr("rotate refresh token", err)
		}
		out, result, err = s.refusedRotation(ctx, q, r, now)
		return err
	})
	if err != nil {
		return RefreshToken{}, err
	}
	return out, result
}

// withinReuseGrace says whether the rotated token t (its family revoked at
// revokedAt, 0 if not) may be rotated again at now: less than grace after
// its rotation, unexpired, in a family that is not revoked.
func withinReuseGrace(t RefreshToken, revokedAt, now int64, grace time.Duration) bool {
	return grace > 0 && revokedAt == 0 && micro(t.ExpiresAt) > now && now < micro(t.RotatedAt)+grace.Microseconds()
}

// familyExpirySlack is how much longer than its newest refresh token a
// family is kept when a rotation extends it (see storeSuccessor): at most
// this much later is it swept, which costs nothing, and a family rotated
// often is rewritten once per slack instead of at every rotation.
const familyExpirySlack = time.Hour

// storeSuccessor runs r.Check on the presented token old and stores its
// successor (r.NewHash) in old's family in q's transaction, extending the
// family's expiry. A Check error rolls the transaction back.
func (s *sqlStore) storeSuccessor(ctx context.Context, q querier, old RefreshToken, r Rotation, now int64) (RefreshToken, error) {
	if r.Check != nil {
		if err := r.Check(old); err != nil {
			return RefreshToken{}, err
		}
	}
	next := RefreshToken{
		Hash:      r.NewHash,
		FamilyID:  old.FamilyID,
		ClientID:  old.ClientID,
		ClientUID: old.ClientUID,
		AccountID: old.AccountID,
		Scopes:    old.Scopes,
		Resources: old.Resources,
		AuthTime:  old.AuthTime,
		Binding:   old.Binding,
		DPoPJKT:   old.DPoPJKT,
		CreatedAt: fromMicro(now),
		ExpiresAt: r.NewExpiresAt,
	}
	if r.Scopes != nil {
		next.Scopes = slices.Clone(r.Scopes)
	}
	if r.Resources != nil {
		next.Resources = slices.Clone(r.Resources)
	}
	if err := s.insertRefresh(ctx, q, next, now); err != nil {
		return RefreshToken{}, err
	}
	// The family must outlive its newest token (the sweep deletes a
	// family with its tokens). It is extended past that by
	// familyExpirySlack, so that the rotations that follow within the
	// slack only read the family row instead of rewriting it and its
	// expiry index entry: fewer pages in the commit.
	if _, err := q.exec(ctx, `UPDATE refresh_families SET expires_at = $3
		WHERE id = $1 AND expires_at < $2`, next.FamilyID, micro(next.ExpiresAt),
		micro(next.ExpiresAt)+familyExpirySlack.Microseconds()); err != nil {
		return RefreshToken{}, dbErr("extend refresh family", err)
	}
	next.ExpiresAt = fromMicro(micro(next.ExpiresAt))
	return next, nil
}

// refusedRotation tells why the old token of r did not pass the
// conditional UPDATE of RotateRefreshToken: refused is the answer (not
// found, rotated, revoked, expired), with the token when it exists; the
// reuse of a rotated token within r.ReuseGrace of its rotation gets a
// sibling successor instead (refused nil), outside it revokes the family.
// err fails the transaction.
func (s *sqlStore) refusedRotation(ctx context.Context, q querier, r Rotation, now int64) (t RefreshToken, refused, err error) {
	var revokedAt int64
	t, err = scanRefresh(q.queryRow(ctx, refreshWithFamilySelect, r.OldHash[:]), &revokedAt)
	switch {
	case isNoRows(err) || (err == nil && t.ClientID != r.ClientID):
		return RefreshToken{}, fmt.Errorf("store: refresh token: %w", ErrNotFound), nil
	case err != nil:
		return RefreshToken{}, nil, dbErr("read refresh token", err)
	}
	refused = classifyRefresh(t, revokedAt, now)
	if refused == nil {
		return RefreshToken{}, nil, fmt.Errorf("store: refresh token changed concurrently: %w", ErrConflict)
	}
	if errors.Is(refused, ErrAlreadyUsed) && withinReuseGrace(t, revokedAt, now, r.ReuseGrace) {
		// A concurrent refresh, or a retry after a lost answer: a
		// sibling successor in the same family, nothing revoked.
		t, err = s.storeSuccessor(ctx, q, t, r, now)
		return t, nil, err
	}
	if errors.Is(refused, ErrAlreadyUsed) {
		// Reuse of a rotated token: the family is compromised.
		if err := s.revokeFamily(ctx, q, t.FamilyID, now); err != nil {
			return RefreshToken{}, nil, err
		}
	}
	return t, refused, nil
}

func (s *sqlStore) revokeFamily(ctx context.Context, q querier, familyID string, now int64) error {
	tombstone := now + s.familyTombstoneTTL.Microseconds()
	_, err := q.exec(ctx, s.sql(`INSERT INTO refresh_families (id, created_at, revoked_at, expires_at)
		VALUES ($1, $2, $2, $3)
		ON CONFLICT (id) DO UPDATE SET
			revoked_at = CASE WHEN refresh_families.revoked_at = 0 THEN excluded.revoked_at
				ELSE refresh_families.revoked_at END,
			expires_at = GREATEST(refresh_families.expires_at, excluded.expires_at)`),
		familyID, now, tombstone)
	if err != nil {
		return dbErr("revoke refresh family", err)
	}
	return nil
}

func (s *sqlStore) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	if err := requireString("family ID", familyID); err != nil {
		return err
	}
	return s.revokeFamily(ctx, s.b.writer(), familyID, s.now())
}

func (s *sqlStore) IsFamilyRevoked(ctx context.Context, familyID string) (bool, error) {
	var revokedAt int64
	err := s.b.reader().queryRow(ctx, `SELECT revoked_at FROM refresh_families WHERE id = $1`, familyID).Scan(&revokedAt)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, dbErr("read refresh family", err)
	}
	return revokedAt != 0, nil
}
