package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
func encodeScopes(scopes []string) (string, error) {
	for _, sc := range scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\r\n") {
			return "", fmt.Errorf("store: invalid scope %q", sc)
		}
	}
	return scope.Join(scopes), nil
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

// --- authorization codes ---

const authCodeCols = `hash, client_id, redirect_uri, code_challenge, code_challenge_method, scopes,
	account_id, nonce, auth_time, extra, created_at, expires_at, used_at, family_id, access_token_id,
	access_token_expires_at`

func scanAuthCode(sc scanner) (AuthCode, error) {
	var (
		c                                           AuthCode
		hash                                        []byte
		scopes                                      string
		authTime, created, expires, used, atExpires int64
	)
	if err := sc.Scan(&hash, &c.ClientID, &c.RedirectURI, &c.CodeChallenge, &c.CodeChallengeMethod,
		&scopes, &c.AccountID, &c.Nonce, &authTime, &c.Extra, &created, &expires, &used,
		&c.FamilyID, &c.AccessTokenID, &atExpires); err != nil {
		return c, err
	}
	h, err := toHash(hash)
	if err != nil {
		return c, err
	}
	c.Hash = h
	c.Scopes = splitScopes(scopes)
	c.AuthTime = fromMicro(authTime)
	c.CreatedAt = fromMicro(created)
	c.ExpiresAt = fromMicro(expires)
	c.UsedAt = fromMicro(used)
	c.AccessTokenExpiresAt = fromMicro(atExpires)
	return c, nil
}

