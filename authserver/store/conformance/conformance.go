// Package conformance is the test suite every store.Store backend must
// pass (modelled on dex's storage/conformance). A backend's test calls
//
//	conformance.RunTests(t, func(t *testing.T, clock store.Clock) store.Store { ... })
//
// with a function that returns a new, empty store using clock and closes it
// when t ends, and
//
//	conformance.RunReopenTest(t, open)
//
// with a function that opens the same underlying database every time it is
// called (durability across close and reopen).
package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/store/storetest"
)

// NewStore returns a new, empty store that decides time with clock and is
// closed when t ends.
type NewStore func(t *testing.T, clock store.Clock) store.Store

// Concurrency is how many goroutines the concurrency tests start.
const Concurrency = 100

type env struct {
	ctx   context.Context
	s     store.Store
	clock *storetest.FakeClock
}

func setup(t *testing.T, newStore NewStore) env {
	t.Helper()
	clock := storetest.NewFakeClock()
	return env{ctx: t.Context(), s: newStore(t, clock), clock: clock}
}

// RunTests runs the conformance suite against stores made by newStore.
func RunTests(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, e env)
	}{
		{"AuthCode/CreateRedeem", testAuthCodeCreateRedeem},
		{"AuthCode/Errors", testAuthCodeErrors},
		{"AuthCode/Expiry", testAuthCodeExpiry},
		{"AuthCode/ReplayRevokesIssued", testAuthCodeReplay},
		{"AuthCode/ConcurrentRedeem", testAuthCodeConcurrent},
		{"AuthCode/IssueRefresh", testAuthCodeIssue},
		{"AuthCode/IssueErrors", testAuthCodeIssueErrors},
		{"AuthCode/ConcurrentRedeemIssue", testAuthCodeConcurrentIssue},
		{"Refresh/CreateGet", testRefreshCreateGet},
		{"Refresh/Rotate", testRefreshRotate},
		{"Refresh/RotateErrors", testRefreshRotateErrors},
		{"Refresh/ReuseRevokesFamily", testRefreshReuse},
		{"Refresh/Expiry", testRefreshExpiry},
		{"Refresh/RevokeFamily", testRefreshRevokeFamily},
		{"Refresh/ConcurrentRotate", testRefreshConcurrent},
		{"Refresh/ReuseGrace", testRefreshReuseGrace},
		{"Refresh/ConcurrentRotateWithinGrace", testRefreshConcurrentWithinGrace},
		{"AccessToken/Revoke", testAccessTokenRevoke},
		{"FirstUse", testFirstUse},
		{"FirstUse/Concurrent", testFirstUseConcurrent},
		{"PushedRequest/Lifecycle", testPushedLifecycle},
		{"PushedRequest/Errors", testPushedErrors},
		{"PushedRequest/ConcurrentUse", testPushedConcurrent},
		{"Device/CreateGet", testDeviceCreateGet},
		{"Device/PollFlow", testDevicePollFlow},
		{"Device/PollGrace", testDevicePollGrace},
		{"Device/DenyAndErrors", testDeviceDenyAndErrors},
		{"Device/Expiry", testDeviceExpiry},
		{"Device/ConcurrentPollPending", testDeviceConcurrentPending},
		{"Device/ConcurrentPollApproved", testDeviceConcurrentApproved},
		{"Device/IssueRefresh", testDeviceIssue},
		{"Device/IssueErrors", testDeviceIssueErrors},
		{"Device/ConcurrentPollIssue", testDeviceConcurrentIssue},
		{"Session", testSession},
		{"Consent", testConsent},
		{"Consent/ClientUID", testConsentClientUID},
		{"ClientBinding/AuthCode", testAuthCodeClientBinding},
		{"ClientBinding/Refresh", testRefreshClientBinding},
		{"ClientBinding/Device", testDeviceClientBinding},
		{"DPoPBinding", testDPoPBinding},
		{"Lockout/Counting", testLockoutCounting},
		{"Lockout/WindowAndReset", testLockoutWindow},
		{"Lockout/Concurrent", testLockoutConcurrent},
		{"Lockout/Clear", testLockoutClear},
		{"Expiry/DeleteExpired", testDeleteExpired},
		{"Validation", testValidation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, setup(t, newStore))
		})
	}
}

// --- helpers ---

var counter struct {
	sync.Mutex
	n int
}

// secret returns a new raw secret; tests hash it like the HTTP layer does.
func secret(prefix string) string {
	counter.Lock()
	defer counter.Unlock()
	counter.n++
	return fmt.Sprintf("%s-%d-%s", prefix, counter.n, store.NewID())
}

func hash(prefix string) store.Hash { return store.HashToken(secret(prefix)) }

// us truncates to the store's precision.
func us(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Microsecond).UTC()
}

func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eqTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(us(want)) {
		t.Errorf("%s = %v, want %v", what, got, us(want))
	}
}

func eqScopes(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// together runs fn(i) for i in [0, n) in n goroutines released at once.
// oneWinner checks that exactly one of n concurrent attempts won and
// returns it. won(i) says attempt i succeeded; lost(i) checks a loser and
// returns nil for an expected loss, or what was wrong.
func oneWinner(t *testing.T, what string, n int, won func(i int) bool, lost func(i int) error) int {
	t.Helper()
	winner := -1
	for i := range n {
		switch {
		case won(i):
			if winner >= 0 {
				t.Fatalf("%s %d and %d both succeeded", what, winner, i)
			}
			winner = i
		default:
			if err := lost(i); err != nil {
				t.Errorf("%s %d: %v", what, i, err)
			}
		}
	}
	if winner < 0 {
		t.Fatalf("no %s succeeded", what)
	}
	return winner
}

func together(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

func newCode(e env, client string) store.AuthCode {
	now := e.clock.Now()
	return store.AuthCode{
		Hash:                hash("code"),
		ClientID:            client,
		RedirectURI:         "https://app.example/cb",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Scopes:              []string{"openid", "profile", "offline_access"},
		AccountID:           "alice",
		Nonce:               "n-0S6_WzA2Mj",
		AuthTime:            now.Add(-time.Minute),
		ExpiresAt:           now.Add(time.Minute),
	}
}

func issued(e env) store.Issued {
	return store.Issued{
		FamilyID:             store.NewID(),
		AccessTokenID:        store.NewID(),
		AccessTokenExpiresAt: e.clock.Now().Add(time.Hour),
	}
}

func newRefresh(e env, family, client string) store.RefreshToken {
	now := e.clock.Now()
	return store.RefreshToken{
		Hash:      hash("refresh"),
		FamilyID:  family,
		ClientID:  client,
		AccountID: "alice",
		Scopes:    []string{"openid", "offline_access", "api"},
		AuthTime:  now.Add(-time.Hour),
		Binding:   "b-alice-1",
		ExpiresAt: now.Add(24 * time.Hour),
	}
}

func newDevice(e env, client string) store.DeviceAuth {
	return store.DeviceAuth{
		DeviceHash: hash("device"),
		UserCode:   secret("UC"),
		ClientID:   client,
		Scopes:     []string{"openid", "api"},
		ExpiresAt:  e.clock.Now().Add(10 * time.Minute),
	}
}

// --- authorization codes ---

func testAuthCodeCreateRedeem(t *testing.T, e env) {
	c := newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, c), "create")
	created := e.clock.Now()
	e.clock.Advance(10 * time.Second)
	is := issued(e)
	got, err := e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", is)
	noErr(t, err, "redeem")

	if got.Hash != c.Hash || got.ClientID != c.ClientID || got.RedirectURI != c.RedirectURI ||
		got.CodeChallenge != c.CodeChallenge || got.CodeChallengeMethod != c.CodeChallengeMethod ||
		got.AccountID != c.AccountID || got.Nonce != c.Nonce {
		t.Errorf("redeemed code = %+v, want fields of %+v", got, c)
	}
	eqScopes(t, "Scopes", got.Scopes, c.Scopes)
	eqTime(t, "AuthTime", got.AuthTime, c.AuthTime)
	eqTime(t, "CreatedAt", got.CreatedAt, created)
	eqTime(t, "ExpiresAt", got.ExpiresAt, c.ExpiresAt)
	eqTime(t, "UsedAt", got.UsedAt, e.clock.Now())
	if got.FamilyID != is.FamilyID || got.AccessTokenID != is.AccessTokenID {
		t.Errorf("issued = %q/%q, want %q/%q", got.FamilyID, got.AccessTokenID, is.FamilyID, is.AccessTokenID)
	}
	eqTime(t, "AccessTokenExpiresAt", got.AccessTokenExpiresAt, is.AccessTokenExpiresAt)

	// A code without PKCE or scopes round-trips too.
	bare := store.AuthCode{Hash: hash("code"), ClientID: "client-a", RedirectURI: "https://app.example/cb",
		AccountID: "bob", ExpiresAt: e.clock.Now().Add(time.Minute)}
	noErr(t, e.s.CreateAuthCode(e.ctx, bare), "create bare")
	got, err = e.s.RedeemAuthCode(e.ctx, bare.Hash, "client-a", store.Issued{})
	noErr(t, err, "redeem bare")
	if len(got.Scopes) != 0 || got.CodeChallenge != "" || !got.AuthTime.IsZero() || got.FamilyID != "" {
		t.Errorf("bare code = %+v", got)
	}
}

func testAuthCodeErrors(t *testing.T, e env) {
	c := newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, c), "create")
	dup := newCode(e, "client-b")
	dup.Hash = c.Hash
	wantErr(t, e.s.CreateAuthCode(e.ctx, dup), store.ErrConflict, "create duplicate")

	_, err := e.s.RedeemAuthCode(e.ctx, hash("code"), "client-a", issued(e))
	wantErr(t, err, store.ErrNotFound, "redeem unknown")

	// Another client cannot redeem it, and trying does not burn it.
	_, err = e.s.RedeemAuthCode(e.ctx, c.Hash, "client-b", issued(e))
	wantErr(t, err, store.ErrNotFound, "redeem by another client")
	first := issued(e)
	if _, err := e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", first); err != nil {
		t.Fatalf("redeem by the right client after a wrong client tried: %v", err)
	}

	// Second use: ErrAlreadyUsed with the first use's record.
	got, err := e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", issued(e))
	wantErr(t, err, store.ErrAlreadyUsed, "second redeem")
	if got.Hash != c.Hash || got.FamilyID != first.FamilyID || got.AccessTokenID != first.AccessTokenID {
		t.Errorf("second redeem returned %+v, want the record of the first redemption (%+v)", got, first)
	}
	// Still used after the expiry: reuse is reported, not expiry.
	e.clock.Advance(time.Hour)
	_, err = e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", issued(e))
	wantErr(t, err, store.ErrAlreadyUsed, "redeem used code after expiry")
}

func testAuthCodeExpiry(t *testing.T, e env) {
	early := newCode(e, "client-a")
	early.ExpiresAt = e.clock.Now().Add(time.Minute)
	late := newCode(e, "client-a")
	late.ExpiresAt = early.ExpiresAt
	noErr(t, e.s.CreateAuthCode(e.ctx, early), "create")
	noErr(t, e.s.CreateAuthCode(e.ctx, late), "create")

	e.clock.Set(us(early.ExpiresAt).Add(-time.Microsecond))
	_, err := e.s.RedeemAuthCode(e.ctx, early.Hash, "client-a", issued(e))
	noErr(t, err, "redeem 1µs before expiry")

	e.clock.Set(us(late.ExpiresAt))
	got, err := e.s.RedeemAuthCode(e.ctx, late.Hash, "client-a", issued(e))
	wantErr(t, err, store.ErrExpired, "redeem at expiry")
	if got.Hash != late.Hash {
		t.Errorf("expired redeem returned %+v, want the record", got)
	}
	e.clock.Advance(-time.Second)
	_, err = e.s.RedeemAuthCode(e.ctx, late.Hash, "client-a", issued(e))
	noErr(t, err, "an expired redemption must not mark the code used")
}

func testAuthCodeReplay(t *testing.T, e env) {
	c := newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, c), "create")
	first := issued(e)
	_, err := e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", first)
	noErr(t, err, "redeem")

	// The first redemption issued a refresh token in first.FamilyID.
	rt := newRefresh(e, first.FamilyID, "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, rt), "create refresh token")
	if revoked, err := e.s.IsAccessTokenRevoked(e.ctx, first.AccessTokenID); err != nil || revoked {
		t.Fatalf("access token revoked before replay: %v, %v", revoked, err)
	}

	_, err = e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", issued(e))
	wantErr(t, err, store.ErrAlreadyUsed, "replay")

	if revoked, err := e.s.IsFamilyRevoked(e.ctx, first.FamilyID); err != nil || !revoked {
		t.Errorf("IsFamilyRevoked after replay = %v, %v; want true", revoked, err)
	}
	if revoked, err := e.s.IsAccessTokenRevoked(e.ctx, first.AccessTokenID); err != nil || !revoked {
		t.Errorf("IsAccessTokenRevoked after replay = %v, %v; want true", revoked, err)
	}
	_, err = e.s.GetRefreshToken(e.ctx, rt.Hash)
	wantErr(t, err, store.ErrRevoked, "get refresh token of replayed code")
	_, err = e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: rt.Hash, ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)})
	wantErr(t, err, store.ErrRevoked, "rotate refresh token of replayed code")

	// A replay that wins the race against the first redemption's token
	// issuance: the family is revoked before its first refresh token exists.
	c2 := newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, c2), "create")
	is2 := issued(e)
	_, err = e.s.RedeemAuthCode(e.ctx, c2.Hash, "client-a", is2)
	noErr(t, err, "redeem")
	_, err = e.s.RedeemAuthCode(e.ctx, c2.Hash, "client-a", issued(e))
	wantErr(t, err, store.ErrAlreadyUsed, "replay")
	err = e.s.CreateRefreshToken(e.ctx, newRefresh(e, is2.FamilyID, "client-a"))
	wantErr(t, err, store.ErrRevoked, "create refresh token in a family revoked by replay")
}

