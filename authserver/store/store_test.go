package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/store/conformance"
	"github.com/authops/authops/authserver/store/pgtest"
	"github.com/authops/authops/authserver/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func noEnv(string) (string, bool) { return "", false }

func closeAtEnd(t *testing.T, s store.Store) store.Store {
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSQLiteMemory(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T, clock store.Clock) store.Store {
		s, err := store.Open(t.Context(), "sqlite://:memory:", store.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		return closeAtEnd(t, s)
	})
}

func TestSQLiteFile(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T, clock store.Clock) store.Store {
		s, err := store.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "state.db"), store.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		return closeAtEnd(t, s)
	})
}

func TestPostgres(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T, clock store.Clock) store.Store {
		db := pgtest.NewDatabase(t)
		// A pool big enough that the concurrency tests really race across
		// connections.
		s, err := store.Open(t.Context(), db.DSN, store.WithClock(clock), store.WithMaxConns(20),
			store.WithLookupEnv(noEnv))
		if err != nil {
			t.Fatal(err)
		}
		return closeAtEnd(t, s)
	})
}

func TestSQLiteReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	opened := 0
	conformance.RunReopenTest(t, func(t *testing.T, clock store.Clock) store.Store {
		opened++
		s, err := store.Open(t.Context(), "sqlite://"+path, store.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		return closeAtEnd(t, s)
	})
	if opened != 2 {
		t.Fatalf("opened %d times, want 2", opened)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("database file mode = %o, want 600", perm)
	}
}

func TestPostgresReopen(t *testing.T) {
	db := pgtest.NewDatabase(t)
	conformance.RunReopenTest(t, func(t *testing.T, clock store.Clock) store.Store {
		// A new pool each time: nothing survives but what PostgreSQL stored.
		s, err := store.Open(t.Context(), db.DSN, store.WithClock(clock), store.WithLookupEnv(noEnv))
		if err != nil {
			t.Fatal(err)
		}
		return closeAtEnd(t, s)
	})
}

// Two handles on one PostgreSQL database are two replicas: single use must
// hold across them.
func TestPostgresReplicasShareState(t *testing.T) {
	db := pgtest.NewDatabase(t)
	clock := storetest.NewFakeClock()
	open := func() store.Store {
		s, err := store.Open(t.Context(), db.DSN, store.WithClock(clock), store.WithLookupEnv(noEnv))
		if err != nil {
			t.Fatal(err)
		}
		return closeAtEnd(t, s)
	}
	a, b := open(), open()
	ctx := t.Context()
	code := store.AuthCode{Hash: store.HashToken("shared-code"), ClientID: "c", RedirectURI: "https://x/cb",
		AccountID: "alice", ExpiresAt: clock.Now().Add(time.Minute)}
	if err := a.CreateAuthCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	var wins, used atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			_, err := s.RedeemAuthCode(ctx, code.Hash, "c", store.Issued{FamilyID: store.NewID()})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrAlreadyUsed):
				used.Add(1)
			default:
				t.Errorf("redeem: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || used.Load() != 39 {
		t.Fatalf("wins=%d alreadyUsed=%d, want 1 and 39", wins.Load(), used.Load())
	}
	if err := a.RevokeAccessToken(ctx, "jti-a", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if revoked, err := b.IsAccessTokenRevoked(ctx, "jti-a"); err != nil || !revoked {
		t.Fatalf("revocation on replica a not seen on replica b: %v, %v", revoked, err)
	}
}

// Replicas starting at once must not race applying migrations.
func TestPostgresConcurrentMigrations(t *testing.T) {
	db := pgtest.NewDatabase(t)
	const replicas = 6
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.Open(t.Context(), db.DSN, store.WithLookupEnv(noEnv), store.WithMaxConns(2))
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}

