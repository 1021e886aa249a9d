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
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/scope"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/tokens"
)

// jwks serves the published signing keys (RFC 7517 §5).
func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range s.reg.Current().PublishedKeys(s.clock.Now()) {
		set.Keys = append(set.Keys, k.Public())
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Content-Type", "application/json")
	writeBody(w, set)
}

// metadata is the authorization server metadata (RFC 8414 §2), served
// identically as the OpenID Provider configuration (OIDC Discovery §3).
func (s *Server) metadata(w http.ResponseWriter, _ *http.Request) {
	m := map[string]any{
		"issuer":                                                   s.issuer,
		"authorization_endpoint":                                   s.issuer + PathAuthorize,
		"token_endpoint":                                           s.issuer + PathToken,
		"device_authorization_endpoint":                            s.issuer + PathDeviceAuthorization,
		"pushed_authorization_request_endpoint":                    s.issuer + PathPushedAuthorizationRequest,
		"require_pushed_authorization_requests":                    false, // per client: its policy's pushedAuthorizationRequests
		"jwks_uri":                                                 s.issuer + PathJWKS,
		"userinfo_endpoint":                                        s.issuer + PathUserinfo,
		"introspection_endpoint":                                   s.issuer + PathIntrospect,
		"revocation_endpoint":                                      s.issuer + PathRevoke,
		"end_session_endpoint":                                     s.issuer + PathLogout,
		"response_types_supported":                                 []string{"code"},
		"response_modes_supported":                                 []string{"query"},
		"grant_types_supported":                                    snapshot.GrantTypes,
		"code_challenge_methods_supported":                         []string{"S256"},
		"dpop_signing_alg_values_supported":                        snapshot.DPoPAlgorithms,
		"token_endpoint_auth_methods_supported":                    []string{snapshot.AuthClientSecretBasic, snapshot.AuthClientSecretPost, snapshot.AuthPrivateKeyJWT, snapshot.AuthNone},
		"token_endpoint_auth_signing_alg_values_supported":         snapshot.AssertionAlgorithms,
		"introspection_endpoint_auth_methods_supported":            []string{snapshot.AuthClientSecretBasic, snapshot.AuthClientSecretPost, snapshot.AuthPrivateKeyJWT},
		"introspection_endpoint_auth_signing_alg_values_supported": snapshot.AssertionAlgorithms,
		"revocation_endpoint_auth_methods_supported":               []string{snapshot.AuthClientSecretBasic, snapshot.AuthClientSecretPost, snapshot.AuthPrivateKeyJWT, snapshot.AuthNone},
		"revocation_endpoint_auth_signing_alg_values_supported":    snapshot.AssertionAlgorithms,
		"authorization_response_iss_parameter_supported":           true,
		"subject_types_supported":                                  []string{"public"},
		"id_token_signing_alg_values_supported":                    []string{snapshot.AlgES256},
		"scopes_supported":                                         []string{"openid", "profile", "email", "groups"},
		"claims_supported":                                         []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "name", "preferred_username", "email", "groups"},
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/json")
	writeBody(w, m)
}

// introspect is token introspection (RFC 7662 §2). The caller must
// authenticate as a confidential client or as a ResourceServer; a token
// that is not active, or that the caller may not see (seesAccess, seesRefresh), is
// {"active":false} and nothing else.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	reg := s.reg.Current()
	p, _, e := parseForm(w, r)
	if e != nil {
		s.writeError(w, r, e, s.profile)
		return
	}
	caller, e := s.clientAuth.introspector(r, reg, p)
	if e != nil {
		s.writeError(w, r, e, s.profile)
		return
	}
	profile := s.profile
	if caller.client != nil {
		profile = caller.client.Profile()
	}
	if p["token"] == "" {
		s.writeError(w, r, oautherr.Newf(oautherr.InvalidRequest, "token is required."), profile)
		return
	}
	resp, err := s.lookupToken(r.Context(), reg, caller, p["token"], p["token_type_hint"])
	if err != nil {
		s.writeError(w, r, serverError(err), profile)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// seesAccess reports whether the caller may see an access token as active
// (RFC 7662 §4 leaves who may see a token to the server): the token's own
// client, or the ResourceServer that owns one of its audiences. A client
// whose ID happens to be an aud value sees nothing: aud names
// ResourceServers' audiences, not clients.
func (i introspector) seesAccess(c *tokens.AccessClaims) bool {
	if i.rs != nil {
		return slices.Contains(c.Audience, i.rs.Audience)
	}
	return c.ClientID == i.client.ID
}

// seesRefresh reports whether the caller may see a refresh token as
// active: only its own client object (sameClient; a ResourceServer never
// sees refresh tokens, which are not for it).
func (i introspector) seesRefresh(rt store.RefreshToken) bool {
	return i.client != nil && rt.ClientID == i.client.ID && sameClient(i.client, rt.ClientUID)
}

type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	Expiry    int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	// Confirmation is the DPoP key a bound token is bound to (RFC 9449
	// §6.2).
	Confirmation *tokens.Confirmation `json:"cnf,omitempty"`
}

