// Package store is the runtime state store of the authops authorization
// server: everything the data plane must remember between requests and
// across replicas (authorization codes, refresh tokens, revoked access
// tokens, device authorizations, login sessions, consents and failed-login
// counters).
//
// Two backends implement [Store]: SQLite (the embedded default, one replica)
// and PostgreSQL (several replicas sharing state). Both are opened with
// [Open] from a URL such as "sqlite:///var/lib/authops/state.db" or
// "postgres://authops@db:5432/authops". Both pass the conformance suite in
// package authserver/store/conformance.
//
// # Secrets
//
// Authorization codes, refresh tokens, device codes and login-session IDs are
// never given to the store in the clear. Callers hash the raw value with
// [HashToken] and pass the resulting [Hash]; only the hash is written to the
// database. User codes of the device flow are short, typed by people and
// stored as given (the caller normalises them).
//
// # Time
//
// The store never reads the wall clock or the database server's clock: every
// decision (expiry, single use, polling interval, lockout windows) uses the
// [Clock] given at construction. Times are stored with microsecond precision.
// A record is valid while now < ExpiresAt; from ExpiresAt on it is expired,
// and [Store.DeleteExpired] may remove it.
//
// # Errors
//
// Methods return the sentinel errors below (test with errors.Is); other errors
// are infrastructure failures or invalid arguments. A failure to reach the
// database, which a retry may fix, wraps [ErrUnavailable]: callers never need
// to look at a driver's errors. Where a method documents that it returns a
// record together with an error, the record is the stored state the caller
// needs to react (for example, to revoke what a first use of a code issued).
package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"time"
)

