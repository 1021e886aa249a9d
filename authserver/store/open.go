package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// PasswordEnv is the environment variable from which [Open] takes the
// PostgreSQL password when no password file is given.
const PasswordEnv = "AUTHOPS_STORE_PASSWORD"

// Option configures [Open], [OpenSQLite] and [OpenPostgres].
type Option func(*options)

type options struct {
	clock              Clock
	passwordFile       string
	lookupEnv          func(string) (string, bool)
	maxConns           int
	familyTombstoneTTL time.Duration
	sweepBatch         int
	busyTimeout        time.Duration
	pollLeeway         time.Duration
}

func buildOptions(opts []Option) *options {
	o := &options{
		clock:              SystemClock{},
		lookupEnv:          os.LookupEnv,
		familyTombstoneTTL: 24 * time.Hour,
		sweepBatch:         500,
		busyTimeout:        5 * time.Second,
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// WithClock sets the clock the store decides with (default: [SystemClock]).
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithPasswordFile makes [Open] read the PostgreSQL password from a file
// (the --store-password-file flag; for example a mounted Secret). Trailing
// newlines are removed. It takes precedence over $AUTHOPS_STORE_PASSWORD and
// over a password in the URL.
func WithPasswordFile(path string) Option { return func(o *options) { o.passwordFile = path } }

// WithLookupEnv replaces os.LookupEnv for reading $AUTHOPS_STORE_PASSWORD
// (for tests; pass a function that returns false to ignore the environment).
func WithLookupEnv(f func(string) (string, bool)) Option {
	return func(o *options) { o.lookupEnv = f }
}

// WithMaxConns sets the size of the PostgreSQL pool or of the SQLite read
// pool (SQLite always writes through a single connection). Default:
// max(4, GOMAXPROCS) for SQLite and pgxpool's default for PostgreSQL, which
// a pool_max_conns URL parameter also sets.
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// WithSweepBatchSize sets how many records [Store.DeleteExpired] deletes
// per statement (default 500).
func WithSweepBatchSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.sweepBatch = n
		}
	}
}

// WithFamilyTombstoneTTL sets how long a revoked refresh family is
// remembered at least (default 24h), so access tokens carrying its ID can be
// rejected and late refresh tokens for it are refused.
func WithFamilyTombstoneTTL(d time.Duration) Option {
	return func(o *options) { o.familyTombstoneTTL = d }
}

// WithPollLeeway lets a device-flow poll that arrives up to d before the
// polling interval has passed count as on time (default 0, strict). Clients
// that poll on a ticker (golang.org/x/oauth2) arrive a few milliseconds
// early whenever the previous poll's request was slower than this one; a
// small leeway (the authserver uses 250ms) keeps them from being told to
// slow_down for network jitter. It must stay well below one second, the
// smallest interval.
func WithPollLeeway(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 && d < time.Second {
			o.pollLeeway = d
		}
	}
}

// Open opens the store named by a URL (the value of the --store flag),
// applying pending schema migrations:
//
//	sqlite:///var/lib/authops/state.db   SQLite file at an absolute path
//	sqlite://state.db                    SQLite file relative to the working directory
//	sqlite://:memory:                    in-memory SQLite (tests; also sqlite::memory:)
//	postgres://user@host:5432/db?sslmode=verify-full   PostgreSQL (also postgresql://)
//
// A PostgreSQL URL accepts every libpq/pgx parameter (sslmode, pool_max_conns,
// …). Its password comes, in that order, from [WithPasswordFile], from
// $AUTHOPS_STORE_PASSWORD, or from the URL. Log the URL only through
// [Redacted].
func Open(ctx context.Context, rawURL string, opts ...Option) (Store, error) {
	scheme, rest, ok := strings.Cut(rawURL, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("store: %q is not a store URL: want sqlite:///path/to/state.db, sqlite://:memory: or postgres://…", Redacted(rawURL))
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		path, err := sqlitePath(rest)
		if err != nil {
			return nil, err
		}
		o := buildOptions(opts)
		if o.passwordFile != "" {
			return nil, errors.New("store: a password file was given but the SQLite store has no password")
		}
		return openSQLite(ctx, path, o)
	case "postgres", "postgresql":
		return OpenPostgres(ctx, rawURL, opts...)
	default:
		return nil, fmt.Errorf("store: unknown store scheme %q in %q: want sqlite or postgres/postgresql", scheme, Redacted(rawURL))
	}
}

// sqlitePath extracts the file path from what follows "sqlite:".
func sqlitePath(rest string) (string, error) {
	var path string
	switch {
	case rest == ":memory:" || rest == "//:memory:":
		return ":memory:", nil
	case strings.HasPrefix(rest, "//"):
		path = strings.TrimPrefix(rest, "//")
	default:
		return "", fmt.Errorf("store: invalid SQLite URL %q: want sqlite:///absolute/path.db, sqlite://relative/path.db or sqlite://:memory:", "sqlite:"+rest)
	}
	if path == "" {
		return "", errors.New("store: SQLite URL has no path: want sqlite:///absolute/path.db")
	}
	if strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("store: SQLite URL %q: query parameters and fragments are not supported", "sqlite:"+rest)
	}
	return path, nil
}

var kvPasswordRE = regexp.MustCompile(`(?i)((?:^|\s)(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

// Redacted returns the store URL with any password replaced by "xxxxx",
// for logs and error messages. It handles the password in the userinfo
// part, password/sslpassword query parameters and libpq keyword/value
// strings. A string it cannot parse is replaced entirely.
func Redacted(rawURL string) string {
	if !strings.Contains(rawURL, "://") {
		if strings.Contains(rawURL, "=") { // keyword/value DSN
			return kvPasswordRE.ReplaceAllString(rawURL, "${1}xxxxx")
		}
		return rawURL // sqlite::memory: and the like carry no secret
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparsable store URL>"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
				q.Set(k, "xxxxx")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}