func (s *sqlStore) CreateAuthCode(ctx context.Context, c AuthCode) error {
	if err := errors.Join(requireHash("code", c.Hash), requireString("client ID", c.ClientID),
		requireString("account ID", c.AccountID), requireExpiry(c.ExpiresAt)); err != nil {
		return err
	}
	scopes, err := encodeScopes(c.Scopes)
	if err != nil {
		return err
	}
	_, err = s.b.writer().exec(ctx, `INSERT INTO auth_codes (hash, client_id, redirect_uri,
		code_challenge, code_challenge_method, scopes, account_id, nonce, auth_time, extra,
		created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.Hash[:], c.ClientID, c.RedirectURI, c.CodeChallenge, c.CodeChallengeMethod, scopes,
		c.AccountID, c.Nonce, micro(c.AuthTime), c.Extra, s.now(), micro(c.ExpiresAt))
	return wrapInsert("authorization code", err)
}

func (s *sqlStore) RedeemAuthCode(ctx context.Context, hash Hash, clientID string, issued Issued) (AuthCode, error) {
	if issued.AccessTokenID != "" && issued.AccessTokenExpiresAt.IsZero() {
		return AuthCode{}, errors.New("store: Issued.AccessTokenExpiresAt is required with AccessTokenID")
	}
	var (
		code   AuthCode
		result error
	)
	err := s.b.inTx(ctx, func(q querier) error {
		now := s.now()
		c, err := scanAuthCode(q.queryRow(ctx, `UPDATE auth_codes
			SET used_at = $1, family_id = $2, access_token_id = $3, access_token_expires_at = $4
			WHERE hash = $5 AND client_id = $6 AND used_at = 0 AND expires_at > $1
			RETURNING `+authCodeCols,
			now, issued.FamilyID, issued.AccessTokenID, micro(issued.AccessTokenExpiresAt), hash[:], clientID))
		if err == nil {
			code = c
			if issued.Issue == nil {
				return nil
			}
			t, err := issued.Issue(c)
			if err != nil {
				result = err // the redemption stands
				return nil
			}
			if t == nil {
				return nil
			}
			if t.FamilyID != issued.FamilyID || t.ClientID != clientID {
				return errors.New("store: the refresh token Issue returned is not of the family and client of the redemption")
			}
			if err := validRefresh(*t); err != nil {
				return err
			}
			return s.createRefresh(ctx, q, *t, now)
		}
		if !isNoRows(err) {
			return dbErr("redeem authorization code", err)
		}
		// Not redeemed: find out why.
		c, err = scanAuthCode(q.queryRow(ctx, `SELECT `+authCodeCols+` FROM auth_codes WHERE hash = $1`, hash[:]))
		switch {
		case isNoRows(err) || (err == nil && c.ClientID != clientID):
			result = fmt.Errorf("store: authorization code: %w", ErrNotFound)
			return nil
		case err != nil:
			return dbErr("read authorization code", err)
		case !c.UsedAt.IsZero():
			// Replay: revoke what the first redemption issued, atomically
			// with detecting it.
			if c.FamilyID != "" {
				if err := s.revokeFamily(ctx, q, c.FamilyID, now); err != nil {
					return err
				}
			}
			if c.AccessTokenID != "" {
				if err := s.revokeAccessToken(ctx, q, c.AccessTokenID, micro(c.AccessTokenExpiresAt)); err != nil {
					return err
				}
			}
			code = c
			result = fmt.Errorf("store: authorization code: %w", ErrAlreadyUsed)
			return nil
		case micro(c.ExpiresAt) <= now:
			code = c
			result = fmt.Errorf("store: authorization code: %w", ErrExpired)
			return nil
		default:
			return fmt.Errorf("store: authorization code changed concurrently: %w", ErrConflict)
		}
	})
	if err != nil {
		return AuthCode{}, err
	}
	return code, result
}

// --- refresh tokens ---

const refreshCols = `hash, family_id, client_id, account_id, scopes, auth_time, extra, created_at,
	expires_at, rotated_at`

func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

func scanRefresh(sc scanner, extra ...any) (RefreshToken, error) {
	var (
		t                                   RefreshToken
		hash                                []byte
		scopes                              string
		authTime, created, expires, rotated int64
	)
	dest := append([]any{&hash, &t.FamilyID, &t.ClientID, &t.AccountID, &scopes, &authTime,
		&t.Extra, &created, &expires, &rotated}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return t, err
	}
	h, err := toHash(hash)
	if err != nil {
		return t, err
	}
	t.Hash = h
	t.Scopes = splitScopes(scopes)
	t.AuthTime = fromMicro(authTime)
	t.CreatedAt = fromMicro(created)
	t.ExpiresAt = fromMicro(expires)
	t.RotatedAt = fromMicro(rotated)
	return t, nil
}

func (s *sqlStore) CreateRefreshToken(ctx context.Context, t RefreshToken) error {
	if err := validRefresh(t); err != nil {
		return err
	}
	return s.b.inTx(ctx, func(q querier) error {
		return s.createRefresh(ctx, q, t, s.now())
	})
}

func validRefresh(t RefreshToken) error {
	if err := errors.Join(requireHash("refresh token", t.Hash), requireString("family ID", t.FamilyID),
		requireString("client ID", t.ClientID), requireString("account ID", t.AccountID),
		requireExpiry(t.ExpiresAt)); err != nil {
		return err
	}
	_, err := encodeScopes(t.Scopes)
	return err
}

// createRefresh stores t in q's transaction, creating its family if new.
func (s *sqlStore) createRefresh(ctx context.Context, q querier, t RefreshToken, now int64) error {
	var clientID, accountID string
	var revokedAt int64
	err := q.queryRow(ctx, s.sql(`INSERT INTO refresh_families (id, client_id, account_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET expires_at = GREATEST(refresh_families.expires_at, excluded.expires_at)
		RETURNING client_id, account_id, revoked_at`),
		t.FamilyID, t.ClientID, t.AccountID, now, micro(t.ExpiresAt)).Scan(&clientID, &accountID, &revokedAt)
	if err != nil {
		return dbErr("upsert refresh family", err)
	}
	if revokedAt != 0 {
		return fmt.Errorf("store: refresh family: %w", ErrRevoked)
	}
	if clientID != t.ClientID || accountID != t.AccountID {
		return fmt.Errorf("store: refresh family belongs to another client or account: %w", ErrConflict)
	}
	return s.insertRefresh(ctx, q, t, now)
}

func (s *sqlStore) insertRefresh(ctx context.Context, q querier, t RefreshToken, now int64) error {
	scopes, err := encodeScopes(t.Scopes)
	if err != nil {
		return err
	}
	_, err = q.exec(ctx, `INSERT INTO refresh_tokens (hash, family_id, client_id, account_id, scopes,
		auth_time, extra, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.Hash[:], t.FamilyID, t.ClientID, t.AccountID, scopes, micro(t.AuthTime), t.Extra, now,
		micro(t.ExpiresAt))
	return wrapInsert("refresh token", err)
}

var refreshWithFamilySelect = `SELECT ` + prefixCols("t.", refreshCols) + `, f.revoked_at
	FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1`

// classifyRefresh turns a token that cannot be used into its sentinel
// error, in the order: rotated (reuse), revoked, expired.
func classifyRefresh(t RefreshToken, revokedAt, now int64) error {
	switch {
	case !t.RotatedAt.IsZero():
		return fmt.Errorf("store: refresh token was rotated: %w", ErrAlreadyUsed)
	case revokedAt != 0:
		return fmt.Errorf("store: refresh token family: %w", ErrRevoked)
	case micro(t.ExpiresAt) <= now:
		return fmt.Errorf("store: refresh token: %w", ErrExpired)
	}
	return nil
}

func (s *sqlStore) GetRefreshToken(ctx context.Context, hash Hash) (RefreshToken, error) {
	var revokedAt int64
	t, err := scanRefresh(s.b.reader().queryRow(ctx, refreshWithFamilySelect, hash[:]), &revokedAt)
	if isNoRows(err) {
		return RefreshToken{}, fmt.Errorf("store: refresh token: %w", ErrNotFound)
	}
	if err != nil {
		return RefreshToken{}, dbErr("read refresh token", err)
	}
	return t, classifyRefresh(t, revokedAt, s.now())
}

func (s *sqlStore) RotateRefreshToken(ctx context.Context, r Rotation) (RefreshToken, error) {
	if err := errors.Join(requireHash("new refresh token", r.NewHash), requireString("client ID", r.ClientID),
		requireExpiry(r.NewExpiresAt)); err != nil {
		return RefreshToken{}, err
	}
	if _, err := encodeScopes(r.Scopes); err != nil {
		return RefreshToken{}, err
	}
	var (
		out    RefreshToken
		result error
	)
	err := s.b.inTx(ctx, func(q querier) error {
		now := s.now()
		old, err := scanRefresh(q.queryRow(ctx, `UPDATE refresh_tokens SET rotated_at = $1
			WHERE hash = $2 AND client_id = $3 AND rotated_at = 0 AND expires_at > $1
			AND NOT EXISTS (SELECT 1 FROM refresh_families f
				WHERE f.id = refresh_tokens.family_id AND f.revoked_at <> 0)
			RETURNING `+refreshCols, now, r.OldHash[:], r.ClientID))
		if err == nil {
			if r.Check != nil {
				presented := old
				presented.RotatedAt = time.Time{} // as it was before this statement
				if err := r.Check(presented); err != nil {
					return err // rolls the rotation back
				}
			}
			next := RefreshToken{
				Hash:      r.NewHash,
				FamilyID:  old.FamilyID,
				ClientID:  old.ClientID,
				AccountID: old.AccountID,
				Scopes:    old.Scopes,
				AuthTime:  old.AuthTime,
				Extra:     old.Extra,
				CreatedAt: fromMicro(now),
				ExpiresAt: r.NewExpiresAt,
			}
			if r.Scopes != nil {
				next.Scopes = slices.Clone(r.Scopes)
			}
			if err := s.insertRefresh(ctx, q, next, now); err != nil {
				return err
			}
			if _, err := q.exec(ctx, s.sql(`UPDATE refresh_families SET expires_at = GREATEST(expires_at, $2)
				WHERE id = $1`), next.FamilyID, micro(next.ExpiresAt)); err != nil {
				return dbErr("extend refresh family", err)
			}
			next.ExpiresAt = fromMicro(micro(next.ExpiresAt))
			out = next
			return nil
		}
		if !isNoRows(err) {
			return dbErr("rotate refresh token", err)
		}
		var revokedAt int64
		t, err := scanRefresh(q.queryRow(ctx, refreshWithFamilySelect, r.OldHash[:]), &revokedAt)
		switch {
		case isNoRows(err) || (err == nil && t.ClientID != r.ClientID):
			result = fmt.Errorf("store: refresh token: %w", ErrNotFound)
			return nil
		case err != nil:
			return dbErr("read refresh token", err)
		}
		result = classifyRefresh(t, revokedAt, now)
		if result == nil {
			return fmt.Errorf("store: refresh token changed concurrently: %w", ErrConflict)
		}
		if errors.Is(result, ErrAlreadyUsed) {
			// Reuse of a rotated token: the family is compromised.
			if err := s.revokeFamily(ctx, q, t.FamilyID, now); err != nil {
				return err
			}
		}
		out = t
		return nil
	})
	if err != nil {
		return RefreshToken{}, err
	}
	return out, result
}

func (s *sqlStore) revokeFamily(ctx context.Context, q querier, familyID string, now int64) error {
	tombstone := now + s.familyTombstoneTTL.Microseconds()
	_, err := q.exec(ctx, s.sql(`INSERT INTO refresh_families (id, created_at, revoked_at, expires_at)
		VALUES ($1, $2, $2, $3)
		ON CONFLICT (id) DO UPDATE SET
			revoked_at = CASE WHEN refresh_families.revoked_at = 0 THEN excluded.revoked_at
				ELSE refresh_families.revoked_at END,
			expires_at = GREATEST(refresh_families.expires_at, excluded.expires_at)`),
		familyID, now, tombstone)
	if err != nil {
		return dbErr("revoke refresh family", err)
	}
	return nil
}

func (s *sqlStore) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	if err := requireString("family ID", familyID); err != nil {
		return err
	}
	return s.revokeFamily(ctx, s.b.writer(), familyID, s.now())
}

func (s *sqlStore) IsFamilyRevoked(ctx context.Context, familyID string) (bool, error) {
	var revokedAt int64
	err := s.b.reader().queryRow(ctx, `SELECT revoked_at FROM refresh_families WHERE id = $1`, familyID).Scan(&revokedAt)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, dbErr("read refresh family", err)
	}
	return revokedAt != 0, nil
}

