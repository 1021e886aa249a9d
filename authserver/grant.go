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
	"fmt"
	"net/http"
	"time"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/scope"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/tokens"
)

// grant is one grant type of the token endpoint. The pipeline has already
// authenticated the client, checked that the grant type is allowed for it
// and that every requested scope is one of its scopes; a grant cannot skip
// those checks. A grant gets only what it uses (a part of the store, the
// token minter, the password checker, a logger), never the Server.
type grant interface {
	handle(ctx context.Context, t *tokenRequest) (*tokenResponse, *oautherr.Error)
}

// grantDeps is what the grants are built from; each constructor takes its
// part.
type grantDeps struct {
	store     store.Store
	tokens    minter
	passwords passwordChecker
	log       logger
}

// grantTable is the one table of grant types: the token endpoint
// dispatches through it, and newGrants checks that it serves exactly
// snapshot.GrantTypes, the list the metadata (grant_types_supported), the
// metrics' grant_type label and the validation of snapshot documents use.
var grantTable = map[string]func(grantDeps) grant{
	snapshot.GrantAuthorizationCode: func(d grantDeps) grant {
		return authorizationCodeGrant{codes: d.store, tokens: d.tokens, log: d.log}
	},
	snapshot.GrantRefreshToken: func(d grantDeps) grant {
		return refreshTokenGrant{refresh: d.store, tokens: d.tokens, log: d.log}
	},
	snapshot.GrantClientCredentials: func(d grantDeps) grant {
		return clientCredentialsGrant{tokens: d.tokens}
	},
	snapshot.GrantPassword: func(d grantDeps) grant {
		return passwordGrant{passwords: d.passwords, refresh: d.store, tokens: d.tokens}
	},
	snapshot.GrantDeviceCode: func(d grantDeps) grant {
		return deviceCodeGrant{devices: d.store, tokens: d.tokens}
	},
}

// newGrants builds the grant of every grant type.
func newGrants(d grantDeps) map[string]grant {
	if len(grantTable) != len(snapshot.GrantTypes) {
		panic(fmt.Sprintf("authserver: %d grants for %d grant types", len(grantTable), len(snapshot.GrantTypes)))
	}
	m := make(map[string]grant, len(grantTable))
	for _, gt := range snapshot.GrantTypes {
		build, ok := grantTable[gt]
		if !ok {
			panic("authserver: no grant for grant type " + gt)
		}
		m[gt] = build(d)
	}
	return m
}

// tokenRequest is a token request that passed the pipeline's checks.
type tokenRequest struct {
	reg    *registry.Registry
	client *registry.Client
	params params
	// scopes are the requested scopes (nil when the request names none),
	// each allowed for the client.
	scopes []string
	// resources are the requested resources (RFC 8707; nil when the
	// request names none), each granted to the client.
	resources []string
	now       time.Time
	// authStyle is where the client's credentials were, store.AuthStyle*
	// (the device poll grace is only for a re-send in the other style).
	authStyle string
	// dpopKey is the thumbprint of the request's DPoP proof key (RFC
	// 9449), "" without a proof: the access token is bound to it, and so
	// is a Public client's refresh token.
	dpopKey string
}

// refreshKey is the DPoP key a new refresh token is bound to: the proof's
// for a Public client (RFC 9449 §5), none for a Confidential client, whose
// refresh tokens its client authentication already constrains.
func (t *tokenRequest) refreshKey() string {
	if t.client.Public() {
		return t.dpopKey
	}
	return ""
}

// authStyle is the client authentication style of a token request:
// store.AuthStyleHeader with an Authorization header, else
// store.AuthStyleBody.
func authStyle(r *http.Request) string {
	if len(r.Header.Values("Authorization")) > 0 {
		return store.AuthStyleHeader
	}
	return store.AuthStyleBody
}

// logger is the part of *slog.Logger the grants use.
type logger interface {
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// minter signs the tokens of a successful grant (package tokens).
type minter interface {
	Mint(reg *registry.Registry, now time.Time, is tokens.Issue) (tokens.Minted, error)
}

// respond mints the tokens of is and returns the token response, with the
// refresh token raw ("" for none); a signing failure is server_error. With
// a DPoP proof the access token is bound to its key (cnf.jkt) and its
// token_type is DPoP (RFC 9449 §5).
func respond(m minter, t *tokenRequest, is tokens.Issue, refresh string) (*tokenResponse, *oautherr.Error) {
	is.DPoPKey = t.dpopKey
	minted, err := m.Mint(t.reg, t.now, is)
	if err != nil {
		return nil, serverError(err)
	}
	tokenType := tokenTypeBearer
	if t.dpopKey != "" {
		tokenType = tokenTypeDPoP
	}
	return &tokenResponse{AccessToken: minted.AccessToken, TokenType: tokenType, ExpiresIn: minted.ExpiresIn,
		RefreshToken: refresh, Scope: scope.Join(is.Scopes), IDToken: minted.IDToken}, nil
}

// The token types of a token response (RFC 6750, RFC 9449 §5).
const (
	tokenTypeBearer = "Bearer"
	tokenTypeDPoP   = "DPoP"
)

// grantError maps what the store answered for a grant to the OAuth error:
//   - an *oautherr.Error is a grant's own check, run by the store inside
//     its transaction (Issued.Issue, Rotation.Check, DevicePoll.Issue):
//     sent as it is;
//   - a grant that is gone (see grantGone) is invalid_grant;
//   - anything else (ErrConflict included) is an infrastructure failure
//     (serverError).
func grantError(err error) *oautherr.Error {
	var e *oautherr.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case grantGone(err):
		return oautherr.New(oautherr.InvalidGrant)
	default:
		return serverError(err)
	}
}

