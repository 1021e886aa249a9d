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

package authserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
)

// jwtClient is a private_key_jwt client of the fixture: its key pair and
// registration.
type jwtClient struct {
	id  string
	key *ecdsa.PrivateKey
	kid string
}

// addJWTClient registers client "pkj" with one P-256 public key (kid k1).
func addJWTClient(t *testing.T, f *fixture) jwtClient {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := jwtClient{id: "pkj", key: key, kid: "k1"}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: c.kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	d := clientDoc(snapshot.Client{ID: c.id, Type: "Confidential", TokenEndpointAuthMethod: snapshot.AuthPrivateKeyJWT, JWKS: set,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"api.read"}, Policy: policy()})
	f.docs = append(f.docs, registry.Entry{Origin: "team/pkj/client", Document: d})
	f.holder.Store(registry.Build(f.docs, slog.New(slog.DiscardHandler)))
	if _, ok := f.holder.Current().Client(c.id); !ok {
		t.Fatal("the private_key_jwt client was not accepted into the registry")
	}
	return c
}

// claims are a valid assertion's claims at the fixture's time.
func (c jwtClient) claims(f *fixture) jwt.Claims {
	now := f.clock.Now()
	return jwt.Claims{Issuer: c.id, Subject: c.id, Audience: jwt.Audience{f.issuer}, ID: randomID(),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}
}

// sign signs claims with the client's key (kid k1, ES256).
func (c jwtClient) sign(t *testing.T, claims any) string {
	t.Helper()
	return signWith(t, jose.SigningKey{Algorithm: jose.ES256, Key: c.key}, c.kid, claims)
}

func signWith(t *testing.T, sk jose.SigningKey, kid string, claims any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	s, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// assertionForm is a client_credentials request authenticated by an
// assertion.
func assertionForm(assertion string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {snapshot.ClientAssertionJWTBearer},
		"client_assertion": {assertion}}
}

// expectClientError checks invalid_client (401) with a description
// containing want.
func expectAssertionError(t *testing.T, resp *http.Response, code oautherr.Code, want string) {
	t.Helper()
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	status := map[oautherr.Code]int{oautherr.InvalidClient: http.StatusUnauthorized, oautherr.InvalidRequest: http.StatusBadRequest}[code]
	desc, _ := body["error_description"].(string)
	if resp.StatusCode != status || body["error"] != string(code) || !strings.Contains(desc, want) {
		t.Errorf("got %d %v (%q), want %d %s with a description containing %q", resp.StatusCode, body["error"],
			desc, status, code, want)
	}
}

// TestPrivateKeyJWT: golang.org/x/oauth2 gets a token with an assertion
// signed by go-jose (RFC 7523 §2.2), at the issuer or the token endpoint
// as audience, and the assertion also authenticates at introspection and
// revocation.
func TestPrivateKeyJWT(t *testing.T) {
	f := newFixture(t)
	c := addJWTClient(t, f)
	for _, aud := range []string{f.issuer, f.issuer + authserver.PathToken} {
		claims := c.claims(f)
		claims.Audience = jwt.Audience{"https://someone.else.example", aud}
		cc := clientcredentials.Config{ClientID: c.id, TokenURL: f.issuer + authserver.PathToken, AuthStyle: oauth2.AuthStyleInParams,
			EndpointParams: url.Values{"client_assertion_type": {snapshot.ClientAssertionJWTBearer}, "client_assertion": {c.sign(t, claims)}}}
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatalf("aud %s: %v", aud, err)
		}
		// Without client_id: the assertion's sub names the client.
		resp := f.post(authserver.PathIntrospect, url.Values{"token": {tok.AccessToken}, "client_assertion_type": {snapshot.ClientAssertionJWTBearer},
			"client_assertion": {c.sign(t, c.claims(f))}}, "", "")
		var intro map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&intro)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || intro["active"] != true || intro["client_id"] != c.id {
			t.Fatalf("introspection with an assertion: %d %v", resp.StatusCode, intro)
		}
		resp = f.post(authserver.PathRevoke, url.Values{"token": {tok.AccessToken}, "client_id": {c.id},
			"client_assertion_type": {snapshot.ClientAssertionJWTBearer}, "client_assertion": {c.sign(t, c.claims(f))}}, "", "")
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revocation with an assertion: %d", resp.StatusCode)
		}
	}
}

