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
	"sync/atomic"
)

// SQLite writes: group commit.
//
// Every write to SQLite, a transaction (inTx) or a single statement
// (writer()), is a job for one writer goroutine. The writer takes the jobs
// that queued while it was busy, runs them in one BEGIN IMMEDIATE
// transaction, each inside its own SAVEPOINT, takes in the jobs that queue
// while they run (at most maxBatch in all), and commits once: one fsync
// (synchronous=FULL) for the whole batch instead of one per job. Only then
// does each caller get its result. There is no waiting for a batch to
// fill: a lone job is a batch of one and runs at once, so batches form only
// when jobs arrive faster than commits complete.
//
// A job whose fn fails is rolled back to its savepoint (ROLLBACK TO, then
// RELEASE): it leaves no trace and the others are unaffected. A statement
// error such as a UNIQUE violation only undoes that statement in SQLite,
// so the transaction stays usable. The first job of a transaction runs
// without a savepoint (most batches are small): if it fails, the
// transaction, which holds nothing else, is rolled back and the other jobs
// go to a new one. Errors after which SQLite rolls back the whole
// transaction (disk full, I/O error) make ROLLBACK TO or RELEASE fail: then
// every job run so far gets the error and the remaining jobs go to a new
// transaction. If BEGIN or COMMIT fails, every job whose writes were in the
// transaction gets the error (a job that failed on its own keeps its own
// error: nothing of it was to be committed).
//
// Contexts: modernc.org/sqlite interrupts a running statement when its
// context is cancelled, and an interrupted INSERT, UPDATE or DELETE inside
// an explicit transaction rolls back the whole transaction, which would
// silently lose the other callers' jobs. So statements in a batch run with
// a context that is never cancelled (whatever context fn passes), and each
// job's own context is only looked at before it starts:
//
//   - a job whose context is done when its turn comes is not run and its
//     caller gets the context's error;
//   - a caller whose context ends while its job is still queued gets the
//     context's error at once and the job is dropped when its turn comes;
//   - a caller whose context ends while its job runs, or after, waits for
//     the commit and gets the job's real outcome (which may be success): it
//     never hears "cancelled" for writes that were in fact committed. The
//     wait is bounded by one batch (at most maxBatch short jobs and one
//     commit).
//
// A job's fn runs on the writer goroutine: it must not write through the
// store (that would wait for itself). A panic in fn fails the job (rolled back
// like an error) and is raised again in the caller's goroutine.

// maxBatch bounds the jobs one commit carries; writeQueue how many more may
// wait for the writer before callers block (cancellable) on the queue.
const (
	maxBatch   = 64
	writeQueue = 256
)

// errClosed is returned for writes submitted after Close.
var errClosed = errors.New("store: closed")

// Job states: the caller and the writer race to move a queued job on.
const (
	jobQueued    int32 = iota
	jobRunning         // the writer took it: the caller waits for the outcome
	jobAbandoned       // the caller gave up before it started: the writer drops it
)

type writeJob struct {
	ctx   context.Context
	fn    func(q querier) error
	state atomic.Int32
	done  chan jobResult // buffered: the writer never blocks on it
}

type jobResult struct {
	err      error
	panicked any // a panic of fn, raised again in the caller's goroutine
}

// run calls fn, turning a panic into a failure of the job.
func (j *writeJob) run(q querier) (res jobResult) {
	defer func() {
		if p := recover(); p != nil {
			res = jobResult{err: fmt.Errorf("store: write panicked: %v", p), panicked: p}
		}
	}()
	return jobResult{err: j.fn(q)}
}

// inTx queues fn for the writer goroutine and waits for its result, which
// comes after the batch fn ran in has been committed (see above).
func (b *sqliteBackend) inTx(ctx context.Context, fn func(q querier) error) error {
	if err := ctx.Err(); err != nil {
		return unreachable(err)
	}
	j := &writeJob{ctx: ctx, fn: fn, done: make(chan jobResult, 1)}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return errClosed
	}
	select {
	case b.jobs <- j:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		return unreachable(ctx.Err())
	}
	var res jobResult
	select {
	case res = <-j.done:
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return unreachable(ctx.Err()) // not started, and now it never will
		}
		res = <-j.done // started: its outcome depends on the commit
	}
	if res.panicked != nil {
		panic(res.panicked)
	}
	return res.err
}

