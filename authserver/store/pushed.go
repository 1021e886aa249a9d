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
	"net/url"
	"time"
)

const pushedCols = `hash, client_id, client_uid, params, created_at, expires_at, used_at`

func scanPushed(sc scanner) (PushedRequest, error) {
	var (
		p                      PushedRequest
		hash                   []byte
		params                 string
		created, expires, used int64
	)
	if err := sc.Scan(&hash, &p.ClientID, &p.ClientUID, &params, &created, &expires, &used); err != nil {
		return p, err
	}
	h, err := toHash(hash)
	if err != nil {
		return p, err
	}
	if p.Params, err = url.ParseQuery(params); err != nil {
		return p, fmt.Errorf("store: stored pushed request parameters: %w", err)
	}
	p.Hash = h
	p.CreatedAt = fromMicro(created)
	p.ExpiresAt = fromMicro(expires)
	p.UsedAt = fromMicro(used)
	return p, nil
}

func (s *sqlStore) CreatePushedRequest(ctx context.Context, p PushedRequest) error {
	if err := errors.Join(requireHash("request_uri", p.Hash), requireString("client ID", p.ClientID),
		requireExpiry(p.ExpiresAt)); err != nil {
		return err
	}
	_, err := s.b.writer().exec(ctx, `INSERT INTO pushed_requests (hash, client_id, client_uid, params,
		created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		p.Hash[:], p.ClientID, p.ClientUID, p.Params.Encode(), s.now(), micro(p.ExpiresAt))
	return wrapInsert("pushed request", err)
}

func (s *sqlStore) UsePushedRequest(ctx context.Context, hash Hash, clientID string, resume Hash, until time.Time) (PushedRequest, error) {
	if err := errors.Join(requireHash("resume", resume), requireExpiry(until)); err != nil {
		return PushedRequest{}, err
	}
	var (
		req    PushedRequest
		result error
	)
	err := s.b.inTx(ctx, func(q querier) error {
		now := s.now()
		p, err := scanPushed(q.queryRow(ctx, `UPDATE pushed_requests
			SET used_at = $1, resume_hash = $2, expires_at = $3
			WHERE hash = $4 AND client_id = $5 AND used_at = 0 AND expires_at > $1
			RETURNING `+pushedCols, now, resume[:], micro(until), hash[:], clientID))
		if err == nil {
			req = p
			return nil
		}
		if !isNoRows(err) {
			return dbErr("use pushed request", err)
		}
		// Not used now: find out why.
		p, err = scanPushed(q.queryRow(ctx, `SELECT `+pushedCols+` FROM pushed_requests WHERE hash = $1`, hash[:]))
		switch {
		case isNoRows(err) || (err == nil && p.ClientID != clientID):
			result = fmt.Errorf("store: pushed request: %w", ErrNotFound)
		case err != nil:
			return dbErr("read pushed request", err)
		case !p.UsedAt.IsZero():
			result = fmt.Errorf("store: pushed request: %w", ErrAlreadyUsed)
		case micro(p.ExpiresAt) <= now:
			result = fmt.Errorf("store: pushed request: %w", ErrExpired)
		default:
			return fmt.Errorf("store: pushed request changed concurrently: %w", ErrConflict)
		}
		return nil
	})
	if err != nil {
		return PushedRequest{}, err
	}
	return req, result
}

func (s *sqlStore) ResumePushedRequest(ctx context.Context, resume Hash, clientID string) (PushedRequest, error) {
	p, err := scanPushed(s.b.reader().queryRow(ctx, `SELECT `+pushedCols+` FROM pushed_requests
		WHERE resume_hash = $1`, resume[:]))
	switch {
	case isNoRows(err) || (err == nil && p.ClientID != clientID):
		return PushedRequest{}, fmt.Errorf("store: pushed request: %w", ErrNotFound)
	case err != nil:
		return PushedRequest{}, dbErr("read pushed request", err)
	case micro(p.ExpiresAt) <= s.now():
		return PushedRequest{}, fmt.Errorf("store: pushed request: %w", ErrExpired)
	}
	return p, nil
}

func (s *sqlStore) FinishPushedRequest(ctx context.Context, resume Hash) error {
	n, err := s.b.writer().exec(ctx, `DELETE FROM pushed_requests WHERE resume_hash = $1 AND expires_at > $2`,
		resume[:], s.now())
	if err != nil {
		return dbErr("delete pushed request", err)
	}
	if n == 0 {
		return fmt.Errorf("store: pushed request: %w", ErrNotFound)
	}
	return nil
}