// TestPrivateKeyJWTChecks: each check of an assertion refuses what it
// guards, with invalid_client and a description of the check.
func TestPrivateKeyJWTChecks(t *testing.T) {
	f := newFixture(t)
	c := addJWTClient(t, f)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	with := func(mut func(*jwt.Claims)) string {
		cl := c.claims(f)
		mut(&cl)
		return c.sign(t, cl)
	}
	header := base64.RawURLEncoding.EncodeToString
	claimsJSON, _ := json.Marshal(c.claims(f))
	hs256 := signWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte("the client's public key, used as an HMAC secret")}, c.kid, c.claims(f))
	cases := []struct {
		name, assertion, want string
	}{
		{"audience of another server", with(func(cl *jwt.Claims) { cl.Audience = jwt.Audience{"https://other.example"} }), "audience does not include this server"},
		{"expired", with(func(cl *jwt.Claims) { cl.Expiry = jwt.NewNumericDate(f.clock.Now().Add(-2 * time.Minute)) }), "has expired"},
		{"no exp", with(func(cl *jwt.Claims) { cl.Expiry = nil }), "has no exp"},
		{"lives too long", with(func(cl *jwt.Claims) { cl.Expiry = jwt.NewNumericDate(f.clock.Now().Add(2 * time.Hour)) }), "more than an hour"},
		{"nbf in the future", with(func(cl *jwt.Claims) { cl.NotBefore = jwt.NewNumericDate(f.clock.Now().Add(5 * time.Minute)) }), "not valid yet"},
		{"iat in the future", with(func(cl *jwt.Claims) { cl.IssuedAt = jwt.NewNumericDate(f.clock.Now().Add(5 * time.Minute)) }), "issued in the future"},
		{"no jti", with(func(cl *jwt.Claims) { cl.ID = "" }), "no jti"},
		{"iss is not the client", with(func(cl *jwt.Claims) { cl.Issuer = "someone" }), "iss and sub"},
		{"alg none", header([]byte(`{"alg":"none","kid":"k1"}`)) + "." + header(claimsJSON) + ".", "not a JWT signed with"},
		{"HS256", hs256, "not a JWT signed with"},
		{"unknown kid", signWith(t, jose.SigningKey{Algorithm: jose.ES256, Key: other}, "k2", c.claims(f)), "kid"},
		{"another key with the client's kid", signWith(t, jose.SigningKey{Algorithm: jose.ES256, Key: other}, c.kid, c.claims(f)), "signature does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := assertionForm(tc.assertion)
			form.Set("client_id", c.id)
			expectAssertionError(t, f.post(authserver.PathToken, form, "", ""), oautherr.InvalidClient, tc.want)
		})
	}
	t.Run("sub is another client", func(t *testing.T) {
		// Without client_id the sub picks the client; iss still names pkj.
		expectAssertionError(t, f.post(authserver.PathToken, assertionForm(with(func(cl *jwt.Claims) { cl.Subject = "cc" })), "", ""),
			oautherr.InvalidClient, "")
		form := assertionForm(with(func(cl *jwt.Claims) { cl.Subject = "cc" }))
		form.Set("client_id", c.id)
		expectAssertionError(t, f.post(authserver.PathToken, form, "", ""), oautherr.InvalidClient, "iss and sub")
	})
	t.Run("replayed jti", func(t *testing.T) {
		a := c.sign(t, c.claims(f))
		resp := f.post(authserver.PathToken, assertionForm(a), "", "")
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("first use: %d", resp.StatusCode)
		}
		expectAssertionError(t, f.post(authserver.PathToken, assertionForm(a), "", ""), oautherr.InvalidClient, "used before")
		// The same jti in a new assertion is a replay too.
		cl := c.claims(f)
		var first jwt.Claims
		tok, _ := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.ES256})
		_ = tok.UnsafeClaimsWithoutVerification(&first)
		cl.ID = first.ID
		expectAssertionError(t, f.post(authserver.PathToken, assertionForm(c.sign(t, cl)), "", ""), oautherr.InvalidClient, "used before")
	})
	t.Run("a secret client cannot use an assertion", func(t *testing.T) {
		form := assertionForm(c.sign(t, c.claims(f)))
		form.Set("client_id", "cc")
		expectAssertionError(t, f.post(authserver.PathToken, form, "", ""), oautherr.InvalidClient, "")
	})
	t.Run("the jwt client has no secret", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.id}, "client_secret": {ccSecret}}
		expectAssertionError(t, f.post(authserver.PathToken, form, "", ""), oautherr.InvalidClient, "")
	})
	t.Run("two methods", func(t *testing.T) {
		form := assertionForm(c.sign(t, c.claims(f)))
		form.Set("client_secret", "x")
		expectAssertionError(t, f.post(authserver.PathToken, form, "", ""), oautherr.InvalidRequest, "one client authentication method")
		expectAssertionError(t, f.post(authserver.PathToken, assertionForm(c.sign(t, c.claims(f))), c.id, "x"), oautherr.InvalidRequest, "one client authentication method")
	})
	t.Run("unknown assertion type", func(t *testing.T) {
		form := assertionForm(c.sign(t, c.claims(f)))
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		expectAssertionError(t, f.post(authserver.PathToken, form, "", ""), oautherr.InvalidClient, "Unsupported client_assertion_type")
	})
	t.Run("a ServiceAccount client without a cluster", func(t *testing.T) {
		d := clientDoc(snapshot.Client{ID: "wl", Type: "Confidential", TokenEndpointAuthMethod: snapshot.AuthServiceAccountToken,
			ServiceAccount: &snapshot.ServiceAccount{Subject: "system:serviceaccount:team:robot"},
			GrantTypes:     []string{"client_credentials"}, Policy: policy()})
		f.docs = append(f.docs, registry.Entry{Origin: "team/wl/client", Document: d})
		f.holder.Store(registry.Build(f.docs, slog.New(slog.DiscardHandler)))
		form := assertionForm(c.sign(t, c.claims(f)))
		form.Set("client_id", "wl")
		expectAssertionError(t, f.post(authserver.PathToken, form, "", ""), oautherr.InvalidClient, "Workload identity is not available")
	})
}