// --- access tokens ---

func (s *sqlStore) revokeAccessToken(ctx context.Context, q querier, jti string, expiresAt int64) error {
	_, err := q.exec(ctx, s.sql(`INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET
			expires_at = GREATEST(revoked_access_tokens.expires_at, excluded.expires_at)`), jti, expiresAt)
	if err != nil {
		return dbErr("revoke access token", err)
	}
	return nil
}

func (s *sqlStore) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := errors.Join(requireString("jti", jti), requireExpiry(expiresAt)); err != nil {
		return err
	}
	return s.revokeAccessToken(ctx, s.b.writer(), jti, micro(expiresAt))
}

func (s *sqlStore) IsAccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.b.reader().queryRow(ctx, `SELECT 1 FROM revoked_access_tokens WHERE jti = $1`, jti).Scan(&one)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, dbErr("read revoked access token", err)
	}
	return true, nil
}

// --- device authorizations ---

const deviceCols = `device_hash, user_code, client_id, scopes, status, account_id, auth_time,
	interval_seconds, last_poll_at, created_at, expires_at, decided_at, consumed_at`

func scanDevice(sc scanner) (DeviceAuth, error) {
	var (
		d                                                                 DeviceAuth
		hash                                                              []byte
		scopes, status                                                    string
		authTime, interval, lastPoll, created, expires, decided, consumed int64
	)
	if err := sc.Scan(&hash, &d.UserCode, &d.ClientID, &scopes, &status, &d.AccountID, &authTime,
		&interval, &lastPoll, &created, &expires, &decided, &consumed); err != nil {
		return d, err
	}
	h, err := toHash(hash)
	if err != nil {
		return d, err
	}
	d.DeviceHash = h
	d.Scopes = splitScopes(scopes)
	d.Status = DeviceStatus(status)
	d.AuthTime = fromMicro(authTime)
	d.Interval = time.Duration(interval) * time.Second
	d.LastPollAt = fromMicro(lastPoll)
	d.CreatedAt = fromMicro(created)
	d.ExpiresAt = fromMicro(expires)
	d.DecidedAt = fromMicro(decided)
	d.ConsumedAt = fromMicro(consumed)
	return d, nil
}