func testAuthCodeConcurrent(t *testing.T, e env) {
	c := newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, c), "create")
	iss := make([]store.Issued, Concurrency)
	res := make([]store.AuthCode, Concurrency)
	errs := make([]error, Concurrency)
	for i := range iss {
		iss[i] = issued(e)
	}
	together(Concurrency, func(i int) {
		res[i], errs[i] = e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", iss[i])
	})
	winner := oneWinner(t, "redemption", len(errs), func(i int) bool { return errs[i] == nil }, func(i int) error {
		if !errors.Is(errs[i], store.ErrAlreadyUsed) {
			return fmt.Errorf("unexpected error %v", errs[i])
		}
		return nil
	})
	for i, err := range errs {
		if err != nil && res[i].FamilyID != iss[winner].FamilyID {
			t.Errorf("loser %d saw family %q, want the winner's %q", i, res[i].FamilyID, iss[winner].FamilyID)
		}
	}
	// The losers are replays: what the winner issued is revoked.
	if revoked, err := e.s.IsFamilyRevoked(e.ctx, iss[winner].FamilyID); err != nil || !revoked {
		t.Errorf("winner's family revoked = %v, %v; want true", revoked, err)
	}
}

// issuing returns an Issued whose Issue creates the first refresh token of
// its family (the HTTP layer's code exchange) and counts its calls.
func issuing(e env, calls *int) (store.Issued, *store.RefreshToken) {
	is := issued(e)
	rt := newRefresh(e, is.FamilyID, "client-a")
	is.Issue = func(c store.AuthCode) (*store.RefreshToken, error) {
		*calls++
		rt.AccountID, rt.Scopes, rt.AuthTime = c.AccountID, c.Scopes, c.AuthTime
		return &rt, nil
	}
	return is, &rt
}

func testAuthCodeIssue(t *testing.T, e env) {
	c := newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, c), "create")
	calls := 0
	is, rt := issuing(e, &calls)
	got, err := e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", is)
	noErr(t, err, "redeem with Issue")
	if calls != 1 || got.FamilyID != is.FamilyID || got.UsedAt.IsZero() {
		t.Fatalf("Issue called %d times, code %+v", calls, got)
	}
	stored, err := e.s.GetRefreshToken(e.ctx, rt.Hash)
	noErr(t, err, "get the refresh token created with the redemption")
	if stored.FamilyID != is.FamilyID || stored.ClientID != "client-a" || stored.AccountID != c.AccountID {
		t.Errorf("refresh token = %+v", stored)
	}
	eqScopes(t, "Scopes", stored.Scopes, c.Scopes)
	eqTime(t, "AuthTime", stored.AuthTime, c.AuthTime)
	eqTime(t, "CreatedAt", stored.CreatedAt, e.clock.Now())
	// It rotates like any other.
	_, err = e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: rt.Hash, ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)})
	noErr(t, err, "rotate")

	// A replay revokes the family, and Issue is not called for it.
	replay, _ := issuing(e, &calls)
	_, err = e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", replay)
	wantErr(t, err, store.ErrAlreadyUsed, "replay")
	if calls != 1 {
		t.Errorf("Issue called for a replay")
	}
	_, err = e.s.GetRefreshToken(e.ctx, rt.Hash)
	wantErr(t, err, store.ErrAlreadyUsed, "rotated token after the replay")
	if revoked, err := e.s.IsFamilyRevoked(e.ctx, is.FamilyID); err != nil || !revoked {
		t.Errorf("family after replay: revoked = %v, %v", revoked, err)
	}

	// Issue returning nil: a redemption without a refresh token.
	c2 := newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, c2), "create")
	none := issued(e)
	none.Issue = func(store.AuthCode) (*store.RefreshToken, error) { return nil, nil }
	_, err = e.s.RedeemAuthCode(e.ctx, c2.Hash, "client-a", none)
	noErr(t, err, "redeem with Issue returning nil")
	if revoked, err := e.s.IsFamilyRevoked(e.ctx, none.FamilyID); err != nil || revoked {
		t.Errorf("family of a redemption without refresh token: revoked = %v, %v", revoked, err)
	}
}

func testAuthCodeIssueErrors(t *testing.T, e env) {
	// Not called when the redemption fails.
	calls := 0
	is, _ := issuing(e, &calls)
	_, err := e.s.RedeemAuthCode(e.ctx, hash("code"), "client-a", is)
	wantErr(t, err, store.ErrNotFound, "redeem unknown")
	c := newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, c), "create")
	_, err = e.s.RedeemAuthCode(e.ctx, c.Hash, "client-b", is)
	wantErr(t, err, store.ErrNotFound, "redeem by another client")
	expired := newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, expired), "create")
	e.clock.Set(expired.ExpiresAt)
	_, err = e.s.RedeemAuthCode(e.ctx, expired.Hash, "client-a", is)
	wantErr(t, err, store.ErrExpired, "redeem expired")
	if calls != 0 {
		t.Fatalf("Issue called %d times for failed redemptions", calls)
	}

	// Issue's error: the code is used up, nothing else is stored, the
	// error comes back as is with the code.
	c = newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, c), "create")
	errPKCE := errors.New("code_verifier does not match")
	failing := issued(e)
	var rt store.RefreshToken
	failing.Issue = func(store.AuthCode) (*store.RefreshToken, error) {
		rt = newRefresh(e, failing.FamilyID, "client-a")
		return &rt, errPKCE
	}
	got, err := e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", failing)
	if err != errPKCE {
		t.Fatalf("redeem with a failing Issue: %v, want its error as is", err)
	}
	if got.Hash != c.Hash || got.RedirectURI != c.RedirectURI {
		t.Errorf("redeem with a failing Issue returned %+v, want the code", got)
	}
	_, err = e.s.GetRefreshToken(e.ctx, rt.Hash)
	wantErr(t, err, store.ErrNotFound, "refresh token of a failing Issue")
	got, err = e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", issued(e))
	wantErr(t, err, store.ErrAlreadyUsed, "redeem after a failing Issue")
	if got.FamilyID != failing.FamilyID {
		t.Errorf("code records family %q, want %q", got.FamilyID, failing.FamilyID)
	}

	// A refresh token that cannot be stored: nothing changes, the code
	// stays usable.
	existing := newRefresh(e, store.NewID(), "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, existing), "create refresh token")
	for _, tc := range []struct {
		name    string
		revoke  bool // the family is revoked before the redemption
		token   func(is store.Issued) store.RefreshToken
		wantErr error
	}{
		{name: "duplicate hash", wantErr: store.ErrConflict, token: func(is store.Issued) store.RefreshToken {
			rt := newRefresh(e, is.FamilyID, "client-a")
			rt.Hash = existing.Hash
			return rt
		}},
		{name: "another family", token: func(store.Issued) store.RefreshToken {
			return newRefresh(e, store.NewID(), "client-a")
		}},
		{name: "another client", token: func(is store.Issued) store.RefreshToken {
			return newRefresh(e, is.FamilyID, "client-b")
		}},
		{name: "no expiry", token: func(is store.Issued) store.RefreshToken {
			rt := newRefresh(e, is.FamilyID, "client-a")
			rt.ExpiresAt = time.Time{}
			return rt
		}},
		{name: "revoked family", revoke: true, wantErr: store.ErrRevoked, token: func(is store.Issued) store.RefreshToken {
			return newRefresh(e, is.FamilyID, "client-a")
		}},
	} {
		c := newCode(e, "client-a")
		noErr(t, e.s.CreateAuthCode(e.ctx, c), "create")
		is := issued(e)
		if tc.revoke {
			noErr(t, e.s.RevokeRefreshFamily(e.ctx, is.FamilyID), "revoke family")
		}
		rt := tc.token(is)
		is.Issue = func(store.AuthCode) (*store.RefreshToken, error) { return &rt, nil }
		_, err := e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", is)
		if err == nil {
			t.Errorf("%s: redemption succeeded", tc.name)
		} else if tc.wantErr != nil {
			wantErr(t, err, tc.wantErr, tc.name)
		}
		_, err = e.s.GetRefreshToken(e.ctx, rt.Hash)
		if rt.Hash != existing.Hash {
			wantErr(t, err, store.ErrNotFound, tc.name+": refresh token")
		}
		_, err = e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", issued(e))
		noErr(t, err, tc.name+": the code must stay usable")
	}
}

func testAuthCodeConcurrentIssue(t *testing.T, e env) {
	c := newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, c), "create")
	iss := make([]store.Issued, Concurrency)
	rts := make([]*store.RefreshToken, Concurrency)
	calls := make([]int, Concurrency)
	errs := make([]error, Concurrency)
	for i := range iss {
		iss[i], rts[i] = issuing(e, &calls[i])
	}
	together(Concurrency, func(i int) {
		_, errs[i] = e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", iss[i])
	})
	winner := oneWinner(t, "redemption", len(errs), func(i int) bool { return errs[i] == nil }, func(i int) error {
		if !errors.Is(errs[i], store.ErrAlreadyUsed) {
			return fmt.Errorf("unexpected error %v", errs[i])
		}
		if calls[i] != 0 {
			return errors.New("Issue called for a losing redemption")
		}
		_, err := e.s.GetRefreshToken(e.ctx, rts[i].Hash)
		wantErr(t, err, store.ErrNotFound, "refresh token of a losing redemption")
		return nil
	})
	// The losers are replays: the winner's refresh token is revoked.
	_, err := e.s.GetRefreshToken(e.ctx, rts[winner].Hash)
	wantErr(t, err, store.ErrRevoked, "winner's refresh token after the replays")
}

// --- refresh tokens ---

func testRefreshCreateGet(t *testing.T, e env) {
	fam := store.NewID()
	rt := newRefresh(e, fam, "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, rt), "create")
	got, err := e.s.GetRefreshToken(e.ctx, rt.Hash)
	noErr(t, err, "get")
	if got.Hash != rt.Hash || got.FamilyID != fam || got.ClientID != rt.ClientID ||
		got.AccountID != rt.AccountID || got.Binding != rt.Binding {
		t.Errorf("got %+v, want %+v", got, rt)
	}
	eqScopes(t, "Scopes", got.Scopes, rt.Scopes)
	eqTime(t, "AuthTime", got.AuthTime, rt.AuthTime)
	eqTime(t, "CreatedAt", got.CreatedAt, e.clock.Now())
	eqTime(t, "ExpiresAt", got.ExpiresAt, rt.ExpiresAt)
	if !got.RotatedAt.IsZero() {
		t.Errorf("RotatedAt = %v, want zero", got.RotatedAt)
	}

	dup := newRefresh(e, store.NewID(), "client-a")
	dup.Hash = rt.Hash
	wantErr(t, e.s.CreateRefreshToken(e.ctx, dup), store.ErrConflict, "create duplicate hash")
	// A second token in the same family is fine; another client's is not.
	noErr(t, e.s.CreateRefreshToken(e.ctx, newRefresh(e, fam, "client-a")), "create second in family")
	wantErr(t, e.s.CreateRefreshToken(e.ctx, newRefresh(e, fam, "client-b")), store.ErrConflict,
		"create in another client's family")
	other := newRefresh(e, fam, "client-a")
	other.AccountID = "mallory"
	wantErr(t, e.s.CreateRefreshToken(e.ctx, other), store.ErrConflict, "create in another account's family")

	_, err = e.s.GetRefreshToken(e.ctx, hash("refresh"))
	wantErr(t, err, store.ErrNotFound, "get unknown")
	if revoked, err := e.s.IsFamilyRevoked(e.ctx, fam); err != nil || revoked {
		t.Errorf("IsFamilyRevoked(live family) = %v, %v", revoked, err)
	}
	if revoked, err := e.s.IsFamilyRevoked(e.ctx, "no-such-family"); err != nil || revoked {
		t.Errorf("IsFamilyRevoked(unknown) = %v, %v", revoked, err)
	}
}

func testRefreshRotate(t *testing.T, e env) {
	fam := store.NewID()
	rt := newRefresh(e, fam, "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, rt), "create")
	e.clock.Advance(time.Minute)

	var checked store.RefreshToken
	newHash := hash("refresh")
	next, err := e.s.RotateRefreshToken(e.ctx, store.Rotation{
		OldHash: rt.Hash, ClientID: "client-a", NewHash: newHash,
		NewExpiresAt: e.clock.Now().Add(48 * time.Hour),
		Check:        func(old store.RefreshToken) error { checked = old; return nil },
	})
	noErr(t, err, "rotate")
	if checked.Hash != rt.Hash || !checked.RotatedAt.IsZero() {
		t.Errorf("Check got %+v, want the presented, unrotated token", checked)
	}
	if next.Hash != newHash || next.FamilyID != fam || next.ClientID != "client-a" || next.AccountID != rt.AccountID ||
		next.Binding != rt.Binding {
		t.Errorf("successor = %+v", next)
	}
	eqScopes(t, "successor scopes", next.Scopes, rt.Scopes)
	eqTime(t, "successor AuthTime", next.AuthTime, rt.AuthTime)
	eqTime(t, "successor ExpiresAt", next.ExpiresAt, e.clock.Now().Add(48*time.Hour))

	stored, err := e.s.GetRefreshToken(e.ctx, newHash)
	noErr(t, err, "get successor")
	eqScopes(t, "stored successor scopes", stored.Scopes, rt.Scopes)
	if stored.Binding != rt.Binding {
		t.Errorf("stored successor Binding = %q, want %q", stored.Binding, rt.Binding)
	}
	eqTime(t, "stored successor CreatedAt", stored.CreatedAt, e.clock.Now())

	old, err := e.s.GetRefreshToken(e.ctx, rt.Hash)
	wantErr(t, err, store.ErrAlreadyUsed, "get rotated token")
	eqTime(t, "old RotatedAt", old.RotatedAt, e.clock.Now())
	// Get does not revoke.
	if _, err := e.s.GetRefreshToken(e.ctx, newHash); err != nil {
		t.Errorf("get successor after get of rotated token: %v", err)
	}

	// Narrowing scopes on rotation.
	third, err := e.s.RotateRefreshToken(e.ctx, store.Rotation{
		OldHash: newHash, ClientID: "client-a", NewHash: hash("refresh"),
		NewExpiresAt: e.clock.Now().Add(48 * time.Hour), Scopes: []string{"openid"},
	})
	noErr(t, err, "rotate with scopes")
	eqScopes(t, "narrowed scopes", third.Scopes, []string{"openid"})
	got, err := e.s.GetRefreshToken(e.ctx, third.Hash)
	noErr(t, err, "get third")
	eqScopes(t, "stored narrowed scopes", got.Scopes, []string{"openid"})
	// Successors outlive the family's first token: sweeping after the first
	// token's expiry must keep the family and the current token.
	e.clock.Advance(47 * time.Hour)
	if _, err := e.s.DeleteExpired(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.GetRefreshToken(e.ctx, rt.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("first token after its expiry and a sweep: %v, want ErrNotFound", err)
	}
	if _, err := e.s.GetRefreshToken(e.ctx, third.Hash); err != nil {
		t.Errorf("current token after the first token was swept: %v", err)
	}
	if _, err := e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: third.Hash, ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)}); err != nil {
		t.Errorf("rotate current token after the first token was swept: %v", err)
	}
}

