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
	"github.com/authops/authops/authserver/scope"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/tokens"
)

// refreshStore is the part of the store the refresh token grant uses.
type refreshStore interface {
	RotateRefreshToken(ctx context.Context, r store.Rotation) (store.RefreshToken, error)
	GetRefreshToken(ctx context.Context, hash store.Hash) (store.RefreshToken, error)
}

// refreshTokenGrant is RFC 6749 §6. With rotation (policy Rotate, and always
// for a Public client) every use returns a new refresh token and retires the
// old one; using a retired one again is reuse and revokes the whole family
// (RFC 9700 §4.14.2), unless it comes within the policy's reuse grace of the
// rotation (a concurrent refresh, or a retry after a lost answer): then it
// gets a new refresh token of the same family. The scope may only narrow,
// and so may the resources (RFC 8707 §2.2: each named one must be one of
// the family's); the family keeps its original scope and resources. A
// refresh token bound to a DPoP key (a Public client's, RFC 9449 §5) needs
// a proof made with that key; the check runs before the rotation, so a
// refused attempt leaves the token usable.
type refreshTokenGrant struct {
	refresh refreshStore
	tokens  minter
	log     logger
}

func (g refreshTokenGrant) handle(ctx context.Context, t *tokenRequest) (*tokenResponse, *oautherr.Error) {
	c := t.client
	raw := t.params["refresh_token"]
	if raw == "" {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "refresh_token is required.")
	}
	// The access token's scopes and audiences, decided by check.
	var scopes, aud []string
	check := func(old store.RefreshToken) error {
		if _, e := stillHeld(t, refreshGrant(old)); e != nil {
			return e
		}
		if !boundKeyMatches(old.DPoPJKT, t.dpopKey) {
			return oautherr.Newf(oautherr.InvalidGrant, "The refresh token is bound to a DPoP key: send a DPoP proof made with that key.")
		}
		if t.scopes != nil && !scope.Subset(t.scopes, old.Scopes) {
			return oautherr.New(oautherr.InvalidScope)
		}
		asked := t.scopes
		if asked == nil {
			asked = old.Scopes
		}
		var e *oautherr.Error
		if aud, scopes, e = audience(c, t.resources, old.Resources, true, allowedScopes(c, asked), t.scopes != nil); e != nil {
			return e
		}
		return nil
	}
	var (
		rt     store.RefreshToken
		err    error
		newRaw string
	)
	if c.RotatesRefreshTokens() {
		newRaw = newSecret()
		rt, err = g.refresh.RotateRefreshToken(ctx, store.Rotation{OldHash: store.HashToken(raw), ClientID: c.ID,
			NewHash: store.HashToken(newRaw), NewExpiresAt: t.now.Add(registry.Seconds(c.Policy.RefreshTokenLifetimeSeconds)),
			Check: check, ReuseGrace: registry.Seconds(c.Policy.RefreshTokenReuseGraceSeconds)})
	} else {
		rt, err = g.refresh.GetRefreshToken(ctx, store.HashToken(raw))
		if err == nil && rt.ClientID != c.ID {
			err = store.ErrNotFound
		}
		if err == nil {
			err = check(rt)
		}
	}
	if errors.Is(err, store.ErrAlreadyUsed) {
		g.log.Warn("refresh token reused: revoked its family", "clientID", c.ID, "family", rt.FamilyID)
	}
	if e := grantError(err); e != nil {
		return nil, e
	}
	acc, e := redeemableAccount(t.reg, c, rt.AccountID)
	if e != nil {
		return nil, e
	}
	return respond(g.tokens, t, tokens.Issue{Client: c, Account: acc, Scopes: scopes, Audience: aud, Family: rt.FamilyID,
		AuthTime: rt.AuthTime}, newRaw)
}

// refreshGrant is whom the refresh token rt was issued to.
func refreshGrant(rt store.RefreshToken) grantRecord {
	return grantRecord{clientUID: rt.ClientUID, accountID: rt.AccountID, binding: rt.Binding}
}