func TestPostgresPassword(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx := t.Context()
	dir := t.TempDir()
	password := db.Password
	if password == "" {
		password = "not-needed" // a server from $AUTHOPS_TEST_POSTGRES_DSN that trusts us
	}
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			if k == store.PasswordEnv {
				return v, true
			}
			return "", false
		}
	}

	s, err := store.Open(ctx, db.DSNWithoutPassword, store.WithPasswordFile(pwFile), store.WithLookupEnv(noEnv))
	if err != nil {
		t.Fatalf("password from file: %v", err)
	}
	_ = s.Close()
	s, err = store.Open(ctx, db.DSNWithoutPassword, store.WithLookupEnv(env(password)))
	if err != nil {
		t.Fatalf("password from $%s: %v", store.PasswordEnv, err)
	}
	_ = s.Close()
	// The file wins over the environment.
	s, err = store.Open(ctx, db.DSNWithoutPassword, store.WithPasswordFile(pwFile),
		store.WithLookupEnv(env("wrong-password")))
	if err != nil {
		t.Fatalf("password file over a wrong $%s: %v", store.PasswordEnv, err)
	}
	_ = s.Close()

	if _, err := store.Open(ctx, db.DSNWithoutPassword, store.WithPasswordFile(filepath.Join(dir, "missing")),
		store.WithLookupEnv(noEnv)); err == nil {
		t.Error("missing password file accepted")
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := store.Open(ctx, db.DSNWithoutPassword, store.WithPasswordFile(empty), store.WithLookupEnv(noEnv)); err == nil {
		t.Error("empty password file accepted")
	}

	if !db.PasswordRequired {
		t.Log("server from $" + pgtest.EnvDSN + " may not require passwords; negative checks skipped")
		return
	}
	_, err = store.Open(ctx, db.DSNWithoutPassword, store.WithLookupEnv(noEnv))
	if err == nil {
		t.Fatal("connected without a password to a server that requires one")
	}
	_, err = store.Open(ctx, db.DSNWithoutPassword, store.WithLookupEnv(env("wrong-password")))
	if err == nil {
		t.Fatal("connected with a wrong password")
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("error reveals the password: %v", err)
	}
}

func TestOpenURLs(t *testing.T) {
	ctx := t.Context()
	for _, u := range []string{"sqlite://:memory:", "sqlite::memory:", "SQLite://:memory:"} {
		s, err := store.Open(ctx, u)
		if err != nil {
			t.Errorf("Open(%q): %v", u, err)
			continue
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping(%q): %v", u, err)
		}
		_ = s.Close()
	}

	// Absolute path.
	abs := filepath.Join(t.TempDir(), "abs.db")
	s, err := store.Open(ctx, "sqlite://"+abs)
	if err != nil {
		t.Fatalf("absolute path: %v", err)
	}
	_ = s.Close()
	if _, err := os.Stat(abs); err != nil {
		t.Errorf("absolute path: database file not created: %v", err)
	}
	// Relative path.
	dir := t.TempDir()
	t.Chdir(dir)
	s, err = store.Open(ctx, "sqlite://rel.db")
	if err != nil {
		t.Fatalf("relative path: %v", err)
	}
	_ = s.Close()
	if _, err := os.Stat(filepath.Join(dir, "rel.db")); err != nil {
		t.Errorf("relative path: database file not created: %v", err)
	}

	bad := []struct{ url, want string }{
		{"mysql://u:hunter2@db/x", "unknown store scheme"},
		{"etcd://localhost:2379", "unknown store scheme"},
		{"/var/lib/authops/state.db", "not a store URL"},
		{"", "not a store URL"},
		{"sqlite://", "no path"},
		{"sqlite:/var/lib/x.db", "invalid SQLite URL"},
		{"sqlite:///tmp/x.db?cache=shared", "not supported"},
		{"sqlite://" + filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), "no such file"},
		{"postgres://u:hunter2@[bad", "invalid PostgreSQL URL"},
	}
	for _, tc := range bad {
		_, err := store.Open(ctx, tc.url)
		if err == nil {
			t.Errorf("Open(%q) succeeded", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", tc.url, err, tc.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) error reveals the password: %v", tc.url, err)
		}
	}

	// A password file makes no sense for SQLite.
	if _, err := store.Open(ctx, "sqlite://:memory:", store.WithPasswordFile("/dev/null")); err == nil {
		t.Error("SQLite with a password file accepted")
	}
}

