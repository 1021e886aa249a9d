package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The store's logic is written once (sql.go) against this small interface;
// the SQLite backend implements it with database/sql and the PostgreSQL
// backend with pgxpool. SQL text is shared: both dialects accept $N
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
	// nil. fn must only use the querier it is given.
	inTx(ctx context.Context, fn func(q querier) error) error
	ping(ctx context.Context) error
	close() error
	dialect() string
}

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

// --- database/sql (SQLite) ---

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
	// transaction holds (the SQLite writer has one), so inTx prepares them
	// after the transaction ends.
	misses *[]string
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
		st, ok := s.stmts.m.Load(q)
		if !ok {
			*s.misses = append(*s.misses, q)
			return nil
		}
		return s.tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	st, err := s.stmts.get(ctx, s.pool, q)
	if err != nil {
		return nil // let the unprepared call report the error
	}
	return st
}

func (s sqlQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
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
		return 0, err
	}
	return res.RowsAffected()
}

func (s sqlQ) queryRow(ctx context.Context, q string, args ...any) scanner {
	if st := s.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.q.QueryRowContext(ctx, q, args...)
}

func (s sqlQ) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
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
		return nil, err
	}
	return sqlRows{rows}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type sqliteBackend struct {
	r, w *sql.DB // the same *sql.DB for in-memory databases
	// Prepared statements of r and w (zero values are ready to use).
	rStmts, wStmts stmtCache
}

func (b *sqliteBackend) reader() querier { return sqlQ{q: b.r, stmts: &b.rStmts, pool: b.r} }
func (b *sqliteBackend) writer() querier { return sqlQ{q: b.w, stmts: &b.wStmts, pool: b.w} }

func (b *sqliteBackend) dialect() string { return "sqlite" }

func (b *sqliteBackend) inTx(ctx context.Context, fn func(q querier) error) error {
	// The writer DSN sets _txlock=immediate: BEGIN IMMEDIATE takes the write
	// lock at once, so a transaction never fails to upgrade a read lock.
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	var misses []string
	defer func() {
		for _, q := range misses {
			_, _ = b.wStmts.get(ctx, b.w, q)
		}
	}()
	if err := fn(sqlQ{q: tx, stmts: &b.wStmts, pool: b.w, tx: tx, misses: &misses}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func (b *sqliteBackend) ping(ctx context.Context) error {
	if err := b.w.PingContext(ctx); err != nil {
		return err
	}
	return b.r.PingContext(ctx)
}

func (b *sqliteBackend) close() error {
	err := b.w.Close()
	if b.r != b.w {
		err = errors.Join(err, b.r.Close())
	}
	return err
}

// --- pgx (PostgreSQL) ---

type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type pgxQ struct{ q pgxQuerier }

func (p pgxQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (p pgxQ) queryRow(ctx context.Context, q string, args ...any) scanner {
	return p.q.QueryRow(ctx, q, args...)
}

func (p pgxQ) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
	return p.q.Query(ctx, q, args...)
}

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
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(pgxQ{tx}); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func (b *pgBackend) ping(ctx context.Context) error { return b.pool.Ping(ctx) }

func (b *pgBackend) close() error {
	b.pool.Close()
	return nil
}
