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
	"net/http"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authops/authops/authserver/kubeissuer"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
)

// Client assertions (RFC 7521 §4.2, RFC 7523 §2.2 and §3): a JWT sent as
// client_assertion with client_assertion_type jwt-bearer instead of a
// secret. Two kinds, chosen by the client's registered method:
//
//   - private_key_jwt (OpenID Connect Core §9): signed with the client's
//     own key; iss and sub are the client_id.
//   - kubernetes_service_account_token (workload identity): a projected
//     ServiceAccount token signed by the cluster's ServiceAccount issuer;
//     sub is system:serviceaccount:<namespace>:<name> of the client's own
//     namespace, and the token carries the ServiceAccount's UID.
//
// Both: aud holds the issuer or the token endpoint URL; exp is in the
// future (private_key_jwt: at most maxAssertionLifetime away; a
// ServiceAccount token keeps the lifetime the cluster gave it); nbf and iat
// are not in the future; a jti is used once (required for private_key_jwt;
// checked when a ServiceAccount token has one), shared by every replica
// through the store. Every failure is invalid_client with a fixed
// description; the assertion itself is never logged.

const (
	paramClientAssertion     = "client_assertion"
	paramClientAssertionType = "client_assertion_type"
	// methodAssertion is what presented returns for a client assertion;
	// the client's registered method says which kind it must be.
	methodAssertion = "client_assertion"
	// maxAssertionLifetime bounds exp of a private_key_jwt assertion.
	maxAssertionLifetime = time.Hour
	// assertionSkew is the clock skew allowed on exp, nbf and iat.
	assertionSkew = time.Minute
	// maxAssertionSize bounds the assertion before it is parsed.
	maxAssertionSize = 8 << 10
)

// ServiceAccountKeys finds the keys the cluster signs ServiceAccount tokens
// with (package kubeissuer): the issuer and the key of a key ID;
// kubeissuer.ErrUnknownKey for a key the cluster does not publish.
type ServiceAccountKeys interface {
	Key(ctx context.Context, kid string) (issuer string, key jose.JSONWebKey, err error)
}

// assertionAlgorithms are the algorithms a client assertion may name: no
// "none", no HMAC (jwt.ParseSigned refuses the others).
var assertionAlgorithms = signatureAlgorithms(snapshot.AssertionAlgorithms)

// signatureAlgorithms converts algorithm names for go-jose.
func signatureAlgorithms(names []string) []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(names))
	for i, a := range names {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}