func testRefreshRotateErrors(t *testing.T, e env) {
	fam := store.NewID()
	rt := newRefresh(e, fam, "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, rt), "create")
	rot := func(client string, newHash store.Hash, check func(store.RefreshToken) error) (store.RefreshToken, error) {
		return e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: rt.Hash, ClientID: client,
			NewHash: newHash, NewExpiresAt: e.clock.Now().Add(time.Hour), Check: check})
	}

	_, err := e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: hash("refresh"), ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)})
	wantErr(t, err, store.ErrNotFound, "rotate unknown")

	_, err = rot("client-b", hash("refresh"), nil)
	wantErr(t, err, store.ErrNotFound, "rotate by another client")

	boom := errors.New("scope not granted")
	_, err = rot("client-a", hash("refresh"), func(store.RefreshToken) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("rotate with failing Check: %v, want %v", err, boom)
	}

	existing := newRefresh(e, store.NewID(), "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, existing), "create other")
	_, err = rot("client-a", existing.Hash, nil)
	wantErr(t, err, store.ErrConflict, "rotate to an existing hash")

	// None of the failures consumed the token or revoked the family.
	if _, err := e.s.GetRefreshToken(e.ctx, rt.Hash); err != nil {
		t.Fatalf("token after failed rotations: %v", err)
	}
	if _, err := rot("client-a", hash("refresh"), nil); err != nil {
		t.Fatalf("rotate after failed rotations: %v", err)
	}
}

func testRefreshReuse(t *testing.T, e env) {
	fam := store.NewID()
	rt := newRefresh(e, fam, "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, rt), "create")
	bystander := newRefresh(e, store.NewID(), "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, bystander), "create bystander")

	next, err := e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: rt.Hash, ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)})
	noErr(t, err, "rotate")
	next2, err := e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: next.Hash, ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)})
	noErr(t, err, "rotate successor")

	// The attacker presents the first, long rotated token.
	got, err := e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: rt.Hash, ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)})
	wantErr(t, err, store.ErrAlreadyUsed, "rotate a rotated token")
	if got.Hash != rt.Hash || got.FamilyID != fam {
		t.Errorf("reuse returned %+v, want the presented token's record", got)
	}
	if revoked, err := e.s.IsFamilyRevoked(e.ctx, fam); err != nil || !revoked {
		t.Fatalf("family revoked after reuse = %v, %v", revoked, err)
	}
	// The legitimate, current token is dead too.
	_, err = e.s.GetRefreshToken(e.ctx, next2.Hash)
	wantErr(t, err, store.ErrRevoked, "get current token of a revoked family")
	_, err = e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: next2.Hash, ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)})
	wantErr(t, err, store.ErrRevoked, "rotate current token of a revoked family")
	// Presenting a rotated token again still reports reuse.
	_, err = e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: next.Hash, ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)})
	wantErr(t, err, store.ErrAlreadyUsed, "rotate rotated token of a revoked family")
	// Other families are untouched.
	if _, err := e.s.GetRefreshToken(e.ctx, bystander.Hash); err != nil {
		t.Errorf("other family's token: %v", err)
	}
	if revoked, _ := e.s.IsFamilyRevoked(e.ctx, bystander.FamilyID); revoked {
		t.Error("other family revoked")
	}
}

func testRefreshExpiry(t *testing.T, e env) {
	rt := newRefresh(e, store.NewID(), "client-a")
	rt.ExpiresAt = e.clock.Now().Add(time.Hour)
	noErr(t, e.s.CreateRefreshToken(e.ctx, rt), "create")
	e.clock.Set(us(rt.ExpiresAt).Add(-time.Microsecond))
	if _, err := e.s.GetRefreshToken(e.ctx, rt.Hash); err != nil {
		t.Fatalf("get 1µs before expiry: %v", err)
	}
	e.clock.Set(us(rt.ExpiresAt))
	got, err := e.s.GetRefreshToken(e.ctx, rt.Hash)
	wantErr(t, err, store.ErrExpired, "get at expiry")
	if got.Hash != rt.Hash {
		t.Errorf("expired get returned %+v, want the record", got)
	}
	_, err = e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: rt.Hash, ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)})
	wantErr(t, err, store.ErrExpired, "rotate at expiry")
	if revoked, _ := e.s.IsFamilyRevoked(e.ctx, rt.FamilyID); revoked {
		t.Error("rotating an expired token revoked the family")
	}
}

func testRefreshRevokeFamily(t *testing.T, e env) {
	fam := store.NewID()
	a := newRefresh(e, fam, "client-a")
	b := newRefresh(e, fam, "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, a), "create")
	noErr(t, e.s.CreateRefreshToken(e.ctx, b), "create")
	noErr(t, e.s.RevokeRefreshFamily(e.ctx, fam), "revoke")
	noErr(t, e.s.RevokeRefreshFamily(e.ctx, fam), "revoke again")
	for _, h := range []store.Hash{a.Hash, b.Hash} {
		_, err := e.s.GetRefreshToken(e.ctx, h)
		wantErr(t, err, store.ErrRevoked, "get token of revoked family")
		_, err = e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: h, ClientID: "client-a",
			NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)})
		wantErr(t, err, store.ErrRevoked, "rotate token of revoked family")
	}
	wantErr(t, e.s.CreateRefreshToken(e.ctx, newRefresh(e, fam, "client-a")), store.ErrRevoked,
		"create in revoked family")

	// Revoking a family nobody created yet still sticks.
	ghost := store.NewID()
	noErr(t, e.s.RevokeRefreshFamily(e.ctx, ghost), "revoke unknown family")
	if revoked, err := e.s.IsFamilyRevoked(e.ctx, ghost); err != nil || !revoked {
		t.Errorf("IsFamilyRevoked(revoked unknown family) = %v, %v", revoked, err)
	}
	wantErr(t, e.s.CreateRefreshToken(e.ctx, newRefresh(e, ghost, "client-a")), store.ErrRevoked,
		"create in family revoked before it existed")
	// The revocation outlives the family's tokens long enough for access
	// tokens that carry the family ID.
	e.clock.Advance(23 * time.Hour)
	if _, err := e.s.DeleteExpired(e.ctx); err != nil {
		t.Fatal(err)
	}
	if revoked, _ := e.s.IsFamilyRevoked(e.ctx, ghost); !revoked {
		t.Error("revoked family forgotten before its tombstone TTL")
	}
}

// rotateAtOnce creates a refresh token and rotates it Concurrency times at
// once with the reuse grace; it returns the token, the successors' hashes
// and each rotation's result.
func rotateAtOnce(t *testing.T, e env, grace time.Duration) (store.RefreshToken, []store.Hash, []store.RefreshToken, []error) {
	t.Helper()
	rt := newRefresh(e, store.NewID(), "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, rt), "create")
	hashes := make([]store.Hash, Concurrency)
	for i := range hashes {
		hashes[i] = hash("refresh")
	}
	errs := make([]error, Concurrency)
	res := make([]store.RefreshToken, Concurrency)
	together(Concurrency, func(i int) {
		res[i], errs[i] = e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: rt.Hash, ClientID: "client-a",
			NewHash: hashes[i], NewExpiresAt: e.clock.Now().Add(time.Hour), ReuseGrace: grace})
	})
	return rt, hashes, res, errs
}

func testRefreshConcurrent(t *testing.T, e env) {
	_, hashes, _, errs := rotateAtOnce(t, e, 0)
	winner := oneWinner(t, "rotation", len(errs), func(i int) bool { return errs[i] == nil }, func(i int) error {
		if !errors.Is(errs[i], store.ErrAlreadyUsed) {
			return fmt.Errorf("unexpected error %v", errs[i])
		}
		return nil
	})
	// Exactly one successor was stored, and the losers' reuse revoked it.
	for i, h := range hashes {
		_, err := e.s.GetRefreshToken(e.ctx, h)
		if i == winner {
			wantErr(t, err, store.ErrRevoked, "winner's successor after concurrent reuse")
		} else {
			wantErr(t, err, store.ErrNotFound, "loser's successor")
		}
	}
}

// testRefreshReuseGrace: within Rotation.ReuseGrace of its rotation a
// token gets another successor in its family and nothing is revoked; a
// presentation after the grace is reuse and revokes the family.
func testRefreshReuseGrace(t *testing.T, e env) {
	const grace = 10 * time.Second
	fam := store.NewID()
	rt := newRefresh(e, fam, "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, rt), "create")
	rotate := func(scopes []string) (store.RefreshToken, error) {
		return e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: rt.Hash, ClientID: "client-a", NewHash: hash("refresh"),
			NewExpiresAt: e.clock.Now().Add(time.Hour), ReuseGrace: grace, Scopes: scopes,
			Check: func(old store.RefreshToken) error {
				if len(scopes) > len(old.Scopes) {
					return errWidened
				}
				return nil
			}})
	}
	first, err := rotate(nil)
	noErr(t, err, "rotate")
	e.clock.Advance(grace - time.Millisecond)
	// Another client's presentation is unknown, within the grace too.
	_, err = e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: rt.Hash, ClientID: "client-b", NewHash: hash("refresh"),
		NewExpiresAt: e.clock.Now().Add(time.Hour), ReuseGrace: grace})
	wantErr(t, err, store.ErrNotFound, "another client's token within the grace")
	// Check applies within the grace: its error changes nothing.
	_, err = rotate([]string{"a", "b", "c", "d"})
	wantErr(t, err, errWidened, "a failing Check within the grace")
	second, err := rotate([]string{"openid"})
	noErr(t, err, "rotate again within the grace")
	if second.FamilyID != fam || second.Hash == first.Hash || !slices.Equal(second.Scopes, []string{"openid"}) {
		t.Fatalf("successor within the grace = %+v, want a new token of family %s with scope openid", second, fam)
	}
	for _, h := range []store.Hash{first.Hash, second.Hash} {
		if _, err := e.s.GetRefreshToken(e.ctx, h); err != nil {
			t.Errorf("a successor after a presentation within the grace: %v", err)
		}
	}
	if revoked, err := e.s.IsFamilyRevoked(e.ctx, fam); err != nil || revoked {
		t.Fatalf("family revoked by a presentation within the grace = %v, %v", revoked, err)
	}
	// The grace counts from the token's rotation, not from the last
	// presentation.
	e.clock.Advance(time.Millisecond)
	got, err := rotate(nil)
	wantErr(t, err, store.ErrAlreadyUsed, "rotate a rotated token after the grace")
	if got.Hash != rt.Hash || got.FamilyID != fam {
		t.Errorf("reuse returned %+v, want the presented token's record", got)
	}
	if revoked, err := e.s.IsFamilyRevoked(e.ctx, fam); err != nil || !revoked {
		t.Fatalf("family revoked after reuse past the grace = %v, %v", revoked, err)
	}
	for _, h := range []store.Hash{first.Hash, second.Hash} {
		_, err := e.s.GetRefreshToken(e.ctx, h)
		wantErr(t, err, store.ErrRevoked, "a successor after reuse past the grace")
	}

	// A family revoked within the grace stays revoked.
	rt = newRefresh(e, store.NewID(), "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, rt), "create")
	_, err = rotate(nil)
	noErr(t, err, "rotate")
	noErr(t, e.s.RevokeRefreshFamily(e.ctx, rt.FamilyID), "revoke family")
	_, err = rotate(nil)
	if err == nil {
		t.Error("a token of a revoked family was rotated within the grace")
	}
}

var errWidened = errors.New("widened")

// testDPoPBinding: the DPoP key thumbprint of a code and of a refresh token
// round-trips, and every successor of a bound refresh token (a rotation and
// a sibling within the reuse grace) keeps it.
func testDPoPBinding(t *testing.T, e env) {
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	c := newCode(e, "client-a")
	c.DPoPJKT = jkt
	noErr(t, e.s.CreateAuthCode(e.ctx, c), "create code")
	got, err := e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", issued(e))
	noErr(t, err, "redeem")
	if got.DPoPJKT != jkt {
		t.Errorf("redeemed code DPoPJKT = %q, want %q", got.DPoPJKT, jkt)
	}

	rt := newRefresh(e, store.NewID(), "client-a")
	rt.DPoPJKT = jkt
	noErr(t, e.s.CreateRefreshToken(e.ctx, rt), "create refresh token")
	stored, err := e.s.GetRefreshToken(e.ctx, rt.Hash)
	noErr(t, err, "get")
	if stored.DPoPJKT != jkt {
		t.Errorf("stored DPoPJKT = %q, want %q", stored.DPoPJKT, jkt)
	}
	rotate := func() store.RefreshToken {
		t.Helper()
		next, err := e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: rt.Hash, ClientID: "client-a", NewHash: hash("refresh"),
			NewExpiresAt: e.clock.Now().Add(time.Hour), ReuseGrace: 10 * time.Second,
			Check: func(old store.RefreshToken) error {
				if old.DPoPJKT != jkt {
					t.Errorf("Check saw DPoPJKT %q, want %q", old.DPoPJKT, jkt)
				}
				return nil
			}})
		noErr(t, err, "rotate")
		return next
	}
	for i, next := range []store.RefreshToken{rotate(), rotate()} { // the second is a sibling within the grace
		if next.DPoPJKT != jkt {
			t.Errorf("successor %d DPoPJKT = %q, want %q", i, next.DPoPJKT, jkt)
		}
		stored, err := e.s.GetRefreshToken(e.ctx, next.Hash)
		noErr(t, err, "get successor")
		if stored.DPoPJKT != jkt {
			t.Errorf("stored successor %d DPoPJKT = %q, want %q", i, stored.DPoPJKT, jkt)
		}
	}
}

