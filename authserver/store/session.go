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

const sessionCols = `id_hash, account_id, binding, auth_time, created_at, expires_at`

func scanSession(sc scanner) (Session, error) {
	var (
		ss                         Session
		hash                       []byte
		authTime, created, expires int64
	)
	if err := sc.Scan(&hash, &ss.AccountID, &ss.Binding, &authTime, &created, &expires); err != nil {
		return ss, err
	}
	h, err := toHash(hash)
	if err != nil {
		return ss, err
	}
	ss.IDHash = h
	ss.AuthTime = fromMicro(authTime)
	ss.CreatedAt = fromMicro(created)
	ss.ExpiresAt = fromMicro(expires)
	return ss, nil
}

func (s *sqlStore) CreateSession(ctx context.Context, ss Session) error {
	if err := errors.Join(requireHash("session ID", ss.IDHash), requireString("account ID", ss.AccountID),
		requireExpiry(ss.ExpiresAt)); err != nil {
		return err
	}
	_, err := s.b.writer().exec(ctx, `INSERT INTO sessions (id_hash, account_id, binding, auth_time,
		created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		ss.IDHash[:], ss.AccountID, ss.Binding, micro(ss.AuthTime), s.now(), micro(ss.ExpiresAt))
	return wrapInsert("session", err)
}

func (s *sqlStore) GetSession(ctx context.Context, idHash Hash) (Session, error) {
	ss, err := scanSession(s.b.reader().queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id_hash = $1`, idHash[:]))
	if isNoRows(err) {
		return Session{}, fmt.Errorf("store: session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, dbErr("read session", err)
	}
	if micro(ss.ExpiresAt) <= s.now() {
		return Session{}, fmt.Errorf("store: session: %w", ErrExpired)
	}
	return ss, nil
}

func (s *sqlStore) DeleteSession(ctx context.Context, idHash Hash) error {
	n, err := s.b.writer().exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash[:])
	if err != nil {
		return dbErr("delete session", err)
	}
	if n == 0 {
		return fmt.Errorf("store: session: %w", ErrNotFound)
	}
	return nil
}