// DefaultDeviceInterval is the polling interval of a device authorization
// created without one (RFC 8628 §3.2).
const DefaultDeviceInterval = 5 * time.Second

func (s *sqlStore) CreateDeviceAuth(ctx context.Context, d DeviceAuth) error {
	if err := errors.Join(requireHash("device code", d.DeviceHash), requireString("user code", d.UserCode),
		requireString("client ID", d.ClientID), requireExpiry(d.ExpiresAt)); err != nil {
		return err
	}
	if d.Interval < 0 {
		return errors.New("store: negative device polling interval")
	}
	scopes, err := encodeScopes(d.Scopes)
	if err != nil {
		return err
	}
	interval := d.Interval
	if interval == 0 {
		interval = DefaultDeviceInterval
	}
	seconds := int64((interval + time.Second - 1) / time.Second)
	_, err = s.b.writer().exec(ctx, `INSERT INTO device_auths (device_hash, user_code, client_id,
		scopes, status, interval_seconds, created_at, expires_at)
		VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7)`,
		d.DeviceHash[:], d.UserCode, d.ClientID, scopes, seconds, s.now(), micro(d.ExpiresAt))
	return wrapInsert("device authorization", err)
}

func (s *sqlStore) GetDeviceAuthByUserCode(ctx context.Context, userCode string) (DeviceAuth, error) {
	d, err := scanDevice(s.b.reader().queryRow(ctx,
		`SELECT `+deviceCols+` FROM device_auths WHERE user_code = $1`, userCode))
	if isNoRows(err) {
		return DeviceAuth{}, fmt.Errorf("store: device authorization: %w", ErrNotFound)
	}
	if err != nil {
		return DeviceAuth{}, dbErr("read device authorization", err)
	}
	if micro(d.ExpiresAt) <= s.now() {
		return d, fmt.Errorf("store: device authorization: %w", ErrExpired)
	}
	return d, nil
}

