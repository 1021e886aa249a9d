package store

import (
	"context"
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
