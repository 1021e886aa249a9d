package pgtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestDecide(t *testing.T) {
	notFound := errors.New("looked everywhere")
	for _, tc := range []struct {
		name        string
		dsn, bin    string
		require     bool
		want        decision
		wantMsgPart string
	}{
		{name: "dsn wins", dsn: "postgres://x", bin: "/usr/lib/postgresql/15/bin", want: decision{src: sourceEnv}},
		{name: "dsn, required", dsn: "postgres://x", require: true, want: decision{src: sourceEnv}},
		{name: "binaries", bin: "/usr/lib/postgresql/15/bin", want: decision{src: sourceBinaries}},
		{name: "binaries, required", bin: "/b", require: true, want: decision{src: sourceBinaries}},
		{name: "nothing: skip", want: decision{skip: true}, wantMsgPart: "NOT RUN"},
		{name: "nothing, required: fail", require: true, want: decision{fail: true}, wantMsgPart: EnvRequire + "=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(tc.dsn, tc.bin, notFound, tc.require)
			if got.src != tc.want.src || got.skip != tc.want.skip || got.fail != tc.want.fail {
				t.Fatalf("decide = %+v, want %+v", got, tc.want)
			}
			if !strings.Contains(got.msg, tc.wantMsgPart) || (tc.wantMsgPart != "" && !strings.Contains(got.msg, EnvDSN)) {
				t.Errorf("message %q lacks %q or %s", got.msg, tc.wantMsgPart, EnvDSN)
			}
		})
	}
}

func TestDSNHelpers(t *testing.T) {
	for _, tc := range []struct{ in, url, name, with, without string }{
		{
			in:      "postgres://admin:pw@127.0.0.1:5432/postgres?sslmode=disable",
			url:     "postgres://admin:pw@127.0.0.1:5432/postgres?sslmode=disable",
			name:    "t1",
			with:    "postgres://admin:pw@127.0.0.1:5432/t1?sslmode=disable",
			without: "postgres://admin@127.0.0.1:5432/t1?sslmode=disable",
		},
		{
			in:      `host=/tmp/s port=5432  user=admin password='p w\'x' dbname=postgres`,
			url:     "postgres:///postgres?host=%2Ftmp%2Fs&password=p%20w%27x&port=5432&user=admin",
			name:    "t2",
			with:    "postgres:///t2?host=%2Ftmp%2Fs&password=p%20w%27x&port=5432&user=admin",
			without: "postgres:///t2?host=%2Ftmp%2Fs&port=5432&user=admin",
		},
	} {
		u, err := toURL(tc.in)
		if err != nil || u != tc.url {
			t.Errorf("toURL(%q) = %q, %v; want %q", tc.in, u, err, tc.url)
		}
		with, err := withDatabase(u, tc.name)
		if err != nil || with != tc.with {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", u, with, err, tc.with)
		}
		without, err := withoutPassword(with)
		if err != nil || without != tc.without {
			t.Errorf("withoutPassword(%q) = %q, %v; want %q", with, without, err, tc.without)
		}
	}
	if _, err := toURL("host='unterminated"); err == nil {
		t.Error("unterminated quote accepted")
	}
}

// TestRestart stops the throwaway server for real and starts it again on
// the same data directory and port: a pool sees its connections fail
// while it is down, and the data written before is there afterwards.
func TestRestart(t *testing.T) {
	db := NewDatabase(t)
	if External() {
		t.Skipf("%s is set: the external server cannot be restarted by the tests", EnvDSN)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	exec := func(q string) error {
		c, err := pgx.Connect(ctx, db.DSN)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		_, err = c.Exec(ctx, q)
		return err
	}
	if err := exec(`CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	held, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(context.Background())
	if err := StopServer(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = StartServer() })
	if err := exec(`SELECT 1`); err == nil {
		t.Fatal("a connection succeeded while the server was stopped")
	}
	if _, err := held.Exec(ctx, `SELECT 1`); err == nil {
		t.Fatal("a connection opened before the stop still works")
	}
	if err := StartServer(); err != nil {
		t.Fatal(err)
	}
	var v int
	c, err := pgx.Connect(ctx, db.DSN) // same DSN: same port
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if err := c.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v); err != nil || v != 42 {
		t.Fatalf("after the restart: %d, %v", v, err)
	}
	if err := Restart(); err != nil {
		t.Fatal(err)
	}
	if err := exec(`SELECT 1`); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}

func TestMain(m *testing.M) { Main(m) }
