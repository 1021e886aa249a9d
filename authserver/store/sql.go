package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/authops/authops/authserver/scope"
)

// sqlStore implements Store for both backends. Every check-and-set is a
// single conditional UPDATE ... RETURNING (the database decides the winner);
// follow-up reads only classify a failure into a sentinel error.
type sqlStore struct {
	b     backend
	clock Clock
	// familyTombstoneTTL is how long a revoked family is remembered at least.
	familyTombstoneTTL time.Duration
	sweepBatch         int
	// pollLeeway: a device poll this much before the interval ends still
	// counts as on time (network jitter of clients polling on a ticker).
	pollLeeway time.Duration
}

func newSQLStore(b backend, o *options) *sqlStore {
	return &sqlStore{
		b:                  b,
		clock:              o.clock,
		familyTombstoneTTL: o.familyTombstoneTTL,
		sweepBatch:         o.sweepBatch,
		pollLeeway:         o.pollLeeway,
	}
}

// sql adapts shared SQL text to the dialect. The only difference used is
// the name of the two-argument maximum function. The SQLite texts are
// computed once (the inputs are the package's constants).
func (s *sqlStore) sql(q string) string {
	if s.b.dialect() != "sqlite" {
		return q
	}
	if v, ok := sqliteText.Load(q); ok {
		return v.(string)
	}
	v, _ := sqliteText.LoadOrStore(q, strings.ReplaceAll(q, "GREATEST(", "MAX("))
	return v.(string)
}

var sqliteText sync.Map // shared SQL text → SQLite text

func (s *sqlStore) now() int64 { return s.clock.Now().UnixMicro() }

// --- encoding helpers ---

func micro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicro(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// encodeScopes is the stored form of scopes (scope.Join), refusing a scope
// that would not survive the round trip through splitScopes.
func encodeScopes(scopes []string) (string, error) { return encodeList("scope", scopes) }

// encodeResources encodes resource indicators (audiences) like scopes.
func encodeResources(resources []string) (string, error) { return encodeList("resource", resources) }

// encodeList joins values, none empty or containing white space, with
// spaces; what names them in the error.
func encodeList(what string, values []string) (string, error) {
	for _, v := range values {
		if v == "" || strings.ContainsAny(v, " \t\r\n") {
			return "", fmt.Errorf("store: invalid %s %q", what, v)
		}
	}
	return scope.Join(values), nil
}

func splitScopes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

func toHash(b []byte) (Hash, error) {
	var h Hash
	if len(b) != len(h) {
		return h, fmt.Errorf("store: stored hash has %d bytes", len(b))
	}
	copy(h[:], b)
	return h, nil
}

func requireHash(what string, h Hash) error {
	if h.IsZero() {
		return fmt.Errorf("store: %s hash is zero", what)
	}
	return nil
}

func requireExpiry(t time.Time) error {
	if t.IsZero() {
		return errors.New("store: expiry is required")
	}
	return nil
}

func requireString(what, v string) error {
	if v == "" {
		return fmt.Errorf("store: %s is required", what)
	}
	return nil
}

func wrapInsert(what string, err error) error {
	if err == nil {
		return nil
	}
	if isUniqueViolation(err) {
		return fmt.Errorf("store: %s exists: %w", what, ErrConflict)
	}
	return fmt.Errorf("store: insert %s: %w", what, err)
}

func dbErr(op string, err error) error {
	return fmt.Errorf("store: %s: %w", op, err)
}

func (s *sqlStore) Ping(ctx context.Context) error { return s.b.ping(ctx) }

func (s *sqlStore) Close() error { return s.b.close() }