// testRefreshConcurrentWithinGrace: of concurrent rotations of one token
// with a reuse grace, every one succeeds with its own successor in the
// token's family, and the family stays alive.
func testRefreshConcurrentWithinGrace(t *testing.T, e env) {
	rt, hashes, res, errs := rotateAtOnce(t, e, 5*time.Second)
	for i, h := range hashes {
		if errs[i] != nil {
			t.Fatalf("rotation %d within the grace: %v", i, errs[i])
		}
		got, err := e.s.GetRefreshToken(e.ctx, h)
		if err != nil || got.FamilyID != rt.FamilyID || res[i].Hash != h {
			t.Fatalf("successor %d = %+v, %v; want a valid token of family %s", i, got, err, rt.FamilyID)
		}
	}
	if revoked, err := e.s.IsFamilyRevoked(e.ctx, rt.FamilyID); err != nil || revoked {
		t.Fatalf("family revoked by concurrent rotations within the grace = %v, %v", revoked, err)
	}
	_, err := e.s.GetRefreshToken(e.ctx, rt.Hash)
	wantErr(t, err, store.ErrAlreadyUsed, "the rotated token")
}

// --- single-use keys ---

func testFirstUse(t *testing.T, e env) {
	exp := e.clock.Now().Add(time.Minute)
	first := func(scope, key string, exp time.Time) bool {
		t.Helper()
		ok, err := e.s.FirstUse(e.ctx, scope, key, exp)
		noErr(t, err, "first use")
		return ok
	}
	if !first("a", "jti-1", exp) {
		t.Fatal("a new key is not a first use")
	}
	if first("a", "jti-1", exp) {
		t.Fatal("a replay within its lifetime is a first use")
	}
	if !first("b", "jti-1", exp) || !first("a", "jti-2", exp) {
		t.Fatal("another scope or another key collides")
	}
	// The first use's expiry counts: a replay with a later one is still a
	// replay, and it does not extend the record.
	if first("a", "jti-1", exp.Add(time.Hour)) {
		t.Fatal("a replay with a later expiry is a first use")
	}
	// Expired but not swept: taken over as new.
	e.clock.Set(exp)
	if !first("a", "jti-1", exp.Add(time.Minute)) {
		t.Fatal("a key used again after its expiry is not a first use")
	}
	if first("a", "jti-1", exp.Add(time.Minute)) {
		t.Fatal("the taken-over key can be used twice")
	}
	e.clock.Set(exp.Add(time.Minute))
	n, err := e.s.DeleteExpired(e.ctx)
	noErr(t, err, "delete expired")
	if n < 3 {
		t.Fatalf("DeleteExpired removed %d records, want the 3 single-use keys", n)
	}
	if _, err := e.s.FirstUse(e.ctx, "a", "", exp); err == nil {
		t.Error("an empty key is accepted")
	}
	if _, err := e.s.FirstUse(e.ctx, "a", "k", time.Time{}); err == nil {
		t.Error("a key without expiry is accepted")
	}
}

func testFirstUseConcurrent(t *testing.T, e env) {
	exp := e.clock.Now().Add(time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for range Concurrency {
		wg.Go(func() {
			ok, err := e.s.FirstUse(e.ctx, store.ScopeClientAssertion, "same-jti", exp)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firsts != 1 {
		t.Fatalf("%d of %d concurrent uses of one key were first uses, want exactly 1", firsts, Concurrency)
	}
}

// --- pushed authorization requests ---

func newPushed(t *testing.T, e env, uri string, ttl time.Duration) store.PushedRequest {
	t.Helper()
	p := store.PushedRequest{Hash: store.HashToken(uri), ClientID: "web", ClientUID: "uid-1",
		Params:    url.Values{"response_type": {"code"}, "scope": {"openid profile"}, "resource": {"https://a/", "https://b/"}},
		ExpiresAt: e.clock.Now().Add(ttl)}
	noErr(t, e.s.CreatePushedRequest(e.ctx, p), "create pushed request")
	return p
}

func testPushedLifecycle(t *testing.T, e env) {
	p := newPushed(t, e, "urn:1", time.Minute)
	wantErr(t, e.s.CreatePushedRequest(e.ctx, p), store.ErrConflict, "create twice")
	resume := store.HashToken("resume-1")
	until := e.clock.Now().Add(15 * time.Minute)
	got, err := e.s.UsePushedRequest(e.ctx, p.Hash, "web", resume, until)
	noErr(t, err, "use")
	if got.ClientUID != "uid-1" || !reflect.DeepEqual(got.Params, p.Params) || got.UsedAt.IsZero() {
		t.Fatalf("used request = %+v, want the stored one, used", got)
	}
	eqTime(t, "expiry after use", got.ExpiresAt, until)
	_, err = e.s.UsePushedRequest(e.ctx, p.Hash, "web", store.HashToken("resume-2"), until)
	wantErr(t, err, store.ErrAlreadyUsed, "second use")
	// The resume handle reads it, as often as the pages need, until the
	// interaction's end.
	for range 2 {
		got, err = e.s.ResumePushedRequest(e.ctx, resume, "web")
		noErr(t, err, "resume")
		if !reflect.DeepEqual(got.Params, p.Params) {
			t.Fatalf("resumed params = %v", got.Params)
		}
	}
	_, err = e.s.ResumePushedRequest(e.ctx, resume, "other")
	wantErr(t, err, store.ErrNotFound, "resume by another client")
	_, err = e.s.ResumePushedRequest(e.ctx, store.HashToken("resume-2"), "web")
	wantErr(t, err, store.ErrNotFound, "resume with the handle of the refused second use")
	noErr(t, e.s.FinishPushedRequest(e.ctx, resume), "finish")
	wantErr(t, e.s.FinishPushedRequest(e.ctx, resume), store.ErrNotFound, "finish twice")
	_, err = e.s.ResumePushedRequest(e.ctx, resume, "web")
	wantErr(t, err, store.ErrNotFound, "resume after finish")

	// An interaction that lasts too long ends with the resume handle.
	q := newPushed(t, e, "urn:2", time.Minute)
	resume = store.HashToken("resume-3")
	_, err = e.s.UsePushedRequest(e.ctx, q.Hash, "web", resume, e.clock.Now().Add(2*time.Minute))
	noErr(t, err, "use")
	e.clock.Advance(2 * time.Minute)
	_, err = e.s.ResumePushedRequest(e.ctx, resume, "web")
	wantErr(t, err, store.ErrExpired, "resume after the interaction's end")
	wantErr(t, e.s.FinishPushedRequest(e.ctx, resume), store.ErrNotFound, "finish after the interaction's end")
	n, err := e.s.DeleteExpired(e.ctx)
	noErr(t, err, "delete expired")
	if n != 1 {
		t.Fatalf("DeleteExpired removed %d records, want the expired pushed request", n)
	}
}

func testPushedErrors(t *testing.T, e env) {
	p := newPushed(t, e, "urn:1", time.Minute)
	until := e.clock.Now().Add(15 * time.Minute)
	_, err := e.s.UsePushedRequest(e.ctx, store.HashToken("urn:unknown"), "web", store.HashToken("r1"), until)
	wantErr(t, err, store.ErrNotFound, "unknown request_uri")
	_, err = e.s.UsePushedRequest(e.ctx, p.Hash, "other", store.HashToken("r2"), until)
	wantErr(t, err, store.ErrNotFound, "another client's request_uri")
	e.clock.Advance(time.Minute)
	_, err = e.s.UsePushedRequest(e.ctx, p.Hash, "web", store.HashToken("r3"), until)
	wantErr(t, err, store.ErrExpired, "expired request_uri")
	if err := e.s.CreatePushedRequest(e.ctx, store.PushedRequest{Hash: store.HashToken("x"), ClientID: "web"}); err == nil {
		t.Error("a pushed request without expiry is accepted")
	}
	if _, err := e.s.UsePushedRequest(e.ctx, p.Hash, "web", store.Hash{}, until); err == nil {
		t.Error("a use without a resume handle is accepted")
	}
}

func testPushedConcurrent(t *testing.T, e env) {
	p := newPushed(t, e, "urn:1", time.Minute)
	until := e.clock.Now().Add(15 * time.Minute)
	resume := func(i int) store.Hash { return store.HashToken(fmt.Sprint("resume-", i)) }
	used := concurrentSuccesses(t, store.ErrAlreadyUsed, func(i int) error {
		_, err := e.s.UsePushedRequest(e.ctx, p.Hash, "web", resume(i), until)
		return err
	})
	if used != 1 {
		t.Fatalf("%d of %d concurrent uses of one request_uri succeeded, want exactly 1", used, Concurrency)
	}
	_, err := e.s.UsePushedRequest(e.ctx, p.Hash, "web", store.HashToken("late"), until)
	wantErr(t, err, store.ErrAlreadyUsed, "use after the race")
	var won store.Hash
	for i := range Concurrency {
		if _, err := e.s.ResumePushedRequest(e.ctx, resume(i), "web"); err == nil {
			won = resume(i)
		}
	}
	if won.IsZero() {
		t.Fatal("the winning use left no resume handle")
	}
	finished := concurrentSuccesses(t, store.ErrNotFound, func(int) error { return e.s.FinishPushedRequest(e.ctx, won) })
	if finished != 1 {
		t.Fatalf("%d of %d concurrent finishes of one pushed request succeeded, want exactly 1", finished, Concurrency)
	}
}

// concurrentSuccesses runs f Concurrency times at once and counts the
// calls that returned no error; an error other than lost fails the test.
func concurrentSuccesses(t *testing.T, lost error, f func(i int) error) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for i := range Concurrency {
		wg.Go(func() {
			err := f(i)
			if err != nil && !errors.Is(err, lost) {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				n++
			}
		})
	}
	wg.Wait()
	return n
}

// --- access tokens ---

func testAccessTokenRevoke(t *testing.T, e env) {
	jti := store.NewID()
	if revoked, err := e.s.IsAccessTokenRevoked(e.ctx, jti); err != nil || revoked {
		t.Fatalf("unknown jti revoked = %v, %v", revoked, err)
	}
	exp := e.clock.Now().Add(time.Hour)
	noErr(t, e.s.RevokeAccessToken(e.ctx, jti, exp), "revoke")
	noErr(t, e.s.RevokeAccessToken(e.ctx, jti, exp), "revoke again")
	if revoked, err := e.s.IsAccessTokenRevoked(e.ctx, jti); err != nil || !revoked {
		t.Fatalf("revoked jti = %v, %v", revoked, err)
	}
	if revoked, _ := e.s.IsAccessTokenRevoked(e.ctx, store.NewID()); revoked {
		t.Fatal("another jti revoked")
	}
	// A later expiry extends the record; an earlier one does not shorten it.
	noErr(t, e.s.RevokeAccessToken(e.ctx, jti, exp.Add(time.Hour)), "revoke with later expiry")
	noErr(t, e.s.RevokeAccessToken(e.ctx, jti, exp.Add(-30*time.Minute)), "revoke with earlier expiry")
	e.clock.Set(exp)
	if _, err := e.s.DeleteExpired(e.ctx); err != nil {
		t.Fatal(err)
	}
	if revoked, _ := e.s.IsAccessTokenRevoked(e.ctx, jti); !revoked {
		t.Fatal("revocation swept before the extended expiry")
	}
	e.clock.Set(exp.Add(time.Hour))
	if _, err := e.s.DeleteExpired(e.ctx); err != nil {
		t.Fatal(err)
	}
	if revoked, _ := e.s.IsAccessTokenRevoked(e.ctx, jti); revoked {
		t.Fatal("revocation not swept after the token's expiry")
	}
}

// --- device authorizations ---

func testDeviceCreateGet(t *testing.T, e env) {
	d := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create")
	got, err := e.s.GetDeviceAuthByUserCode(e.ctx, d.UserCode)
	noErr(t, err, "get")
	if got.DeviceHash != d.DeviceHash || got.UserCode != d.UserCode || got.ClientID != "tv" ||
		got.Status != store.DevicePending || got.AccountID != "" {
		t.Errorf("got %+v", got)
	}
	eqScopes(t, "Scopes", got.Scopes, d.Scopes)
	if got.Interval != store.DefaultDeviceInterval {
		t.Errorf("Interval = %v, want default %v", got.Interval, store.DefaultDeviceInterval)
	}
	eqTime(t, "CreatedAt", got.CreatedAt, e.clock.Now())
	eqTime(t, "ExpiresAt", got.ExpiresAt, d.ExpiresAt)
	if !got.LastPollAt.IsZero() || !got.DecidedAt.IsZero() || !got.ConsumedAt.IsZero() {
		t.Errorf("fresh device authorization has times set: %+v", got)
	}

	odd := newDevice(e, "tv")
	odd.Interval = 1500 * time.Millisecond
	noErr(t, e.s.CreateDeviceAuth(e.ctx, odd), "create with interval")
	got, err = e.s.GetDeviceAuthByUserCode(e.ctx, odd.UserCode)
	noErr(t, err, "get")
	if got.Interval != 2*time.Second {
		t.Errorf("Interval = %v, want 1.5s rounded up to 2s", got.Interval)
	}

	dupHash := newDevice(e, "tv")
	dupHash.DeviceHash = d.DeviceHash
	wantErr(t, e.s.CreateDeviceAuth(e.ctx, dupHash), store.ErrConflict, "duplicate device code")
	dupCode := newDevice(e, "tv")
	dupCode.UserCode = d.UserCode
	wantErr(t, e.s.CreateDeviceAuth(e.ctx, dupCode), store.ErrConflict, "duplicate user code")

	_, err = e.s.GetDeviceAuthByUserCode(e.ctx, "NOPE-NOPE")
	wantErr(t, err, store.ErrNotFound, "get unknown")
}

func poll(t *testing.T, e env, d store.DeviceAuth, grace time.Duration, want store.PollResult) store.DeviceAuth {
	t.Helper()
	return pollAs(t, e, d, store.DevicePoll{Grace: grace}, want)
}

// pollAs polls d with p and wants the result want.
func pollAs(t *testing.T, e env, d store.DeviceAuth, p store.DevicePoll, want store.PollResult) store.DeviceAuth {
	t.Helper()
	got, res, err := e.s.PollDeviceAuth(e.ctx, d.DeviceHash, d.ClientID, p)
	if err != nil {
		t.Fatalf("poll: %v (want %s)", err, want)
	}
	if res != want {
		t.Fatalf("poll = %s, want %s (state %+v)", res, want, got)
	}
	return got
}

func testDevicePollFlow(t *testing.T, e env) {
	d := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create")

	got := poll(t, e, d, 0, store.PollPending)
	eqTime(t, "LastPollAt after first poll", got.LastPollAt, e.clock.Now())
	t0 := e.clock.Now()

	// Too early: slow_down, interval +5s, counts as the last poll.
	e.clock.Advance(4 * time.Second)
	got = poll(t, e, d, 0, store.PollSlowDown)
	if got.Interval != 10*time.Second {
		t.Fatalf("Interval after slow_down = %v, want 10s", got.Interval)
	}
	eqTime(t, "LastPollAt after slow_down", got.LastPollAt, t0.Add(4*time.Second))
	// The old interval has passed since the first poll, but the new one has
	// not passed since the slow_down poll.
	e.clock.Advance(6 * time.Second)
	got = poll(t, e, d, 0, store.PollSlowDown)
	if got.Interval != 15*time.Second {
		t.Fatalf("Interval after second slow_down = %v, want 15s", got.Interval)
	}
	e.clock.Advance(15 * time.Second)
	got = poll(t, e, d, 0, store.PollPending)
	if got.Interval != 15*time.Second {
		t.Fatalf("Interval after a good poll = %v, want it kept at 15s", got.Interval)
	}
	// The interval persists.
	stored, err := e.s.GetDeviceAuthByUserCode(e.ctx, d.UserCode)
	noErr(t, err, "get")
	if stored.Interval != 15*time.Second {
		t.Fatalf("stored Interval = %v, want 15s", stored.Interval)
	}

	authTime := e.clock.Now().Add(-time.Second)
	approved, err := e.s.ApproveDeviceAuth(e.ctx, d.UserCode, "alice", "", authTime)
	noErr(t, err, "approve")
	if approved.Status != store.DeviceApproved || approved.AccountID != "alice" {
		t.Fatalf("approved = %+v", approved)
	}
	eqTime(t, "DecidedAt", approved.DecidedAt, e.clock.Now())
	_, err = e.s.ApproveDeviceAuth(e.ctx, d.UserCode, "bob", "", authTime)
	wantErr(t, err, store.ErrAlreadyUsed, "approve twice")
	_, err = e.s.DenyDeviceAuth(e.ctx, d.UserCode)
	wantErr(t, err, store.ErrAlreadyUsed, "deny after approve")

	// Approved, but polled too early: slow_down, not tokens.
	e.clock.Advance(time.Second)
	poll(t, e, d, 0, store.PollSlowDown)
	e.clock.Advance(20 * time.Second)
	got = poll(t, e, d, 0, store.PollApproved)
	if got.AccountID != "alice" {
		t.Errorf("approved poll AccountID = %q", got.AccountID)
	}
	eqTime(t, "AuthTime", got.AuthTime, authTime)
	eqTime(t, "ConsumedAt", got.ConsumedAt, e.clock.Now())

	// Tokens are issued once.
	e.clock.Advance(time.Minute)
	got, _, err = e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "tv", store.DevicePoll{})
	wantErr(t, err, store.ErrAlreadyUsed, "poll after consumption")
	if got.DeviceHash != d.DeviceHash {
		t.Errorf("consumed poll returned %+v, want the record", got)
	}
}

func testDevicePollGrace(t *testing.T, e env) {
	const grace = 2 * time.Second
	header := store.DevicePoll{Grace: grace, AuthStyle: store.AuthStyleHeader}
	body := store.DevicePoll{Grace: grace, AuthStyle: store.AuthStyleBody}
	d := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create")
	first := pollAs(t, e, d, header, store.PollPending)

	// An immediate re-send in the other authentication style (e.g.
	// golang.org/x/oauth2's auth-style probe) within the grace period:
	// pending, nothing changes. Even when approved meanwhile, a grace poll
	// does not consume.
	e.clock.Advance(500 * time.Millisecond)
	_, err := e.s.ApproveDeviceAuth(e.ctx, d.UserCode, "alice", "", e.clock.Now())
	noErr(t, err, "approve")
	got := pollAs(t, e, d, body, store.PollPending)
	if got.Interval != store.DefaultDeviceInterval || !got.LastPollAt.Equal(first.LastPollAt) || !got.ConsumedAt.IsZero() {
		t.Fatalf("grace poll changed state: %+v", got)
	}
	// The grace is given once: another re-send within it is too early.
	got = pollAs(t, e, d, header, store.PollSlowDown)
	if got.Interval != store.DefaultDeviceInterval+store.SlowDownStep {
		t.Fatalf("Interval = %v", got.Interval)
	}
	// The re-send of the slowed-down poll in the other style is in the grace.
	pollAs(t, e, d, body, store.PollPending)
	// After the grace period but before the interval: slow_down.
	e.clock.Advance(grace)
	got = pollAs(t, e, d, body, store.PollSlowDown)
	e.clock.Advance(got.Interval)
	pollAs(t, e, d, header, store.PollApproved)

	// Within the grace, a poll in the same style as the last one, or one
	// without a style, is polling too fast.
	for _, second := range []store.DevicePoll{header, {Grace: grace}} {
		d := newDevice(e, "tv")
		noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create")
		pollAs(t, e, d, header, store.PollPending)
		e.clock.Advance(100 * time.Millisecond)
		pollAs(t, e, d, second, store.PollSlowDown)
	}
	// Two polls at once in the same style: one passes, one slows down; in
	// the two styles: both pending.
	for _, tc := range []struct {
		second store.DevicePoll
		want   []store.PollResult
	}{
		{header, []store.PollResult{store.PollPending, store.PollSlowDown}},
		{body, []store.PollResult{store.PollPending, store.PollPending}},
	} {
		d := newDevice(e, "tv")
		noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create")
		res := make([]store.PollResult, 2)
		errs := make([]error, 2)
		together(2, func(i int) {
			_, res[i], errs[i] = e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "tv", []store.DevicePoll{header, tc.second}[i])
		})
		noErr(t, errors.Join(errs...), "poll at once")
		slices.Sort(res)
		slices.Sort(tc.want)
		if !slices.Equal(res, tc.want) {
			t.Errorf("two polls at once, the second in style %q: %v, want %v", tc.second.AuthStyle, res, tc.want)
		}
	}
}

func testDeviceDenyAndErrors(t *testing.T, e env) {
	d := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create")
	poll(t, e, d, 0, store.PollPending)

	_, _, err := e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "other-client", store.DevicePoll{})
	wantErr(t, err, store.ErrNotFound, "poll by another client")
	_, _, err = e.s.PollDeviceAuth(e.ctx, hash("device"), "tv", store.DevicePoll{})
	wantErr(t, err, store.ErrNotFound, "poll unknown device code")
	_, err = e.s.ApproveDeviceAuth(e.ctx, "NOPE-NOPE", "alice", "", e.clock.Now())
	wantErr(t, err, store.ErrNotFound, "approve unknown")
	_, err = e.s.DenyDeviceAuth(e.ctx, "NOPE-NOPE")
	wantErr(t, err, store.ErrNotFound, "deny unknown")

	denied, err := e.s.DenyDeviceAuth(e.ctx, d.UserCode)
	noErr(t, err, "deny")
	if denied.Status != store.DeviceDenied {
		t.Fatalf("denied = %+v", denied)
	}
	// Denial is reported whatever the interval.
	poll(t, e, d, 0, store.PollDenied)
	poll(t, e, d, 0, store.PollDenied)
	_, err = e.s.ApproveDeviceAuth(e.ctx, d.UserCode, "alice", "", e.clock.Now())
	wantErr(t, err, store.ErrAlreadyUsed, "approve after deny")
	_, err = e.s.DenyDeviceAuth(e.ctx, d.UserCode)
	wantErr(t, err, store.ErrAlreadyUsed, "deny twice")
	got, err := e.s.GetDeviceAuthByUserCode(e.ctx, d.UserCode)
	noErr(t, err, "get")
	if got.Status != store.DeviceDenied {
		t.Errorf("stored status = %s", got.Status)
	}
}