func TestOpenPostgresErrorRedacted(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Nothing listens on port 1.
	_, err := store.Open(ctx, "postgres://authops:hunter2@127.0.0.1:1/authops?connect_timeout=2", store.WithLookupEnv(noEnv))
	if err == nil {
		t.Fatal("connected to port 1")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error reveals the password: %v", err)
	}
}

func TestRedacted(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://authops:s3cr%40t@db:5432/authops?sslmode=require", "postgres://authops:xxxxx@db:5432/authops?sslmode=require"},
		{"postgresql://authops@db/authops", "postgresql://authops@db/authops"},
		{"postgres://db/authops?user=a&password=s3cret", "postgres://db/authops?password=xxxxx&user=a"},
		{"postgres://db/authops?sslpassword=s3cret", "postgres://db/authops?sslpassword=xxxxx"},
		{"host=db user=authops password=s3cret dbname=authops", "host=db user=authops password=xxxxx dbname=authops"},
		{"host=db password='s3 cret' dbname=authops", "host=db password=xxxxx dbname=authops"},
		{"sqlite:///var/lib/authops/state.db", "sqlite:///var/lib/authops/state.db"},
		{"sqlite::memory:", "sqlite::memory:"},
		{"postgres://u:s3cret@[bad", "<unparsable store URL>"},
	} {
		got := store.Redacted(tc.in)
		if got != tc.want {
			t.Errorf("Redacted(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3cr") {
			t.Errorf("Redacted(%q) = %q still has the password", tc.in, got)
		}
	}
}