// lookupToken finds an active token the caller may see: an access token
// issued to it (or, for a ResourceServer, naming its audience), or its own
// refresh token (issued to this client object: not to an earlier one
// deleted and recreated under the same client ID).
func (s *Server) lookupToken(ctx context.Context, reg *registry.Registry, caller introspector, raw, hint string) (introspection, error) {
	now := s.clock.Now()
	inactive := introspection{}
	if hint != "refresh_token" || strings.Count(raw, ".") == 2 {
		if c, err := s.tokens.VerifyAccess(reg, raw, now); err == nil {
			if !caller.seesAccess(c) {
				return inactive, nil
			}
			if active, err := s.accessTokenActive(ctx, c); err != nil || !active {
				return inactive, err
			}
			out := introspection{Active: true, Scope: c.Scope, ClientID: c.ClientID, Subject: c.Subject, Audience: c.Audience,
				Issuer: c.Issuer, Expiry: c.Expiry, IssuedAt: c.IssuedAt, JTI: c.JTI, TokenType: tokenTypeBearer}
			if c.Confirmation != nil {
				out.TokenType, out.Confirmation = tokenTypeDPoP, c.Confirmation
			}
			return out, nil
		}
	}
	rt, err := s.store.GetRefreshToken(ctx, store.HashToken(raw))
	switch {
	case err == nil:
	case grantGone(err):
		return inactive, nil
	default:
		return inactive, err
	}
	if !caller.seesRefresh(rt) {
		return inactive, nil
	}
	out := introspection{Active: true, Scope: scope.Join(rt.Scopes), ClientID: rt.ClientID, Subject: rt.AccountID,
		Issuer: s.issuer, Expiry: rt.ExpiresAt.Unix(), IssuedAt: rt.CreatedAt.Unix(), TokenType: "refresh_token"}
	if rt.DPoPJKT != "" {
		out.Confirmation = &tokens.Confirmation{JKT: rt.DPoPJKT}
	}
	return out, nil
}

// accessTokenActive checks the revocation of the token and of its family.
func (s *Server) accessTokenActive(ctx context.Context, c *tokens.AccessClaims) (bool, error) {
	revoked, err := s.store.IsAccessTokenRevoked(ctx, c.JTI)
	if err != nil || revoked {
		return false, err
	}
	if c.Family != "" {
		revoked, err := s.store.IsFamilyRevoked(ctx, c.Family)
		if err != nil || revoked {
			return false, err
		}
	}
	return true, nil
}

// revoke is token revocation (RFC 7009 §2). The client authenticates (or
// names itself, if public); an unknown token, or another client's, gets 200
// and nothing happens. Revoking a refresh token revokes its whole family,
// and with it every access token issued from the family.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	reg := s.reg.Current()
	p, _, e := parseForm(w, r)
	if e != nil {
		s.writeError(w, r, e, s.profile)
		return
	}
	caller, e := s.clientAuth.authenticate(r, reg, p)
	if e != nil {
		s.writeError(w, r, e, s.profile)
		return
	}
	raw := p["token"]
	if raw == "" {
		s.writeError(w, r, oautherr.Newf(oautherr.InvalidRequest, "token is required."), caller.Profile())
		return
	}
	ctx, now := r.Context(), s.clock.Now()
	if c, err := s.tokens.VerifyAccess(reg, raw, now); err == nil {
		if c.ClientID == caller.ID {
			if err := s.store.RevokeAccessToken(ctx, c.JTI, timeUnix(c.Expiry)); err != nil {
				s.writeError(w, r, serverError(err), caller.Profile())
				return
			}
		}
	} else {
		rt, err := s.store.GetRefreshToken(ctx, store.HashToken(raw))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil && !grantGone(err):
			s.writeError(w, r, serverError(err), caller.Profile())
			return
		case rt.ClientID == caller.ID && sameClient(caller, rt.ClientUID):
			if err := s.store.RevokeRefreshFamily(ctx, rt.FamilyID); err != nil {
				s.writeError(w, r, serverError(err), caller.Profile())
				return
			}
			s.log.Info("refresh token family revoked", "clientID", caller.ID, "family", rt.FamilyID)
		}
	}
	oautherr.NoStore(w.Header())
	w.WriteHeader(http.StatusOK)
}