func (s *sqlStore) decideDevice(ctx context.Context, userCode string, status DeviceStatus, accountID string, authTime time.Time) (DeviceAuth, error) {
	var (
		out    DeviceAuth
		result error
	)
	err := s.b.inTx(ctx, func(q querier) error {
		now := s.now()
		d, err := scanDevice(q.queryRow(ctx, `UPDATE device_auths
			SET status = $2, account_id = $3, auth_time = $4, decided_at = $5
			WHERE user_code = $1 AND status = 'pending' AND expires_at > $5
			RETURNING `+deviceCols, userCode, string(status), accountID, micro(authTime), now))
		if err == nil {
			out = d
			return nil
		}
		if !isNoRows(err) {
			return dbErr("decide device authorization", err)
		}
		d, err = scanDevice(q.queryRow(ctx, `SELECT `+deviceCols+` FROM device_auths WHERE user_code = $1`, userCode))
		switch {
		case isNoRows(err):
			result = fmt.Errorf("store: device authorization: %w", ErrNotFound)
		case err != nil:
			return dbErr("read device authorization", err)
		case d.Status != DevicePending:
			out, result = d, fmt.Errorf("store: device authorization already %s: %w", d.Status, ErrAlreadyUsed)
		case micro(d.ExpiresAt) <= now:
			out, result = d, fmt.Errorf("store: device authorization: %w", ErrExpired)
		default:
			return fmt.Errorf("store: device authorization changed concurrently: %w", ErrConflict)
		}
		return nil
	})
	if err != nil {
		return DeviceAuth{}, err
	}
	return out, result
}

