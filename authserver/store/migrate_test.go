package store

import (
	"context"
	"fmt"
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
