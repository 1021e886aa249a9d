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
	"github.com/authops/authops/authserver/tokens"
)

// authCodeStore is the part of the store the authorization code grant uses.
type authCodeStore interface {
	RedeemAuthCode(ctx context.Context, hash store.Hash, clientID string, issued store.Issued) (store.AuthCode, error)
	RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error
}

// authorizationCodeGrant is RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5, §4.6;
// S256 only) and a code bound to a DPoP key by dpop_jkt (RFC 9449 §10). The code is single use: a second use gets invalid_grant and
// revokes what the first use issued (RFC 6749 §4.1.2).
type authorizationCodeGrant struct {
	codes  authCodeStore
	tokens minter
	log    logger
}

func (g authorizationCodeGrant) handle(ctx context.Context, t *tokenRequest) (*tokenResponse, *oautherr.Error) {
	p, c := t.params, t.client
	code := p["code"]
	if code == "" {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "code is required.")
	}
	issued := store.Issued{AccessTokenID: newID(),
		AccessTokenExpiresAt: t.now.Add(registry.Seconds(c.Policy.AccessTokenLifetimeSeconds))}
	var (
		got redeemed
		raw string // the refresh token, if the client may have one
	)
	issued.FamilyID, raw = newRefresh(c)
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
		if !boundKeyMatches(rec.DPoPJKT, t.dpopKey) {
			return nil, oautherr.Newf(oautherr.InvalidGrant, "The authorization request bound the code to a DPoP key (dpop_jkt): send a DPoP proof made with that key.")
		}
		return got.issue(t, codeGrant(rec), issued.FamilyID, raw)
	}
	rec, err := g.codes.RedeemAuthCode(ctx, store.HashToken(code), c.ID, issued)
	if errors.Is(err, store.ErrAlreadyUsed) {
		g.replayed(ctx, c, rec)
	}
	if e := grantError(err); e != nil {
		return nil, e
	}
	return respond(g.tokens, t, tokens.Issue{Client: c, Account: got.acc, Scopes: got.scopes, Audience: got.aud, JTI: issued.AccessTokenID,
		Family: issued.FamilyID, AuthTime: rec.AuthTime, Nonce: rec.Nonce, Expires: issued.AccessTokenExpiresAt}, raw)
}

// codeGrant is what the authorization code c granted.
func codeGrant(c store.AuthCode) consumedGrant {
	return consumedGrant{grantRecord: grantRecord{clientUID: c.ClientUID, accountID: c.AccountID, binding: c.Binding},
		scopes: c.Scopes, resources: c.Resources, authTime: c.AuthTime}
}

// replayed handles a code used a second time: the store has revoked what
// its first use issued; the access token is revoked once more here (a store
// that did not record it) and the replay is logged.
func (g authorizationCodeGrant) replayed(ctx context.Context, c *registry.Client, rec store.AuthCode) {
	g.log.Warn("authorization code replayed: revoked what its first use issued", "clientID", c.ID,
		"code", rec.Hash.String(), "family", rec.FamilyID, "jti", rec.AccessTokenID)
	if rec.AccessTokenID != "" {
		if err := g.codes.RevokeAccessToken(ctx, rec.AccessTokenID, rec.AccessTokenExpiresAt); err != nil {
			g.log.Error("revoking the access token of a replayed code failed", "error", err)
		}
	}
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
