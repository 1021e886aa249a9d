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
	"errors"
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
	GetLockout(ctx context.Context, accountID string) (store.Lockout, error)
	RecordFailedLogin(ctx context.Context, accountID string, p store.LockoutPolicy) (store.Lockout, error)
	ResetFailedLogins(ctx context.Context, accountID string) error
}

// passwords checks account passwords, for the password grant and the login
// pages. The Login limit (see Limits) wraps the check.
type passwords struct {
	lockouts lockoutStore
	limit    *ratelimit.Limiter // nil: no limit
	clock    store.Clock
	log      *slog.Logger
	feedback Feedback
}

// check checks an account's password for a client: the account must be in
// the client's namespace. Failures count towards the lockout of the
// client's policy (account_locked once locked); a disabled account with the
// right password gets account_disabled; anything else wrong is
// invalid_grant with one description, so usernames cannot be probed. A
// caller over the Login limit gets too_many_requests before anything is
// checked.
func (pw *passwords) check(ctx context.Context, reg *registry.Registry, c *registry.Client, username, password string) (*registry.Account, *oautherr.Error) {
	fail, e := pw.allowed(ctx, c.Namespace, username)
	if e != nil {
		return nil, e
	}
	acc, e := pw.checkAccount(ctx, reg, c, username, password)
	if e != nil && (e.Code == oautherr.InvalidGrant || e.Code == oautherr.AccountLocked) {
		fail()
	}
	return acc, e
}

// allowed checks the Login limit for an attempt of username (in the
// client's namespace) from the request's source; a caller over the limit
// gets e (429). fail records a failed attempt.
func (pw *passwords) allowed(ctx context.Context, namespace, username string) (fail func(), e *oautherr.Error) {
	l := pw.limit
	if l == nil {
		return func() {}, nil
	}
	ri := requestInfo(ctx)
	key := l.Key(namespace+"/"+username, ri.source)
	now := pw.clock.Now()
	if wait := l.Wait(key, now); wait > 0 {
		return nil, tooMany(ri, wait)
	}
	return func() { l.Fail(key, now) }, nil
}

// checkAccount is check without the Login limit.
func (pw *passwords) checkAccount(ctx context.Context, reg *registry.Registry, c *registry.Client, username, password string) (*registry.Account, *oautherr.Error) {
	acc, ok := reg.Account(c.Namespace, username)
	if !ok {
		_ = bcrypt.CompareHashAndPassword(dummyBcrypt(), []byte(password))
		return nil, wrongPassword()
	}
	now := pw.clock.Now()
	lo, err := pw.lockouts.GetLockout(ctx, acc.Subject)
	switch {
	case err == nil && lo.LockedAt(now):
		pw.feedback.AccountLocked(acc.Source, lo.LockedUntil)
		return nil, oautherr.New(oautherr.AccountLocked)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, serverError(err)
	}
	hash := []byte(acc.PasswordBcrypt)
	if len(hash) == 0 {
		hash = dummyBcrypt()
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || acc.PasswordBcrypt == "" {
		return nil, pw.failed(ctx, c, acc, now)
	}
	if acc.Disabled {
		return nil, oautherr.New(oautherr.AccountDisabled)
	}
	if err := pw.lockouts.ResetFailedLogins(ctx, acc.Subject); err != nil {
		return nil, serverError(err)
	}
	pw.feedback.LoginSucceeded(acc.Source, now)
	return acc, nil
}

// failed records a wrong password towards the lockout of the client's
// policy: account_locked once the account is locked, else invalid_grant.
func (pw *passwords) failed(ctx context.Context, c *registry.Client, acc *registry.Account, now time.Time) *oautherr.Error {
	p := c.Policy
	lo, err := pw.lockouts.RecordFailedLogin(ctx, acc.Subject, store.LockoutPolicy{
		Window:       registry.Seconds(p.LockoutWindowSeconds),
		MaxAttempts:  int(p.LockoutMaxFailedAttempts),
		LockDuration: registry.Seconds(p.LockoutDurationSeconds)})
	if err != nil {
		return serverError(err)
	}
	if lo.LockedAt(now) {
		pw.log.Warn("account locked after failed logins", "account", acc.Subject, "clientID", c.ID, "failures", lo.Failures)
		pw.feedback.AccountLocked(acc.Source, lo.LockedUntil)
		return oautherr.New(oautherr.AccountLocked)
	}
	return wrongPassword()
}