func TestSweepBatches(t *testing.T) {
	run := func(t *testing.T, s store.Store, clock *storetest.FakeClock) {
		ctx := t.Context()
		for i := range 10 {
			if err := s.RevokeAccessToken(ctx, fmt.Sprintf("jti-%d", i), clock.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RevokeAccessToken(ctx, "live", clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
		n, err := s.DeleteExpired(ctx)
		if err != nil || n != 10 {
			t.Fatalf("DeleteExpired = %d, %v; want 10 in batches of 3", n, err)
		}
		if revoked, _ := s.IsAccessTokenRevoked(ctx, "live"); !revoked {
			t.Fatal("live revocation swept")
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.DeleteExpired(cctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("DeleteExpired with a cancelled context: %v", err)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		clock := storetest.NewFakeClock()
		s, err := store.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "s.db"),
			store.WithClock(clock), store.WithSweepBatchSize(3))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		run(t, s, clock)
	})
	t.Run("postgres", func(t *testing.T) {
		db := pgtest.NewDatabase(t)
		clock := storetest.NewFakeClock()
		s, err := store.Open(t.Context(), db.DSN, store.WithClock(clock), store.WithSweepBatchSize(3),
			store.WithLookupEnv(noEnv))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		run(t, s, clock)
	})
}

// Sweeping a large backlog must not hold up requests: each batch is its own
// short statement, so a write issued while the sweep runs gets the (single)
// SQLite writer between two batches instead of waiting for the whole sweep.
// If DeleteExpired ran as one transaction, the first deletion would only
// become visible when the sweep was over and this test would fail.
func TestSweepDoesNotBlockRequests(t *testing.T) {
	clock := storetest.NewFakeClock()
	s, err := store.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "s.db"),
		store.WithClock(clock), store.WithSweepBatchSize(10))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	const backlog = 3000
	for i := range backlog {
		if err := s.RevokeAccessToken(ctx, fmt.Sprintf("jti-%04d", i), clock.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	sweepDone := make(chan struct{})
	var swept int64
	var sweepErr error
	go func() {
		defer close(sweepDone)
		swept, sweepErr = s.DeleteExpired(ctx)
	}()
	// Wait until the first batch is visible (SQLite deletes in insertion
	// order here), i.e. the sweep is under way.
	for {
		revoked, err := s.IsAccessTokenRevoked(ctx, "jti-0000")
		if err != nil {
			t.Fatal(err)
		}
		if !revoked {
			break
		}
		select {
		case <-sweepDone:
			t.Fatal("the first batch only became visible when the sweep ended: the sweep is one transaction")
		default:
		}
	}
	if err := s.RevokeAccessToken(ctx, "during-sweep", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The write got in between batches: most of the backlog is still there.
	if revoked, err := s.IsAccessTokenRevoked(ctx, fmt.Sprintf("jti-%04d", backlog-1)); err != nil || !revoked {
		t.Fatalf("the whole backlog was deleted before a write issued during the sweep could run (%v)", err)
	}
	<-sweepDone
	if sweepErr != nil || swept != backlog {
		t.Fatalf("DeleteExpired = %d, %v; want %d", swept, sweepErr, backlog)
	}
	if revoked, _ := s.IsAccessTokenRevoked(ctx, "during-sweep"); !revoked {
		t.Fatal("write made during the sweep lost")
	}
}

type fakeSweeper struct {
	calls atomic.Int32
	err   error
}

func (f *fakeSweeper) DeleteExpired(ctx context.Context) (int64, error) {
	f.calls.Add(1)
	return 1, f.err
}

func TestRunSweeper(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	f := &fakeSweeper{err: errors.New("disk on fire")}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		store.RunSweeper(ctx, f, 5*time.Millisecond, log)
		close(done)
	}()
	deadline := time.After(10 * time.Second)
	for f.calls.Load() < 3 {
		select {
		case <-deadline:
			t.Fatalf("sweeper ran %d times in 10s", f.calls.Load())
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunSweeper did not return after cancel")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "disk on fire") {
		t.Errorf("sweeper error not logged: %q", buf.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestPollLeeway: with WithPollLeeway a poll slightly before the interval
// has passed is on time; one earlier than the leeway is still slow_down.
func TestPollLeeway(t *testing.T) {
	for name, open := range map[string]func(t *testing.T, clock store.Clock) store.Store{
		"sqlite": func(t *testing.T, clock store.Clock) store.Store {
			s, err := store.Open(t.Context(), "sqlite://:memory:", store.WithClock(clock), store.WithPollLeeway(250*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			return closeAtEnd(t, s)
		},
		"postgres": func(t *testing.T, clock store.Clock) store.Store {
			db := pgtest.NewDatabase(t)
			s, err := store.Open(t.Context(), db.DSN, store.WithClock(clock), store.WithLookupEnv(noEnv), store.WithPollLeeway(250*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			return closeAtEnd(t, s)
		},
	} {
		t.Run(name, func(t *testing.T) {
			clock := storetest.NewFakeClock()
			s := open(t, clock)
			ctx := t.Context()
			h := store.HashToken("device")
			if err := s.CreateDeviceAuth(ctx, store.DeviceAuth{DeviceHash: h, UserCode: "BCDFGHJK", ClientID: "tv",
				Interval: 2 * time.Second, ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			for i, step := range []struct {
				after time.Duration
				want  store.PollResult
			}{
				{0, store.PollPending},
				{1800 * time.Millisecond, store.PollPending},  // 200ms early: within the leeway
				{1700 * time.Millisecond, store.PollSlowDown}, // 300ms early
			} {
				clock.Advance(step.after)
				if _, got, err := s.PollDeviceAuth(ctx, h, "tv", store.DevicePoll{}); err != nil || got != step.want {
					t.Fatalf("poll %d: %v, %v; want %v", i, got, err, step.want)
				}
			}
		})
	}
}

// TestNewFamilyID: family IDs have NewID's form (22 base64url characters,
// 128 bits), are distinct, and those made together share their time
// prefix (the locality the group commit relies on, see NewFamilyID).
func TestNewFamilyID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := store.NewFamilyID()
		if len(id) != len(store.NewID()) || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("family ID %q is not 22 base64url characters", id)
		}
		if seen[id] {
			t.Fatalf("family ID %q drawn twice", id)
		}
		seen[id] = true
	}
	a, b := store.NewFamilyID(), store.NewFamilyID()
	if a[:5] != b[:5] { // 30 bits of milliseconds: apart only across a 2^18 ms boundary
		a, b = store.NewFamilyID(), store.NewFamilyID()
	}
	if a[:5] != b[:5] {
		t.Errorf("family IDs made together do not share a prefix: %q, %q", a, b)
	}
}