func (s *sqlStore) ApproveDeviceAuth(ctx context.Context, userCode, accountID string, authTime time.Time) (DeviceAuth, error) {
	if err := requireString("account ID", accountID); err != nil {
		return DeviceAuth{}, err
	}
	return s.decideDevice(ctx, userCode, DeviceApproved, accountID, authTime)
}

func (s *sqlStore) DenyDeviceAuth(ctx context.Context, userCode string) (DeviceAuth, error) {
	return s.decideDevice(ctx, userCode, DeviceDenied, "", time.Time{})
}

func (s *sqlStore) PollDeviceAuth(ctx context.Context, deviceHash Hash, clientID string, p DevicePoll) (DeviceAuth, PollResult, error) {
	grace := p.Grace
	var (
		out     DeviceAuth
		outcome PollResult
		result  error
	)
	err := s.b.inTx(ctx, func(q querier) error {
		now := s.now()
		// The interval check and the update of last_poll_at are one
		// statement: of concurrent polls, only one can see the old value.
		d, err := scanDevice(q.queryRow(ctx, `UPDATE device_auths
			SET last_poll_at = $3,
				consumed_at = CASE WHEN status = 'approved' THEN $3 ELSE consumed_at END
			WHERE device_hash = $1 AND client_id = $2 AND expires_at > $3 AND consumed_at = 0
				AND status IN ('pending', 'approved')
				AND (last_poll_at = 0 OR last_poll_at + interval_seconds * 1000000 <= $3 + $4)
			RETURNING `+deviceCols, deviceHash[:], clientID, now, s.pollLeeway.Microseconds()))
		if err == nil {
			out = d
			if d.Status != DeviceApproved {
				outcome = PollPending
				return nil
			}
			outcome = PollApproved
			if p.Issue == nil {
				return nil
			}
			t, err := p.Issue(d)
			if err != nil {
				result = err // the consumption stands
				return nil
			}
			if t == nil {
				return nil
			}
			if t.ClientID != clientID || t.AccountID != d.AccountID {
				return errors.New("store: the refresh token Issue returned is not of the client and account of the device authorization")
			}
			if err := validRefresh(*t); err != nil {
				return err
			}
			return s.createRefresh(ctx, q, *t, now)
		}
		if !isNoRows(err) {
			return dbErr("poll device authorization", err)
		}
		d, err = scanDevice(q.queryRow(ctx, `SELECT `+deviceCols+` FROM device_auths WHERE device_hash = $1`, deviceHash[:]))
		switch {
		case isNoRows(err) || (err == nil && d.ClientID != clientID):
			result = fmt.Errorf("store: device authorization: %w", ErrNotFound)
			return nil
		case err != nil:
			return dbErr("read device authorization", err)
		case !d.ConsumedAt.IsZero():
			out, result = d, fmt.Errorf("store: device authorization: %w", ErrAlreadyUsed)
			return nil
		case micro(d.ExpiresAt) <= now:
			out, outcome = d, PollExpired
			return nil
		case d.Status == DeviceDenied:
			out, outcome = d, PollDenied
			return nil
		case grace > 0 && now < micro(d.LastPollAt)+grace.Microseconds():
			out, outcome = d, PollPending
			return nil
		}
		// Too early: slow down, for this and later polls.
		d, err = scanDevice(q.queryRow(ctx, s.sql(`UPDATE device_auths
			SET interval_seconds = interval_seconds + $3, last_poll_at = GREATEST(last_poll_at, $2)
			WHERE device_hash = $1 RETURNING `+deviceCols), deviceHash[:], now, int64(SlowDownStep/time.Second)))
		if err != nil {
			return dbErr("slow down device authorization", err)
		}
		out, outcome = d, PollSlowDown
		return nil
	})
	if err != nil {
		return DeviceAuth{}, "", err
	}
	return out, outcome, result
}

// --- sessions ---

const sessionCols = `id_hash, account_id, auth_time, extra, created_at, expires_at`