// assertionClaims are the claims checked; kubernetes.io is what a
// ServiceAccount token says about its ServiceAccount.
type assertionClaims struct {
	jwt.Claims
	Kubernetes *struct {
		Namespace      string `json:"namespace"`
		ServiceAccount struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"serviceaccount"`
	} `json:"kubernetes.io,omitempty"`
}

// assertionVerifier checks client assertions.
type assertionVerifier struct {
	// audiences are the aud values that name this server: the issuer and
	// the token endpoint URL.
	audiences []string
	store     store.Store
	clock     store.Clock
	// cluster is nil without a Kubernetes API server (--snapshot-dir):
	// ServiceAccount clients then fail.
	cluster ServiceAccountKeys
}

// assertionFailure is invalid_client with a fixed description.
func assertionFailure(description string) *oautherr.Error {
	return oautherr.Newf(oautherr.InvalidClient, description)
}

// presentedAssertion reads client_assertion and client_assertion_type
// (nil, nil when the request has neither) and parses the JWT without
// verifying it. The request must use no other method.
func presentedAssertion(r *http.Request, p params) (*jwt.JSONWebToken, *oautherr.Error) {
	raw, hasAssertion := p[paramClientAssertion]
	typ, hasType := p[paramClientAssertionType]
	switch {
	case !hasAssertion && !hasType:
		return nil, nil
	case len(r.Header.Values("Authorization")) > 0 || p["client_secret"] != "":
		return nil, oautherr.Newf(oautherr.InvalidRequest, "Use one client authentication method, not two.")
	case !hasAssertion || !hasType:
		return nil, oautherr.Newf(oautherr.InvalidRequest, "Send client_assertion and client_assertion_type together.")
	case typ != snapshot.ClientAssertionJWTBearer:
		return nil, assertionFailure("Unsupported client_assertion_type: use " + snapshot.ClientAssertionJWTBearer + ".")
	case len(raw) > maxAssertionSize:
		return nil, assertionFailure("The client assertion is too large.")
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgorithms)
	if err != nil || len(tok.Headers) != 1 {
		return nil, assertionFailure("The client assertion is not a JWT signed with one of token_endpoint_auth_signing_alg_values_supported.")
	}
	return tok, nil
}

// assertionSubject is the unverified sub of an assertion: the client it
// names when the request has no client_id (private_key_jwt).
func assertionSubject(tok *jwt.JSONWebToken) string {
	var c jwt.Claims
	if tok.UnsafeClaimsWithoutVerification(&c) != nil {
		return ""
	}
	return c.Subject
}

// verify checks the assertion of a known, enabled, Confidential client.
func (v *assertionVerifier) verify(ctx context.Context, c *registry.Client, tok *jwt.JSONWebToken) *oautherr.Error {
	var claims assertionClaims
	var e *oautherr.Error
	switch c.TokenEndpointAuthMethod {
	case snapshot.AuthPrivateKeyJWT:
		e = v.clientSigned(c, tok, &claims)
	case snapshot.AuthServiceAccountToken:
		e = v.clusterSigned(ctx, c, tok, &claims)
	default:
		return assertionFailure("This client does not authenticate with a client assertion.")
	}
	if e != nil {
		return e
	}
	if e := v.checkTimes(c.TokenEndpointAuthMethod, &claims.Claims); e != nil {
		return e
	}
	if !slices.ContainsFunc(claims.Audience, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return assertionFailure("The client assertion audience does not include this server: use the issuer or the token endpoint URL.")
	}
	if claims.ID == "" {
		if c.TokenEndpointAuthMethod == snapshot.AuthPrivateKeyJWT {
			return assertionFailure("The client assertion has no jti: every assertion needs a unique one.")
		}
		return nil // a ServiceAccount token of an older cluster: nothing to replay-check
	}
	first, err := v.store.FirstUse(ctx, store.ScopeClientAssertion, claims.Issuer+"\x00"+claims.ID,
		claims.Expiry.Time().Add(assertionSkew))
	if err != nil {
		return serverError(err)
	}
	if !first {
		return assertionFailure("The client assertion was used before: send a new one (with a new jti) with every request.")
	}
	return nil
}

// clientSigned verifies a private_key_jwt assertion with the client's
// registered keys: the key its kid names (or, without kid, each key),
// with an algorithm that key allows; iss and sub must be the client_id.
func (v *assertionVerifier) clientSigned(c *registry.Client, tok *jwt.JSONWebToken, claims *assertionClaims) *oautherr.Error {
	h := tok.Headers[0]
	known, fits := false, false
	for _, key := range c.PublicKeys() {
		if h.KeyID != "" && key.KeyID != h.KeyID {
			continue
		}
		known = true
		if !slices.Contains(snapshot.KeyAlgorithms(key), h.Algorithm) {
			continue
		}
		fits = true
		if tok.Claims(key.Key, claims) == nil {
			if claims.Issuer != c.ID || claims.Subject != c.ID {
				return assertionFailure("The client assertion's iss and sub must both be the client_id.")
			}
			return nil
		}
	}
	switch {
	case !known:
		return assertionFailure("The client assertion names a key (kid) the client has not registered.")
	case !fits:
		return assertionFailure("The client assertion's alg is not one the client's keys allow.")
	default:
		return assertionFailure("The client assertion's signature does not verify with the client's registered keys.")
	}
}

// clusterSigned verifies a ServiceAccount token with the cluster's keys:
// issued by the cluster's ServiceAccount issuer to exactly the client's
// ServiceAccount (subject and, once the control plane has seen it, UID).
func (v *assertionVerifier) clusterSigned(ctx context.Context, c *registry.Client, tok *jwt.JSONWebToken, claims *assertionClaims) *oautherr.Error {
	if v.cluster == nil {
		return assertionFailure("Workload identity is not available: this server does not talk to a Kubernetes API server.")
	}
	notCluster := assertionFailure("The client assertion is not a token of this cluster's ServiceAccount issuer.")
	h := tok.Headers[0]
	issuer, key, err := v.cluster.Key(ctx, h.KeyID)
	switch {
	case errors.Is(err, kubeissuer.ErrUnknownKey):
		return notCluster
	case err != nil:
		return oautherr.Newf(oautherr.TemporarilyUnavailable, "The cluster's ServiceAccount keys cannot be read right now; retry later.").WithCause(err)
	case !slices.Contains(snapshot.KeyAlgorithms(key), h.Algorithm), tok.Claims(key.Key, claims) != nil, claims.Issuer != issuer:
		return notCluster
	}
	sa := c.ServiceAccount
	if claims.Subject != sa.Subject {
		return assertionFailure("The ServiceAccount token is not of the ServiceAccount this client authenticates as.")
	}
	if sa.UID != "" && (claims.Kubernetes == nil || claims.Kubernetes.ServiceAccount.UID != sa.UID) {
		return assertionFailure("The ServiceAccount token is of an earlier ServiceAccount of the same name.")
	}
	return nil
}

// checkTimes checks exp (required; bounded for private_key_jwt), nbf and
// iat, with assertionSkew.
func (v *assertionVerifier) checkTimes(method string, c *jwt.Claims) *oautherr.Error {
	now := v.clock.Now()
	switch {
	case c.Expiry == nil:
		return assertionFailure("The client assertion has no exp.")
	case now.After(c.Expiry.Time().Add(assertionSkew)):
		return assertionFailure("The client assertion has expired.")
	case method == snapshot.AuthPrivateKeyJWT && c.Expiry.Time().After(now.Add(maxAssertionLifetime+assertionSkew)):
		return assertionFailure("The client assertion expires more than an hour from now: make short-lived assertions.")
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(assertionSkew)):
		return assertionFailure("The client assertion is not valid yet (nbf).")
	case c.IssuedAt != nil && c.IssuedAt.Time().After(now.Add(assertionSkew)):
		return assertionFailure("The client assertion was issued in the future (iat).")
	}
	return nil
}