func testDeviceExpiry(t *testing.T, e env) {
	d := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create")
	d2 := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, d2), "create")
	_, err := e.s.ApproveDeviceAuth(e.ctx, d2.UserCode, "alice", "", e.clock.Now())
	noErr(t, err, "approve")

	e.clock.Set(us(d.ExpiresAt))
	got, err := e.s.GetDeviceAuthByUserCode(e.ctx, d.UserCode)
	wantErr(t, err, store.ErrExpired, "get expired")
	if got.UserCode != d.UserCode {
		t.Errorf("expired get returned %+v", got)
	}
	_, err = e.s.ApproveDeviceAuth(e.ctx, d.UserCode, "alice", "", e.clock.Now())
	wantErr(t, err, store.ErrExpired, "approve expired")
	poll(t, e, d, 0, store.PollExpired)
	// Approved but not collected in time: expired, no tokens.
	poll(t, e, d2, 0, store.PollExpired)
}

func testDeviceConcurrentPending(t *testing.T, e env) {
	d := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create")
	res := make([]store.PollResult, Concurrency)
	errs := make([]error, Concurrency)
	together(Concurrency, func(i int) {
		_, res[i], errs[i] = e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "tv", store.DevicePoll{})
	})
	passed := 0
	for i := range res {
		if errs[i] != nil {
			t.Fatalf("poll %d: %v", i, errs[i])
		}
		switch res[i] {
		case store.PollPending:
			passed++
		case store.PollSlowDown:
		default:
			t.Errorf("poll %d = %s", i, res[i])
		}
	}
	if passed != 1 {
		t.Fatalf("%d of %d concurrent polls passed the interval check, want exactly 1", passed, Concurrency)
	}
	// Every other poll was a slow_down, and none of the increments was lost.
	got, err := e.s.GetDeviceAuthByUserCode(e.ctx, d.UserCode)
	noErr(t, err, "get")
	want := store.DefaultDeviceInterval + time.Duration(Concurrency-1)*store.SlowDownStep
	if got.Interval != want {
		t.Errorf("Interval = %v, want %v", got.Interval, want)
	}
}

func testDeviceConcurrentApproved(t *testing.T, e env) {
	d := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create")
	_, err := e.s.ApproveDeviceAuth(e.ctx, d.UserCode, "alice", "", e.clock.Now())
	noErr(t, err, "approve")
	res := make([]store.PollResult, Concurrency)
	errs := make([]error, Concurrency)
	together(Concurrency, func(i int) {
		_, res[i], errs[i] = e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "tv", store.DevicePoll{})
	})
	approved := 0
	for i := range res {
		switch {
		case errs[i] == nil && res[i] == store.PollApproved:
			approved++
		case errs[i] == nil && res[i] == store.PollSlowDown:
		case errors.Is(errs[i], store.ErrAlreadyUsed):
		default:
			t.Errorf("poll %d = %s, %v", i, res[i], errs[i])
		}
	}
	if approved != 1 {
		t.Fatalf("%d of %d concurrent polls got tokens, want exactly 1", approved, Concurrency)
	}
}

// deviceIssuing returns a DevicePoll whose Issue creates the first refresh
// token of a new family (the HTTP layer's device grant) and counts its calls.
func deviceIssuing(e env, calls *int) (store.DevicePoll, *store.RefreshToken) {
	rt := newRefresh(e, store.NewID(), "tv")
	return store.DevicePoll{Issue: func(d store.DeviceAuth) (*store.RefreshToken, error) {
		*calls++
		rt.AccountID, rt.Scopes, rt.AuthTime = d.AccountID, d.Scopes, d.AuthTime
		return &rt, nil
	}}, &rt
}

// approvedDevice creates a device authorization, polls it once (pending) and
// approves it for alice; the next poll is due after its interval.
func approvedDevice(t *testing.T, e env) store.DeviceAuth {
	t.Helper()
	d := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create")
	poll(t, e, d, 0, store.PollPending)
	got, err := e.s.ApproveDeviceAuth(e.ctx, d.UserCode, "alice", "", e.clock.Now().Add(-time.Second))
	noErr(t, err, "approve")
	return got
}

