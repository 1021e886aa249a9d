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
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
)

// Pushed authorization requests (RFC 9126, issue #18).

// push sends an authorization request to the pushed authorization request
// endpoint with optional Basic credentials.
func (f *fixture) push(form url.Values, basicUser, basicPass string) *http.Response {
	f.t.Helper()
	return f.post(authserver.PathPushedAuthorizationRequest, form, basicUser, basicPass)
}

// requestURI reads a successful push: 201, not cached, a request_uri of
// the RFC's form and the documented lifetime.
func requestURI(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var body struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int64  `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(body.RequestURI, "urn:ietf:params:oauth:request_uri:") || len(body.RequestURI) < 34+43 || body.ExpiresIn != 60 {
		t.Fatalf("push answered %d %+v (Cache-Control %q)", resp.StatusCode, body, resp.Header.Get("Cache-Control"))
	}
	return body.RequestURI
}

// pushWeb pushes an authorization request of web (client_secret_basic).
func (f *fixture) pushWeb(t *testing.T, q url.Values) string {
	t.Helper()
	return requestURI(t, f.push(q, "web", webSecret))
}

// byRequestURI is the authorization request that refers to a pushed one.
func byRequestURI(f *fixture, clientID, uri string) string {
	return authURL(f, url.Values{"client_id": {clientID}, "request_uri": {uri}})
}

// expectRequestURIError checks the error page of a request_uri that cannot
// be used: 400, no redirect anywhere.
func expectRequestURIError(t *testing.T, b *browser, u, want string) {
	t.Helper()
	resp, page := b.get(u)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, "invalid_request_uri") ||
		!strings.Contains(htmlUnescape(page), want) {
		t.Errorf("status %d, Location %q, want a 400 page with invalid_request_uri and %q:\n%s", resp.StatusCode,
			resp.Header.Get("Location"), want, page)
	}
}

// TestPushedAuthorizationRequestFlow: golang.org/x/oauth2 makes the
// authorization request, which is pushed (client_secret_basic); the browser
// sends only client_id and the request_uri (other parameters are ignored),
// signs in and consents; the code is exchanged and the ID token verified
// with go-oidc. The request_uri cannot be used again, and the pages of the
// pushed request cannot be sent again for a second code.
func TestPushedAuthorizationRequestFlow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, f.issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
		RedirectURL: webRedir, Scopes: []string{oidc.ScopeOpenID, "profile"}}
	verifier, opts := pkce()
	u, err := url.Parse(conf.AuthCodeURL("st4te", append(opts, oidc.Nonce("n0nce"))...))
	if err != nil {
		t.Fatal(err)
	}
	uri := f.pushWeb(t, u.Query())

	// The browser's query says other things; only client_id is read.
	front := url.Values{"client_id": {"web"}, "request_uri": {uri}, "state": {"evil"}, "scope": {"api.read"},
		"redirect_uri": {"https://app.example.com:8443/other"}}
	b := f.browser()
	resp, page := b.get(authURL(f, front))
	fields := formFields(t, page)
	if fields.Get("request_uri") != "" || fields.Get("scope") != "" || fields.Get(authserver.ParamPushed) == "" {
		t.Fatalf("the login form carries %v, want client_id and the pushed request's handle only", fields)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	// Used once: the request_uri does not work a second time, even while
	// the first use is still at its login page.
	expectRequestURIError(t, f.browser(), authURL(f, front), "was used before")
	fields.Set("username", "alice")
	fields.Set("password", alicePass)
	_, page = b.submit(fields) // signed in: back to the authorization endpoint, which asks for consent
	consent := formFields(t, page)
	if consent.Get("authops_action") != "consent" {
		t.Fatalf("after the login: %s", page)
	}
	consent.Set("decision", "allow")
	resp, _ = b.submit(consent)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent answered %d %v", resp.StatusCode, err)
	}
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != webRedir || q.Get("state") != "st4te" || q.Get("iss") != f.issuer || q.Get("code") == "" {
		t.Fatalf("redirected to %s", loc)
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if claims := f.verifyAccessToken(t, tok.AccessToken); claims["scope"] != "openid profile" {
		t.Errorf("access token scope %v, want the pushed scopes", claims["scope"])
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.VerifierContext(ctx, &oidc.Config{ClientID: "web", Now: f.clock.Now}).Verify(ctx, rawID)
	if err != nil || idt.Nonce != "n0nce" {
		t.Fatalf("ID token: %v (nonce %q)", err, idt.Nonce)
	}

	// A second pushed request in the signed-in browser gets its code at
	// once, where and as the pushed request says, whatever the query.
	uri2 := f.pushWeb(t, webRequest("state", "second", "code_challenge", strings.Repeat("a", 43), "code_challenge_method", "S256"))
	front2 := url.Values{"client_id": {"web"}, "request_uri": {uri2}, "state": {"evil"}, "scope": {"api.read"},
		"redirect_uri": {"https://app.example.com:8443/other"}}
	resp, _ = b.get(authURL(f, front2))
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Scheme+"://"+loc.Host+loc.Path != webRedir || loc.Query().Get("state") != "second" ||
		loc.Query().Get("code") == "" {
		t.Fatalf("second pushed request: %d %v", resp.StatusCode, loc)
	}

	// The request_uri is single-use: not even the same browser gets a
	// second authorization with it.
	expectRequestURIError(t, b, authURL(f, front), "is unknown")
	// The consent page's answer of the pushed request, sent again, gets no
	// second code.
	expectErrorPageForm(t, b, consent, "has ended")
}

// expectErrorPageForm posts fields to the authorization endpoint and
// checks the invalid_request_uri page.
func expectErrorPageForm(t *testing.T, b *browser, fields url.Values, want string) {
	t.Helper()
	resp, page := b.submit(fields)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, "invalid_request_uri") ||
		!strings.Contains(page, want) {
		t.Errorf("status %d, Location %q, want a 400 page with invalid_request_uri and %q:\n%s", resp.StatusCode,
			resp.Header.Get("Location"), want, page)
	}
}

// TestPushedRequestPublicClient: a public client pushes with client_id only
// (x/oauth2's AuthStyleInParams sends no credentials) and needs PKCE there
// as at the authorization endpoint.
func TestPushedRequestPublicClient(t *testing.T) {
	f := newFixture(t)
	conf := oauth2.Config{ClientID: "spa", Endpoint: f.endpoint(oauth2.AuthStyleInParams), RedirectURL: spaRedir, Scopes: []string{"openid"}}
	u, _ := url.Parse(conf.AuthCodeURL("s"))
	expectError(t, f.push(u.Query(), "", ""), http.StatusBadRequest, oautherr.InvalidRequest) // no PKCE
	verifier, opts := pkce()
	u, _ = url.Parse(conf.AuthCodeURL("s", opts...))
	uri := requestURI(t, f.push(u.Query(), "", ""))
	loc := f.browser().authorize(byRequestURI(f, "spa", uri), "alice", alicePass)
	if _, err := conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}
}

// TestPushedRequestURIRefused: a request_uri that is unknown, expired,
// another client's or pushed by an earlier object with the same client ID
// gets invalid_request_uri on the error page, never a redirect. Another
// client's attempt does not use it up.
func TestPushedRequestURIRefused(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	expectRequestURIError(t, b, byRequestURI(f, "web", "urn:ietf:params:oauth:request_uri:unknown"), "is unknown")

	uri := f.pushWeb(t, webRequest())
	f.clock.Advance(61 * time.Second)
	expectRequestURIError(t, b, byRequestURI(f, "web", uri), "has expired")

	uri = f.pushWeb(t, webRequest())
	expectRequestURIError(t, b, byRequestURI(f, "spa", uri), "is unknown")
	if resp, page := b.get(byRequestURI(f, "web", uri)); resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="authops_action" value="login"`) {
		t.Errorf("web's own request_uri after another client tried it: %d\n%s", resp.StatusCode, page)
	}

	uri = f.pushWeb(t, webRequest())
	f.recreateClient("web")
	expectRequestURIError(t, b, byRequestURI(f, "web", uri), "is unknown")

	resp, _ := b.get(byRequestURI(f, "nobody", uri))
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("unknown client: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestPushErrors: the pushed authorization request endpoint answers every
// error as JSON (RFC 9126 §2.3), an unregistered redirect_uri too.
func TestPushErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		code       oautherr.Code
	}{
		{"request_uri pushed", webRequest("request_uri", "urn:ietf:params:oauth:request_uri:x"), "web", webSecret, 400, oautherr.InvalidRequest},
		{"confidential client without credentials", webRequest(), "", "", 401, oautherr.InvalidClient},
		{"wrong secret", webRequest(), "web", "wrong", 401, oautherr.InvalidClient},
		{"unregistered redirect_uri", webRequest("redirect_uri", "https://evil.example/cb"), "web", webSecret, 400, oautherr.InvalidRequest},
		{"scope not the client's", webRequest("scope", "admin"), "web", webSecret, 400, oautherr.InvalidScope},
		{"response_type", webRequest("response_type", "token"), "web", webSecret, 400, oautherr.InvalidRequest},
		{"disabled client", url.Values{"response_type": {"code"}, "client_id": {"off"}, "client_secret": {ccSecret}}, "", "", 401, oautherr.InvalidClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.push(tt.form, tt.user, tt.pass)
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("redirected to %s", loc)
			}
			expectError(t, resp, tt.status, tt.code)
		})
	}
	req, _ := http.NewRequest(http.MethodGet, f.issuer+authserver.PathPushedAuthorizationRequest+"?"+webRequest().Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: Allow %q", resp.Header.Get("Allow"))
	}
	expectError(t, resp, 400, oautherr.NotSupported)
}

// TestPushKeepsNoCredentials: what is stored of a push is the
// authorization request, never the client's secret or assertion.
func TestPushKeepsNoCredentials(t *testing.T) {
	f := newFixture(t)
	form := url.Values{"client_id": {"reuse"}, "client_secret": {pwSecret}, "response_type": {"code"}, "scope": {"openid"},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}, "unknown": {"x"}}
	uri := requestURI(t, f.push(form, "", ""))
	p, err := f.store.UsePushedRequest(context.Background(), store.HashToken(uri), "reuse", store.HashToken("resume"), f.clock.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"client_id": {"reuse"}, "response_type": {"code"}, "scope": {"openid"},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	if p.Params.Encode() != want.Encode() || p.ClientUID == "" {
		t.Errorf("stored %v (client UID %q), want %v", p.Params, p.ClientUID, want)
	}
}

// TestPushWithPrivateKeyJWT: a private_key_jwt client pushes with an
// assertion whose audience is the endpoint's URL (RFC 9126 §2 says the
// server accepts it, the issuer and the token endpoint).
func TestPushWithPrivateKeyJWT(t *testing.T) {
	f := newFixture(t)
	c := addJWTClient(t, f)
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == c.id {
			d.Client.GrantTypes = append(d.Client.GrantTypes, "authorization_code")
			d.Client.RedirectURIs = []string{webRedir}
		}
	})
	claims := c.claims(f)
	claims.Audience = jwt.Audience{f.issuer + authserver.PathPushedAuthorizationRequest}
	form := url.Values{"response_type": {"code"}, "scope": {"api.read"}, "code_challenge": {strings.Repeat("a", 43)},
		"code_challenge_method": {"S256"}, "client_assertion_type": {snapshot.ClientAssertionJWTBearer},
		"client_assertion": {c.sign(t, claims)}}
	requestURI(t, f.push(form, "", ""))
	// The same assertion again is a replay.
	expectAssertionError(t, f.push(form, "", ""), oautherr.InvalidClient, "used before")
}

// TestPushedRequestsRequired: with pushedAuthorizationRequests Required in
// its policy, a client's authorization request without request_uri gets
// invalid_request (redirected: the client and redirect URI are good); a
// pushed one works.
func TestPushedRequestsRequired(t *testing.T) {
	f := newFixture(t)
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == "web" {
			d.Client.Policy.PushedAuthorizationRequests = snapshot.PARRequired
		}
	})
	b := f.browser()
	resp, _ := b.get(authURL(f, webRequest("code_challenge", strings.Repeat("a", 43), "code_challenge_method", "S256")))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "invalid_request" ||
		!strings.Contains(loc.Query().Get("error_description"), "must push its authorization requests") || loc.Query().Get("state") != "xyz" {
		t.Fatalf("unpushed request: %d %v", resp.StatusCode, loc)
	}
	uri := f.pushWeb(t, webRequest("code_challenge", strings.Repeat("a", 43), "code_challenge_method", "S256"))
	if code := b.authorize(byRequestURI(f, "web", uri), "alice", alicePass).Query().Get("code"); code == "" {
		t.Fatal("no code for the pushed request")
	}
}

// TestPushedRequestMetadata: the metadata names the endpoint and requires
// pushed requests of no client at the server level (a policy does, per
// client).
func TestPushedRequestMetadata(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.issuer + authserver.PathOAuthMetadata)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(readAll(t, resp)), &m); err != nil {
		t.Fatal(err)
	}
	if m["pushed_authorization_request_endpoint"] != f.issuer+"/oauth2/par" || m["require_pushed_authorization_requests"] != false {
		t.Errorf("metadata: %v, %v", m["pushed_authorization_request_endpoint"], m["require_pushed_authorization_requests"])
	}
}
