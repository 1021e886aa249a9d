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
	"time"
)

const deviceCols = `device_hash, user_code, client_id, scopes, status, account_id, auth_time,
	interval_seconds, last_poll_at, created_at, expires_at, decided_at, consumed_at, client_uid, resources,
	binding`

func scanDevice(sc scanner) (DeviceAuth, error) {
	var (
		d                                                                 DeviceAuth
		hash                                                              []byte
		scopes, status, resources                                         string
		authTime, interval, lastPoll, created, expires, decided, consumed int64
	)
	if err := sc.Scan(&hash, &d.UserCode, &d.ClientID, &scopes, &status, &d.AccountID, &authTime,
		&interval, &lastPoll, &created, &expires, &decided, &consumed, &d.ClientUID, &resources,
		&d.Binding); err != nil {
		return d, err
	}
	h, err := toHash(hash)
	if err != nil {
		return d, err
	}
	d.DeviceHash = h
	d.Scopes = splitScopes(scopes)
	d.Resources = splitScopes(resources)
	d.Status = DeviceStatus(status)
	d.AuthTime = fromMicro(authTime)
	d.Interval = time.Duration(interval) * time.Second
	d.LastPollAt = fromMicro(lastPoll)
	d.CreatedAt = fromMicro(created)
	d.ExpiresAt = fromMicro(expires)
	d.DecidedAt = fromMicro(decided)
	d.ConsumedAt = fromMicro(consumed)
	return d, nil
}

// DefaultDeviceInterval is the polling interval of a device authorization
// created without one (RFC 8628 §3.2).
const DefaultDeviceInterval = 5 * time.Second

func (s *sqlStore) CreateDeviceAuth(ctx context.Context, d DeviceAuth) error {
	if err := errors.Join(requireHash("device code", d.DeviceHash), requireString("user code", d.UserCode),
		requireString("client ID", d.ClientID), requireExpiry(d.ExpiresAt)); err != nil {
		return err
	}
	if d.Interval < 0 {
		return errors.New("store: negative device polling interval")
	}
	scopes, err := encodeScopes(d.Scopes)
	if err != nil {
		return err
	}
	resources, err := encodeResources(d.Resources)
	if err != nil {
		return err
	}
	interval := d.Interval
	if interval == 0 {
		interval = DefaultDeviceInterval
	}
	seconds := int64((interval + time.Second - 1) / time.Second)
	_, err = s.b.writer().exec(ctx, `INSERT INTO device_auths (device_hash, user_code, client_id,
		client_uid, scopes, resources, status, interval_seconds, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9)`,
		d.DeviceHash[:], d.UserCode, d.ClientID, d.ClientUID, scopes, resources, seconds, s.now(),
		micro(d.ExpiresAt))
	return wrapInsert("device authorization", err)
}

func (s *sqlStore) GetDeviceAuthByUserCode(ctx context.Context, userCode string) (DeviceAuth, error) {
	d, err := scanDevice(s.b.reader().queryRow(ctx,
		`SELECT `+deviceCols+` FROM device_auths WHERE user_code = $1`, userCode))
	if isNoRows(err) {
		return DeviceAuth{}, fmt.Errorf("store: device authorization: %w", ErrNotFound)
	}
	if err != nil {
		return DeviceAuth{}, dbErr("read device authorization", err)
	}
	if micro(d.ExpiresAt) <= s.now() {
		return d, fmt.Errorf("store: device authorization: %w", ErrExpired)
	}
	return d, nil
}

func (s *sqlStore) decideDevice(ctx context.Context, userCode string, status DeviceStatus, accountID, binding string, authTime time.Time) (DeviceAuth, error) {
	var (
		out    DeviceAuth
		result error
	)
	err := s.b.inTx(ctx, func(q querier) error {
		now := s.now()
		d, err := scanDevice(q.queryRow(ctx, `UPDATE device_auths
			SET status = $2, account_id = $3, auth_time = $4, decided_at = $5, binding = $6
			WHERE user_code = $1 AND status = 'pending' AND expires_at > $5
			RETURNING `+deviceCols, userCode, string(status), accountID, micro(authTime), now, binding))
		if err == nil {
			out = d
			return nil
		}
		if !isNoRows(err) {
			return dbErr("decide device authorization", err)
		}
		d, err = scanDevice(q.queryRow(ctx, `SELECT `+deviceCols+` FROM device_auths WHERE user_code = $1`, userCode))
		switch {
		case isNoRows(err):
			result = fmt.Errorf("store: device authorization: %w", ErrNotFound)
		case err != nil:
			return dbErr("read device authorization", err)
		case d.Status != DevicePending:
			out, result = d, fmt.Errorf("store: device authorization already %s: %w", d.Status, ErrAlreadyUsed)
		case micro(d.ExpiresAt) <= now:
			out, result = d, fmt.Errorf("store: device authorization: %w", ErrExpired)
		default:
			return fmt.Errorf("store: device authorization changed concurrently: %w", ErrConflict)
		}
		return nil
	})
	if err != nil {
		return DeviceAuth{}, err
	}
	return out, result
}

func (s *sqlStore) ApproveDeviceAuth(ctx context.Context, userCode, accountID, binding string, authTime time.Time) (DeviceAuth, error) {
	if err := requireString("account ID", accountID); err != nil {
		return DeviceAuth{}, err
	}
	return s.decideDevice(ctx, userCode, DeviceApproved, accountID, binding, authTime)
}

