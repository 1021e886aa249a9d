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
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver (pure Go, no cgo)
)

// OpenSQLite opens (creating if needed) the SQLite database file at path,
// or an in-memory database if path is ":memory:", and applies migrations.
//
// File databases use WAL mode (readers never block the writer or each
// other), a busy timeout, foreign keys, synchronous=FULL, a single writer
// connection (so concurrent writers in this process queue in Go instead of
// failing with SQLITE_BUSY) whose transactions begin IMMEDIATE, and a pool of
// read-only connections. Concurrent writes are group-committed: the writes
// that queued while a commit ran share the next transaction (each in its
// own savepoint) and its fsync, and each caller hears back only after that
// commit. An in-memory database lives in one connection and
// disappears on Close. One process should own a database file; use
// PostgreSQL for several replicas.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (Store, error) {
	return openSQLite(ctx, path, buildOptions(opts))
}

func openSQLite(ctx context.Context, path string, o *options) (Store, error) {
	if path == "" {
		return nil, errors.New("store: empty SQLite path")
	}
	if strings.Contains(path, "?") {
		return nil, fmt.Errorf("store: SQLite path %q must not contain '?'", path)
	}
	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", o.busyTimeout.Milliseconds())
	common := busy + "&_pragma=foreign_keys(1)"
	var b *sqliteBackend
	if path == ":memory:" {
		db, err := sql.Open("sqlite", ":memory:?"+common+"&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("store: open SQLite: %w", err)
		}
		// One connection: every connection to ":memory:" is its own database.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		b = newSQLiteBackend(db, db)
	} else {
		// Create the file readable by its owner only before SQLite does
		// (SQLite gives its -wal and -shm files the same permissions).
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("store: open SQLite database %s: %w", path, err)
		}
		_ = f.Close()
		w, err := sql.Open("sqlite", path+"?"+common+
			"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("store: open SQLite: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		// The writer sets WAL mode on first use; open it before the readers.
		if err := w.PingContext(ctx); err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("store: open SQLite database %s: %w", path, err)
		}
		r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
		if err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("store: open SQLite: %w", err)
		}
		n := o.maxConns
		if n <= 0 {
			n = max(4, runtime.GOMAXPROCS(0))
		}
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		b = newSQLiteBackend(r, w)
	}
	if err := b.ping(ctx); err != nil {
		_ = b.close()
		return nil, fmt.Errorf("store: open SQLite database %s: %w", path, err)
	}
	if _, err := migrate(ctx, b); err != nil {
		_ = b.close()
		return nil, err
	}
	return newSQLStore(b, o), nil
}

type sqliteBackend struct {
	r, w *sql.DB // the same *sql.DB for in-memory databases
	// Prepared statements of r and w (zero values are ready to use).
	rStmts, wStmts stmtCache

	jobs       chan *writeJob
	mu         sync.RWMutex // held (read) while sending on jobs; Close takes it to close jobs
	closed     bool
	closeOnce  sync.Once
	writerDone chan struct{}
	// For tests: transactions begun by the writer and jobs run in them.
	txs, jobsRun atomic.Int64
}

func newSQLiteBackend(r, w *sql.DB) *sqliteBackend {
	b := &sqliteBackend{r: r, w: w, jobs: make(chan *writeJob, writeQueue), writerDone: make(chan struct{})}
	go b.writeLoop()
	return b
}

func (b *sqliteBackend) reader() querier { return sqlQ{q: b.r, stmts: &b.rStmts, pool: b.r} }

// writer runs each statement as a job of its own (see inTx).
func (b *sqliteBackend) writer() querier { return batchQ{b} }

func (b *sqliteBackend) dialect() string { return "sqlite" }

func (b *sqliteBackend) ping(ctx context.Context) error {
	if err := b.w.PingContext(ctx); err != nil {
		return unreachable(err)
	}
	return unreachable(b.r.PingContext(ctx))
}

// close lets the writer finish the queued jobs, stops it and closes the
// database. Writes submitted afterwards get errClosed.
func (b *sqliteBackend) close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		close(b.jobs)
		b.mu.Unlock()
		<-b.writerDone
	})
	err := b.w.Close()
	if b.r != b.w {
		err = errors.Join(err, b.r.Close())
	}
	return err
}
