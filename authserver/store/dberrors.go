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
	"database/sql"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// What drivers' errors mean, decided here, next to the drivers: the rest of
// the store and the HTTP layer only see the sentinel errors.

// isNoRows reports whether err says a single-row query found nothing.
func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}

// isUniqueViolation reports whether err is a unique or primary-key
// constraint violation in either backend.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return true
		}
	}
	return false
}

// unreachable returns err marked as [ErrUnavailable] if it means that the
// database cannot be reached right now, so that a retry may succeed: the
// server restarts or shuts down, the network drops, a connection was closed
// under us, the pool has no connection free or the server accepts no more,
// a statement timed out. Any other err, and nil, is returned as is. The
// backends pass every error of the driver through it (queries, row scans,
// BEGIN, COMMIT, ping, waiting for the SQLite writer), so the layers above
// test errors.Is(err, ErrUnavailable) and never look at drivers' errors.
func unreachable(err error) error {
	if err == nil || isNoRows(err) || errors.Is(err, ErrUnavailable) || !cannotReach(err) {
		return err
	}
	return unavailableError{err}
}

// unavailableError is a driver's error marked as [ErrUnavailable]. Its
// message is the driver's, unchanged, and errors.Is and errors.As see both.
type unavailableError struct{ err error }

func (e unavailableError) Error() string   { return e.err.Error() }
func (e unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// cannotReach tells whether err means the database cannot be reached. It
// looks at standard error types, at the methods PostgreSQL drivers' errors
// have (SQLState, SafeToRetry) and, last, at pgx's messages.
func cannotReach(err error) bool {
	var (
		netErr net.Error
		sqlErr interface{ SQLState() string }
		retry  interface{ SafeToRetry() bool }
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed), errors.As(err, &netErr):
		return true
	case errors.As(err, &sqlErr):
		// Class 08: connection exception; 57P01-57P03: admin shutdown,
		// crash shutdown, cannot connect now; class 53: insufficient
		// resources (53300: too many connections).
		st := sqlErr.SQLState()
		return strings.HasPrefix(st, "08") || strings.HasPrefix(st, "57P0") || strings.HasPrefix(st, "53")
	case errors.As(err, &retry) && retry.SafeToRetry():
		return true
	}
	msg := err.Error()
	// pgx reports a connection it closed after a failure as "conn closed",
	// pgxpool a dial failure as "failed to connect".
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "failed to connect") ||
		strings.Contains(msg, "connection refused")
}

// checkedRows marks the errors of a driver's rows (see unreachable).
type checkedRows struct{ rowsIter }

func (r checkedRows) Scan(dest ...any) error { return unreachable(r.rowsIter.Scan(dest...)) }
func (r checkedRows) Err() error             { return unreachable(r.rowsIter.Err()) }
