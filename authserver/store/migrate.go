package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migrations are SQL files named NNNN_description.sql, one directory per
// dialect, embedded in the binary and applied in version order at Open.
// Both dialects have the same versions and the same logical schema.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s/%s: name must be NNNN_description.sql", dir, name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("store: migrations %s and %s have the same version", prev, name)
		}
		seen[v] = name
		b, err := fs.ReadFile(migrationFS, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrationLockID is the PostgreSQL advisory lock key that serialises
// migrations of replicas starting at once ("authops" in ASCII).
const migrationLockID int64 = 0x617574686f7073

// migrate applies the pending migrations of b's dialect in one transaction.
// It returns the versions it applied. Versions in the database that this
// binary does not know (a newer binary migrated it) are left alone, so a
// rolling upgrade does not stop older replicas; migrations are additive.
func migrate(ctx context.Context, b backend) ([]int, error) {
	ms, err := loadMigrations(b.dialect())
	if err != nil {
		return nil, err
	}
	var applied []int
	err = b.inTx(ctx, func(q querier) error {
		if b.dialect() == "postgres" {
			// Held until the transaction ends. Taken before anything else so
			// that concurrent CREATE TABLE IF NOT EXISTS cannot collide.
			if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
				return fmt.Errorf("store: migration lock: %w", err)
			}
		}
		// SQLite takes the write lock at BEGIN (IMMEDIATE), which serialises
		// processes opening the same file.
		if _, err := q.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    BIGINT NOT NULL PRIMARY KEY,
			name       TEXT   NOT NULL,
			applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("store: create schema_migrations: %w", err)
		}
		rows, err := q.query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("store: read schema_migrations: %w", err)
		}
		have := map[int]bool{}
		for rows.Next() {
			var v int64
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			have[int(v)] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range ms {
			if have[m.version] {
				continue
			}
			if _, err := q.exec(ctx, m.sql); err != nil {
				return fmt.Errorf("store: migration %s: %w", m.name, err)
			}
			if _, err := q.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				int64(m.version), m.name, time.Now().UnixMicro()); err != nil {
				return fmt.Errorf("store: record migration %s: %w", m.name, err)
			}
			applied = append(applied, m.version)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}
