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
)

// The store's logic is written once (sql.go, and a file per kind of record:
// authcode.go, refresh.go, ...) against this small interface; the SQLite
// backend implements it with database/sql (sqlite.go, stmtcache.go,
// groupcommit.go) and the PostgreSQL backend with pgxpool (postgres.go). SQL text is shared: both dialects accept $N
// placeholders, RETURNING, ON CONFLICT and row values.

type querier interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	queryRow(ctx context.Context, q string, args ...any) scanner
	query(ctx context.Context, q string, args ...any) (rowsIter, error)
}

type scanner interface{ Scan(dest ...any) error }

type rowsIter interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type backend interface {
	// reader is for single statements that only read; writer for single
	// statements that write. For SQLite they are different pools.
	reader() querier
	writer() querier
	// inTx runs fn in a read-write transaction, committing if fn returns
	// nil, and returns once the outcome is durable. fn must only use the
	// querier it is given. SQLite group-commits: fn may share the
	// transaction with other callers' fns (each in its own savepoint, see
	// groupcommit.go) and runs on the writer goroutine.
	inTx(ctx context.Context, fn func(q querier) error) error
	ping(ctx context.Context) error
	close() error
	dialect() string
}