func (s *sqlStore) DenyDeviceAuth(ctx context.Context, userCode string) (DeviceAuth, error) {
	return s.decideDevice(ctx, userCode, DeviceDenied, "", "", time.Time{})
}

func (s *sqlStore) PollDeviceAuth(ctx context.Context, deviceHash Hash, clientID string, p DevicePoll) (DeviceAuth, PollResult, error) {
	var out devicePoll
	err := s.b.inTx(ctx, func(q querier) error {
		now := s.now()
		// The interval check and the update of last_poll_at are one
		// statement: of concurrent polls, only one can see the old value.
		d, err := scanDevice(q.queryRow(ctx, `UPDATE device_auths
			SET last_poll_at = $3, last_poll_style = $5,
				consumed_at = CASE WHEN status = 'approved' THEN $3 ELSE consumed_at END
			WHERE device_hash = $1 AND client_id = $2 AND expires_at > $3 AND consumed_at = 0
				AND status IN ('pending', 'approved')
				AND (last_poll_at = 0 OR last_poll_at + interval_seconds * 1000000 <= $3 + $4)
			RETURNING `+deviceCols, deviceHash[:], clientID, now, s.pollLeeway.Microseconds(), p.AuthStyle))
		if err == nil {
			out.auth = d
			if d.Status != DeviceApproved {
				out.outcome = PollPending
				return nil
			}
			out.outcome = PollApproved
			out.err, err = s.issueOnPoll(ctx, q, d, clientID, p.Issue, now)
			return err
		}
		if !isNoRows(err) {
			return dbErr("poll device authorization", err)
		}
		out, err = s.refusedPoll(ctx, q, deviceHash, clientID, p, now)
		return err
	})
	if err != nil {
		return DeviceAuth{}, "", err
	}
	return out.auth, out.outcome, out.err
}

// devicePoll is what PollDeviceAuth answers when its transaction commits.
type devicePoll struct {
	auth    DeviceAuth
	outcome PollResult
	err     error
}

// issueOnPoll calls issue, if set, with d, the authorization clientID's
// poll has just consumed, and stores the refresh token it returns in the poll's
// transaction. An error of issue is returned as issueErr: the consumption
// stands. err, a token that cannot be stored, rolls the poll back.
func (s *sqlStore) issueOnPoll(ctx context.Context, q querier, d DeviceAuth, clientID string, issue func(DeviceAuth) (*RefreshToken, error), now int64) (issueErr, err error) {
	if issue == nil {
		return nil, nil
	}
	t, err := issue(d)
	if err != nil {
		return err, nil // the consumption stands
	}
	if t == nil {
		return nil, nil
	}
	if t.ClientID != clientID || t.AccountID != d.AccountID {
		return nil, errors.New("store: the refresh token Issue returned is not of the client and account of the device authorization")
	}
	if err := validRefresh(*t); err != nil {
		return nil, err
	}
	return nil, s.createRefresh(ctx, q, *t, now)
}

// refusedPoll tells why a poll of the device authorization deviceHash by
// clientID did not pass the conditional UPDATE of PollDeviceAuth: not
// found, already used, expired, denied, the re-send of the last poll in the
// other authentication style within the grace (pending, once), or too early
// (slow down, for this and later polls).
func (s *sqlStore) refusedPoll(ctx context.Context, q querier, deviceHash Hash, clientID string, p DevicePoll, now int64) (devicePoll, error) {
	d, err := scanDevice(q.queryRow(ctx, `SELECT `+deviceCols+` FROM device_auths WHERE device_hash = $1`, deviceHash[:]))
	switch {
	case isNoRows(err) || (err == nil && d.ClientID != clientID):
		return devicePoll{err: fmt.Errorf("store: device authorization: %w", ErrNotFound)}, nil
	case err != nil:
		return devicePoll{}, dbErr("read device authorization", err)
	case !d.ConsumedAt.IsZero():
		return devicePoll{auth: d, err: fmt.Errorf("store: device authorization: %w", ErrAlreadyUsed)}, nil
	case micro(d.ExpiresAt) <= now:
		return devicePoll{auth: d, outcome: PollExpired}, nil
	case d.Status == DeviceDenied:
		return devicePoll{auth: d, outcome: PollDenied}, nil
	}
	if p.Grace > 0 && p.AuthStyle != "" {
		// The re-send of the last poll in the other authentication
		// style, within the grace: pending, once (the grace is used up).
		n, err := q.exec(ctx, `UPDATE device_auths SET last_poll_style = ''
			WHERE device_hash = $1 AND last_poll_style <> '' AND last_poll_style <> $2 AND last_poll_at > $3`,
			deviceHash[:], p.AuthStyle, now-p.Grace.Microseconds())
		if err != nil {
			return devicePoll{}, dbErr("poll device authorization", err)
		}
		if n == 1 {
			return devicePoll{auth: d, outcome: PollPending}, nil
		}
	}
	// Too early: slow down, for this and later polls.
	d, err = scanDevice(q.queryRow(ctx, s.sql(`UPDATE device_auths
		SET interval_seconds = interval_seconds + $3, last_poll_at = GREATEST(last_poll_at, $2),
			last_poll_style = $4
		WHERE device_hash = $1 RETURNING `+deviceCols), deviceHash[:], now, int64(SlowDownStep/time.Second), p.AuthStyle))
	if err != nil {
		return devicePoll{}, dbErr("slow down device authorization", err)
	}
	return devicePoll{auth: d, outcome: PollSlowDown}, nil
}
