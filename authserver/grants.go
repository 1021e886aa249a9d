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
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"time"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store"
)

func newID() string { return store.NewID() }

// mintOrFail turns a signing failure into server_error.
func (s *Server) mintOrFail(t *tokenRequest, is issue) (*tokenResponse, *oautherr.Error) {
	resp, err := s.mint(t.reg, t.now, is)
	if err != nil {
		return nil, serverError(err)
	}
	return resp, nil
}

// clientCredentialsGrant is RFC 6749 §4.4: a confidential client gets an
// access token for itself.
type clientCredentialsGrant struct{ s *Server }

func (g clientCredentialsGrant) handle(_ context.Context, t *tokenRequest) (*tokenResponse, *oautherr.Error) {
	if t.client.Public() {
		return nil, oautherr.New(oautherr.UnauthorizedClient)
	}
	scopes := t.scopes
	if scopes == nil {
		scopes = allowedScopes(t.client, t.client.DefaultScopes)
	}
	return g.s.mintOrFail(t, issue{client: t.client, scopes: scopes})
}

// authorizationCodeGrant is RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5, §4.6;
// S256 only). The code is single use: a second use gets invalid_grant and
// revokes what the first use issued (RFC 6749 §4.1.2).
type authorizationCodeGrant struct{ s *Server }

func (g authorizationCodeGrant) handle(ctx context.Context, t *tokenRequest) (*tokenResponse, *oautherr.Error) {
	s, p, c := g.s, t.params, t.client
	code := p["code"]
	if code == "" {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "code is required.")
	}
	issued := store.Issued{AccessTokenID: newID(),
		AccessTokenExpiresAt: t.now.Add(registry.Seconds(c.Policy.AccessTokenLifetimeSeconds))}
	var (
		acc    *registry.Account
		scopes []string
		raw    string // the refresh token, if the client may have one
	)
	if c.AllowsGrant("refresh_token") {
		issued.FamilyID, raw = newID(), newSecret()
	}
	// Called by the store once the code is redeemed, in the redemption's
	// transaction: the code is used up from then on, whatever the checks
	// say, and the refresh token is stored with the redemption (one commit).
	issued.Issue = func(rec store.AuthCode) (*store.RefreshToken, error) {
		if !redirectMatches(c, rec.RedirectURI, p["redirect_uri"]) {
			return nil, oautherr.Newf(oautherr.InvalidGrant, "redirect_uri does not match the authorization request.")
		}
		if e := checkVerifier(c, rec.CodeChallenge, p["code_verifier"]); e != nil {
			return nil, e
		}
		a, e := redeemableAccount(t.reg, c, rec.AccountID)
		if e != nil {
			return nil, e
		}
		acc, scopes = a, allowedScopes(c, rec.Scopes)
		if raw == "" {
			return nil, nil
		}
		rt := refreshRecord(t, acc, scopes, issued.FamilyID, rec.AuthTime, raw)
		return &rt, nil
	}
	rec, err := s.store.RedeemAuthCode(ctx, store.HashToken(code), c.ID, issued)
	var checkErr *oautherr.Error
	switch {
	case errors.As(err, &checkErr): // from Issue: the code is used up
		return nil, checkErr
	case errors.Is(err, store.ErrAlreadyUsed):
		s.log.Warn("authorization code replayed: revoked what its first use issued", "clientID", c.ID,
			"code", rec.Hash.String(), "family", rec.FamilyID, "jti", rec.AccessTokenID)
		if rec.AccessTokenID != "" {
			if err := s.store.RevokeAccessToken(ctx, rec.AccessTokenID, rec.AccessTokenExpiresAt); err != nil {
				s.log.Error("revoking the access token of a replayed code failed", "error", err)
			}
		}
		return nil, oautherr.New(oautherr.InvalidGrant)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrRevoked):
		return nil, oautherr.New(oautherr.InvalidGrant)
	case err != nil:
		return nil, serverError(err)
	}
	return s.mintOrFail(t, issue{client: c, account: acc, scopes: scopes, jti: issued.AccessTokenID,
		family: issued.FamilyID, refresh: raw, authTime: rec.AuthTime, nonce: rec.Nonce,
		expires: issued.AccessTokenExpiresAt})
}

// redirectMatches implements RFC 6749 §4.1.3: when the authorization
// request named a redirect_uri, the token request must send the identical
// string; when it did not, a redirect_uri sent now must be the client's
// only registered one.
func redirectMatches(c *registry.Client, authorized, sent string) bool {
	if authorized != "" {
		return subtle.ConstantTimeCompare([]byte(authorized), []byte(sent)) == 1
	}
	return sent == "" || (len(c.RedirectURIs) == 1 && c.RedirectURIs[0] == sent)
}

// checkVerifier implements RFC 7636 §4.6 for S256. A verifier without a
// challenge is refused (a downgrade attempt), as is a missing verifier when
// the client must use PKCE.
func checkVerifier(c *registry.Client, challenge, verifier string) *oautherr.Error {
	if challenge == "" {
		if verifier != "" {
			return oautherr.Newf(oautherr.InvalidGrant, "code_verifier was sent but the authorization request had no code_challenge.")
		}
		if c.PKCERequired() {
			return oautherr.Newf(oautherr.InvalidGrant, "This client must use PKCE.")
		}
		return nil
	}
	if !validPKCEValue(verifier) {
		return oautherr.Newf(oautherr.InvalidGrant, "code_verifier is missing or malformed.")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) != 1 {
		return oautherr.Newf(oautherr.InvalidGrant, "code_verifier does not match the code_challenge.")
	}
	return nil
}