func testDeviceIssue(t *testing.T, e env) {
	d := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create")
	calls := 0
	p, rt := deviceIssuing(e, &calls)
	p.Grace, p.AuthStyle = 2*time.Second, store.AuthStyleHeader
	pollIssue := func(want store.PollResult) store.DeviceAuth {
		t.Helper()
		got, res, err := e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "tv", p)
		if err != nil || res != want {
			t.Fatalf("poll = %s, %v; want %s", res, err, want)
		}
		return got
	}
	// Issue is called only for the poll that consumes the approval:
	// not while pending, within the grace, or on a slow_down.
	pollIssue(store.PollPending)
	e.clock.Advance(500 * time.Millisecond)
	authTime := e.clock.Now()
	_, err := e.s.ApproveDeviceAuth(e.ctx, d.UserCode, "alice", "", authTime)
	noErr(t, err, "approve")
	p.AuthStyle = store.AuthStyleBody
	pollIssue(store.PollPending) // within the grace, in the other style
	e.clock.Advance(2 * time.Second)
	slow := pollIssue(store.PollSlowDown)
	if calls != 0 {
		t.Fatalf("Issue called %d times before the approved poll", calls)
	}
	e.clock.Advance(slow.Interval)
	got := pollIssue(store.PollApproved)
	if calls != 1 || got.ConsumedAt.IsZero() || got.AccountID != "alice" {
		t.Fatalf("Issue called %d times, state %+v", calls, got)
	}
	stored, err := e.s.GetRefreshToken(e.ctx, rt.Hash)
	noErr(t, err, "get the refresh token created with the approved poll")
	if stored.FamilyID != rt.FamilyID || stored.ClientID != "tv" || stored.AccountID != "alice" {
		t.Errorf("refresh token = %+v", stored)
	}
	eqScopes(t, "Scopes", stored.Scopes, d.Scopes)
	eqTime(t, "AuthTime", stored.AuthTime, authTime)
	eqTime(t, "CreatedAt", stored.CreatedAt, e.clock.Now())
	// It rotates like any other.
	_, err = e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: rt.Hash, ClientID: "tv",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)})
	noErr(t, err, "rotate")

	// Not called for a consumed, unknown, denied or expired device code.
	e.clock.Advance(time.Minute)
	_, _, err = e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "tv", p)
	wantErr(t, err, store.ErrAlreadyUsed, "poll after consumption")
	_, _, err = e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "other-client", p)
	wantErr(t, err, store.ErrNotFound, "poll by another client")
	denied := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, denied), "create")
	_, err = e.s.DenyDeviceAuth(e.ctx, denied.UserCode)
	noErr(t, err, "deny")
	if _, res, err := e.s.PollDeviceAuth(e.ctx, denied.DeviceHash, "tv", p); err != nil || res != store.PollDenied {
		t.Fatalf("poll denied = %s, %v", res, err)
	}
	late := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, late), "create")
	_, err = e.s.ApproveDeviceAuth(e.ctx, late.UserCode, "alice", "", e.clock.Now())
	noErr(t, err, "approve")
	e.clock.Set(us(late.ExpiresAt))
	if _, res, err := e.s.PollDeviceAuth(e.ctx, late.DeviceHash, "tv", p); err != nil || res != store.PollExpired {
		t.Fatalf("poll expired = %s, %v", res, err)
	}
	if calls != 1 {
		t.Errorf("Issue called %d times, want once", calls)
	}

	// Issue returning nil: tokens without a refresh token.
	none := approvedDevice(t, e)
	e.clock.Advance(none.Interval)
	got, res, err := e.s.PollDeviceAuth(e.ctx, none.DeviceHash, "tv", store.DevicePoll{
		Issue: func(store.DeviceAuth) (*store.RefreshToken, error) { return nil, nil }})
	if err != nil || res != store.PollApproved || got.ConsumedAt.IsZero() {
		t.Fatalf("poll with Issue returning nil = %s, %v, %+v", res, err, got)
	}
}

func testDeviceIssueErrors(t *testing.T, e env) {
	// Issue's error: the approval is consumed, nothing else is stored, the
	// error comes back as is with the record.
	d := approvedDevice(t, e)
	e.clock.Advance(d.Interval)
	errCheck := errors.New("account disabled")
	var rt store.RefreshToken
	got, res, err := e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "tv", store.DevicePoll{
		Issue: func(d store.DeviceAuth) (*store.RefreshToken, error) {
			rt = newRefresh(e, store.NewID(), "tv")
			return &rt, errCheck
		}})
	if err != errCheck {
		t.Fatalf("poll with a failing Issue: %v, want its error as is", err)
	}
	if res != store.PollApproved || got.DeviceHash != d.DeviceHash || got.ConsumedAt.IsZero() {
		t.Errorf("poll with a failing Issue returned %s, %+v; want approved and the consumed record", res, got)
	}
	_, err = e.s.GetRefreshToken(e.ctx, rt.Hash)
	wantErr(t, err, store.ErrNotFound, "refresh token of a failing Issue")
	if revoked, err := e.s.IsFamilyRevoked(e.ctx, rt.FamilyID); err != nil || revoked {
		t.Errorf("family of a failing Issue: revoked = %v, %v", revoked, err)
	}
	e.clock.Advance(time.Minute)
	_, _, err = e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "tv", store.DevicePoll{})
	wantErr(t, err, store.ErrAlreadyUsed, "poll after a failing Issue")

	// A refresh token that cannot be stored: the whole poll is rolled back,
	// the approval stays usable and the poll does not count.
	existing := newRefresh(e, store.NewID(), "tv")
	noErr(t, e.s.CreateRefreshToken(e.ctx, existing), "create refresh token")
	foreign := newRefresh(e, store.NewID(), "tv")
	foreign.AccountID = "bob"
	noErr(t, e.s.CreateRefreshToken(e.ctx, foreign), "create bob's refresh token")
	for _, tc := range []struct {
		name    string
		revoke  bool // the family is revoked before the poll
		token   func() store.RefreshToken
		wantErr error
	}{
		{name: "duplicate hash", wantErr: store.ErrConflict, token: func() store.RefreshToken {
			rt := newRefresh(e, store.NewID(), "tv")
			rt.Hash = existing.Hash
			return rt
		}},
		{name: "family of another account", wantErr: store.ErrConflict, token: func() store.RefreshToken {
			return newRefresh(e, foreign.FamilyID, "tv")
		}},
		{name: "another client", token: func() store.RefreshToken {
			return newRefresh(e, store.NewID(), "other-client")
		}},
		{name: "another account", token: func() store.RefreshToken {
			rt := newRefresh(e, store.NewID(), "tv")
			rt.AccountID = "bob"
			return rt
		}},
		{name: "no expiry", token: func() store.RefreshToken {
			rt := newRefresh(e, store.NewID(), "tv")
			rt.ExpiresAt = time.Time{}
			return rt
		}},
		{name: "revoked family", revoke: true, wantErr: store.ErrRevoked, token: func() store.RefreshToken {
			return newRefresh(e, store.NewID(), "tv")
		}},
	} {
		d := approvedDevice(t, e)
		e.clock.Advance(d.Interval)
		before, err := e.s.GetDeviceAuthByUserCode(e.ctx, d.UserCode)
		noErr(t, err, tc.name+": get")
		rt := tc.token()
		if tc.revoke {
			noErr(t, e.s.RevokeRefreshFamily(e.ctx, rt.FamilyID), tc.name+": revoke family")
		}
		_, _, err = e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "tv", store.DevicePoll{
			Issue: func(store.DeviceAuth) (*store.RefreshToken, error) { return &rt, nil }})
		if err == nil {
			t.Errorf("%s: poll succeeded", tc.name)
		} else if tc.wantErr != nil {
			wantErr(t, err, tc.wantErr, tc.name)
		}
		if rt.Hash != existing.Hash {
			_, err = e.s.GetRefreshToken(e.ctx, rt.Hash)
			wantErr(t, err, store.ErrNotFound, tc.name+": refresh token")
		}
		after, err := e.s.GetDeviceAuthByUserCode(e.ctx, d.UserCode)
		noErr(t, err, tc.name+": get")
		if !after.ConsumedAt.IsZero() || !after.LastPollAt.Equal(before.LastPollAt) || after.Interval != before.Interval {
			t.Errorf("%s: the failed poll changed the authorization: %+v, before %+v", tc.name, after, before)
		}
		// Not counted as the last poll: the next poll, at once, gets the
		// tokens.
		calls := 0
		p, good := deviceIssuing(e, &calls)
		_, res, err := e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "tv", p)
		if err != nil || res != store.PollApproved || calls != 1 {
			t.Fatalf("%s: poll after the failed one = %s, %v (Issue called %d times); the approval must stay usable",
				tc.name, res, err, calls)
		}
		_, err = e.s.GetRefreshToken(e.ctx, good.Hash)
		noErr(t, err, tc.name+": refresh token of the poll after the failed one")
	}
}

func testDeviceConcurrentIssue(t *testing.T, e env) {
	d := approvedDevice(t, e)
	e.clock.Advance(d.Interval)
	polls := make([]store.DevicePoll, Concurrency)
	rts := make([]*store.RefreshToken, Concurrency)
	calls := make([]int, Concurrency)
	res := make([]store.PollResult, Concurrency)
	errs := make([]error, Concurrency)
	for i := range polls {
		polls[i], rts[i] = deviceIssuing(e, &calls[i])
	}
	together(Concurrency, func(i int) {
		_, res[i], errs[i] = e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "tv", polls[i])
	})
	winner := oneWinner(t, "poll", len(res), func(i int) bool { return errs[i] == nil && res[i] == store.PollApproved }, func(i int) error {
		if !(errs[i] == nil && res[i] == store.PollSlowDown) && !errors.Is(errs[i], store.ErrAlreadyUsed) {
			return fmt.Errorf("= %s, %v", res[i], errs[i])
		}
		if calls[i] != 0 {
			return errors.New("Issue called for a losing poll")
		}
		_, err := e.s.GetRefreshToken(e.ctx, rts[i].Hash)
		wantErr(t, err, store.ErrNotFound, "refresh token of a losing poll")
		return nil
	})
	if calls[winner] != 1 {
		t.Errorf("Issue called %d times for the winning poll", calls[winner])
	}
	_, err := e.s.GetRefreshToken(e.ctx, rts[winner].Hash)
	noErr(t, err, "winner's refresh token")
}

// --- sessions ---

func testSession(t *testing.T, e env) {
	ss := store.Session{IDHash: hash("sid"), AccountID: "alice", Binding: "b-alice-1", AuthTime: e.clock.Now().Add(-time.Second),
		ExpiresAt: e.clock.Now().Add(time.Hour)}
	noErr(t, e.s.CreateSession(e.ctx, ss), "create")
	got, err := e.s.GetSession(e.ctx, ss.IDHash)
	noErr(t, err, "get")
	if got.IDHash != ss.IDHash || got.AccountID != "alice" || got.Binding != "b-alice-1" {
		t.Errorf("got %+v", got)
	}
	eqTime(t, "AuthTime", got.AuthTime, ss.AuthTime)
	eqTime(t, "CreatedAt", got.CreatedAt, e.clock.Now())
	eqTime(t, "ExpiresAt", got.ExpiresAt, ss.ExpiresAt)
	wantErr(t, e.s.CreateSession(e.ctx, ss), store.ErrConflict, "create duplicate")
	_, err = e.s.GetSession(e.ctx, hash("sid"))
	wantErr(t, err, store.ErrNotFound, "get unknown")

	// Sign-out deletes one session, not the account's others.
	other := store.Session{IDHash: hash("sid"), AccountID: "alice", ExpiresAt: e.clock.Now().Add(time.Hour)}
	noErr(t, e.s.CreateSession(e.ctx, other), "create second")
	noErr(t, e.s.DeleteSession(e.ctx, ss.IDHash), "delete")
	_, err = e.s.GetSession(e.ctx, ss.IDHash)
	wantErr(t, err, store.ErrNotFound, "get deleted")
	wantErr(t, e.s.DeleteSession(e.ctx, ss.IDHash), store.ErrNotFound, "delete twice")
	wantErr(t, e.s.DeleteSession(e.ctx, hash("sid")), store.ErrNotFound, "delete unknown")
	if got, err := e.s.GetSession(e.ctx, other.IDHash); err != nil || got.Binding != "" {
		t.Fatalf("the account's other session after a delete: %+v, %v", got, err)
	}

	bob := store.Session{IDHash: hash("sid"), AccountID: "bob", ExpiresAt: e.clock.Now().Add(time.Minute)}
	noErr(t, e.s.CreateSession(e.ctx, bob), "create")
	e.clock.Set(us(bob.ExpiresAt).Add(-time.Microsecond))
	if _, err := e.s.GetSession(e.ctx, bob.IDHash); err != nil {
		t.Fatalf("session just before its expiry: %v", err)
	}
	e.clock.Set(us(bob.ExpiresAt))
	_, err = e.s.GetSession(e.ctx, bob.IDHash)
	wantErr(t, err, store.ErrExpired, "get expired")
}

// --- consents ---

func testConsent(t *testing.T, e env) {
	has := func(scopes ...string) bool {
		t.Helper()
		ok, err := e.s.HasConsent(e.ctx, "alice", "client-a", "", scopes)
		noErr(t, err, "HasConsent")
		return ok
	}
	if has("openid") {
		t.Fatal("consent before any was saved")
	}

	exp := e.clock.Now().Add(30 * 24 * time.Hour)
	noErr(t, e.s.SaveConsent(e.ctx, store.Consent{AccountID: "alice", ClientID: "client-a",
		Scopes: []string{"openid", "profile", "email"}, ExpiresAt: exp}), "save")
	if !has("openid", "profile", "email") {
		t.Error("consented scopes not covered")
	}
	if !has("openid", "email") || !has() || !has("profile") {
		t.Error("subset of consented scopes not covered")
	}
	if has("openid", "admin") {
		t.Error("scope outside the consent covered")
	}
	if ok, _ := e.s.HasConsent(e.ctx, "alice", "client-b", "", []string{"openid"}); ok {
		t.Error("consent for one client covers another")
	}
	if ok, _ := e.s.HasConsent(e.ctx, "bob", "client-a", "", []string{"openid"}); ok {
		t.Error("consent of one account covers another")
	}

	// Saving replaces.
	noErr(t, e.s.SaveConsent(e.ctx, store.Consent{AccountID: "alice", ClientID: "client-a",
		Scopes: []string{"openid", "admin"}, ExpiresAt: exp}), "save again")
	if !has("admin") || has("email") {
		t.Error("second save did not replace the scopes")
	}

	e.clock.Set(us(exp).Add(-time.Microsecond))
	if !has("openid") {
		t.Error("consent does not cover just before its expiry")
	}
	e.clock.Set(us(exp))
	if has("openid") {
		t.Error("expired consent covers")
	}
}