// userinfo is the OpenID Connect UserInfo endpoint (OIDC Core §5.3). It
// takes an access token that was granted openid: a bearer token with the
// Bearer scheme (RFC 6750 §2.1), a DPoP-bound one with the DPoP scheme and
// a proof made with its key (RFC 9449 §7); errors follow RFC 6750 §3 and
// RFC 9449 §7.1.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	reg := s.reg.Current()
	scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	dpop := strings.EqualFold(scheme, "DPoP")
	// The errors go out under the Extended profile (RFC 6750 has one), and
	// are not counted as the client's (the client is not authenticated).
	fail := func(e *oautherr.Error) {
		if e.Cause != nil { // the store: no challenge
			s.writeError(w, r, e, oautherr.Extended)
			return
		}
		e.Bearer, e.DPoP = !dpop, dpop
		oautherr.Write(w, e, oautherr.Extended, s.issuer)
	}
	if !ok || !(dpop || strings.EqualFold(scheme, "Bearer")) || raw == "" {
		oautherr.WriteBearerChallenge(w, s.issuer)
		return
	}
	c, err := s.tokens.VerifyAccess(reg, raw, s.clock.Now())
	if err == nil {
		var active bool
		active, err = s.accessTokenActive(r.Context(), c)
		if err == nil && !active {
			err = tokens.ErrBadToken
		}
	}
	if err != nil {
		fail(oautherr.New(oautherr.InvalidToken))
		return
	}
	if e := s.senderConstrained(r, reg, c, raw, dpop); e != nil {
		fail(e)
		return
	}
	scopes := strings.Fields(c.Scope)
	acc, ok := reg.AccountBySubject(c.Subject)
	if !slices.Contains(scopes, "openid") || !ok || acc.Disabled {
		fail(oautherr.Newf(oautherr.InsufficientScope, "The access token was not granted the openid scope for an account."))
		return
	}
	var ic tokens.IDClaims
	ic.AddProfile(acc, scopes)
	out := map[string]any{"sub": acc.Subject}
	if ic.Name != "" {
		out["name"] = ic.Name
	}
	if ic.PreferredUsername != "" {
		out["preferred_username"] = ic.PreferredUsername
	}
	if ic.Email != "" {
		out["email"] = ic.Email
	}
	if ic.Groups != nil {
		out["groups"] = ic.Groups
	}
	writeJSON(w, http.StatusOK, out)
}

// senderConstrained checks that an access token is presented as it was
// issued (RFC 9449 §7.1, §7.2): a DPoP-bound token with the DPoP scheme and
// a proof made with its key, for this request and this token (ath); a
// bearer token with the Bearer scheme. A bound token sent as Bearer is
// invalid_token, as is a bearer token sent with the DPoP scheme.
func (s *Server) senderConstrained(r *http.Request, reg *registry.Registry, c *tokens.AccessClaims, raw string, dpop bool) *oautherr.Error {
	bound := c.BoundKey()
	switch {
	case !dpop && bound == "":
		return nil
	case !dpop:
		return oautherr.Newf(oautherr.InvalidToken, "The access token is bound to a DPoP key: send it with the DPoP scheme and a DPoP proof.")
	case bound == "":
		return oautherr.Newf(oautherr.InvalidToken, "The access token is not bound to a DPoP key: send it with the Bearer scheme.")
	}
	client, _ := reg.Client(c.ClientID)
	target := dpopTarget{method: r.Method, url: s.issuer + PathUserinfo, accessToken: raw,
		nonce: client != nil && client.DPoPNonceRequired()}
	jkt, e := s.dpop.verify(r.Context(), r, reg, target)
	switch {
	case e != nil:
		return e
	case jkt == "":
		return invalidProof("Send a DPoP proof (the DPoP header) with a DPoP-bound access token.")
	case !boundKeyMatches(bound, jkt):
		return invalidProof("The DPoP proof is not made with the key the access token is bound to.")
	}
	return nil
}

func writeBody(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v)
}

func timeUnix(sec int64) time.Time { return time.Unix(sec, 0) }
