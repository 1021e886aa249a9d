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
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authops/authops/authserver/store/pgtest"
)

type sqlStateErr string

func (e sqlStateErr) Error() string    { return "pg: " + string(e) }
func (e sqlStateErr) SQLState() string { return string(e) }

// TestUnreachable: the failures a retry can fix are marked ErrUnavailable,
// with the driver's error kept in the chain and its message unchanged;
// anything else is returned as is.
func TestUnreachable(t *testing.T) {
	for in, want := range map[error]bool{
		fmt.Errorf("store: %w", context.DeadlineExceeded):                                  true,
		fmt.Errorf("store: %w", io.ErrUnexpectedEOF):                                       true,
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}:                    true,
		fmt.Errorf("store: %w", syscall.ECONNRESET):                                        true,
		fmt.Errorf("store: %w", sqlStateErr("57P01")):                                      true,
		fmt.Errorf("store: %w", sqlStateErr("08006")):                                      true,
		fmt.Errorf("store: %w", sqlStateErr("53300")):                                      true,
		errors.New("failed to connect to `user=authops database=authops`: dial error"):     true,
		errors.New("conn closed"):                                                          true,
		fmt.Errorf("store: %w", sqlStateErr("42P01")):                                      false,
		errors.New("no signing key"):                                                       false,
		errors.New("unknown poll outcome x"):                                               false,
		fmt.Errorf("store: %w", fmt.Errorf("constraint: %w", sqlStateErr("23505"))):        false,
		fmt.Errorf("wrapped twice: %w", fmt.Errorf("x: %w", context.DeadlineExceeded)):     true,
		&net.OpError{Op: "read", Net: "unix", Err: errors.New("connection reset by peer")}: true,
		fmt.Errorf("begin: %w", net.ErrClosed):                                             true,
		errors.New("sqlite: database disk image is malformed"):                             false,
		errors.New("sqlite: SQLITE_FULL"):                                                  false,
		errors.New("registry: signing key k1 unusable"):                                    false,
		errors.New("store: decode scopes: invalid character"):                              false,
		fmt.Errorf("tx: %w", errors.Join(errors.New("rollback failed"), io.EOF)):           true,
		context.Canceled:    false,
		sql.ErrNoRows:       false,
		pgx.ErrNoRows:       false,
		errClosed:           false,
		ErrUnavailable:      true,
		ErrNotFound:         false,
		unreachable(io.EOF): true,
	} {
		out := unreachable(in)
		if got := errors.Is(out, ErrUnavailable); got != want {
			t.Errorf("%v: unavailable %t, want %t", in, got, want)
		}
		if !errors.Is(out, in) || out.Error() != in.Error() {
			t.Errorf("%v: became %v, which does not wrap it with the same message", in, out)
		}
		if !want && out != in {
			t.Errorf("%v: changed to %#v", in, out)
		}
	}
	if unreachable(nil) != nil {
		t.Error("nil became an error")
	}
	var sqlErr sqlStateErr
	if out := unreachable(fmt.Errorf("store: %w", sqlStateErr("57P01"))); !errors.As(out, &sqlErr) || sqlErr != "57P01" {
		t.Errorf("errors.As does not find the driver's error in %v", out)
	}
}

// TestSQLiteContextUnavailable: a write whose deadline passed before the
// SQLite writer took it is ErrUnavailable (the request may succeed when
// retried); a cancelled one and a write to a closed store are not.
func TestSQLiteContextUnavailable(t *testing.T) {
	s, _ := openGroupCommit(t)
	sess := Session{IDHash: HashToken("s"), AccountID: "alice", ExpiresAt: time.Now().Add(time.Hour)}
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	if err := s.CreateSession(expired, sess); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("past deadline: %v, want ErrUnavailable wrapping context.DeadlineExceeded", err)
	}
	cancelled, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if err := s.CreateSession(cancelled, sess); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Errorf("cancelled: %v, want context.Canceled only", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(t.Context(), sess); !errors.Is(err, errClosed) || errors.Is(err, ErrUnavailable) {
		t.Errorf("closed: %v, want errClosed only", err)
	}
}

// openPostgresDB opens a store on a fresh pgtest database.
func openPostgresDB(t *testing.T, opts ...Option) *sqlStore {
	t.Helper()
	db := pgtest.NewDatabase(t)
	opts = append([]Option{WithLookupEnv(func(string) (string, bool) { return "", false })}, opts...)
	s, err := OpenPostgres(t.Context(), db.DSN, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.(*sqlStore)
}

// TestPostgresStoppedIsUnavailable: PostgreSQL really stopped under a
// running store. Reads, single writes, transactions and Ping fail with
// ErrUnavailable (whether the pool's connections were closed under it or new
// ones are refused), the driver's error stays in the chain, and once the
// server is back the same store works again.
func TestPostgresStoppedIsUnavailable(t *testing.T) {
	s := openPostgresDB(t, WithMaxConns(4))
	if pgtest.External() {
		t.Skipf("%s is set: the external server cannot be stopped by the tests", pgtest.EnvDSN)
	}
	ctx := t.Context()
	now := time.Now()
	sess := Session{IDHash: HashToken("s"), AccountID: "alice", ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	code := AuthCode{Hash: HashToken("c"), ClientID: "client-a", AccountID: "alice", ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateAuthCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	// Fill the pool: the first calls below find connections the server
	// closed, the later ones must dial.
	for range 4 {
		if _, err := s.GetSession(ctx, sess.IDHash); err != nil {
			t.Fatal(err)
		}
	}
	if err := pgtest.StopServer(); err != nil {
		t.Fatalf("stopping PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = pgtest.StartServer() })

	calls := map[string]func(context.Context) error{
		"read": func(ctx context.Context) error { _, err := s.GetSession(ctx, sess.IDHash); return err },
		"write": func(ctx context.Context) error {
			return s.RevokeAccessToken(ctx, "jti", now.Add(time.Hour))
		},
		"transaction": func(ctx context.Context) error {
			_, err := s.RedeemAuthCode(ctx, code.Hash, code.ClientID, Issued{})
			return err
		},
		"ping": s.Ping,
	}
	for round := range 3 {
		for name, call := range calls {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := call(cctx)
			cancel()
			var marked unavailableError
			if !errors.Is(err, ErrUnavailable) || !errors.As(err, &marked) || marked.err == nil {
				t.Errorf("round %d, %s with PostgreSQL stopped: %v, want ErrUnavailable wrapping the driver's error", round, name, err)
			}
		}
	}

	if err := pgtest.StartServer(); err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.GetSession(ctx, sess.IDHash)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := s.RedeemAuthCode(ctx, code.Hash, code.ClientID, Issued{}); err != nil {
		t.Errorf("redeem after the restart: %v", err)
	}
}

// TestPostgresPoolTimeoutIsUnavailable: a request that cannot get a pooled
// connection before its deadline is ErrUnavailable.
func TestPostgresPoolTimeoutIsUnavailable(t *testing.T) {
	s := openPostgresDB(t, WithMaxConns(1))
	conn, err := s.b.(*pgBackend).pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = s.IsAccessTokenRevoked(ctx, "jti")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("pool exhausted: %v, want ErrUnavailable wrapping context.DeadlineExceeded", err)
	}
}