// A consent counts only for the client object (UID) it was given to, or
// for any when it was stored without a UID (before the field existed).
func testConsentClientUID(t *testing.T, e env) {
	has := func(uid string) bool {
		t.Helper()
		ok, err := e.s.HasConsent(e.ctx, "alice", "client-a", uid, []string{"openid"})
		noErr(t, err, "HasConsent")
		return ok
	}
	exp := e.clock.Now().Add(time.Hour)
	save := func(uid string) {
		t.Helper()
		noErr(t, e.s.SaveConsent(e.ctx, store.Consent{AccountID: "alice", ClientID: "client-a", ClientUID: uid,
			Scopes: []string{"openid"}, ExpiresAt: exp}), "save")
	}
	save("uid-1")
	if !has("uid-1") {
		t.Error("consent does not count for the client object it was given to")
	}
	if has("uid-2") {
		t.Error("consent given to client object uid-1 counts for uid-2 (same client ID, recreated)")
	}
	if has("") {
		t.Error("consent given to client object uid-1 counts for a client without a UID")
	}
	// Saving again (the new object's consent) replaces the UID.
	save("uid-2")
	if !has("uid-2") || has("uid-1") {
		t.Error("saving a consent for uid-2 did not replace the client UID of uid-1")
	}
	// A consent stored without a UID counts for any client object.
	save("")
	if !has("uid-1") || !has("uid-2") || !has("") {
		t.Error("consent without a client UID does not count")
	}
}

// --- client bindings and resources ---

// The client UID, resources and account binding of an authorization code
// round-trip, also on the record a replay returns; a code without them has
// "" and nil.
func testAuthCodeClientBinding(t *testing.T, e env) {
	c := newCode(e, "client-a")
	c.ClientUID = "uid-a-1"
	c.Resources = []string{"https://api.example/", "urn:example:billing"}
	c.Binding = "b-alice-1"
	noErr(t, e.s.CreateAuthCode(e.ctx, c), "create")
	got, err := e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", issued(e))
	noErr(t, err, "redeem")
	if got.ClientUID != c.ClientUID || got.Binding != c.Binding {
		t.Errorf("ClientUID, Binding = %q, %q; want %q, %q", got.ClientUID, got.Binding, c.ClientUID, c.Binding)
	}
	eqScopes(t, "Resources", got.Resources, c.Resources)
	got, err = e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", issued(e))
	wantErr(t, err, store.ErrAlreadyUsed, "replay")
	if got.ClientUID != c.ClientUID {
		t.Errorf("replayed code's ClientUID = %q, want %q", got.ClientUID, c.ClientUID)
	}
	eqScopes(t, "replayed code's Resources", got.Resources, c.Resources)

	bare := newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, bare), "create without client UID and resources")
	got, err = e.s.RedeemAuthCode(e.ctx, bare.Hash, "client-a", issued(e))
	noErr(t, err, "redeem")
	if got.ClientUID != "" || got.Resources != nil || got.Binding != "" {
		t.Errorf("code without client UID, resources and binding: %q, %q, %q", got.ClientUID, got.Resources, got.Binding)
	}

	// The first refresh token, created in the redemption, keeps what
	// Issue gives it.
	withRT := newCode(e, "client-a")
	withRT.ClientUID, withRT.Resources = "uid-a-1", []string{"https://api.example/"}
	noErr(t, e.s.CreateAuthCode(e.ctx, withRT), "create")
	calls := 0
	is, rt := issuing(e, &calls)
	issue := is.Issue
	is.Issue = func(c store.AuthCode) (*store.RefreshToken, error) {
		rt.ClientUID, rt.Resources = c.ClientUID, c.Resources
		return issue(c)
	}
	_, err = e.s.RedeemAuthCode(e.ctx, withRT.Hash, "client-a", is)
	noErr(t, err, "redeem with Issue")
	stored, err := e.s.GetRefreshToken(e.ctx, rt.Hash)
	noErr(t, err, "get the first refresh token")
	if stored.ClientUID != "uid-a-1" {
		t.Errorf("first refresh token's ClientUID = %q, want uid-a-1", stored.ClientUID)
	}
	eqScopes(t, "first refresh token's Resources", stored.Resources, withRT.Resources)

	for _, bad := range [][]string{{""}, {"https://a.example/ x"}, {"https://a.example/\n"}} {
		c := newCode(e, "client-a")
		c.Resources = bad
		if err := e.s.CreateAuthCode(e.ctx, c); err == nil {
			t.Errorf("code with resources %q stored", bad)
		}
	}
}

// A refresh token's client UID and resources round-trip; rotation copies
// the client UID to the successor (also a sibling within the reuse grace)
// and keeps the resources unless the Rotation narrows them.
func testRefreshClientBinding(t *testing.T, e env) {
	rt := newRefresh(e, store.NewID(), "client-a")
	rt.ClientUID = "uid-a-1"
	rt.Resources = []string{"https://api.example/", "https://billing.example/"}
	noErr(t, e.s.CreateRefreshToken(e.ctx, rt), "create")
	got, err := e.s.GetRefreshToken(e.ctx, rt.Hash)
	noErr(t, err, "get")
	if got.ClientUID != rt.ClientUID {
		t.Errorf("ClientUID = %q, want %q", got.ClientUID, rt.ClientUID)
	}
	eqScopes(t, "Resources", got.Resources, rt.Resources)

	rotate := func(old store.Hash, resources []string) store.RefreshToken {
		t.Helper()
		next, err := e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: old, ClientID: "client-a",
			NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour), Resources: resources,
			ReuseGrace: time.Minute})
		noErr(t, err, "rotate")
		stored, err := e.s.GetRefreshToken(e.ctx, next.Hash)
		noErr(t, err, "get successor")
		for _, s := range []store.RefreshToken{next, stored} {
			if s.ClientUID != rt.ClientUID {
				t.Errorf("successor's ClientUID = %q, want the family's %q", s.ClientUID, rt.ClientUID)
			}
		}
		eqScopes(t, "stored successor's Resources", stored.Resources, next.Resources)
		return next
	}
	second := rotate(rt.Hash, nil)
	eqScopes(t, "successor's Resources (nil keeps)", second.Resources, rt.Resources)
	third := rotate(second.Hash, []string{"https://api.example/"})
	eqScopes(t, "narrowed Resources", third.Resources, []string{"https://api.example/"})
	fourth := rotate(third.Hash, nil)
	eqScopes(t, "Resources after narrowing", fourth.Resources, []string{"https://api.example/"})
	// A sibling within the reuse grace is a successor like any other.
	sibling := rotate(third.Hash, nil)
	eqScopes(t, "sibling's Resources", sibling.Resources, []string{"https://api.example/"})

	bare := newRefresh(e, store.NewID(), "client-a")
	noErr(t, e.s.CreateRefreshToken(e.ctx, bare), "create without client UID and resources")
	next := rotateOnce(t, e, bare.Hash)
	if next.ClientUID != "" || next.Resources != nil {
		t.Errorf("successor of a token without client UID and resources: %q, %q", next.ClientUID, next.Resources)
	}

	bad := newRefresh(e, store.NewID(), "client-a")
	bad.Resources = []string{"two words"}
	if err := e.s.CreateRefreshToken(e.ctx, bad); err == nil {
		t.Error("refresh token with an invalid resource stored")
	}
	if _, err := e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: fourth.Hash, ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour), Resources: []string{""}}); err == nil {
		t.Error("rotation with an empty resource accepted")
	}
}

// rotateOnce rotates old (of client-a) and returns the stored successor.
func rotateOnce(t *testing.T, e env, old store.Hash) store.RefreshToken {
	t.Helper()
	next, err := e.s.RotateRefreshToken(e.ctx, store.Rotation{OldHash: old, ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: e.clock.Now().Add(time.Hour)})
	noErr(t, err, "rotate")
	got, err := e.s.GetRefreshToken(e.ctx, next.Hash)
	noErr(t, err, "get successor")
	return got
}

// A device authorization's client UID and resources round-trip through
// every read (by user code, approval, polls), and so does the account
// binding given at approval.
func testDeviceClientBinding(t *testing.T, e env) {
	d := newDevice(e, "tv")
	d.ClientUID = "uid-tv-1"
	d.Resources = []string{"https://api.example/"}
	noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create")
	check := func(what string, got store.DeviceAuth) {
		t.Helper()
		if got.ClientUID != d.ClientUID {
			t.Errorf("%s: ClientUID = %q, want %q", what, got.ClientUID, d.ClientUID)
		}
		eqScopes(t, what+": Resources", got.Resources, d.Resources)
	}
	got, err := e.s.GetDeviceAuthByUserCode(e.ctx, d.UserCode)
	noErr(t, err, "get")
	check("get", got)
	check("pending poll", poll(t, e, d, 0, store.PollPending))
	got, err = e.s.ApproveDeviceAuth(e.ctx, d.UserCode, "alice", "b-alice-1", e.clock.Now())
	noErr(t, err, "approve")
	check("approve", got)
	if got.Binding != "b-alice-1" {
		t.Errorf("approved: Binding = %q, want b-alice-1", got.Binding)
	}
	e.clock.Advance(got.Interval)
	var seen store.DeviceAuth
	got, res, err := e.s.PollDeviceAuth(e.ctx, d.DeviceHash, "tv", store.DevicePoll{
		Issue: func(d store.DeviceAuth) (*store.RefreshToken, error) { seen = d; return nil, nil }})
	if err != nil || res != store.PollApproved {
		t.Fatalf("poll = %s, %v", res, err)
	}
	check("approved poll", got)
	check("Issue's record", seen)
	if seen.Binding != "b-alice-1" {
		t.Errorf("Issue's record: Binding = %q, want b-alice-1", seen.Binding)
	}

	bare := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(e.ctx, bare), "create without client UID and resources")
	got, err = e.s.GetDeviceAuthByUserCode(e.ctx, bare.UserCode)
	noErr(t, err, "get")
	if got.ClientUID != "" || got.Resources != nil {
		t.Errorf("device authorization without client UID and resources: %q, %q", got.ClientUID, got.Resources)
	}
	bad := newDevice(e, "tv")
	bad.Resources = []string{"a b"}
	if err := e.s.CreateDeviceAuth(e.ctx, bad); err == nil {
		t.Error("device authorization with an invalid resource stored")
	}
}

// --- failed logins ---

var policy = store.LockoutPolicy{Window: 10 * time.Minute, MaxAttempts: 3, LockDuration: 15 * time.Minute}

func fail(t *testing.T, e env, account string, p store.LockoutPolicy) store.Lockout {
	t.Helper()
	l, err := e.s.RecordFailedLogin(e.ctx, account, p)
	noErr(t, err, "RecordFailedLogin")
	return l
}

func testLockoutCounting(t *testing.T, e env) {
	_, err := e.s.GetLockout(e.ctx, "alice")
	wantErr(t, err, store.ErrNotFound, "get unknown")

	start := e.clock.Now()
	l := fail(t, e, "alice", policy)
	if l.Failures != 1 || l.AccountID != "alice" || !l.LockedUntil.IsZero() {
		t.Fatalf("after 1 failure: %+v", l)
	}
	eqTime(t, "WindowStart", l.WindowStart, start)
	e.clock.Advance(time.Minute)
	if l = fail(t, e, "alice", policy); l.Failures != 2 || l.LockedAt(e.clock.Now()) {
		t.Fatalf("after 2 failures: %+v", l)
	}
	e.clock.Advance(time.Minute)
	l = fail(t, e, "alice", policy)
	lockedAt := e.clock.Now()
	if l.Failures != 3 || !l.LockedAt(e.clock.Now()) {
		t.Fatalf("after 3 failures: %+v, want locked", l)
	}
	eqTime(t, "LockedUntil", l.LockedUntil, lockedAt.Add(policy.LockDuration))
	eqTime(t, "WindowStart", l.WindowStart, start)

	got, err := e.s.GetLockout(e.ctx, "alice")
	noErr(t, err, "get")
	if got != l {
		t.Errorf("GetLockout = %+v, want %+v", got, l)
	}
	if _, err := e.s.GetLockout(e.ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another account has lockout state: %v", err)
	}

	// Failures while locked count but do not extend the lock.
	e.clock.Advance(5 * time.Minute)
	l = fail(t, e, "alice", policy)
	if l.Failures != 4 {
		t.Errorf("failures while locked = %d, want 4", l.Failures)
	}
	eqTime(t, "LockedUntil while locked", l.LockedUntil, lockedAt.Add(policy.LockDuration))

	// After the lock: a new window.
	e.clock.Set(lockedAt.Add(policy.LockDuration))
	if l, err := e.s.GetLockout(e.ctx, "alice"); err != nil || l.LockedAt(e.clock.Now()) {
		t.Fatalf("at LockedUntil: %+v, %v; want unlocked", l, err)
	}
	l = fail(t, e, "alice", policy)
	if l.Failures != 1 || l.LockedAt(e.clock.Now()) {
		t.Fatalf("first failure after the lock: %+v, want a new window", l)
	}
	eqTime(t, "new WindowStart", l.WindowStart, e.clock.Now())

	// A one-strike policy locks at once.
	one := store.LockoutPolicy{Window: time.Minute, MaxAttempts: 1, LockDuration: time.Minute}
	if l := fail(t, e, "carol", one); !l.LockedAt(e.clock.Now()) {
		t.Errorf("MaxAttempts=1: %+v, want locked", l)
	}
}

func testLockoutWindow(t *testing.T, e env) {
	fail(t, e, "alice", policy)
	fail(t, e, "alice", policy)
	e.clock.Advance(policy.Window - time.Microsecond)
	if l := fail(t, e, "alice", policy); l.Failures != 3 || !l.LockedAt(e.clock.Now()) {
		t.Fatalf("third failure inside the window: %+v, want locked", l)
	}

	fail(t, e, "bob", policy)
	fail(t, e, "bob", policy)
	e.clock.Advance(policy.Window)
	l := fail(t, e, "bob", policy)
	if l.Failures != 1 || l.LockedAt(e.clock.Now()) {
		t.Fatalf("failure after the window: %+v, want a new window", l)
	}

	noErr(t, e.s.ResetFailedLogins(e.ctx, "bob"), "reset")
	noErr(t, e.s.ResetFailedLogins(e.ctx, "bob"), "reset again")
	_, err := e.s.GetLockout(e.ctx, "bob")
	wantErr(t, err, store.ErrNotFound, "get after reset")
	if l := fail(t, e, "bob", policy); l.Failures != 1 {
		t.Errorf("failure after reset: %+v", l)
	}
	if _, err := e.s.RecordFailedLogin(e.ctx, "bob", store.LockoutPolicy{}); err == nil {
		t.Error("zero policy accepted")
	}
}

