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
	"fmt"
)

func (s *sqlStore) RecordFailedLogin(ctx context.Context, accountID string, p LockoutPolicy) (Lockout, error) {
	if err := requireString("account ID", accountID); err != nil {
		return Lockout{}, err
	}
	if p.Window <= 0 || p.MaxAttempts < 1 || p.LockDuration <= 0 {
		return Lockout{}, fmt.Errorf("store: invalid lockout policy %+v", p)
	}
	now := s.now()
	lockedUntil := now + p.LockDuration.Microseconds()
	firstLock := int64(0)
	if p.MaxAttempts <= 1 {
		firstLock = lockedUntil
	}
	keep := now + max(p.Window, p.LockDuration).Microseconds()
	// One statement: concurrent failures (from any replica) all count.
	// $3 is the start of the window that ends now: a window that started at
	// or before it has passed. The first failure after a lock has ended also
	// starts a new window.
	const reset = `(login_failures.window_start <= $3 OR
		(login_failures.locked_until <> 0 AND login_failures.locked_until <= $2))`
	var (
		l                          = Lockout{AccountID: accountID}
		failures, start, lockedTil int64
	)
	err := s.b.writer().queryRow(ctx, s.sql(`INSERT INTO login_failures
		(account_id, failures, window_start, locked_until, expires_at)
		VALUES ($1, 1, $2, $6, $7)
		ON CONFLICT (account_id) DO UPDATE SET
			failures = CASE WHEN `+reset+` THEN 1 ELSE login_failures.failures + 1 END,
			window_start = CASE WHEN `+reset+` THEN $2 ELSE login_failures.window_start END,
			locked_until = CASE
				WHEN login_failures.locked_until > $2 THEN login_failures.locked_until
				WHEN (CASE WHEN `+reset+` THEN 1 ELSE login_failures.failures + 1 END) >= $4 THEN $5
				ELSE 0 END,
			expires_at = GREATEST(login_failures.expires_at, $7)
		RETURNING failures, window_start, locked_until`),
		accountID, now, now-p.Window.Microseconds(), int64(p.MaxAttempts), lockedUntil, firstLock, keep,
	).Scan(&failures, &start, &lockedTil)
	if err != nil {
		return Lockout{}, dbErr("record failed login", err)
	}
	l.Failures = int(failures)
	l.WindowStart = fromMicro(start)
	l.LockedUntil = fromMicro(lockedTil)
	return l, nil
}

func (s *sqlStore) GetLockout(ctx context.Context, accountID string) (Lockout, error) {
	l := Lockout{AccountID: accountID}
	var failures, start, lockedTil, expires int64
	err := s.b.reader().queryRow(ctx, `SELECT failures, window_start, locked_until, expires_at
		FROM login_failures WHERE account_id = $1`, accountID).Scan(&failures, &start, &lockedTil, &expires)
	if isNoRows(err) || (err == nil && expires <= s.now()) {
		return Lockout{}, fmt.Errorf("store: lockout: %w", ErrNotFound)
	}
	if err != nil {
		return Lockout{}, dbErr("read lockout", err)
	}
	l.Failures = int(failures)
	l.WindowStart = fromMicro(start)
	l.LockedUntil = fromMicro(lockedTil)
	return l, nil
}

func (s *sqlStore) ResetFailedLogins(ctx context.Context, accountID string) error {
	if _, err := s.b.writer().exec(ctx, `DELETE FROM login_failures WHERE account_id = $1`, accountID); err != nil {
		return dbErr("reset failed logins", err)
	}
	return nil
}

func (s *sqlStore) ClearFailedLogins(ctx context.Context, accountID string, failures int) (bool, error) {
	// One statement: the row goes unless it is locked by other attempts.
	// Zero rows deleted means either no row (cleared) or a row locked by
	// others, which only the account's later state could undo: a second
	// read tells which, and a row locked then is refused either way.
	now := s.now()
	n, err := s.b.writer().exec(ctx, `DELETE FROM login_failures
		WHERE account_id = $1 AND (locked_until <= $2 OR failures = $3)`, accountID, now, int64(failures))
	if err != nil {
		return false, dbErr("clear failed logins", err)
	}
	if n > 0 {
		return true, nil
	}
	var one int
	err = s.b.writer().queryRow(ctx, `SELECT 1 FROM login_failures
		WHERE account_id = $1 AND locked_until > $2`, accountID, now).Scan(&one)
	if isNoRows(err) {
		return true, nil
	}
	if err != nil {
		return false, dbErr("clear failed logins", err)
	}
	return false, nil
}
