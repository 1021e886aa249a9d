package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Sweeper is the part of [Store] that [RunSweeper] needs.
type Sweeper interface {
	DeleteExpired(ctx context.Context) (int64, error)
}

// RunSweeper calls s.DeleteExpired every interval until ctx is done, logging
// failures (and, at debug level, how much it removed) to log (nil:
// slog.Default()). It returns when ctx is done; start it with go. Each call
// is bounded by the interval, so a stuck database does not pile up sweeps.
//
// Sweeping does not block requests: DeleteExpired works in small batches,
// each its own short statement. Expired records are already refused by every
// read, so the sweeper only reclaims space; running it on several replicas
// at once is harmless.
func RunSweeper(ctx context.Context, s Sweeper, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		sweepOnce(ctx, s, interval, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func sweepOnce(ctx context.Context, s Sweeper, timeout time.Duration, log *slog.Logger) {
	if ctx.Err() != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n, err := s.DeleteExpired(cctx)
	switch {
	case err != nil && ctx.Err() == nil:
		log.Error("store sweeper: deleting expired records failed", "error", err, "deleted", n)
	case n > 0:
		log.Debug("store sweeper: deleted expired records", "deleted", n)
	}
}

// sweepTables lists each table with its key columns. Refresh tokens go
// before their families (a family outlives its tokens by construction).
var sweepTables = []struct{ table, key string }{
	{"auth_codes", "hash"},
	{"refresh_tokens", "hash"},
	{"refresh_families", "id"},
	{"revoked_access_tokens", "jti"},
	{"device_auths", "device_hash"},
	{"sessions", "id_hash"},
	{"consents", "account_id, client_id"},
	{"login_failures", "account_id"},
	{"first_uses", "scope, key_hash"},
	{"pushed_requests", "hash"},
}

func (s *sqlStore) DeleteExpired(ctx context.Context) (int64, error) {
	var total int64
	now := s.now()
	for _, t := range sweepTables {
		q := fmt.Sprintf(`DELETE FROM %[1]s WHERE (%[2]s) IN
			(SELECT %[2]s FROM %[1]s WHERE expires_at <= $1 LIMIT $2)`, t.table, t.key)
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			// Each batch is its own short statement, so requests get the
			// database between batches.
			n, err := s.b.writer().exec(ctx, q, now, int64(s.sweepBatch))
			if err != nil {
				return total, dbErr("delete expired "+t.table, err)
			}
			total += n
			if n < int64(s.sweepBatch) {
				break
			}
		}
	}
	return total, nil
}