// TestMetadataAssertionMethods: the metadata lists private_key_jwt and the
// algorithms, never none or HMAC.
func TestMetadataAssertionMethods(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.issuer + authserver.PathOAuthMetadata)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string][]string
	var raw map[string]json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&raw)
	for _, k := range []string{"token_endpoint_auth_methods_supported", "token_endpoint_auth_signing_alg_values_supported",
		"introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"} {
		var v []string
		if err := json.Unmarshal(raw[k], &v); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if m == nil {
			m = map[string][]string{}
		}
		m[k] = v
	}
	if !slices.Contains(m["token_endpoint_auth_methods_supported"], "private_key_jwt") ||
		!slices.Contains(m["introspection_endpoint_auth_methods_supported"], "private_key_jwt") {
		t.Errorf("private_key_jwt is not advertised: %v", m)
	}
	algs := m["token_endpoint_auth_signing_alg_values_supported"]
	if !slices.Contains(algs, "ES256") || !slices.Contains(algs, "RS256") || slices.Contains(algs, "none") || slices.Contains(algs, "HS256") {
		t.Errorf("token_endpoint_auth_signing_alg_values_supported = %v", algs)
	}
}

// TestAssertionsAreNotLogged: at debug level, neither a used nor a refused
// assertion (nor its signature) reaches the log.
func TestAssertionsAreNotLogged(t *testing.T) {
	var buf strings.Builder
	logTo = &buf
	defer func() { logTo = nil }()
	f := newFixture(t)
	c := addJWTClient(t, f)
	good := c.sign(t, c.claims(f))
	for _, a := range []string{good, good} { // the second is a replay
		f.post(authserver.PathToken, assertionForm(a), "", "").Body.Close()
	}
	if buf.Len() == 0 {
		t.Fatal("nothing was logged: the test would not see a leak")
	}
	sig := good[strings.LastIndex(good, ".")+1:]
	if strings.Contains(buf.String(), sig) || strings.Contains(buf.String(), good[:40]) {
		t.Fatal("the log carries the client assertion")
	}
}
