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
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OpenPostgres connects to PostgreSQL (dsn is a postgres:// URL or a
// libpq keyword/value string), applies migrations under an advisory lock (so
// replicas starting together do not race) and returns the store. The
// password is taken as described at [Open].
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	o := buildOptions(opts)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN: do not pass them on.
		return nil, fmt.Errorf("store: invalid PostgreSQL URL %q", Redacted(dsn))
	}
	pw, ok, err := o.password()
	if err != nil {
		return nil, err
	}
	if ok {
		cfg.ConnConfig.Password = pw
	}
	if o.maxConns > 0 {
		cfg.MaxConns = int32(o.maxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to PostgreSQL %s: %w", Redacted(dsn), err)
	}
	b := &pgBackend{pool: pool}
	if err := b.ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to PostgreSQL %s: %w", Redacted(dsn), err)
	}
	if _, err := migrate(ctx, b); err != nil {
		pool.Close()
		return nil, err
	}
	return newSQLStore(b, o), nil
}

func (o *options) password() (string, bool, error) {
	if o.passwordFile != "" {
		b, err := os.ReadFile(o.passwordFile)
		if err != nil {
			return "", false, fmt.Errorf("store: read password file: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", false, fmt.Errorf("store: password file %s is empty", o.passwordFile)
		}
		return pw, true, nil
	}
	if o.lookupEnv != nil {
		if pw, ok := o.lookupEnv(PasswordEnv); ok && pw != "" {
			return pw, true, nil
		}
	}
	return "", false, nil
}

// The PostgreSQL backend's querier and transactions, on a pgxpool.

type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type pgxQ struct{ q pgxQuerier }

func (p pgxQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, q, args...)
	if err != nil {
		return 0, unreachable(err)
	}
	return tag.RowsAffected(), nil
}

func (p pgxQ) queryRow(ctx context.Context, q string, args ...any) scanner {
	return pgxRow{p.q.QueryRow(ctx, q, args...)}
}

func (p pgxQ) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
	rows, err := p.q.Query(ctx, q, args...)
	if err != nil {
		return nil, unreachable(err)
	}
	return checkedRows{rows}, nil
}

// pgxRow marks the error of its scan (see unreachable).
type pgxRow struct{ pgx.Row }

func (r pgxRow) Scan(dest ...any) error { return unreachable(r.Row.Scan(dest...)) }

type pgBackend struct {
	pool *pgxpool.Pool
}

func (b *pgBackend) reader() querier { return pgxQ{b.pool} }
func (b *pgBackend) writer() querier { return pgxQ{b.pool} }
func (b *pgBackend) dialect() string { return "postgres" }

func (b *pgBackend) inTx(ctx context.Context, fn func(q querier) error) error {
	// READ COMMITTED is enough: every check-and-set is a conditional UPDATE
	// (... WHERE used_at = 0 RETURNING ...), which locks the row and
	// re-evaluates the condition against the latest committed version, so
	// two transactions cannot both pass it.
	tx, err := b.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("store: begin: %w", unreachable(err))
	}
	if err := fn(pgxQ{tx}); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", unreachable(err))
	}
	return nil
}

func (b *pgBackend) ping(ctx context.Context) error { return unreachable(b.pool.Ping(ctx)) }

func (b *pgBackend) close() error {
	b.pool.Close()
	return nil
}