func testLockoutConcurrent(t *testing.T, e env) {
	p := store.LockoutPolicy{Window: time.Hour, MaxAttempts: Concurrency / 2, LockDuration: time.Hour}
	counts := make([]int, Concurrency)
	errs := make([]error, Concurrency)
	together(Concurrency, func(i int) {
		var l store.Lockout
		l, errs[i] = e.s.RecordFailedLogin(e.ctx, "alice", p)
		counts[i] = l.Failures
	})
	for i, err := range errs {
		noErr(t, err, fmt.Sprintf("failure %d", i))
	}
	// Each failure saw a distinct count: none was lost or double-counted.
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("sorted counts = %v, want 1..%d", counts, Concurrency)
		}
	}
	l, err := e.s.GetLockout(e.ctx, "alice")
	noErr(t, err, "get")
	if l.Failures != Concurrency || !l.LockedAt(e.clock.Now()) {
		t.Errorf("after %d concurrent failures: %+v", Concurrency, l)
	}
}

// testLockoutClear: a matching password clears the state its own
// reservation counted to (also when that reservation locked the account),
// and after nothing; a lock reached by attempts counted since is kept.
func testLockoutClear(t *testing.T, e env) {
	ok, err := e.s.ClearFailedLogins(e.ctx, "alice", 1)
	if noErr(t, err, "clear without state"); !ok {
		t.Error("clear without state refused")
	}
	fail(t, e, "alice", policy)
	l := fail(t, e, "alice", policy) // 2: not locked
	fail(t, e, "alice", policy)      // 3: locks
	if ok, err = e.s.ClearFailedLogins(e.ctx, "alice", l.Failures); err != nil || ok {
		t.Fatalf("clear of attempt 2 after attempt 3 locked: %v, %v; want refused", ok, err)
	}
	if l, err := e.s.GetLockout(e.ctx, "alice"); err != nil || !l.LockedAt(e.clock.Now()) {
		t.Fatalf("after a refused clear: %+v, %v; want still locked", l, err)
	}

	fail(t, e, "bob", policy)
	fail(t, e, "bob", policy)
	l = fail(t, e, "bob", policy) // locks with its own reservation
	if ok, err = e.s.ClearFailedLogins(e.ctx, "bob", l.Failures); err != nil || !ok {
		t.Fatalf("clear by the attempt that locked: %v, %v; want cleared", ok, err)
	}
	_, err = e.s.GetLockout(e.ctx, "bob")
	wantErr(t, err, store.ErrNotFound, "get after clear")

	l = fail(t, e, "carol", policy)
	fail(t, e, "carol", policy) // counted since, not locked
	if ok, err = e.s.ClearFailedLogins(e.ctx, "carol", l.Failures); err != nil || !ok {
		t.Fatalf("clear while not locked: %v, %v; want cleared", ok, err)
	}
}

// --- expiry ---

func testDeleteExpired(t *testing.T, e env) {
	now := e.clock.Now()
	soon := now.Add(time.Minute)
	later := now.Add(time.Hour)

	type pair struct{ expired, live store.Hash }
	var codes, refresh, devices, sessions pair
	var devCodes [2]string
	for i, exp := range []time.Time{soon, later} {
		c := newCode(e, "client-a")
		c.ExpiresAt = exp
		noErr(t, e.s.CreateAuthCode(e.ctx, c), "create code")
		r := newRefresh(e, store.NewID(), "client-a")
		r.ExpiresAt = exp
		noErr(t, e.s.CreateRefreshToken(e.ctx, r), "create refresh")
		d := newDevice(e, "tv")
		d.ExpiresAt = exp
		noErr(t, e.s.CreateDeviceAuth(e.ctx, d), "create device")
		devCodes[i] = d.UserCode
		s := store.Session{IDHash: hash("sid"), AccountID: "alice", ExpiresAt: exp}
		noErr(t, e.s.CreateSession(e.ctx, s), "create session")
		noErr(t, e.s.RevokeAccessToken(e.ctx, fmt.Sprintf("jti-%d", i), exp), "revoke")
		noErr(t, e.s.SaveConsent(e.ctx, store.Consent{AccountID: fmt.Sprintf("acct-%d", i), ClientID: "client-a",
			Scopes: []string{"openid"}, ExpiresAt: exp}), "save consent")
		if i == 0 {
			codes.expired, refresh.expired, devices.expired, sessions.expired = c.Hash, r.Hash, d.DeviceHash, s.IDHash
		} else {
			codes.live, refresh.live, devices.live, sessions.live = c.Hash, r.Hash, d.DeviceHash, s.IDHash
		}
	}
	short := store.LockoutPolicy{Window: time.Minute, MaxAttempts: 5, LockDuration: time.Minute}
	fail(t, e, "short", short)
	fail(t, e, "long", store.LockoutPolicy{Window: time.Hour, MaxAttempts: 5, LockDuration: time.Hour})

	n, err := e.s.DeleteExpired(e.ctx)
	noErr(t, err, "DeleteExpired before anything expired")
	if n != 0 {
		t.Fatalf("DeleteExpired removed %d records before anything expired", n)
	}

	e.clock.Set(soon)
	n, err = e.s.DeleteExpired(e.ctx)
	noErr(t, err, "DeleteExpired")
	// code, refresh token + family, device, session, jti, consent, lockout
	if n != 8 {
		t.Errorf("DeleteExpired removed %d records, want 8", n)
	}
	// Expired records are gone (not found rather than expired) ...
	_, err = e.s.RedeemAuthCode(e.ctx, codes.expired, "client-a", store.Issued{})
	wantErr(t, err, store.ErrNotFound, "swept code")
	_, err = e.s.GetRefreshToken(e.ctx, refresh.expired)
	wantErr(t, err, store.ErrNotFound, "swept refresh token")
	_, err = e.s.GetDeviceAuthByUserCode(e.ctx, devCodes[0])
	wantErr(t, err, store.ErrNotFound, "swept device authorization")
	_, err = e.s.GetSession(e.ctx, sessions.expired)
	wantErr(t, err, store.ErrNotFound, "swept session")
	if revoked, _ := e.s.IsAccessTokenRevoked(e.ctx, "jti-0"); revoked {
		t.Error("swept jti still revoked")
	}
	if ok, err := e.s.HasConsent(e.ctx, "acct-0", "client-a", "", nil); err != nil || ok {
		t.Errorf("swept consent: %v, %v", ok, err)
	}
	_, err = e.s.GetLockout(e.ctx, "short")
	wantErr(t, err, store.ErrNotFound, "swept lockout")

	// ... and live ones are not.
	_, err = e.s.RedeemAuthCode(e.ctx, codes.live, "client-a", store.Issued{})
	noErr(t, err, "live code")
	_, err = e.s.GetRefreshToken(e.ctx, refresh.live)
	noErr(t, err, "live refresh token")
	_, err = e.s.GetDeviceAuthByUserCode(e.ctx, devCodes[1])
	noErr(t, err, "live device authorization")
	_, err = e.s.GetSession(e.ctx, sessions.live)
	noErr(t, err, "live session")
	if revoked, _ := e.s.IsAccessTokenRevoked(e.ctx, "jti-1"); !revoked {
		t.Error("live jti revocation swept")
	}
	if ok, err := e.s.HasConsent(e.ctx, "acct-1", "client-a", "", []string{"openid"}); err != nil || !ok {
		t.Errorf("live consent: %v, %v", ok, err)
	}
	_, err = e.s.GetLockout(e.ctx, "long")
	noErr(t, err, "live lockout")
	// A swept user code can be reused.
	reuse := newDevice(e, "tv")
	reuse.UserCode = devCodes[0]
	noErr(t, e.s.CreateDeviceAuth(e.ctx, reuse), "reuse swept user code")

	e.clock.Set(later.Add(24 * time.Hour))
	if _, err := e.s.DeleteExpired(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.DeleteExpired(e.ctx); err != nil || n != 0 {
		t.Errorf("second sweep removed %d, %v; want nothing left", n, err)
	}
}

func testValidation(t *testing.T, e env) {
	c := newCode(e, "client-a")
	c.ExpiresAt = time.Time{}
	if err := e.s.CreateAuthCode(e.ctx, c); err == nil {
		t.Error("code without expiry accepted")
	}
	c = newCode(e, "client-a")
	c.Hash = store.Hash{}
	if err := e.s.CreateAuthCode(e.ctx, c); err == nil {
		t.Error("zero hash accepted")
	}
	c = newCode(e, "client-a")
	c.Scopes = []string{"openid profile"}
	if err := e.s.CreateAuthCode(e.ctx, c); err == nil {
		t.Error("scope with a space accepted")
	}
	c = newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(e.ctx, c), "create")
	if _, err := e.s.RedeemAuthCode(e.ctx, c.Hash, "client-a", store.Issued{AccessTokenID: "x"}); err == nil {
		t.Error("Issued.AccessTokenID without expiry accepted")
	}
	if err := e.s.RevokeAccessToken(e.ctx, "jti", time.Time{}); err == nil {
		t.Error("revocation without expiry accepted")
	}
	if err := e.s.CreateSession(e.ctx, store.Session{IDHash: hash("sid"), AccountID: "a"}); err == nil {
		t.Error("session without expiry accepted")
	}
	if err := e.s.Ping(e.ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// RunReopenTest writes every kind of state through a store from open,
// closes it, opens the same database again with open, and checks that
// everything is still there. open must return a store on the same
// underlying database each time it is called; RunReopenTest closes it.
func RunReopenTest(t *testing.T, open NewStore) {
	clock := storetest.NewFakeClock()
	ctx := t.Context()
	e := env{ctx: ctx, s: open(t, clock), clock: clock}

	unused := newCode(e, "client-a")
	used := newCode(e, "client-a")
	noErr(t, e.s.CreateAuthCode(ctx, unused), "create code")
	noErr(t, e.s.CreateAuthCode(ctx, used), "create code")
	usedIssued := issued(e)
	_, err := e.s.RedeemAuthCode(ctx, used.Hash, "client-a", usedIssued)
	noErr(t, err, "redeem")

	rt := newRefresh(e, usedIssued.FamilyID, "client-a")
	noErr(t, e.s.CreateRefreshToken(ctx, rt), "create refresh")
	next, err := e.s.RotateRefreshToken(ctx, store.Rotation{OldHash: rt.Hash, ClientID: "client-a",
		NewHash: hash("refresh"), NewExpiresAt: clock.Now().Add(time.Hour)})
	noErr(t, err, "rotate")
	revokedFam := newRefresh(e, store.NewID(), "client-a")
	noErr(t, e.s.CreateRefreshToken(ctx, revokedFam), "create refresh")
	noErr(t, e.s.RevokeRefreshFamily(ctx, revokedFam.FamilyID), "revoke family")
	noErr(t, e.s.RevokeAccessToken(ctx, "jti-durable", clock.Now().Add(time.Hour)), "revoke jti")

	dev := newDevice(e, "tv")
	noErr(t, e.s.CreateDeviceAuth(ctx, dev), "create device")
	poll(t, e, dev, 0, store.PollPending)
	poll(t, e, dev, 0, store.PollSlowDown)
	_, err = e.s.ApproveDeviceAuth(ctx, dev.UserCode, "alice", "", clock.Now())
	noErr(t, err, "approve")

	sess := store.Session{IDHash: hash("sid"), AccountID: "alice", ExpiresAt: clock.Now().Add(time.Hour)}
	noErr(t, e.s.CreateSession(ctx, sess), "create session")
	noErr(t, e.s.SaveConsent(ctx, store.Consent{AccountID: "alice", ClientID: "client-a",
		Scopes: []string{"openid", "email"}, ExpiresAt: clock.Now().Add(time.Hour)}), "save consent")
	fail(t, e, "alice", policy)
	fail(t, e, "alice", policy)

	noErr(t, e.s.Close(), "close")

	clock.Advance(time.Second)
	e.s = open(t, clock)
	defer e.s.Close()

	_, err = e.s.RedeemAuthCode(ctx, unused.Hash, "client-a", issued(e))
	noErr(t, err, "redeem unused code after reopen")
	got, err := e.s.RedeemAuthCode(ctx, used.Hash, "client-a", issued(e))
	wantErr(t, err, store.ErrAlreadyUsed, "redeem used code after reopen")
	if got.FamilyID != usedIssued.FamilyID {
		t.Errorf("used code's family after reopen = %q, want %q", got.FamilyID, usedIssued.FamilyID)
	}
	// That replay revoked the family; check the other state first through a
	// family that is still live.
	if revoked, _ := e.s.IsFamilyRevoked(ctx, revokedFam.FamilyID); !revoked {
		t.Error("revoked family not revoked after reopen")
	}
	_, err = e.s.GetRefreshToken(ctx, rt.Hash)
	wantErr(t, err, store.ErrAlreadyUsed, "rotated token after reopen")
	_, err = e.s.GetRefreshToken(ctx, next.Hash)
	wantErr(t, err, store.ErrRevoked, "successor after reopen and replay of its code")
	if revoked, _ := e.s.IsAccessTokenRevoked(ctx, "jti-durable"); !revoked {
		t.Error("revoked jti not revoked after reopen")
	}
	d, err := e.s.GetDeviceAuthByUserCode(ctx, dev.UserCode)
	noErr(t, err, "get device after reopen")
	if d.Status != store.DeviceApproved || d.AccountID != "alice" || d.Interval != 10*time.Second {
		t.Errorf("device after reopen = %+v", d)
	}
	clock.Advance(d.Interval)
	poll(t, e, dev, 0, store.PollApproved)
	if _, err := e.s.GetSession(ctx, sess.IDHash); err != nil {
		t.Errorf("session after reopen: %v", err)
	}
	if ok, err := e.s.HasConsent(ctx, "alice", "client-a", "", []string{"email"}); err != nil || !ok {
		t.Errorf("consent after reopen = %v, %v", ok, err)
	}
	if l, err := e.s.GetLockout(ctx, "alice"); err != nil || l.Failures != 2 {
		t.Errorf("lockout after reopen = %+v, %v", l, err)
	}
}