// grantGone reports whether the store refused a record because it cannot be
// used (any more): unknown or another client's, expired, revoked, or used
// (decided) before. It is the one test of that for codes, refresh tokens,
// device codes and login sessions; each store call returns only the part of
// these errors that applies to it.
func grantGone(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExpired) ||
		errors.Is(err, store.ErrRevoked) || errors.Is(err, store.ErrAlreadyUsed)
}

// redeemableAccount returns the account a grant (code, refresh token,
// approved device code) was issued to, if tokens may still be issued for
// it: gone or moved to another namespace is invalid_grant; disabled since is
// account_disabled.
func redeemableAccount(reg *registry.Registry, c *registry.Client, subject string) (*registry.Account, *oautherr.Error) {
	acc, ok := reg.AccountBySubject(subject)
	if !ok || acc.Namespace != c.Namespace {
		return nil, oautherr.New(oautherr.InvalidGrant)
	}
	if acc.Disabled {
		return nil, oautherr.New(oautherr.AccountDisabled)
	}
	return acc, nil
}

// sameClient reports whether a record (authorization code, refresh token,
// device authorization, consent) stored with the client UID uid was issued
// to the client object c, not to an earlier object deleted and recreated
// under the same client ID. Records stored before client bindings existed
// ("") are accepted.
func sameClient(c *registry.Client, uid string) bool { return uid == "" || uid == c.Source.UID }

// grantRecord is what a stored grant (authorization code, approved device
// authorization, refresh token) says about whom it was issued to.
type grantRecord struct {
	clientUID string // the client object's UID, "" before client bindings existed
	accountID string // the account's subject
	binding   string // the account's GrantBinding, "" before account bindings existed
}

// stillHeld returns the account a grant was issued to if the grant may
// still be used by the requesting client: issued to this client object
// (sameClient), and the account can still have tokens (redeemableAccount)
// and is the one that approved the grant: not deleted and recreated, nor
// disabled since (its DisabledCount grew), even if enabled again; all
// invalid_grant (account_disabled for a disabled account). A grant stored
// before account bindings existed ("") is accepted while the account has
// never been disabled since.
func stillHeld(t *tokenRequest, g grantRecord) (*registry.Account, *oautherr.Error) {
	if !sameClient(t.client, g.clientUID) {
		return nil, oautherr.New(oautherr.InvalidGrant)
	}
	acc, e := redeemableAccount(t.reg, t.client, g.accountID)
	if e != nil {
		return nil, e
	}
	if g.binding != acc.GrantBinding() && (g.binding != "" || acc.DisabledCount != 0) {
		return nil, oautherr.New(oautherr.InvalidGrant)
	}
	return acc, nil
}

// allowedScopes keeps the scopes still allowed for the client (its policy
// may have narrowed since a grant was issued).
func allowedScopes(c *registry.Client, scopes []string) []string {
	var out []string
	for _, sc := range scopes {
		if c.AllowsScope(sc) {
			out = append(out, sc)
		}
	}
	return out
}

// requestedOrDefault is the scopes a request names, else the client's
// default scopes still allowed for it.
func requestedOrDefault(c *registry.Client, requested []string) []string {
	if requested == nil {
		return allowedScopes(c, c.DefaultScopes)
	}
	return requested
}

// newRefresh draws a refresh token and its family when the client may
// have refresh tokens; both are "" otherwise.
func newRefresh(c *registry.Client) (family, raw string) {
	if !c.AllowsGrant(snapshot.GrantRefreshToken) {
		return "", ""
	}
	return store.NewFamilyID(), newSecret()
}

// refreshRecord is the store's record of a new refresh token raw, bound to
// the requesting client object and to acc, with the family's resources.
func refreshRecord(t *tokenRequest, acc *registry.Account, scopes, resources []string, family string, authTime time.Time, raw string) store.RefreshToken {
	return store.RefreshToken{Hash: store.HashToken(raw), FamilyID: family, ClientID: t.client.ID,
		ClientUID: t.client.Source.UID, AccountID: acc.Subject, Scopes: scopes, Resources: resources,
		AuthTime: authTime, Binding: acc.GrantBinding(), DPoPJKT: t.refreshKey(),
		ExpiresAt: t.now.Add(registry.Seconds(t.client.Policy.RefreshTokenLifetimeSeconds))}
}

// redeemed is what a grant learns inside the store's transaction that
// consumes a code (authorization code, approved device code): the account,
// scopes and audiences the tokens are for.
type redeemed struct {
	acc    *registry.Account
	scopes []string
	aud    []string
}

// consumedGrant is what a consumed code (authorization code, approved
// device authorization) granted.
type consumedGrant struct {
	grantRecord
	scopes, resources []string
	authTime          time.Time
}

// issue is the store's Issue callback of a code grant: it checks that the
// code is still held by the client and the account (stillHeld) and the
// resources (the token request's, within those the code was authorized
// for), keeps what it learns in r, and returns the first refresh token
// (family, raw from newRefresh) to store with the consumption, if any; its
// family keeps the code's resources.
func (r *redeemed) issue(t *tokenRequest, g consumedGrant, family, raw string) (*store.RefreshToken, error) {
	a, e := stillHeld(t, g.grantRecord)
	if e != nil {
		return nil, e
	}
	aud, scopes, e := audience(t.client, t.resources, g.resources, true, allowedScopes(t.client, g.scopes), false)
	if e != nil {
		return nil, e
	}
	r.acc, r.scopes, r.aud = a, scopes, aud
	if raw == "" {
		return nil, nil
	}
	rt := refreshRecord(t, r.acc, r.scopes, g.resources, family, g.authTime, raw)
	return &rt, nil
}
