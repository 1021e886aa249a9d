package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	createTableRE = regexp.MustCompile(`(?is)CREATE TABLE\s+(\w+)\s*\((.*?)\n\);`)
	createIndexRE = regexp.MustCompile(`(?i)CREATE (UNIQUE )?INDEX\s+(\w+)\s+ON\s+(\w+)\s*\(([^)]*)\)`)
	// addColumnRE matches a column added by a later migration.
	addColumnRE = regexp.MustCompile(`(?i)ALTER TABLE\s+(\w+)\s+ADD COLUMN\s+(\w+)`)
)

// logicalSchema reduces a migration to tables, their column names and
// indexes, which must be the same in both dialects.

func logicalSchema(t *testing.T, sql string) []string {
	t.Helper()
	var out []string
	for _, m := range createTableRE.FindAllStringSubmatch(sql, -1) {
		for _, line := range strings.Split(m[2], "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			col := strings.Fields(line)[0]
			if strings.EqualFold(col, "PRIMARY") {
				col = strings.Join(strings.Fields(line), " ")
			}
			out = append(out, m[1]+"."+strings.TrimSuffix(col, ","))
		}
	}
	for _, m := range addColumnRE.FindAllStringSubmatch(sql, -1) {
		out = append(out, m[1]+"."+m[2])
	}
	for _, m := range createIndexRE.FindAllStringSubmatch(sql, -1) {
		out = append(out, "index "+m[1]+m[2]+" on "+m[3]+"("+m[4]+")")
	}
	slices.Sort(out)
	return out
}

func TestMigrationsSameLogicalSchema(t *testing.T) {
	lite, err := loadMigrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) == 0 || len(lite) != len(pg) {
		t.Fatalf("sqlite has %d migrations, postgres %d", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].version != pg[i].version || lite[i].name != pg[i].name {
			t.Errorf("migration %d: sqlite %s, postgres %s", i, lite[i].name, pg[i].name)
		}
		ls, ps := logicalSchema(t, lite[i].sql), logicalSchema(t, pg[i].sql)
		// The first migration creates every table; later ones add to them.
		if len(ls) == 0 || (i == 0 && len(ls) < 10) {
			t.Fatalf("parsed only %v from %s", ls, lite[i].name)
		}
		if !slices.Equal(ls, ps) {
			t.Errorf("%s: logical schemas differ:\nsqlite:   %q\npostgres: %q", lite[i].name, ls, ps)
		}
	}
	for _, table := range []string{"auth_codes", "refresh_tokens", "refresh_families", "revoked_access_tokens",
		"device_auths", "sessions", "consents", "login_failures"} {
		if !slices.ContainsFunc(logicalSchema(t, lite[0].sql), func(s string) bool {
			return s == table+".expires_at"
		}) {
			t.Errorf("table %s has no expires_at column", table)
		}
		if !slices.ContainsFunc(sweepTables, func(s struct{ table, key string }) bool { return s.table == table }) {
			t.Errorf("table %s is not swept", table)
		}
	}
}

// countingBackend records the rows each DELETE removed.
type countingBackend struct {
	backend
	deletes *[]int64
}

type countingQ struct {
	querier
	deletes *[]int64
}

func (c countingBackend) writer() querier { return countingQ{c.backend.writer(), c.deletes} }

func (c countingQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	n, err := c.querier.exec(ctx, q, args...)
	if strings.HasPrefix(strings.TrimSpace(q), "DELETE") {
		*c.deletes = append(*c.deletes, n)
	}
	return n, err
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// DeleteExpired works in statements of at most the batch size.
func TestDeleteExpiredBatches(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	st, err := OpenSQLite(ctx, ":memory:", WithClock(fixedClock(now)), WithSweepBatchSize(7))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*sqlStore)
	for i := range 50 {
		if err := s.RevokeAccessToken(ctx, fmt.Sprintf("j%d", i), now.Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	var deletes []int64
	s.b = countingBackend{s.b, &deletes}
	n, err := s.DeleteExpired(ctx)
	if err != nil || n != 50 {
		t.Fatalf("DeleteExpired = %d, %v", n, err)
	}
	var total int64
	for _, d := range deletes {
		if d > 7 {
			t.Fatalf("a statement deleted %d rows, more than the batch size 7: %v", d, deletes)
		}
		total += d
	}
	// 50 rows: 7 full batches and one of 1, then one empty statement per table.
	if total != 50 || len(deletes) != 8+len(sweepTables)-1 {
		t.Fatalf("deletes = %v", deletes)
	}
}

// Rows written before migration 0004 (client binding and resources) read
// back with no client UID and no resources after it, and a consent
// without a client UID still counts: they are accepted (issue #14).
func TestMigrationKeepsRowsWithoutClientBinding(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`)
	for _, m := range ms {
		if m.version >= 4 {
			break
		}
		exec(m.sql)
		exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)`, m.version, m.name)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour).UnixMicro()
	code, refresh, device := HashToken("code"), HashToken("refresh"), HashToken("device")
	exec(`INSERT INTO auth_codes (hash, client_id, redirect_uri, scopes, account_id, created_at, expires_at)
		VALUES ($1, 'app', 'https://app.example/cb', 'openid', 'alice', 0, $2)`, code[:], later)
	exec(`INSERT INTO refresh_families (id, client_id, account_id, created_at, expires_at)
		VALUES ('fam', 'app', 'alice', 0, $1)`, later)
	exec(`INSERT INTO refresh_tokens (hash, family_id, client_id, account_id, scopes, created_at, expires_at)
		VALUES ($1, 'fam', 'app', 'alice', 'openid', 0, $2)`, refresh[:], later)
	exec(`INSERT INTO device_auths (device_hash, user_code, client_id, scopes, interval_seconds, created_at,
		expires_at) VALUES ($1, 'ABCD-EFGH', 'tv', 'openid', 5, 0, $2)`, device[:], later)
	exec(`INSERT INTO consents (account_id, client_id, scopes, created_at, expires_at)
		VALUES ('alice', 'app', 'openid', 0, $1)`, later)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	st, err := OpenSQLite(ctx, path, WithClock(fixedClock(now)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.RedeemAuthCode(ctx, code, "app", Issued{})
	if err != nil || c.ClientUID != "" || c.Resources != nil || c.Binding != "" {
		t.Errorf("code from before the migration: %+v, %v", c, err)
	}
	rt, err := st.GetRefreshToken(ctx, refresh)
	if err != nil || rt.ClientUID != "" || rt.Resources != nil {
		t.Errorf("refresh token from before the migration: %+v, %v", rt, err)
	}
	d, err := st.GetDeviceAuthByUserCode(ctx, "ABCD-EFGH")
	if err != nil || d.ClientUID != "" || d.Resources != nil || d.Binding != "" {
		t.Errorf("device authorization from before the migration: %+v, %v", d, err)
	}
	if ok, err := st.HasConsent(ctx, "alice", "app", "uid-app", []string{"openid"}); err != nil || !ok {
		t.Errorf("consent from before the migration: %v, %v", ok, err)
	}
}