func scanSession(sc scanner) (Session, error) {
	var (
		ss                         Session
		hash                       []byte
		authTime, created, expires int64
	)
	if err := sc.Scan(&hash, &ss.AccountID, &authTime, &ss.Extra, &created, &expires); err != nil {
		return ss, err
	}
	h, err := toHash(hash)
	if err != nil {
		return ss, err
	}
	ss.IDHash = h
	ss.AuthTime = fromMicro(authTime)
	ss.CreatedAt = fromMicro(created)
	ss.ExpiresAt = fromMicro(expires)
	return ss, nil
}

func (s *sqlStore) CreateSession(ctx context.Context, ss Session) error {
	if err := errors.Join(requireHash("session ID", ss.IDHash), requireString("account ID", ss.AccountID),
		requireExpiry(ss.ExpiresAt)); err != nil {
		return err
	}
	_, err := s.b.writer().exec(ctx, `INSERT INTO sessions (id_hash, account_id, auth_time, extra,
		created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		ss.IDHash[:], ss.AccountID, micro(ss.AuthTime), ss.Extra, s.now(), micro(ss.ExpiresAt))
	return wrapInsert("session", err)
}

func (s *sqlStore) GetSession(ctx context.Context, idHash Hash) (Session, error) {
	ss, err := scanSession(s.b.reader().queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id_hash = $1`, idHash[:]))
	if isNoRows(err) {
		return Session{}, fmt.Errorf("store: session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, dbErr("read session", err)
	}
	if micro(ss.ExpiresAt) <= s.now() {
		return Session{}, fmt.Errorf("store: session: %w", ErrExpired)
	}
	return ss, nil
}

func (s *sqlStore) DeleteSession(ctx context.Context, idHash Hash) error {
	n, err := s.b.writer().exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash[:])
	if err != nil {
		return dbErr("delete session", err)
	}
	if n == 0 {
		return fmt.Errorf("store: session: %w", ErrNotFound)
	}
	return nil
}

func (s *sqlStore) DeleteAccountSessions(ctx context.Context, accountID string) (int64, error) {
	n, err := s.b.writer().exec(ctx, `DELETE FROM sessions WHERE account_id = $1`, accountID)
	if err != nil {
		return 0, dbErr("delete sessions", err)
	}
	return n, nil
}

// --- consents ---

