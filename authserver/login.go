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
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/authops/authops/authserver/oautherr"
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

// checkPassword checks an account's password for a client: the account
// must be in the client's namespace. Failures count towards the lockout of
// the client's policy (account_locked once locked); a disabled account with
// the right password gets account_disabled; anything else wrong is
// invalid_grant with one description, so usernames cannot be probed. A
// caller over the Login limit (see Limits) gets too_many_requests before
// anything is checked.
func (s *Server) checkPassword(ctx context.Context, reg *registry.Registry, c *registry.Client, username, password string) (*registry.Account, *oautherr.Error) {
	fail, e := s.loginAllowed(ctx, c.Namespace, username)
	if e != nil {
		return nil, e
	}
	acc, e := s.checkAccountPassword(ctx, reg, c, username, password)
	if e != nil && (e.Code == oautherr.InvalidGrant || e.Code == oautherr.AccountLocked) {
		fail()
	}
	return acc, e
}

// checkAccountPassword is checkPassword without the Login limit.
func (s *Server) checkAccountPassword(ctx context.Context, reg *registry.Registry, c *registry.Client, username, password string) (*registry.Account, *oautherr.Error) {
	acc, ok := reg.Account(c.Namespace, username)
	if !ok {
		_ = bcrypt.CompareHashAndPassword(dummyBcrypt(), []byte(password))
		return nil, wrongPassword()
	}
	now := s.clock.Now()
	lo, err := s.store.GetLockout(ctx, acc.Subject)
	switch {
	case err == nil && lo.LockedAt(now):
		s.feedback.AccountLocked(acc.Source, lo.LockedUntil)
		return nil, oautherr.New(oautherr.AccountLocked)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, serverError(err)
	}
	hash := []byte(acc.PasswordBcrypt)
	if len(hash) == 0 {
		hash = dummyBcrypt()
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || acc.PasswordBcrypt == "" {
		p := c.Policy
		lo, err := s.store.RecordFailedLogin(ctx, acc.Subject, store.LockoutPolicy{
			Window:       registry.Seconds(p.LockoutWindowSeconds),
			MaxAttempts:  int(p.LockoutMaxFailedAttempts),
			LockDuration: registry.Seconds(p.LockoutDurationSeconds)})
		if err != nil {
			return nil, serverError(err)
		}
		if lo.LockedAt(now) {
			s.log.Warn("account locked after failed logins", "account", acc.Subject, "clientID", c.ID, "failures", lo.Failures)
			s.feedback.AccountLocked(acc.Source, lo.LockedUntil)
			return nil, oautherr.New(oautherr.AccountLocked)
		}
		return nil, wrongPassword()
	}
	if acc.Disabled {
		return nil, oautherr.New(oautherr.AccountDisabled)
	}
	if err := s.store.ResetFailedLogins(ctx, acc.Subject); err != nil {
		return nil, serverError(err)
	}
	s.feedback.LoginSucceeded(acc.Source, now)
	return acc, nil
}