func (b *sqliteBackend) writeLoop() {
	defer close(b.writerDone)
	buf := make([]*writeJob, 0, maxBatch)
	for j := range b.jobs {
		batch := b.take(append(buf[:0], j))
		for len(batch) > 0 {
			batch = b.runTx(batch)
		}
		clear(buf[:cap(buf)])
	}
}

// take appends the queued jobs to batch, without waiting, up to its
// capacity.
func (b *sqliteBackend) take(batch []*writeJob) []*writeJob {
	for len(batch) < cap(batch) {
		select {
		case j, ok := <-b.jobs:
			if !ok {
				return batch
			}
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

// Savepoint statements; one name is enough, jobs run one after another.
const (
	spBegin    = `SAVEPOINT job`
	spRelease  = `RELEASE job`
	spRollback = `ROLLBACK TO job`
)

// runTx runs jobs in one transaction, taking in the jobs that queue
// meanwhile (up to cap(jobs)), and once the transaction has ended reports
// each job's result. It returns the jobs left for a new transaction (when
// the first job of the transaction failed, or the transaction was lost).
func (b *sqliteBackend) runTx(jobs []*writeJob) (rest []*writeJob) {
	// Never cancelled: see the comment above maxBatch. With a context
	// that cannot be done, the driver also skips its per-statement
	// interrupt watcher.
	t := &writeTx{b: b, ctx: context.Background()}
	defer t.finish()
	for i := 0; ; i++ {
		if i == len(jobs) {
			// Jobs that queued while these ran join this commit. Without
			// an open transaction there is nothing to join.
			if t.tx == nil {
				break
			}
			if jobs = b.take(jobs); i == len(jobs) {
				break
			}
		}
		j := jobs[i]
		if !j.state.CompareAndSwap(jobQueued, jobRunning) {
			continue // abandoned by its caller
		}
		if err := j.ctx.Err(); err != nil {
			t.report(j, jobResult{err: unreachable(err)})
			continue
		}
		if t.tx != nil {
			if t.runInSavepoint(j) {
				return jobs[i+1:] // the transaction was lost
			}
			continue
		}
		// The first job of a transaction needs no savepoint: if it fails,
		// the transaction is rolled back, and the rest go to a new one.
		if err := t.begin(); err != nil {
			t.failBegin(err, j, jobs[i+1:])
			return nil
		}
		if !t.runFirst(j) {
			return jobs[i+1:]
		}
	}
	t.commit()
	return nil
}

// writeTx is one transaction of the writer goroutine: the jobs it ran and
// their results, held until the transaction has ended.
type writeTx struct {
	b       *sqliteBackend
	ctx     context.Context // never cancelled
	tx      *sql.Tx         // nil until the first job begins it
	q       sqlQ            // runs statements on tx
	misses  []string        // statements first used in tx (see sqlQ.misses)
	ran     []*writeJob     // taken from the queue, results held until the end
	results []jobResult
}

// report holds res as the result of j until the transaction has ended.
func (t *writeTx) report(j *writeJob, res jobResult) {
	t.ran, t.results = append(t.ran, j), append(t.results, res)
}

// failAll gives err to every job that has succeeded so far (a job that
// failed keeps its own error: nothing of it was to be committed).
func (t *writeTx) failAll(err error) {
	for i := range t.results {
		if t.results[i].err == nil {
			t.results[i].err = err
		}
	}
}

// finish runs once the transaction has ended (committed, rolled back or
// never begun) and tells each job's caller its result.
func (t *writeTx) finish() {
	// Statements first used in the transaction are prepared now that
	// the connection is free, before anyone is told (so that a caller
	// never finds the cache behind its own writes).
	for _, q := range t.misses {
		_, _ = t.b.wStmts.get(t.ctx, t.b.w, q)
	}
	for i, j := range t.ran {
		j.done <- t.results[i]
	}
}

// begin opens the transaction.
func (t *writeTx) begin() error {
	b := t.b
	tx, err := b.w.BeginTx(t.ctx, nil) // BEGIN IMMEDIATE: the writer DSN sets _txlock=immediate
	if err != nil {
		return err
	}
	b.txs.Add(1)
	t.tx = tx
	t.q = sqlQ{q: tx, stmts: &b.wStmts, pool: b.w, tx: tx, misses: &t.misses, ctx: t.ctx, txStmts: make(map[string]*sql.Stmt)}
	return nil
}

// failBegin gives err, the failure of BEGIN, to j, the job that was to run
// first, and to every job after it that its caller has not abandoned:
// nothing was run.
func (t *writeTx) failBegin(err error, j *writeJob, after []*writeJob) {
	err = fmt.Errorf("store: begin: %w", unreachable(err))
	t.report(j, jobResult{err: err})
	for _, k := range after {
		if k.state.CompareAndSwap(jobQueued, jobRunning) {
			t.report(k, jobResult{err: err})
		}
	}
}

// runFirst runs j, the first job of the transaction, without a savepoint.
// If j fails, the transaction, which holds nothing else, is rolled back and
// runFirst returns false.
func (t *writeTx) runFirst(j *writeJob) (ok bool) {
	t.b.jobsRun.Add(1)
	res := j.run(t.q)
	t.report(j, res)
	if res.err != nil {
		_ = t.tx.Rollback()
		return false
	}
	return true
}

// runInSavepoint runs j, a job after the first, inside its own savepoint:
// if j fails, ROLLBACK TO undoes it alone and the transaction goes on. It
// returns true if the transaction was lost: then the transaction is rolled
// back, and j and every job run so far fail.
func (t *writeTx) runInSavepoint(j *writeJob) (lost bool) {
	t.b.jobsRun.Add(1)
	if _, err := t.q.exec(t.ctx, spBegin); err != nil {
		t.report(j, jobResult{err: fmt.Errorf("store: savepoint: %w", err)})
		return false
	}
	res := j.run(t.q)
	var spErr error
	if res.err != nil {
		_, spErr = t.q.exec(t.ctx, spRollback)
	}
	if spErr == nil {
		_, spErr = t.q.exec(t.ctx, spRelease)
	}
	if spErr != nil {
		// SQLite rolled the whole transaction back (disk full, I/O
		// error): the jobs run so far are lost too.
		err := fmt.Errorf("store: write transaction lost: %w", errors.Join(res.err, spErr))
		_ = t.tx.Rollback()
		t.failAll(err)
		t.report(j, jobResult{err: err, panicked: res.panicked})
		return true
	}
	t.report(j, res)
	return false
}

// commit ends an open transaction. If COMMIT fails, every job whose writes
// were in it gets the error.
func (t *writeTx) commit() {
	if t.tx == nil {
		return
	}
	if err := t.tx.Commit(); err != nil {
		t.failAll(fmt.Errorf("store: commit: %w", unreachable(err)))
	}
}

// batchQ is the SQLite writer() querier: each statement is a job.
type batchQ struct{ b *sqliteBackend }

func (w batchQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	err := w.b.inTx(ctx, func(tx querier) error {
		var err error
		n, err = tx.exec(ctx, q, args...)
		return err
	})
	return n, err
}

func (w batchQ) queryRow(ctx context.Context, q string, args ...any) scanner {
	return batchRow{w.b, ctx, q, args}
}

func (w batchQ) query(context.Context, string, ...any) (rowsIter, error) {
	return nil, errors.New("store: query on the SQLite writer: use inTx")
}

// batchRow runs its statement when scanned.
type batchRow struct {
	b    *sqliteBackend
	ctx  context.Context
	q    string
	args []any
}

func (r batchRow) Scan(dest ...any) error {
	return r.b.inTx(r.ctx, func(tx querier) error {
		return tx.queryRow(r.ctx, r.q, r.args...).Scan(dest...)
	})
}