// validPKCEValue checks RFC 7636 §4.1's syntax: 43 to 128 unreserved
// characters (also the syntax of an S256 challenge).
func validPKCEValue(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// refreshRecord is the store's record of a new refresh token raw.
func refreshRecord(t *tokenRequest, acc *registry.Account, scopes []string, family string, authTime time.Time, raw string) store.RefreshToken {
	return store.RefreshToken{Hash: store.HashToken(raw), FamilyID: family, ClientID: t.client.ID,
		AccountID: acc.Subject, Scopes: scopes, AuthTime: authTime,
		ExpiresAt: t.now.Add(registry.Seconds(t.client.Policy.RefreshTokenLifetimeSeconds))}
}

func (s *Server) newRefreshToken(ctx context.Context, t *tokenRequest, acc *registry.Account, scopes []string, family string, authTime time.Time) (string, *oautherr.Error) {
	raw := newSecret()
	err := s.store.CreateRefreshToken(ctx, refreshRecord(t, acc, scopes, family, authTime, raw))
	switch {
	case errors.Is(err, store.ErrRevoked), errors.Is(err, store.ErrConflict):
		return "", oautherr.New(oautherr.InvalidGrant)
	case err != nil:
		return "", serverError(err)
	}
	return raw, nil
}

// refreshTokenGrant is RFC 6749 §6. With rotation (policy Rotate) every use
// returns a new refresh token and retires the old one; using a retired one
// again is reuse and revokes the whole family (RFC 9700 §4.14.2). The scope
// may only narrow.
type refreshTokenGrant struct{ s *Server }

func (g refreshTokenGrant) handle(ctx context.Context, t *tokenRequest) (*tokenResponse, *oautherr.Error) {
	s, c := g.s, t.client
	raw := t.params["refresh_token"]
	if raw == "" {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "refresh_token is required.")
	}
	check := func(old store.RefreshToken) error {
		if t.scopes != nil && !subset(t.scopes, old.Scopes) {
			return errNarrow
		}
		return nil
	}
	var (
		rt      store.RefreshToken
		err     error
		newRaw  string
		rotated = c.Policy.RefreshTokenRotation != "Reuse"
	)
	if rotated {
		newRaw = newSecret()
		rt, err = s.store.RotateRefreshToken(ctx, store.Rotation{OldHash: store.HashToken(raw), ClientID: c.ID,
			NewHash: store.HashToken(newRaw), NewExpiresAt: t.now.Add(registry.Seconds(c.Policy.RefreshTokenLifetimeSeconds)),
			Check: check})
	} else {
		rt, err = s.store.GetRefreshToken(ctx, store.HashToken(raw))
		if err == nil && rt.ClientID != c.ID {
			err = store.ErrNotFound
		}
		if err == nil {
			err = check(rt)
		}
	}
	switch {
	case errors.Is(err, errNarrow):
		return nil, oautherr.New(oautherr.InvalidScope)
	case errors.Is(err, store.ErrAlreadyUsed):
		s.log.Warn("refresh token reused: revoked its family", "clientID", c.ID, "family", rt.FamilyID)
		return nil, oautherr.New(oautherr.InvalidGrant)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrRevoked):
		return nil, oautherr.New(oautherr.InvalidGrant)
	case err != nil:
		return nil, serverError(err)
	}
	acc, e := redeemableAccount(t.reg, c, rt.AccountID)
	if e != nil {
		return nil, e
	}
	scopes := t.scopes
	if scopes == nil {
		scopes = rt.Scopes
	}
	scopes = allowedScopes(c, scopes)
	return s.mintOrFail(t, issue{client: c, account: acc, scopes: scopes, family: rt.FamilyID, refresh: newRaw,
		authTime: rt.AuthTime})
}

// passwordGrant is RFC 6749 §4.3, for clients whose policy allows it. It
// checks the account like the login page does, so it is where the token
// endpoint answers account_locked and account_disabled.
type passwordGrant struct{ s *Server }

func (g passwordGrant) handle(ctx context.Context, t *tokenRequest) (*tokenResponse, *oautherr.Error) {
	s, c, p := g.s, t.client, t.params
	if p["username"] == "" || p["password"] == "" {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "username and password are required.")
	}
	acc, e := s.checkPassword(ctx, t.reg, c, p["username"], p["password"])
	if e != nil {
		return nil, e
	}
	scopes := t.scopes
	if scopes == nil {
		scopes = allowedScopes(c, c.DefaultScopes)
	}
	is := issue{client: c, account: acc, scopes: scopes, authTime: t.now}
	if c.AllowsGrant("refresh_token") {
		is.family = newID()
		raw, e := s.newRefreshToken(ctx, t, acc, scopes, is.family, t.now)
		if e != nil {
			return nil, e
		}
		is.refresh = raw
	}
	return s.mintOrFail(t, is)
}
