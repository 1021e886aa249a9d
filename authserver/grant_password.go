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

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/tokens"
)

// refreshCreator is the part of the store the password grant uses.
type refreshCreator interface {
	CreateRefreshToken(ctx context.Context, t store.RefreshToken) error
}

// passwordChecker checks an account's password for a client (see
// passwords.check).
type passwordChecker interface {
	check(ctx context.Context, reg *registry.Registry, c *registry.Client, username, password string) (*registry.Account, *oautherr.Error)
}

// passwordGrant is RFC 6749 §4.3, for clients whose policy allows it. It
// checks the account like the login page does, so it is where the token
// endpoint answers account_locked and account_disabled.
type passwordGrant struct {
	passwords passwordChecker
	refresh   refreshCreator
	tokens    minter
}

func (g passwordGrant) handle(ctx context.Context, t *tokenRequest) (*tokenResponse, *oautherr.Error) {
	c, p := t.client, t.params
	if p["username"] == "" || p["password"] == "" {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "username and password are required.")
	}
	aud, scopes, e := audience(c, t.resources, nil, false, requestedOrDefault(c, t.scopes), t.scopes != nil)
	if e != nil {
		return nil, e
	}
	acc, e := g.passwords.check(ctx, t.reg, c, p["username"], p["password"])
	if e != nil {
		return nil, e
	}
	is := tokens.Issue{Client: c, Account: acc, Scopes: scopes, Audience: aud, AuthTime: t.now}
	family, raw := newRefresh(c)
	if raw != "" {
		err := g.refresh.CreateRefreshToken(ctx, refreshRecord(t, acc, is.Scopes, t.resources, family, t.now, raw))
		if errors.Is(err, store.ErrConflict) {
			// The only grant for which a conflict is the client's: a family
			// of another client or account.
			return nil, oautherr.New(oautherr.InvalidGrant)
		}
		if e := grantError(err); e != nil {
			return nil, e
		}
		is.Family = family
	}
	return respond(g.tokens, t, is, raw)
}