// Sentinel errors. Every error returned for these conditions wraps one of
// them, so callers test with errors.Is.
var (
	// ErrNotFound: no such record, or a record bound to another client (the
	// store does not reveal to one client that another client's code exists).
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyUsed: a single-use record (authorization code, refresh token,
	// approved device authorization, device user code) was used before.
	// Methods returning it also return the record.
	ErrAlreadyUsed = errors.New("store: already used")
	// ErrExpired: the record exists but its expiry has passed.
	ErrExpired = errors.New("store: expired")
	// ErrConflict: a record with the same key (hash, user code, family with a
	// different client/account) exists.
	ErrConflict = errors.New("store: conflict")
	// ErrRevoked: the refresh token belongs to a revoked family.
	ErrRevoked = errors.New("store: revoked")
	// ErrUnavailable: the database cannot be reached right now (it restarts
	// or shuts down, the network drops, a connection was closed, no pooled
	// connection became free or the server accepts no more, a statement or
	// the wait for the SQLite writer timed out), so the same call may
	// succeed later. The error also wraps the driver's error, and its
	// message is the driver's.
	ErrUnavailable = errors.New("store: database unavailable")
)

// Clock tells the store what time it is. Production code uses [SystemClock];
// tests use a fake (see package authserver/store/storetest).
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Hash is the SHA-256 hash of a secret (authorization code, refresh token,
// device code, login session ID). The store only ever sees hashes.
type Hash [32]byte

// HashToken returns the SHA-256 hash of a raw secret.
func HashToken(raw string) Hash { return sha256.Sum256([]byte(raw)) }

// IsZero reports whether h is the zero hash (never a valid key).
func (h Hash) IsZero() bool { return h == Hash{} }

// String returns the first 8 bytes of the hash in hex, enough to correlate
// log lines; the hash is not secret but there is no need to log all of it.
func (h Hash) String() string { return hex.EncodeToString(h[:8]) }

// NewID returns a random 128-bit identifier in base64url (no padding),
// suitable for refresh-token family IDs and access-token IDs (jti).
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewFamilyID returns a new refresh-token family ID: 128 bits in
// base64url like NewID, the first 48 the Unix time in milliseconds and the
// other 80 random. Families created close in time share a prefix, so their
// rows in refresh_families' key index and in refresh_tokens' family index
// land on the same few pages: a group commit of a batch of code exchanges
// writes those pages once instead of one random page per exchange each.
// The ID is not a secret (access tokens carry it, signed, in "fam"); the
// random part keeps IDs from colliding.
func NewFamilyID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	if _, err := rand.Read(b[6:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// AuthCode is an authorization code (RFC 6749 §4.1) and what it was granted
// for. The HTTP layer creates it at the authorization endpoint and redeems it
// at the token endpoint.
type AuthCode struct {
	Hash     Hash
	ClientID string
	// ClientUID is opaque to the store: the UID of the client's object
	// when the code was issued, so that a client deleted and recreated
	// under the same ID does not inherit it; "" for codes stored before the
	// field existed (accepted).
	ClientUID           string
	RedirectURI         string
	CodeChallenge       string // PKCE code_challenge, "" if none
	CodeChallengeMethod string // "S256" (the only method supported), "" if none
	Scopes              []string
	// Resources are the resource indicators (RFC 8707 audiences) asked for
	// at the authorization endpoint, nil if none.
	Resources []string
	AccountID string
	// Binding is opaque to the store: the server's fingerprint of the
	// account when it approved the code (see [RefreshToken.Binding]); ""
	// for codes stored before the field existed.
	Binding string
	Nonce   string
	// DPoPJKT is the JWK SHA-256 thumbprint (RFC 7638) of the key the
	// authorization request bound the code to (RFC 9449 §10's dpop_jkt),
	// "" for none; opaque to the store.
	DPoPJKT   string
	AuthTime  time.Time // when the account authenticated
	CreatedAt time.Time // set by the store
	ExpiresAt time.Time

	// Set by the store when the code is redeemed.
	UsedAt time.Time
	// What the (first) redemption issued; see [Issued].
	FamilyID             string
	AccessTokenID        string
	AccessTokenExpiresAt time.Time
}

// Issued names the tokens a code redemption issues. The caller generates the
// IDs (see [NewID]) before calling [Store.RedeemAuthCode] so that they are
// recorded atomically with the redemption: a concurrent or later second
// redemption then knows exactly what to revoke.
type Issued struct {
	FamilyID             string    // refresh-token family, "" if no refresh token is issued
	AccessTokenID        string    // jti of the access token, "" if none
	AccessTokenExpiresAt time.Time // needed to keep the revocation as long as the token lives

	// Issue, if set, is called with the redeemed code inside the
	// redemption's transaction, only when the redemption succeeds. It
	// checks the token request against the code (redirect URI, PKCE, the
	// account) and returns the first refresh token of family FamilyID (its
	// FamilyID and ClientID must be the redemption's), or nil for none. The
	// token and its family are then stored in the same transaction as the
	// redemption: one commit, and no redeemed code without its refresh token
	// after a crash. If the token cannot be stored (ErrConflict, ErrRevoked,
	// a database error), nothing changes: the code stays usable. If Issue
	// returns an error, the code stays redeemed (as when the caller's checks
	// fail after the redemption), nothing else is stored, and RedeemAuthCode
	// returns the code and that error as is. Issue must be quick and must not
	// call the store.
	Issue func(c AuthCode) (*RefreshToken, error)
}

// RefreshToken is one refresh token of a family. A family is the chain of
// refresh tokens issued from one grant; rotation adds a token to the family
// and retires the presented one.
type RefreshToken struct {
	Hash     Hash
	FamilyID string
	ClientID string
	// ClientUID is opaque to the store and copied to the successor on
	// rotation: the UID of the client's object when the family was issued;
	// "" for tokens stored before the field existed.
	ClientUID string
	AccountID string
	Scopes    []string
	// Resources are the family's resource indicators (RFC 8707 audiences),
	// nil if none; the successor keeps them unless [Rotation.Resources]
	// narrows them.
	Resources []string
	AuthTime  time.Time
	// Binding is opaque to the store and copied to the successor on
	// rotation: the server's fingerprint of the account when the family was
	// issued; "" for tokens stored before the field existed.
	Binding string
	// DPoPJKT is the JWK SHA-256 thumbprint (RFC 7638) of the DPoP key the
	// token is bound to (RFC 9449 §5: refresh tokens of Public clients), ""
	// for none; opaque to the store and copied to the successor on
	// rotation.
	DPoPJKT   string
	CreatedAt time.Time // set by the store
	ExpiresAt time.Time
	RotatedAt time.Time // set by the store when the token is rotated
}

// Rotation asks [Store.RotateRefreshToken] to retire the presented refresh
// token and store its successor in the same family.
type Rotation struct {
	OldHash  Hash
	ClientID string // must be the client the token was issued to
	NewHash  Hash
	// NewExpiresAt is the successor's expiry.
	NewExpiresAt time.Time
	// Scopes of the successor; nil keeps the old token's scopes. The store
	// does not check that they are a subset: use Check for that.
	Scopes []string
	// Resources of the successor; nil keeps the old token's resources. As
	// with Scopes, the store does not check that they are a subset.
	Resources []string
	// Check, if set, is called with the presented (still valid) token inside
	// the rotation's transaction, before anything is changed. If it returns
	// an error, nothing is changed, the token stays usable and the error is
	// returned as is. It must be quick and must not call the store.
	Check func(old RefreshToken) error
	// ReuseGrace: a token presented again less than ReuseGrace after its
	// rotation (unexpired, its family not revoked) is not reuse: it gets
	// another successor in the same family (two concurrent refreshes, or a
	// retry after a lost answer), and the first successor stays valid.
	// After the grace, presenting it is reuse. 0 is strict.
	ReuseGrace time.Duration
}

// DeviceStatus is the user's decision on a device authorization.
type DeviceStatus string

// Device authorization states.
const (
	DevicePending  DeviceStatus = "pending"
	DeviceApproved DeviceStatus = "approved"
	DeviceDenied   DeviceStatus = "denied"
)

// DeviceAuth is a device authorization (RFC 8628).
type DeviceAuth struct {
	DeviceHash Hash   // hash of the device_code
	UserCode   string // as shown to the user, normalised by the caller
	ClientID   string
	// ClientUID is opaque to the store: the UID of the client's object
	// when the authorization was created; "" for authorizations stored
	// before the field existed.
	ClientUID string
	Scopes    []string
	// Resources are the resource indicators (RFC 8707 audiences) asked for
	// at the device authorization endpoint, nil if none.
	Resources []string
	Status    DeviceStatus // set by the store (pending at creation)
	AccountID string       // set on approval
	// Binding is opaque to the store, set on approval: the server's
	// fingerprint of the approving account (see [RefreshToken.Binding]);
	// "" for authorizations approved before the field existed.
	Binding  string
	AuthTime time.Time // set on approval
	// Interval is the current minimum polling interval, whole seconds
	// (at least 1s; 5s if zero at creation). It grows by 5s on each slow_down.
	Interval   time.Duration
	LastPollAt time.Time // zero until the first poll passes
	CreatedAt  time.Time
	ExpiresAt  time.Time
	DecidedAt  time.Time // approval or denial
	ConsumedAt time.Time // when an approved authorization was turned into tokens
}

// PollResult is the outcome of [Store.PollDeviceAuth]. The values of the
// outcomes that are errors in RFC 8628 are the RFC's error codes.
type PollResult string

// Poll outcomes.
const (
	// PollPending: not decided yet, or polled within the grace period.
	PollPending PollResult = "authorization_pending"
	// PollSlowDown: polled before the interval had passed; the interval has
	// grown by 5 seconds (persisted) and this poll counts as the last poll.
	PollSlowDown PollResult = "slow_down"
	// PollApproved: approved, and this poll consumed the authorization: issue
	// tokens. Happens at most once per device code.
	PollApproved PollResult = "approved"
	// PollDenied: the user denied the request.
	PollDenied PollResult = "access_denied"
	// PollExpired: the device code has expired.
	PollExpired PollResult = "expired_token"
)

// Client authentication styles of a poll ([DevicePoll.AuthStyle]).
const (
	// AuthStyleHeader: the client ID (and secret) in an HTTP Basic
	// Authorization header.
	AuthStyleHeader = "header"
	// AuthStyleBody: the client ID (and secret) in the form body.
	AuthStyleBody = "body"
)

// DevicePoll configures one [Store.PollDeviceAuth].
type DevicePoll struct {
	// Grace: a poll that comes before the interval has passed but less than
	// Grace after the last poll, in another AuthStyle than the last poll's,
	// returns PollPending and changes nothing but using the grace up: it is
	// given once per passing (or slowed down) poll. Clients such as
	// golang.org/x/oauth2 re-send a failed token request at once in the
	// other client authentication style. A poll in the same style as the
	// last one, or without an AuthStyle, is never in the grace. 0 is strict.
	Grace time.Duration
	// AuthStyle is how the poll authenticated the client, for Grace:
	// AuthStyleHeader or AuthStyleBody; "" for unknown (no grace).
	AuthStyle string

	// Issue, if set, is called with the consumed authorization (the state
	// after the poll) inside the poll's transaction, only when the poll
	// returns PollApproved. It checks the account and returns the first
	// refresh token of a new family (its ClientID and AccountID must be the
	// authorization's), or nil for none. The token and its family are then
	// stored in the same transaction as the consumption: one commit, and no
	// consumed approval without its refresh token after a crash. If the
	// token cannot be stored (ErrConflict, ErrRevoked, a database error),
	// the whole poll is rolled back: the approval stays usable (and the poll
	// does not count as the last poll). If Issue returns an error, the
	// approval stays consumed (as when the caller's checks fail after the
	// poll; a later poll gets ErrAlreadyUsed), nothing else is stored, and
	// PollDeviceAuth returns the record, PollApproved and that error as is.
	// Issue must be quick and must not call the store.
	Issue func(d DeviceAuth) (*RefreshToken, error)
}

// SlowDownStep is how much the polling interval grows on each slow_down.
const SlowDownStep = 5 * time.Second

// Session is a login session of an account at the authorization server
// (browser cookie). The cookie value is the raw ID; the store keeps its hash.
type Session struct {
	IDHash    Hash
	AccountID string
	// Binding is opaque to the store: the server's fingerprint of the
	// account's credentials when the session began; "" for sessions stored
	// before the field existed.
	Binding   string
	AuthTime  time.Time
	CreatedAt time.Time // set by the store
	ExpiresAt time.Time
}

// Consent is a remembered consent of an account for a client.
type Consent struct {
	AccountID string
	ClientID  string
	// ClientUID is the UID of the client's object the consent was given
	// to: a consent given to another object with the same client ID (the
	// client was deleted and recreated) is not the new client's. "" for
	// consents stored before the field existed (they count for any UID).
	ClientUID string
	Scopes    []string
	ExpiresAt time.Time
}

// PushedRequest is a pushed authorization request (RFC 9126): the
// parameters of an authorization request a client sent to the pushed
// authorization request endpoint, kept under the hash of the request_uri
// it was given. Its first use at the authorization endpoint
// ([Store.UsePushedRequest]) retires the request_uri and gives the request a
// resume handle, which the login and consent pages carry on until the code
// is issued ([Store.FinishPushedRequest]).
type PushedRequest struct {
	Hash     Hash // of the request_uri
	ClientID string
	// ClientUID is opaque to the store: the UID of the client's object
	// that pushed the request (see [AuthCode.ClientUID]).
	ClientUID string
	// Params are the authorization request's parameters, as the server
	// chose to keep them.
	Params    url.Values
	CreatedAt time.Time // set by the store
	// ExpiresAt is the end of the request_uri's life, and after its use the
	// end of the interaction it started.
	ExpiresAt time.Time
	UsedAt    time.Time // set by the store at the request_uri's use
}

// LockoutPolicy configures [Store.RecordFailedLogin].
type LockoutPolicy struct {
	// Window: failures are counted in a fixed window that starts with the
	// first failure; a failure after the window has passed starts a new one.
	Window time.Duration
	// MaxAttempts failures within one window lock the account.
	MaxAttempts int
	// LockDuration is how long the account stays locked.
	LockDuration time.Duration
}

// Lockout is the failed-login state of an account.
type Lockout struct {
	AccountID   string
	Failures    int       // failures in the current window
	WindowStart time.Time // first failure of the current window
	LockedUntil time.Time // zero if never locked in this window
}

// LockedAt reports whether the account is locked at t.
func (l Lockout) LockedAt(t time.Time) bool { return t.Before(l.LockedUntil) }

// Store is the data plane's runtime state. Implementations are safe for
// concurrent use by many goroutines and, for PostgreSQL, by many processes.
// All times are taken from the Clock given at construction.
type Store interface {
	// CreateAuthCode stores a new authorization code. ExpiresAt is required.
	// ErrConflict if a code with the same hash exists.
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// RedeemAuthCode redeems the code of clientID in one transaction:
	//
	//  1. One conditional UPDATE marks the code used and records on it the
	//     FamilyID, AccessTokenID and AccessTokenExpiresAt of issued, if the
	//     code exists, belongs to clientID, is unused and has not expired.
	//     Of any number of concurrent redemptions exactly one gets past it.
	//  2. If issued.Issue is set, it is called with the redeemed code. If it
	//     returns an error, the transaction commits with the code used and
	//     nothing else stored, and RedeemAuthCode returns the code and that
	//     error as is. If it returns a refresh token, the token (and its
	//     family, if new) is stored in the same transaction; if that fails
	//     (ErrRevoked, ErrConflict, a token of another family or client, a
	//     database error), the whole transaction is rolled back, the code
	//     stays usable, and the error is returned.
	//  3. The transaction commits and the redeemed code is returned.
	//
	// Without Issue the caller checks RedirectURI and PKCE on the returned
	// code itself; the code is used up whatever it finds.
	//
	// A code that cannot be redeemed: ErrNotFound (unknown, or another
	// client's; no record, the code stays usable), ErrExpired (record
	// returned), or ErrAlreadyUsed (a replay; record returned, with the
	// FamilyID and AccessTokenID the first redemption recorded, which the
	// store has revoked in the same transaction, so the caller only logs
	// and revokes what else it issued). ErrConflict if the code changed
	// between the UPDATE and the read that classifies the failure. An
	// AccessTokenID without AccessTokenExpiresAt is refused before anything
	// is read.
	RedeemAuthCode(ctx context.Context, hash Hash, clientID string, issued Issued) (AuthCode, error)

	// CreateRefreshToken stores a refresh token, creating its family if the
	// family ID is new. ErrConflict if the hash exists or the family belongs
	// to another client or account; ErrRevoked if the family is revoked (for
	// example because the authorization code it came from was replayed).
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// GetRefreshToken returns a refresh token without changing anything.
	// Errors: ErrNotFound, ErrAlreadyUsed (rotated; record returned; no
	// revocation happens here, rotation does that), ErrRevoked (record
	// returned), ErrExpired (record returned).
	GetRefreshToken(ctx context.Context, hash Hash) (RefreshToken, error)
	// RotateRefreshToken atomically retires r.OldHash and stores its successor
	// (same family, client UID, account, binding and auth time; r.Scopes or
	// the old scopes, r.Resources or the old resources),
	// returning the successor. Exactly one of any number of concurrent
	// rotations of one token retires it; with r.ReuseGrace the others, and
	// later presentations within the grace, get successors of their own in
	// the same family (see [Rotation.ReuseGrace]).
	//
	// Errors: ErrNotFound (unknown, or another client's token: nothing
	// changes), ErrAlreadyUsed (the token was rotated before, and not within
	// r.ReuseGrace: this is reuse;
	// the store revokes the whole family in the same transaction and returns
	// the presented token's record), ErrRevoked, ErrExpired, ErrConflict (new
	// hash exists; nothing changes), or r.Check's error.
	RotateRefreshToken(ctx context.Context, r Rotation) (RefreshToken, error)
	// RevokeRefreshFamily revokes a family: none of its refresh tokens can be
	// used any more, and [Store.IsFamilyRevoked] reports it, so access tokens
	// that carry the family ID can be rejected. Revoking an unknown family
	// records the revocation (so a refresh token created for it later is
	// refused); revoking twice is not an error.
	RevokeRefreshFamily(ctx context.Context, familyID string) error
	// IsFamilyRevoked reports whether the family is revoked. Unknown families
	// are not revoked.
	IsFamilyRevoked(ctx context.Context, familyID string) (bool, error)

	// RevokeAccessToken records the jti as revoked until expiresAt (the
	// token's own expiry). Idempotent; a later expiry extends the record.
	RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error
	// IsAccessTokenRevoked reports whether the jti is revoked.
	IsAccessTokenRevoked(ctx context.Context, jti string) (bool, error)

	// CreateDeviceAuth stores a new, pending device authorization. Interval
	// defaults to 5s and is rounded up to whole seconds. ErrConflict if the
	// device code hash or the user code exists (even expired, until swept).
	CreateDeviceAuth(ctx context.Context, d DeviceAuth) error
	// GetDeviceAuthByUserCode returns the device authorization for the
	// verification page. ErrNotFound; ErrExpired (record returned).
	GetDeviceAuthByUserCode(ctx context.Context, userCode string) (DeviceAuth, error)
	// ApproveDeviceAuth records the account's approval of a pending device
	// authorization and returns it. ErrNotFound, ErrExpired, ErrAlreadyUsed
	// (already approved or denied; record returned).
	// binding is stored as the record's Binding.
	ApproveDeviceAuth(ctx context.Context, userCode, accountID, binding string, authTime time.Time) (DeviceAuth, error)
	// DenyDeviceAuth records the denial. Errors as ApproveDeviceAuth.
	DenyDeviceAuth(ctx context.Context, userCode string) (DeviceAuth, error)
	// PollDeviceAuth handles one token-endpoint poll with a device code.
	// A poll "passes" if no earlier poll passed less than Interval ago; the
	// check and the update of LastPollAt are one atomic step, so of any number
	// of concurrent polls within one interval at most one passes. A passing
	// poll returns PollPending, or PollApproved and marks the authorization
	// consumed (tokens are issued exactly once). A poll that does not pass
	// returns PollSlowDown, grows the interval by 5s and counts as the last
	// poll — unless it came less than p.Grace after the last poll in the
	// other authentication style, the first such poll since, in which case
	// it returns PollPending (see [DevicePoll.Grace]). PollDenied and
	// PollExpired are returned whenever they apply, regardless of the
	// interval. The returned record is the state after the poll. With
	// p.Issue set, the first refresh token is created in the same
	// transaction as the consuming poll (see [DevicePoll]).
	//
	// Errors: ErrNotFound (unknown device code or another client's),
	// ErrAlreadyUsed (approved and already consumed; record returned), or
	// p.Issue's error (record and PollApproved returned; consumed).
	PollDeviceAuth(ctx context.Context, deviceHash Hash, clientID string, p DevicePoll) (DeviceAuth, PollResult, error)

	// CreateSession stores a login session. ErrConflict if the ID exists.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns a session. ErrNotFound, ErrExpired.
	GetSession(ctx context.Context, idHash Hash) (Session, error)
	// DeleteSession removes a session (sign-out). ErrNotFound if there is
	// none (never stored, deleted before, or swept after its expiry).
	DeleteSession(ctx context.Context, idHash Hash) error

	// SaveConsent stores the consent, replacing any previous consent of the
	// account for the client (the scopes are exactly c.Scopes).
	SaveConsent(ctx context.Context, c Consent) error
	// HasConsent reports whether an unexpired consent of the account for
	// the client covers all scopes, given to the client object clientUID
	// (or stored without a client UID, before the field existed).
	HasConsent(ctx context.Context, accountID, clientID, clientUID string, scopes []string) (bool, error)

	// RecordFailedLogin counts a failed login of the account, atomically
	// (concurrent failures from several replicas are all counted), and
	// returns the new state. When the count reaches p.MaxAttempts within
	// p.Window, the account is locked for p.LockDuration. While locked,
	// failures are still counted but do not extend the lock. The first
	// failure after the window or the lock has ended starts a new window.
	RecordFailedLogin(ctx context.Context, accountID string, p LockoutPolicy) (Lockout, error)
	// ClearFailedLogins forgets the failed-login state after a login whose
	// password matched, whose own RecordFailedLogin (made before the
	// password was compared, as a reservation) returned failures — unless
	// the account is locked and the count is no longer failures (attempts
	// counted since have locked it): then it returns false and keeps the
	// state. True if there is no state. One atomic step on every backend.
	ClearFailedLogins(ctx context.Context, accountID string, failures int) (bool, error)
	// GetLockout returns the failed-login state. ErrNotFound if there is none.
	GetLockout(ctx context.Context, accountID string) (Lockout, error)
	// ResetFailedLogins forgets the failed-login state (after a successful
	// login, or an administrator's unlock). Not an error if there is none.
	ResetFailedLogins(ctx context.Context, accountID string) error

	// FirstUse records key as used in scope until expiresAt and reports
	// whether this is its first use: true the first time, false for every
	// later call (from any replica) until expiresAt has passed. One atomic
	// step, so of concurrent calls with one key exactly one gets true. Only
	// a hash of the key is stored. Used for the jti of client assertions
	// (ScopeClientAssertion) and meant for any single-use value with an
	// expiry (DPoP proofs).
	FirstUse(ctx context.Context, scope, key string, expiresAt time.Time) (bool, error)

	// CreatePushedRequest stores a pushed authorization request. ExpiresAt
	// is required. ErrConflict if the hash exists.
	CreatePushedRequest(ctx context.Context, p PushedRequest) error
	// UsePushedRequest uses the request_uri of clientID once: one
	// conditional UPDATE marks it used, records resume (the hash of the
	// handle the interaction carries on) and moves the expiry to until, if
	// the request exists, belongs to clientID, is unused and has not
	// expired. Of any number of concurrent uses exactly one succeeds. It
	// returns the request. Errors: ErrNotFound (unknown, or another
	// client's), ErrAlreadyUsed, ErrExpired; ErrConflict if the record
	// changed between the UPDATE and the read that classifies the failure.
	UsePushedRequest(ctx context.Context, hash Hash, clientID string, resume Hash, until time.Time) (PushedRequest, error)
	// ResumePushedRequest returns the used request of a resume handle
	// without changing anything. ErrNotFound (unknown, finished, or another
	// client's), ErrExpired.
	ResumePushedRequest(ctx context.Context, resume Hash, clientID string) (PushedRequest, error)
	// FinishPushedRequest deletes the unexpired request of a resume handle,
	// atomically: of any number of concurrent calls exactly one succeeds,
	// the others get ErrNotFound.
	FinishPushedRequest(ctx context.Context, resume Hash) error

	// DeleteExpired removes records whose expiry has passed, in small batches
	// (each batch its own short statement), and returns how many it removed.
	// It is safe to run concurrently with requests and on several replicas.
	DeleteExpired(ctx context.Context) (int64, error)
	// Ping checks that the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}
