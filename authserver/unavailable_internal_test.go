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
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/authops/authops/authserver/oautherr"
)

type sqlStateErr string

func (e sqlStateErr) Error() string    { return "pg: " + string(e) }
func (e sqlStateErr) SQLState() string { return string(e) }

// TestServerErrorUnavailable: store failures that a retry can fix are 503
// temporarily_unavailable; anything else stays 500 server_error.
func TestServerErrorUnavailable(t *testing.T) {
	for err, want := range map[error]oautherr.Code{
		fmt.Errorf("store: %w", context.DeadlineExceeded):                                  oautherr.TemporarilyUnavailable,
		fmt.Errorf("store: %w", io.ErrUnexpectedEOF):                                       oautherr.TemporarilyUnavailable,
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}:                    oautherr.TemporarilyUnavailable,
		fmt.Errorf("store: %w", syscall.ECONNRESET):                                        oautherr.TemporarilyUnavailable,
		fmt.Errorf("store: %w", sqlStateErr("57P01")):                                      oautherr.TemporarilyUnavailable,
		fmt.Errorf("store: %w", sqlStateErr("08006")):                                      oautherr.TemporarilyUnavailable,
		fmt.Errorf("store: %w", sqlStateErr("53300")):                                      oautherr.TemporarilyUnavailable,
		errors.New("failed to connect to `user=authops database=authops`: dial error"):     oautherr.TemporarilyUnavailable,
		errors.New("conn closed"):                                                          oautherr.TemporarilyUnavailable,
		fmt.Errorf("store: %w", sqlStateErr("42P01")):                                      oautherr.ServerError,
		errors.New("no signing key"):                                                       oautherr.ServerError,
		errors.New("unknown poll outcome x"):                                               oautherr.ServerError,
		fmt.Errorf("store: %w", fmt.Errorf("constraint: %w", sqlStateErr("23505"))):        oautherr.ServerError,
		fmt.Errorf("wrapped twice: %w", fmt.Errorf("x: %w", context.DeadlineExceeded)):     oautherr.TemporarilyUnavailable,
		&net.OpError{Op: "read", Net: "unix", Err: errors.New("connection reset by peer")}: oautherr.TemporarilyUnavailable,
		fmt.Errorf("begin: %w", net.ErrClosed):                                             oautherr.TemporarilyUnavailable,
		errors.New("sqlite: database disk image is malformed"):                             oautherr.ServerError,
		errors.New("sqlite: SQLITE_FULL"):                                                  oautherr.ServerError,
		errors.New("registry: signing key k1 unusable"):                                    oautherr.ServerError,
		errors.New("store: decode scopes: invalid character"):                              oautherr.ServerError,
		fmt.Errorf("tx: %w", errors.Join(errors.New("rollback failed"), io.EOF)):           oautherr.TemporarilyUnavailable,
	} {
		e := serverError(err)
		if e.Code != want {
			t.Errorf("%v: %s, want %s", err, e.Code, want)
		}
		if r := oautherr.Resolve(e, oautherr.Extended, ""); (want == oautherr.TemporarilyUnavailable) != (r.Status == 503) {
			t.Errorf("%v: status %d", err, r.Status)
		}
	}
}
