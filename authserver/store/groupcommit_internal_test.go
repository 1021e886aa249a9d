package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the SQLite group commit (groupcommit.go). They control batching without
// timing: a blocker job holds the writer goroutine, inside its transaction,
// while the jobs under test queue (fewer than maxBatch of them); once the
// blocker returns, the writer takes them into the same transaction.

func openGroupCommit(t *testing.T) (*sqlStore, *sqliteBackend) {
	t.Helper()
	s, err := openSQLite(t.Context(), filepath.Join(t.TempDir(), "state.db"), buildOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	st := s.(*sqlStore)
	return st, st.b.(*sqliteBackend)
}

// block occupies the writer goroutine, as the first job of a transaction,
// until release is called; release returns the blocker's result.
func block(t *testing.T, b *sqliteBackend) (release func() error) {
	t.Helper()
	started, rel, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- b.inTx(context.Background(), func(querier) error {
			close(started)
			<-rel
			return nil
		})
	}()
	<-started
	return func() error {
		close(rel)
		return <-done
	}
}

// noErr fails the test if release reports an error.
func noErr(t *testing.T, release func() error) {
	t.Helper()
	if err := release(); err != nil {
		t.Errorf("blocker job: %v", err)
	}
}

// waitQueued waits until n jobs wait for the writer.
func waitQueued(t *testing.T, b *sqliteBackend, n int) {
	t.Helper()
	for len(b.jobs) < n {
		if t.Context().Err() != nil {
			t.Fatalf("%d jobs queued, want %d", len(b.jobs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// async runs fn in a goroutine; wait returns its error.
func async(fn func() error) (wait func() error) {
	c := make(chan error, 1)
	go func() { c <- fn() }()
	return func() error { return <-c }
}

func countRows(t *testing.T, b *sqliteBackend, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.r.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func refreshFor(s *sqlStore, raw, family string) RefreshToken {
	return RefreshToken{Hash: HashToken(raw), FamilyID: family, ClientID: "c", AccountID: "alice",
		Scopes: []string{"openid"}, ExpiresAt: s.clock.Now().Add(time.Hour)}
}

// Jobs that queue while a job runs share its commit, batch after batch.
func TestGroupCommitBatches(t *testing.T) {
	s, b := openGroupCommit(t)
	ctx := t.Context()
	const n = 50
	for round := range 3 {
		txs, jobs := b.txs.Load(), b.jobsRun.Load()
		release := block(t, b)
		waits := make([]func() error, n)
		for i := range n {
			waits[i] = async(func() error {
				return s.RevokeAccessToken(ctx, fmt.Sprintf("jti-%d-%d", round, i), s.clock.Now().Add(time.Hour))
			})
		}
		waitQueued(t, b, n)
		noErr(t, release)
		for i, wait := range waits {
			if err := wait(); err != nil {
				t.Fatalf("round %d, job %d: %v", round, i, err)
			}
		}
		if got := b.txs.Load() - txs; got != 1 {
			t.Errorf("round %d: %d jobs queued while a job ran took %d transactions, want 1 (the running job's)", round, n, got)
		}
		if got := b.jobsRun.Load() - jobs; got != n+1 {
			t.Errorf("round %d: %d jobs run, want %d", round, got, n+1)
		}
	}
	if got := countRows(t, b, `SELECT count(*) FROM revoked_access_tokens`); got != 3*n {
		t.Errorf("%d revocations stored, want %d", got, 3*n)
	}
	// The savepoint statements and the job's statement were prepared after
	// the first transaction, for the next ones.
	for _, q := range []string{spBegin, spRelease} {
		if _, ok := b.wStmts.m.Load(q); !ok {
			t.Errorf("%q not in the prepared-statement cache", q)
		}
	}
}

// A failed job leaves no trace, whatever it wrote before failing, and the
// other jobs of its batch commit.
func TestGroupCommitFailedJobs(t *testing.T) {
	s, b := openGroupCommit(t)
	ctx := t.Context()
	old, existing := refreshFor(s, "old", "fam-old"), refreshFor(s, "existing", "fam-existing")
	for _, rt := range []RefreshToken{old, existing} {
		if err := s.CreateRefreshToken(ctx, rt); err != nil {
			t.Fatal(err)
		}
	}
	errCheck := errors.New("scope not granted")

	txs := b.txs.Load()
	release := block(t, b)
	// Rotation whose Check fails after the UPDATE has run.
	rotate := async(func() error {
		_, err := s.RotateRefreshToken(ctx, Rotation{OldHash: old.Hash, ClientID: "c", NewHash: HashToken("new"),
			NewExpiresAt: s.clock.Now().Add(time.Hour), Check: func(RefreshToken) error { return errCheck }})
		return err
	})
	// A duplicate hash: the family row is inserted, then the token's INSERT
	// hits the primary key.
	dup := refreshFor(s, "existing", "fam-dup")
	conflict := async(func() error { return s.CreateRefreshToken(ctx, dup) })
	// A job that writes, then panics.
	panicked := async(func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return b.inTx(ctx, func(q querier) error {
			if _, err := q.exec(ctx, `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ('panic', 1)`); err != nil {
				return err
			}
			panic("boom")
		})
	})
	var good []func() error
	for i := range 5 {
		good = append(good, async(func() error {
			return s.CreateRefreshToken(ctx, refreshFor(s, fmt.Sprintf("good-%d", i), fmt.Sprintf("fam-good-%d", i)))
		}))
	}
	waitQueued(t, b, 8)
	noErr(t, release)

	if err := rotate(); !errors.Is(err, errCheck) {
		t.Errorf("rotation with a failing check: %v", err)
	}
	if err := conflict(); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate refresh token: %v, want ErrConflict", err)
	}
	if err := panicked(); err == nil || err.Error() != "panic: boom" {
		t.Errorf("panicking job: caller got %v, want the panic", err)
	}
	for i, wait := range good {
		if err := wait(); err != nil {
			t.Errorf("good job %d: %v", i, err)
		}
	}
	if got := b.txs.Load() - txs; got != 1 {
		t.Errorf("the batch took %d transactions, want 1", got)
	}
	if _, err := s.GetRefreshToken(ctx, old.Hash); err != nil {
		t.Errorf("the failed rotation changed the old token: %v", err)
	}
	for what, q := range map[string]string{
		"successor of the failed rotation": `SELECT count(*) FROM refresh_tokens WHERE hash = x'` + fmt.Sprintf("%x", HashToken("new")) + `'`,
		"family of the duplicate":          `SELECT count(*) FROM refresh_families WHERE id = 'fam-dup'`,
		"write of the panicking job":       `SELECT count(*) FROM revoked_access_tokens WHERE jti = 'panic'`,
	} {
		if n := countRows(t, b, q); n != 0 {
			t.Errorf("%s: %d rows, want none", what, n)
		}
	}
	if n := countRows(t, b, `SELECT count(*) FROM refresh_tokens WHERE family_id LIKE 'fam-good-%'`); n != 5 {
		t.Errorf("%d tokens of the good jobs, want 5", n)
	}
}

// Many concurrent jobs, some failing, without any control of the batches.
func TestGroupCommitConcurrentMixed(t *testing.T) {
	s, b := openGroupCommit(t)
	ctx := t.Context()
	if err := s.CreateRefreshToken(ctx, refreshFor(s, "taken", "fam-taken")); err != nil {
		t.Fatal(err)
	}
	const n = 300
	errs := make([]error, n)
	var wg sync.WaitGroup
	jobs := b.jobsRun.Load()
	txs := b.txs.Load()
	for i := range n {
		wg.Go(func() {
			raw := fmt.Sprintf("t-%d", i)
			if i%3 == 0 {
				raw = "taken" // fails after inserting its family
			}
			errs[i] = s.CreateRefreshToken(ctx, refreshFor(s, raw, fmt.Sprintf("fam-%d", i)))
		})
	}
	wg.Wait()
	for i, err := range errs {
		present := countRows(t, b, `SELECT count(*) FROM refresh_families WHERE id = ?`, fmt.Sprintf("fam-%d", i))
		if i%3 == 0 {
			if !errors.Is(err, ErrConflict) || present != 0 {
				t.Errorf("job %d: %v, family rows %d; want ErrConflict and none", i, err, present)
			}
		} else if err != nil || present != 1 {
			t.Errorf("job %d: %v, family rows %d; want success and one", i, err, present)
		}
	}
	t.Logf("%d jobs in %d transactions", b.jobsRun.Load()-jobs, b.txs.Load()-txs)
}

// A failing COMMIT fails every job of the batch, and none of their writes
// remain. A deferred foreign key makes the COMMIT itself fail.
func TestGroupCommitCommitFails(t *testing.T) {
	s, b := openGroupCommit(t)
	ctx := t.Context()
	if err := b.inTx(ctx, func(q querier) error {
		if _, err := q.exec(ctx, `CREATE TABLE parent (id INTEGER PRIMARY KEY)`); err != nil {
			return err
		}
		_, err := q.exec(ctx, `CREATE TABLE child (id INTEGER PRIMARY KEY,
			parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	release := block(t, b)
	dangling := async(func() error {
		_, err := s.b.writer().exec(ctx, `INSERT INTO child (id, parent_id) VALUES (1, 42)`)
		return err
	})
	var others []func() error
	for i := range 4 {
		others = append(others, async(func() error {
			return s.RevokeAccessToken(ctx, fmt.Sprintf("jti-%d", i), s.clock.Now().Add(time.Hour))
		}))
	}
	waitQueued(t, b, 5)
	// The blocker is the first job of the failing transaction.
	for i, wait := range append([]func() error{release, dangling}, others...) {
		if err := wait(); err == nil || !strings.Contains(err.Error(), "store: commit: ") || !strings.Contains(err.Error(), "FOREIGN KEY") {
			t.Errorf("job %d: %v, want the commit's error", i, err)
		}
	}
	if n := countRows(t, b, `SELECT count(*) FROM revoked_access_tokens`) + countRows(t, b, `SELECT count(*) FROM child`); n != 0 {
		t.Errorf("%d rows of the failed batch remain", n)
	}
	// The writer goes on.
	if err := s.RevokeAccessToken(ctx, "after", s.clock.Now().Add(time.Hour)); err != nil {
		t.Fatalf("write after a failed commit: %v", err)
	}
}

// When SQLite rolls the whole transaction back under a job (disk full, I/O
// error; simulated by a job that runs ROLLBACK itself), the jobs that ran
// before it in the batch are lost and told so, and the jobs after it run in
// a new transaction.
func TestGroupCommitLostTransaction(t *testing.T) {
	s, b := openGroupCommit(t)
	ctx := t.Context()
	release := block(t, b)
	// Queued one after the other, so the batch runs them in this order.
	before := async(func() error { return s.RevokeAccessToken(ctx, "before", s.clock.Now().Add(time.Hour)) })
	waitQueued(t, b, 1)
	breaker := async(func() error {
		return b.inTx(ctx, func(q querier) error {
			_, err := q.exec(ctx, `ROLLBACK`)
			return err
		})
	})
	waitQueued(t, b, 2)
	after := async(func() error { return s.RevokeAccessToken(ctx, "after", s.clock.Now().Add(time.Hour)) })
	waitQueued(t, b, 3)
	// The blocker is the first job of the lost transaction.
	for i, wait := range []func() error{release, before, breaker} {
		if err := wait(); err == nil || !strings.Contains(err.Error(), "write transaction lost") {
			t.Errorf("job %d (blocker, before, breaker): %v, want the lost transaction's error", i, err)
		}
	}
	if err := after(); err != nil {
		t.Errorf("job after: %v", err)
	}
	if ok, _ := s.IsAccessTokenRevoked(ctx, "before"); ok {
		t.Error("the lost job's write is there")
	}
	if ok, _ := s.IsAccessTokenRevoked(ctx, "after"); !ok {
		t.Error("the job after the lost transaction is missing")
	}
}

func TestGroupCommitCancelledContext(t *testing.T) {
	s, b := openGroupCommit(t)
	ctx := t.Context()
	revoked := func(jti string) bool {
		t.Helper()
		ok, err := s.IsAccessTokenRevoked(ctx, jti)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	revoke := func(ctx context.Context, jti string) func() error {
		return async(func() error { return s.RevokeAccessToken(ctx, jti, s.clock.Now().Add(time.Hour)) })
	}

	// Cancelled before the call: nothing is queued.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := revoke(cancelled, "early")(); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}

	// Cancelled while queued: the caller returns at once, the job never runs,
	// the others of its batch commit.
	release := block(t, b)
	queuedCtx, cancelQueued := context.WithCancel(ctx)
	queued := revoke(queuedCtx, "queued")
	other := revoke(ctx, "other")
	waitQueued(t, b, 2)
	cancelQueued()
	if err := queued(); !errors.Is(err, context.Canceled) {
		t.Fatalf("job cancelled while queued: %v", err)
	}
	noErr(t, release)
	if err := other(); err != nil {
		t.Fatal(err)
	}
	if revoked("queued") || !revoked("other") {
		t.Fatalf("queued=%v other=%v, want false and true", revoked("queued"), revoked("other"))
	}

	// Cancelled while running: its statements are not interrupted (that
	// would roll back the whole batch), the batch commits, and the caller
	// learns that its writes were committed.
	release = block(t, b)
	runCtx, cancelRun := context.WithCancel(ctx)
	running := async(func() error {
		return b.inTx(runCtx, func(q querier) error {
			if _, err := q.exec(runCtx, `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ('run-1', 1)`); err != nil {
				return err
			}
			cancelRun()
			_, err := q.exec(runCtx, `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ('run-2', 1)`)
			return err
		})
	})
	others := []func() error{revoke(ctx, "batch-1"), revoke(ctx, "batch-2")}
	waitQueued(t, b, 3)
	noErr(t, release)
	if err := running(); err != nil {
		t.Fatalf("job cancelled while running: %v, want success (it committed)", err)
	}
	for _, wait := range others {
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	}
	for _, jti := range []string{"run-1", "run-2", "batch-1", "batch-2"} {
		if !revoked(jti) {
			t.Errorf("%s lost", jti)
		}
	}
}

// Close runs the queued jobs, stops the writer and refuses later writes.
func TestGroupCommitClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := openSQLite(t.Context(), path, buildOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*sqlStore)
	b := s.b.(*sqliteBackend)
	ctx := t.Context()
	release := block(t, b)
	var waits []func() error
	for i := range 10 {
		waits = append(waits, async(func() error {
			return s.RevokeAccessToken(ctx, fmt.Sprintf("jti-%d", i), time.Now().Add(time.Hour))
		}))
	}
	waitQueued(t, b, 10)
	closed := async(s.Close)
	// Close waits for the writer, which waits for the blocker.
	for {
		b.mu.RLock()
		c := b.closed
		b.mu.RUnlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	noErr(t, release)
	if err := closed(); err != nil {
		t.Fatal(err)
	}
	for i, wait := range waits {
		if err := wait(); err != nil {
			t.Errorf("job %d queued before Close: %v", i, err)
		}
	}
	select {
	case <-b.writerDone:
	default:
		t.Fatal("writer goroutine still running after Close")
	}
	if err := s.RevokeAccessToken(ctx, "late", time.Now().Add(time.Hour)); !errors.Is(err, errClosed) {
		t.Errorf("write after Close: %v, want errClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	st, err = openSQLite(ctx, path, buildOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 10 {
		if ok, err := st.IsAccessTokenRevoked(ctx, fmt.Sprintf("jti-%d", i)); err != nil || !ok {
			t.Errorf("jti-%d not stored: %v", i, err)
		}
	}
}
