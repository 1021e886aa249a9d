package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// The token path's writes on a SQLite file, from 8 goroutines at once (the
// load generator's 8 connections), so that group commit shows:
//
//	go test ./authserver/store -run '^$' -bench Parallel -cpuprofile cpu.out
//
// Each benchmark reports the transactions per write ("txs/op"): 1 without
// batching.

func benchStore(b *testing.B) (*sqlStore, *sqliteBackend) {
	b.Helper()
	s, err := openSQLite(context.Background(), filepath.Join(b.TempDir(), "state.db"), buildOptions(nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	st := s.(*sqlStore)
	return st, st.b.(*sqliteBackend)
}

func reportTxs(b *testing.B, sb *sqliteBackend, txs0 int64) {
	b.ReportMetric(float64(sb.txs.Load()-txs0)/float64(b.N), "txs/op")
}

// BenchmarkParallelCodeExchange: redeem a code and create the first refresh
// token of its family in the same transaction, as the token endpoint does.
func BenchmarkParallelCodeExchange(b *testing.B) {
	s, sb := benchStore(b)
	parallelCodeExchange(b, s, sb)
}

// parallelCodeExchange is BenchmarkParallelCodeExchange on s.
func parallelCodeExchange(b *testing.B, s *sqlStore, sb *sqliteBackend) {
	ctx := context.Background()
	now := time.Now()
	hashes := make([]Hash, b.N)
	// The codes, 1000 per transaction (the statement is prepared after the
	// first one).
	for start := 0; start < len(hashes); start += 1000 {
		if err := sb.inTx(ctx, func(q querier) error {
			for i := start; i < min(start+1000, len(hashes)); i++ {
				hashes[i] = HashToken(fmt.Sprintf("code-%d-%s", i, NewID()))
				if _, err := q.exec(ctx, `INSERT INTO auth_codes (hash, client_id, redirect_uri, code_challenge,
					code_challenge_method, scopes, account_id, nonce, auth_time, created_at, expires_at)
					VALUES ($1, 'web', 'https://app.example/cb', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
					'S256', 'openid profile offline_access', 'alice', 'n-0S6_WzA2Mj', $2, $2, $3)`,
					hashes[i][:], now.UnixMicro(), now.Add(time.Hour).UnixMicro()); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	txs0 := sb.txs.Load()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			is := Issued{FamilyID: NewFamilyID(), AccessTokenID: NewID(), AccessTokenExpiresAt: now.Add(time.Hour)}
			is.Issue = func(c AuthCode) (*RefreshToken, error) {
				return &RefreshToken{Hash: HashToken(NewID()), FamilyID: is.FamilyID, ClientID: c.ClientID,
					AccountID: c.AccountID, Scopes: c.Scopes, AuthTime: c.AuthTime, ExpiresAt: now.Add(24 * time.Hour)}, nil
			}
			if _, err := s.RedeemAuthCode(ctx, hashes[i], "web", is); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportTxs(b, sb, txs0)
}

// BenchmarkParallelRefreshRotation: each goroutine follows its own rotation
// chain.
func BenchmarkParallelRefreshRotation(b *testing.B) {
	s, sb := benchStore(b)
	parallelRefreshRotation(b, s, sb)
}

// parallelRefreshRotation is BenchmarkParallelRefreshRotation on s.
func parallelRefreshRotation(b *testing.B, s *sqlStore, sb *sqliteBackend) {
	ctx := context.Background()
	now := time.Now()
	var chains atomic.Int64
	txs0 := sb.txs.Load()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		raw := fmt.Sprintf("chain-%d-%s", chains.Add(1), NewID())
		if err := s.CreateRefreshToken(ctx, RefreshToken{Hash: HashToken(raw), FamilyID: NewFamilyID(), ClientID: "web",
			AccountID: "alice", Scopes: []string{"openid", "offline_access"}, ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			next := NewID()
			if _, err := s.RotateRefreshToken(ctx, Rotation{OldHash: HashToken(raw), ClientID: "web",
				NewHash: HashToken(next), NewExpiresAt: now.Add(24 * time.Hour)}); err != nil {
				b.Error(err)
				return
			}
			raw = next
		}
	})
	b.StopTimer()
	reportTxs(b, sb, txs0)
}

// BenchmarkWALFrames runs the two parallel benchmarks with automatic
// checkpoints off, so that the WAL keeps every frame the commits wrote, and
// reports the frames (database pages) written per write: each is a write
// system call of a page at commit, and a page for the checkpoint to copy.
func BenchmarkWALFrames(b *testing.B) {
	for name, run := range map[string]func(*testing.B, *sqlStore, *sqliteBackend){
		"CodeExchange": parallelCodeExchange, "RefreshRotation": parallelRefreshRotation} {
		b.Run(name, func(b *testing.B) {
			s, sb := benchStore(b)
			ctx := context.Background()
			if _, err := sb.w.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
				b.Fatal(err)
			}
			run(b, s, sb)
			var busy, frames, copied int
			if err := sb.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
		})
	}
}
