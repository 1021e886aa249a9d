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
	"sync"
)

// The SQLite backend's querier: database/sql statements on a pool or a
// transaction, each prepared once per pool and kept in a stmtCache.

type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// sqlQ runs statements on a pool or a transaction. With stmts set, every
// statement is prepared once per pool (and per connection, by database/sql)
// and reused: SQLite otherwise parses and plans the SQL text of every call,
// about half the cost of a point read (see docs/benchmarks.md).
type sqlQ struct {
	q     sqlQuerier
	stmts *stmtCache
	pool  *sql.DB // the pool stmts belongs to
	tx    *sql.Tx // set when q is a transaction of pool
	// misses collects, in a transaction, the statements not prepared yet:
	// preparing them on the pool now could wait for the connection the
	// transaction holds (the SQLite writer has one), so the writer prepares
	// them after the transaction ends.
	misses *[]string
	// ctx, if set, replaces the context of every statement: the statements
	// of a group-commit batch run with one that is never cancelled (see
	// sqliteBackend.inTx).
	ctx context.Context
	// txStmts, in a transaction, holds the prepared statements already
	// bound to it (tx.StmtContext allocates a new one on every call).
	txStmts map[string]*sql.Stmt
}

// stmtCache holds the prepared statements of one pool, by SQL text. The SQL
// texts are the package's constants, so it is bounded.
type stmtCache struct {
	m sync.Map // string → *sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.m.LoadOrStore(q, st); loaded {
		_ = st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// stmt returns the prepared statement for q, or nil to run q as text.
func (s sqlQ) stmt(ctx context.Context, q string) *sql.Stmt {
	if s.stmts == nil || s.pool == nil {
		return nil
	}
	if s.tx != nil {
		if st, ok := s.txStmts[q]; ok {
			return st
		}
		st, ok := s.stmts.m.Load(q)
		if !ok {
			*s.misses = append(*s.misses, q)
			return nil
		}
		txSt := s.tx.StmtContext(ctx, st.(*sql.Stmt))
		if s.txStmts != nil {
			s.txStmts[q] = txSt
		}
		return txSt
	}
	st, err := s.stmts.get(ctx, s.pool, q)
	if err != nil {
		return nil // let the unprepared call report the error
	}
	return st
}

func (s sqlQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if s.ctx != nil {
		ctx = s.ctx
	}
	var (
		res sql.Result
		err error
	)
	if st := s.stmt(ctx, q); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = s.q.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return 0, unreachable(err)
	}
	n, err := res.RowsAffected()
	return n, unreachable(err)
}

func (s sqlQ) queryRow(ctx context.Context, q string, args ...any) scanner {
	if s.ctx != nil {
		ctx = s.ctx
	}
	if st := s.stmt(ctx, q); st != nil {
		return sqlRow{st.QueryRowContext(ctx, args...)}
	}
	return sqlRow{s.q.QueryRowContext(ctx, q, args...)}
}

func (s sqlQ) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
	if s.ctx != nil {
		ctx = s.ctx
	}
	var (
		rows *sql.Rows
		err  error
	)
	if st := s.stmt(ctx, q); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = s.q.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, unreachable(err)
	}
	return checkedRows{sqlRows{rows}}, nil
}

// sqlRow marks the error of its scan (see unreachable).
type sqlRow struct{ *sql.Row }

func (r sqlRow) Scan(dest ...any) error { return unreachable(r.Row.Scan(dest...)) }

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }
