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
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
)

func (f *fixture) endpoint(style oauth2.AuthStyle) oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: f.issuer + authserver.PathAuthorize, TokenURL: f.issuer + authserver.PathToken, AuthStyle: style}
}

// jwtHeader decodes a compact JWS's protected header.
func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// verifyAccessToken checks an access token against the server's JWKS
// and returns its claims.
func (f *fixture) verifyAccessToken(t *testing.T, tok string) map[string]any {
	t.Helper()
	if h := jwtHeader(t, tok); h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] != "k1" {
		t.Fatalf("access token header = %v, want typ at+jwt, alg ES256, kid k1", h)
	}
	resp, err := http.Get(f.issuer + authserver.PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("access token lacks claim %s: %v", c, claims)
		}
	}
	if claims["iss"] != f.issuer {
		t.Errorf("iss = %v", claims["iss"])
	}
	return claims
}

func (f *fixture) introspect(t *testing.T, tok string) map[string]any {
	t.Helper()
	resp := f.post(authserver.PathIntrospect, url.Values{"token": {tok}}, "web", webSecret)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("introspect status %d", resp.StatusCode)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClientCredentials(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cc := clientcredentials.Config{ClientID: "cc", ClientSecret: ccSecret, TokenURL: f.issuer + authserver.PathToken,
		Scopes: []string{"api.write"}, AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	claims := f.verifyAccessToken(t, tok.AccessToken)
	if claims["sub"] != "cc" || claims["client_id"] != "cc" || claims["scope"] != "api.write" {
		t.Errorf("claims = %v", claims)
	}
	if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != "https://api.example.com" {
		t.Errorf("aud = %v", claims["aud"])
	}
	if tok.RefreshToken != "" {
		t.Error("client_credentials must not issue a refresh token")
	}
	// Default scopes when none are requested.
	cc.Scopes = nil
	tok, err = cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := tok.Extra("scope").(string); s != "api.read" {
		t.Errorf("default scope = %q", s)
	}
	// The client registered client_secret_post: Basic is refused.
	cc.AuthStyle = oauth2.AuthStyleInHeader
	if _, err := cc.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("Basic for a client_secret_post client: %v", err)
	}
}

func pkce() (verifier string, opts []oauth2.AuthCodeOption) {
	v := oauth2.GenerateVerifier()
	return v, []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v)}
}

// TestAuthorizationCodeFlow drives the whole browser flow with
// golang.org/x/oauth2 and verifies the ID token with coreos/go-oidc, then
// refreshes with rotation and shows that reusing a rotated refresh token
// revokes the family.
func TestAuthorizationCodeFlow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, f.issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
		RedirectURL: webRedir, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	verifier, opts := pkce()
	authURL := conf.AuthCodeURL("st4te", append(opts, oidc.Nonce("n0nce"))...)
	loc := f.browser().authorize(authURL, "alice", alicePass)
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != webRedir {
		t.Fatalf("redirected to %s", loc)
	}
	if q.Get("state") != "st4te" || q.Get("iss") != f.issuer || q.Get("code") == "" {
		t.Fatalf("redirect query = %v", q)
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	claims := f.verifyAccessToken(t, tok.AccessToken)
	if claims["sub"] != "team/alice" || claims["client_id"] != "web" || claims["scope"] != "openid profile email" {
		t.Errorf("access token claims = %v", claims)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.VerifierContext(ctx, &oidc.Config{ClientID: "web", Now: f.clock.Now}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc: %v", err)
	}
	if idt.Nonce != "n0nce" || idt.Subject != "team/alice" {
		t.Errorf("ID token nonce %q subject %q", idt.Nonce, idt.Subject)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var idClaims struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := idt.Claims(&idClaims); err != nil || idClaims.Email != "alice@example.com" || idClaims.Name != "Alice" {
		t.Errorf("ID token claims %+v, %v", idClaims, err)
	}
	// userinfo through go-oidc.
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	if ui.Subject != "team/alice" || ui.Email != "alice@example.com" {
		t.Errorf("userinfo = %+v", ui)
	}

	// Refresh with rotation.
	old := tok.RefreshToken
	expired := &oauth2.Token{RefreshToken: old, Expiry: time.Now().Add(-time.Hour)}
	tok2, err := conf.TokenSource(ctx, expired).Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok2.RefreshToken == "" || tok2.RefreshToken == old {
		t.Fatal("refresh did not rotate the refresh token")
	}
	if f.introspect(t, tok2.AccessToken)["active"] != true {
		t.Error("refreshed access token is not active")
	}
	// Narrowing works, widening does not.
	resp := f.post(authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok2.RefreshToken},
		"scope": {"openid api.read"}}, "web", webSecret)
	expectError(t, resp, 400, oautherr.InvalidScope)
	// Reuse of the rotated token revokes the family: the new refresh
	// token and the family's access tokens die with it.
	_, err = conf.TokenSource(ctx, expired).Token()
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token(); err == nil {
		t.Error("the family's newest refresh token still works after reuse")
	}
	for _, at := range []string{tok.AccessToken, tok2.AccessToken} {
		if f.introspect(t, at)["active"] != false {
			t.Error("an access token of the revoked family is still active")
		}
	}
}

// TestPublicClientPKCE runs a public client (auth method none; x/oauth2's
// AuthStyleInHeader sends Basic with an empty password, which counts as
// none) without consent.
func TestPublicClientPKCE(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		conf := oauth2.Config{ClientID: "spa", Endpoint: f.endpoint(style), RedirectURL: spaRedir, Scopes: []string{"openid"}}
		verifier, opts := pkce()
		loc := f.browser().authorize(conf.AuthCodeURL("s", opts...), "alice", alicePass)
		tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("style %d: %v", style, err)
		}
		f.verifyAccessToken(t, tok.AccessToken)
		if tok.RefreshToken == "" {
			t.Error("no refresh token")
		}
	}
	// Without a challenge the public client gets an error redirect.
	conf := oauth2.Config{ClientID: "spa", Endpoint: f.endpoint(oauth2.AuthStyleInParams), RedirectURL: spaRedir}
	resp, _ := f.browser().get(conf.AuthCodeURL("s"))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("iss") != f.issuer {
		t.Errorf("no PKCE: %d %s", resp.StatusCode, loc)
	}
}

// TestCodeReplay shows that a second use of a code fails and revokes what
// the first use issued.
func TestCodeReplay(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
		RedirectURL: webRedir, Scopes: []string{"openid"}}
	verifier, opts := pkce()
	code := f.browser().authorize(conf.AuthCodeURL("s", opts...), "alice", alicePass).Query().Get("code")
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if f.introspect(t, tok.AccessToken)["active"] != true {
		t.Fatal("first access token not active")
	}
	_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("replay: %v", err)
	}
	if f.introspect(t, tok.AccessToken)["active"] != false {
		t.Error("access token of the replayed code is still active")
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("refresh token of the replayed code still works")
	}
}

// TestPKCEDowngrade: a verifier without a challenge, a wrong verifier and a
// missing verifier are all invalid_grant.
func TestPKCEDowngrade(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
		RedirectURL: webRedir, Scopes: []string{"openid"}}
	b := f.browser()
	cases := map[string]struct {
		authOpts []oauth2.AuthCodeOption
		verifier string
	}{
		"verifier without challenge": {nil, oauth2.GenerateVerifier()},
		"wrong verifier":             {[]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())}, oauth2.GenerateVerifier()},
		"missing verifier":           {[]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())}, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code := b.authorize(conf.AuthCodeURL("s", tc.authOpts...), "alice", alicePass).Query().Get("code")
			var opts []oauth2.AuthCodeOption
			if tc.verifier != "" {
				opts = append(opts, oauth2.VerifierOption(tc.verifier))
			}
			_, err := conf.Exchange(ctx, code, opts...)
			if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
				t.Errorf("got %v, want invalid_grant", err)
			}
		})
	}
	// plain is refused at the authorization endpoint.
	u := conf.AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("code_challenge_method", "plain"))
	resp, _ := b.get(u)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("plain challenge: %d %v", resp.StatusCode, loc)
	}
}

// TestRedirectURIVariants: anything but the exact registered string is an
// error page, never a redirect.
func TestRedirectURIVariants(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	for _, ru := range []string{
		webRedir + "/", "https://APP.example.com/callback", "https://app.example.com/Callback", webRedir + "?x=1",
		"https://app.example.com/callback/../callback", "https://app.example.com/x/../callback",
		"https://good@evil.example.com/callback", "https://app.example.com@evil.example.com/callback",
		"https://app.example.com:444/callback", "http://app.example.com/callback", webRedir + "#frag",
		"https://app.example.com/callback%2F", "//app.example.com/callback",
	} {
		q := url.Values{"client_id": {"web"}, "redirect_uri": {ru}, "response_type": {"code"}, "state": {"s"}}
		resp, page := b.get(f.issuer + authserver.PathAuthorize + "?" + q.Encode())
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, "invalid_request") {
			t.Errorf("%s: status %d, location %q", ru, resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: page headers missing", ru)
		}
	}
	// The redirect_uri at the token endpoint must equal the authorized one.
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
		RedirectURL: webRedir, Scopes: []string{"openid"}}
	code := b.authorize(conf.AuthCodeURL("s"), "alice", alicePass).Query().Get("code")
	conf.RedirectURL = webRedir + "/"
	if _, err := conf.Exchange(context.Background(), code); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("token redirect_uri mismatch: %v", err)
	}
}

// TestRefreshReuseAndExpiry: with refreshTokenRotation Reuse the refresh
// token stays valid and the response carries none; it expires with the
// injected clock. PKCE Required applies to a confidential client too.
func TestRefreshReuseAndExpiry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conf := oauth2.Config{ClientID: "reuse", ClientSecret: pwSecret, Endpoint: f.endpoint(oauth2.AuthStyleInParams),
		RedirectURL: webRedir, Scopes: []string{"openid"}}
	tok, err := conf.PasswordCredentialsToken(ctx, "alice", alicePass)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp := f.post(authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
			"client_id": {"reuse"}, "client_secret": {pwSecret}}, "", "")
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("refresh: %d %v", resp.StatusCode, err)
		}
		resp.Body.Close()
		if _, ok := body["refresh_token"]; ok {
			t.Error("Reuse policy returned a new refresh token")
		}
	}
	f.clock.Advance(86401 * time.Second)
	resp := f.post(authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"client_id": {"reuse"}, "client_secret": {pwSecret}}, "", "")
	expectError(t, resp, 400, oautherr.InvalidGrant)

	// PKCE Required: no challenge is an error redirect.
	b := f.browser()
	r, _ := b.get(conf.AuthCodeURL("s"))
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusFound || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("PKCE required: %d %v", r.StatusCode, loc)
	}
}

// TestLogsCarryNoSecrets runs the flows with debug logging, including
// failures, and checks that no password, secret, code or token appears.
func TestLogsCarryNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	logTo = &buf
	f := newFixture(t)
	logTo = nil
	ctx := context.Background()
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
		RedirectURL: webRedir, Scopes: []string{"openid"}}
	verifier, opts := pkce()
	b := f.browser()
	code := b.authorize(conf.AuthCodeURL("s", opts...), "alice", alicePass).Query().Get("code")
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	_, _ = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token() // reuse
	_, _ = conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))                    // replay
	readAll(t, f.send(t, authserver.PathToken, tokenCase{body: "grant_type=password&username=alice&password=wrong-" + alicePass, basicUser: "pw", basicPass: pwSecret}))
	readAll(t, f.send(t, authserver.PathToken, tokenCase{body: "grant_type=client_credentials", basicUser: "cc", basicPass: "not-" + ccSecret}))
	f.introspect(t, tok.AccessToken)
	logs := buf.String()
	if !strings.Contains(logs, "authorization code replayed") || !strings.Contains(logs, "refresh token reused") {
		t.Fatalf("expected events not logged:\n%s", logs)
	}
	u, _ := url.Parse(f.issuer + authserver.PathAuthorize)
	secrets := map[string]string{"password": alicePass, "client secret": webSecret, "code": code, "verifier": verifier,
		"access token": tok.AccessToken, "refresh token": tok.RefreshToken, "id token": tok.Extra("id_token").(string),
		"other secret": ccSecret}
	for _, c := range b.client.Jar.Cookies(u) {
		secrets["cookie "+c.Name] = c.Value
	}
	for what, v := range secrets {
		if strings.Contains(logs, v) {
			t.Errorf("logs contain the %s", what)
		}
	}
}