func (s *sqlStore) SaveConsent(ctx context.Context, c Consent) error {
	if err := errors.Join(requireString("account ID", c.AccountID), requireString("client ID", c.ClientID),
		requireExpiry(c.ExpiresAt)); err != nil {
		return err
	}
	scopes, err := encodeScopes(c.Scopes)
	if err != nil {
		return err
	}
	_, err = s.b.writer().exec(ctx, `INSERT INTO consents (account_id, client_id, scopes, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account_id, client_id) DO UPDATE SET
			scopes = excluded.scopes, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.AccountID, c.ClientID, scopes, s.now(), micro(c.ExpiresAt))
	if err != nil {
		return dbErr("save consent", err)
	}
	return nil
}

func (s *sqlStore) GetConsent(ctx context.Context, accountID, clientID string) (Consent, error) {
	c := Consent{AccountID: accountID, ClientID: clientID}
	var scopes string
	var created, expires int64
	err := s.b.reader().queryRow(ctx, `SELECT scopes, created_at, expires_at FROM consents
		WHERE account_id = $1 AND client_id = $2`, accountID, clientID).Scan(&scopes, &created, &expires)
	if isNoRows(err) {
		return Consent{}, fmt.Errorf("store: consent: %w", ErrNotFound)
	}
	if err != nil {
		return Consent{}, dbErr("read consent", err)
	}
	c.Scopes = splitScopes(scopes)
	c.CreatedAt = fromMicro(created)
	c.ExpiresAt = fromMicro(expires)
	if expires <= s.now() {
		return Consent{}, fmt.Errorf("store: consent: %w", ErrExpired)
	}
	return c, nil
}

func (s *sqlStore) HasConsent(ctx context.Context, accountID, clientID string, scopes []string) (bool, error) {
	c, err := s.GetConsent(ctx, accountID, clientID)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrExpired) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return false, nil
		}
	}
	return true, nil
}

func (s *sqlStore) DeleteConsent(ctx context.Context, accountID, clientID string) error {
	n, err := s.b.writer().exec(ctx, `DELETE FROM consents WHERE account_id = $1 AND client_id = $2`, accountID, clientID)
	if err != nil {
		return dbErr("delete consent", err)
	}
	if n == 0 {
		return fmt.Errorf("store: consent: %w", ErrNotFound)
	}
	return nil
}

// --- failed logins ---

func (s *sqlStore) RecordFailedLogin(ctx context.Context, accountID string, p LockoutPolicy) (Lockout, error) {
	if err := requireString("account ID", accountID); err != nil {
		return Lockout{}, err
	}
	if p.Window <= 0 || p.MaxAttempts < 1 || p.LockDuration <= 0 {
		return Lockout{}, fmt.Errorf("store: invalid lockout policy %+v", p)
	}
	now := s.now()
	lockedUntil := now + p.LockDuration.Microseconds()
	firstLock := int64(0)
	if p.MaxAttempts <= 1 {
		firstLock = lockedUntil
	}
	keep := now + max(p.Window, p.LockDuration).Microseconds()
	// One statement: concurrent failures (from any replica) all count.
	// $3 is the start of the window that ends now: a window that started at
	// or before it has passed. The first failure after a lock has ended also
	// starts a new window.
	const reset = `(login_failures.window_start <= $3 OR
		(login_failures.locked_until <> 0 AND login_failures.locked_until <= $2))`
	var (
		l                          = Lockout{AccountID: accountID}
		failures, start, lockedTil int64
	)
	err := s.b.writer().queryRow(ctx, s.sql(`INSERT INTO login_failures
		(account_id, failures, window_start, locked_until, expires_at)
		VALUES ($1, 1, $2, $6, $7)
		ON CONFLICT (account_id) DO UPDATE SET
			failures = CASE WHEN `+reset+` THEN 1 ELSE login_failures.failures + 1 END,
			window_start = CASE WHEN `+reset+` THEN $2 ELSE login_failures.window_start END,
			locked_until = CASE
				WHEN login_failures.locked_until > $2 THEN login_failures.locked_until
				WHEN (CASE WHEN `+reset+` THEN 1 ELSE login_failures.failures + 1 END) >= $4 THEN $5
				ELSE 0 END,
			expires_at = GREATEST(login_failures.expires_at, $7)
		RETURNING failures, window_start, locked_until`),
		accountID, now, now-p.Window.Microseconds(), int64(p.MaxAttempts), lockedUntil, firstLock, keep,
	).Scan(&failures, &start, &lockedTil)
	if err != nil {
		return Lockout{}, dbErr("record failed login", err)
	}
	l.Failures = int(failures)
	l.WindowStart = fromMicro(start)
	l.LockedUntil = fromMicro(lockedTil)
	return l, nil
}

func (s *sqlStore) GetLockout(ctx context.Context, accountID string) (Lockout, error) {
	l := Lockout{AccountID: accountID}
	var failures, start, lockedTil, expires int64
	err := s.b.reader().queryRow(ctx, `SELECT failures, window_start, locked_until, expires_at
		FROM login_failures WHERE account_id = $1`, accountID).Scan(&failures, &start, &lockedTil, &expires)
	if isNoRows(err) || (err == nil && expires <= s.now()) {
		return Lockout{}, fmt.Errorf("store: lockout: %w", ErrNotFound)
	}
	if err != nil {
		return Lockout{}, dbErr("read lockout", err)
	}
	l.Failures = int(failures)
	l.WindowStart = fromMicro(start)
	l.LockedUntil = fromMicro(lockedTil)
	return l, nil
}

func (s *sqlStore) ResetFailedLogins(ctx context.Context, accountID string) error {
	if _, err := s.b.writer().exec(ctx, `DELETE FROM login_failures WHERE account_id = $1`, accountID); err != nil {
		return dbErr("reset failed logins", err)
	}
	return nil
}

// --- expiry ---

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

func (s *sqlStore) Ping(ctx context.Context) error { return s.b.ping(ctx) }

func (s *sqlStore) Close() error { return s.b.close() }
