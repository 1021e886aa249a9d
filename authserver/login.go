/*
Copyright 2026 The authops Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/ratelimit"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store"
)

// dummyBcrypt is compared against when the username is unknown or the
// account has no password, so those take as long as a wrong password.
var dummyBcrypt = sync.OnceValue(func() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte("authops: no such account"), bcrypt.DefaultCost)
	if err != nil {
		panic(err)
	}
	return h
})

func wrongPassword() *oautherr.Error {
	return oautherr.Newf(oautherr.InvalidGrant, "Wrong username or password.")
}

// lockoutStore is the part of the store password checking uses.
type lockoutStore interface {
	RecordFailedLogin(ctx context.Context, accountID string, p store.LockoutPolicy) (store.Lockout, error)
	ClearFailedLogins(ctx context.Context, accountID string, failures int) (bool, error)
}

// passwords checks account passwords, for the password grant and the login
// pages. The Login limit (see Limits) wraps the check.
type passwords struct {
	lockouts lockoutStore
	limit    *ratelimit.Limiter // nil: no limit
	clock    store.Clock
	log      *slog.Logger
	feedback Feedback
	metrics  *Metrics // nil: not counted
	// compare compares a password with its hash (bcrypt's; tests count).
	compare func(hash, password []byte) error
}

// check checks an account's password for a client: the account must be in
// the client's namespace. Failures count towards the lockout of the
// client's policy (account_locked once locked); a disabled account with the
// right password gets account_disabled; anything else wrong is
// invalid_grant with one description, so usernames cannot be probed. A
// caller over the Login limit gets too_many_requests before anything is
// checked.
//
// Both the limit and the lockout count an attempt as a failure before the
// password is compared, each in one atomic step, and take it back when the
// password matches: however many attempts arrive at once, at most Burst
// (Login limit, per username and source) and at most the policy's
// lockoutMaxFailedAttempts (per username, across replicas) are compared.
func (pw *passwords) check(ctx context.Context, reg *registry.Registry, c *registry.Client, username, password string) (*registry.Account, *oautherr.Error) {
	refund, e := pw.reserve(ctx, c.Namespace, username)
	if e != nil {
		return nil, e
	}
	acc, e := pw.checkAccount(ctx, reg, c, username, password)
	if e == nil || (e.Code != oautherr.InvalidGrant && e.Code != oautherr.AccountLocked) {
		refund()
	}
	return acc, e
}

// reserve counts an attempt of username (in the client's namespace) from
// the request's source towards the Login limit; a caller over the limit
// gets e (429). refund takes the attempt back.
func (pw *passwords) reserve(ctx context.Context, namespace, username string) (refund func(), e *oautherr.Error) {
	l := pw.limit
	if l == nil {
		return func() {}, nil
	}
	ri := requestInfo(ctx)
	key := l.Key(namespace+"/"+username, ri.source)
	now := pw.clock.Now()
	if wait := l.Reserve(key, now); wait > 0 {
		return nil, tooMany(ri, wait)
	}
	return func() { l.Refund(key, now) }, nil
}

// lockoutKey is the key of username's lockout record: the account's
// subject, or for a username no account in the namespace has, a digest of
// the name as typed (prefixed with a character no subject starts with),
// so that unknown names are counted and locked like real ones.
func lockoutKey(reg *registry.Registry, namespace, username string) (*registry.Account, string) {
	if acc, ok := reg.Account(namespace, username); ok {
		return acc, acc.Subject
	}
	d := sha256.Sum256([]byte(namespace + "\x00" + username))
	return nil, "?" + hex.EncodeToString(d[:])
}

// lockoutPolicy is the client's policy's lockout.
func lockoutPolicy(c *registry.Client) store.LockoutPolicy {
	p := c.Policy
	return store.LockoutPolicy{Window: registry.Seconds(p.LockoutWindowSeconds),
		MaxAttempts: int(p.LockoutMaxFailedAttempts), LockDuration: registry.Seconds(p.LockoutDurationSeconds)}
}

// mayTry reports whether an attempt whose reservation returned lo may
// compare the password: it is one of the first MaxAttempts of its window
// and the account was not locked before it (the attempt that reaches
// MaxAttempts sets the lock and may still try, as it did when failures
// were counted after the comparison).
func mayTry(lo store.Lockout, p store.LockoutPolicy, now time.Time) bool {
	return lo.Failures <= p.MaxAttempts && (lo.Failures == p.MaxAttempts || !lo.LockedAt(now))
}

// checkAccount is check without the Login limit. An unknown username does
// the same work as a wrong password (a lockout record of its own, a bcrypt
// comparison against a dummy hash) and gets the same answers.
func (pw *passwords) checkAccount(ctx context.Context, reg *registry.Registry, c *registry.Client, username, password string) (*registry.Account, *oautherr.Error) {
	acc, key := lockoutKey(reg, c.Namespace, username)
	now := pw.clock.Now()
	p := lockoutPolicy(c)
	lo, err := pw.lockouts.RecordFailedLogin(ctx, key, p) // the reservation
	if err != nil {
		return nil, serverError(err)
	}
	if !mayTry(lo, p, now) {
		return nil, pw.locked(acc, lo)
	}
	hash := dummyBcrypt()
	if acc != nil && acc.PasswordBcrypt != "" {
		hash = []byte(acc.PasswordBcrypt)
	}
	if pw.compare(hash, []byte(password)) != nil || acc == nil || acc.PasswordBcrypt == "" {
		if lo.LockedAt(now) {
			// This attempt reached the policy's maximum: the lock begins.
			if acc != nil {
				pw.log.Warn("account locked after failed logins", "account", acc.Subject, "clientID", c.ID, "failures", lo.Failures)
			}
			pw.metrics.lockout(acc != nil)
			return nil, pw.locked(acc, lo)
		}
		return nil, wrongPassword()
	}
	// The right password: take the reservation back, unless attempts
	// counted since have locked the account.
	switch cleared, err := pw.lockouts.ClearFailedLogins(ctx, key, lo.Failures); {
	case err != nil:
		return nil, serverError(err)
	case !cleared:
		return nil, pw.locked(acc, lo)
	}
	if acc.Disabled {
		return nil, oautherr.New(oautherr.AccountDisabled)
	}
	pw.feedback.LoginSucceeded(acc.Source, now)
	return acc, nil
}

// locked is the answer to an attempt on a locked account (acc nil: an
// unknown username).
func (pw *passwords) locked(acc *registry.Account, lo store.Lockout) *oautherr.Error {
	if acc != nil {
		pw.feedback.AccountLocked(acc.Source, lo.LockedUntil)
	}
	return oautherr.New(oautherr.AccountLocked)
}
