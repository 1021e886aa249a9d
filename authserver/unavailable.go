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

package authserver

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// unavailable tells whether err means the store cannot be reached right now
// (the database restarts, the network drops, a connection was closed under
// us, a query timed out), so the request may succeed when retried: such
// requests get 503 temporarily_unavailable instead of 500 server_error.
// It looks only at standard error types and at the methods PostgreSQL
// drivers' errors have (SQLState, SafeToRetry), so it needs no driver.
func unavailable(err error) bool {
	if err == nil {
		return false
	}
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
		// resources (too many connections).
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
