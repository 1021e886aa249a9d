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

	"golang.org/x/oauth2"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store/storetest"
)

func authURL(f *fixture, q url.Values) string {
	return f.issuer + authserver.PathAuthorize + "?" + q.Encode()
}

func webRequest(extra ...string) url.Values {
	q := url.Values{"client_id": {"web"}, "redirect_uri": {webRedir}, "response_type": {"code"}, "state": {"xyz"},
		"scope": {"openid"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

func TestAuthorizeLoginConsentDeny(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	resp, page := b.get(authURL(f, webRequest()))
	if resp.StatusCode != 200 || !strings.Contains(page, `<label for="username">`) {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, page)
	}
	for k, v := range map[string]string{"Referrer-Policy": "same-origin", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if resp.Header.Get(k) != v {
			t.Errorf("%s = %q", k, resp.Header.Get(k))
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("CSP lacks frame-ancestors 'none'")
	}
	fields := formFields(t, page)

	// Without the CSRF token the form is refused.
	bad := url.Values{}
	for k, v := range fields {
		bad[k] = v
	}
	bad.Set("csrf_token", strings.Repeat("A", 43))
	bad.Set("username", "alice")
	bad.Set("password", alicePass)
	if resp, _ := b.submit(bad); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("forged CSRF token: %d", resp.StatusCode)
	}
	// Wrong password: the page again, with an alert.
	fields.Set("username", "alice")
	fields.Set("password", "nope")
	resp, page = b.submit(fields)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `role="alert"`) || !strings.Contains(page, "Wrong username or password.") {
		t.Errorf("wrong password: %d\n%s", resp.StatusCode, page)
	}
	// Disabled account.
	fields.Set("username", "bob")
	fields.Set("password", "bob password")
	if resp, page = b.submit(fields); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "Account is disabled.") {
		t.Errorf("disabled: %d\n%s", resp.StatusCode, page)
	}
	// An account of another namespace cannot log in to this client.
	fields.Set("username", "carol")
	fields.Set("password", "carol password")
	if resp, _ = b.submit(fields); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("other namespace: %d", resp.StatusCode)
	}

	// Log in: 303 back to the authorize request, session cookie set.
	fields.Set("username", "alice")
	fields.Set("password", alicePass)
	req, _ := http.NewRequest(http.MethodPost, f.issuer+authserver.PathAuthorize, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	u, _ := url.Parse(f.issuer + authserver.PathAuthorize)
	for _, c := range b.client.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), f.issuer+authserver.PathAuthorize+"?") {
		t.Fatalf("login: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "authops_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.Secure || session.SameSite != http.SameSiteLaxMode || len(session.Value) < 43 {
		t.Fatalf("session cookie = %+v", session)
	}
	b.client.Jar.SetCookies(u, []*http.Cookie{session})

	// Consent page; deny → 302 access_denied with state and iss.
	resp, page = b.get(authURL(f, webRequest()))
	if resp.StatusCode != 200 || !strings.Contains(page, `value="deny"`) {
		t.Fatalf("consent page: %d\n%s", resp.StatusCode, page)
	}
	fields = formFields(t, page)
	fields.Set("decision", "deny")
	resp, _ = b.submit(fields)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "access_denied" ||
		loc.Query().Get("state") != "xyz" || loc.Query().Get("iss") != f.issuer || loc.Query().Get("error_description") == "" {
		t.Errorf("deny: %d %s", resp.StatusCode, loc)
	}
	// Allow → 303 with a code; the consent is remembered.
	fields.Set("decision", "allow")
	resp, _ = b.submit(fields)
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("code") == "" {
		t.Errorf("allow: %d %s", resp.StatusCode, loc)
	}
	resp, _ = b.get(authURL(f, webRequest()))
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Errorf("remembered consent: %d", resp.StatusCode)
	}
	// A wider scope set asks again.
	if resp, _ = b.get(authURL(f, webRequest("scope", "openid email"))); resp.StatusCode != 200 {
		t.Errorf("wider scope: %d", resp.StatusCode)
	}
}

// TestAuthorizeErrors: page errors for client and redirect URI, redirected
// errors for the rest.
func TestAuthorizeErrors(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	page := []url.Values{
		{"client_id": {"nobody"}, "redirect_uri": {webRedir}, "response_type": {"code"}},
		{"client_id": {"off"}, "response_type": {"code"}},
		{"redirect_uri": {webRedir}, "response_type": {"code"}},
		{"client_id": {"web"}, "response_type": {"code"}}, // two registered URIs: redirect_uri required
		{"client_id": {"web", "web"}, "redirect_uri": {webRedir}, "response_type": {"code"}},
		{"client_id": {"web"}, "redirect_uri": {webRedir, webRedir}, "response_type": {"code"}},
	}
	for _, q := range page {
		resp, body := b.get(authURL(f, q))
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, `role="alert"`) {
			t.Errorf("%v: %d %q", q, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	redirected := map[string]url.Values{
		"invalid_request":     webRequest("response_type", "token"),
		"invalid_scope":       webRequest("scope", "admin"),
		"unauthorized_client": {"client_id": {"cc"}, "redirect_uri": {webRedir}, "response_type": {"code"}},
	}
	dup := webRequest()
	dup["scope"] = []string{"openid", "email"}
	redirected["invalid_request "] = dup
	for code, q := range redirected {
		resp, _ := b.get(authURL(f, q))
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if code == "unauthorized_client" {
			// cc has no redirect URIs: this is a page error.
			if resp.StatusCode != 400 {
				t.Errorf("cc: %d", resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != strings.TrimSpace(code) || loc.Query().Get("iss") != f.issuer {
			t.Errorf("%s: %d %v", code, resp.StatusCode, loc)
		}
		if strings.Contains(loc.Query().Get("error_description"), "admin") || strings.Contains(loc.Query().Get("error_description"), "token") {
			t.Errorf("%s: description echoes input: %q", code, loc.Query().Get("error_description"))
		}
	}
	// The redirect keeps the registered URI's own query.
	if resp, _ := b.get(authURL(f, webRequest("redirect_uri", "https://app.example.com:8443/other", "scope", "admin"))); !strings.HasPrefix(resp.Header.Get("Location"), "https://app.example.com:8443/other?error=invalid_scope") {
		t.Errorf("other redirect: %s", resp.Header.Get("Location"))
	}
}

// TestCodeExpiry uses the injected clock: a code used after its lifetime
// is invalid_grant.
func TestCodeExpiry(t *testing.T) {
	f := newFixture(t)
	conf := oauth2.Config{ClientID: "spa", Endpoint: f.endpoint(oauth2.AuthStyleInParams), RedirectURL: spaRedir, Scopes: []string{"openid"}}
	verifier, opts := pkce()
	code := f.browser().authorize(conf.AuthCodeURL("s", opts...), "alice", alicePass).Query().Get("code")
	f.clock.Advance(61 * time.Second)
	if _, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("expired code: %v", err)
	}
}

func TestIntrospectAndRevoke(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
		RedirectURL: webRedir, Scopes: []string{"openid", "api.read"}}
	verifier, opts := pkce()
	code := f.browser().authorize(conf.AuthCodeURL("s", opts...), "alice", alicePass).Query().Get("code")
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	m := f.introspect(t, tok.AccessToken)
	if m["active"] != true || m["client_id"] != "web" || m["sub"] != "team/alice" || m["scope"] != "openid api.read" {
		t.Errorf("introspection = %v", m)
	}
	if m := f.introspect(t, tok.RefreshToken); m["active"] != true || m["token_type"] != "refresh_token" {
		t.Errorf("refresh introspection = %v", m)
	}
	// Another client sees nothing.
	resp := f.post(authserver.PathIntrospect, url.Values{"token": {tok.AccessToken}, "client_id": {"cc"}, "client_secret": {ccSecret}}, "", "")
	if body := readAll(t, resp); strings.TrimSpace(body) != `{"active":false}` {
		t.Errorf("foreign introspection = %s", body)
	}
	// Garbage is inactive; no authentication is invalid_client.
	if m := f.introspect(t, "garbage"); len(m) != 1 || m["active"] != false {
		t.Errorf("garbage = %v", m)
	}
	expectError(t, f.post(authserver.PathIntrospect, url.Values{"token": {tok.AccessToken}}, "", ""), 401, "invalid_client")
	// Expiry by the clock.
	f.clock.Advance(601 * time.Second)
	if f.introspect(t, tok.AccessToken)["active"] != false {
		t.Error("expired access token is active")
	}
	f.clock.Advance(-601 * time.Second)

	// Revoking an unknown token is 200; revoking the refresh token kills the
	// family's access tokens.
	if resp := f.post(authserver.PathRevoke, url.Values{"token": {"unknown"}}, "web", webSecret); resp.StatusCode != 200 {
		t.Errorf("revoke unknown: %d", resp.StatusCode)
	}
	// Another client cannot revoke it.
	f.post(authserver.PathRevoke, url.Values{"token": {tok.RefreshToken}, "client_id": {"cc"}, "client_secret": {ccSecret}}, "", "")
	if f.introspect(t, tok.AccessToken)["active"] != true {
		t.Fatal("another client revoked the token")
	}
	if resp := f.post(authserver.PathRevoke, url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}, "web", webSecret); resp.StatusCode != 200 {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	if f.introspect(t, tok.AccessToken)["active"] != false || f.introspect(t, tok.RefreshToken)["active"] != false {
		t.Error("tokens of a revoked family are active")
	}
	// Revoking a single access token.
	tok2, err := conf.Exchange(ctx, f.browser().authorize(conf.AuthCodeURL("s", opts...), "alice", alicePass).Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	f.post(authserver.PathRevoke, url.Values{"token": {tok2.AccessToken}}, "web", webSecret)
	if f.introspect(t, tok2.AccessToken)["active"] != false || f.introspect(t, tok2.RefreshToken)["active"] != true {
		t.Error("revoking an access token")
	}
}

func TestDiscovery(t *testing.T) {
	f := newFixture(t)
	get := func(path string) (map[string]any, string) {
		resp, err := http.Get(f.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		return m, body
	}
	a, rawA := get(authserver.PathOAuthMetadata)
	_, rawB := get(authserver.PathOpenIDMetadata)
	if rawA != rawB {
		t.Error("the two metadata documents differ")
	}
	if !strings.Contains(rawA, `"issuer":"`+f.issuer+`"`) {
		t.Errorf("issuer not byte-identical: %s", rawA)
	}
	if a["authorization_response_iss_parameter_supported"] != true {
		t.Error("iss parameter not advertised")
	}
	if m, _ := a["code_challenge_methods_supported"].([]any); len(m) != 1 || m[0] != "S256" {
		t.Errorf("code_challenge_methods_supported = %v", a["code_challenge_methods_supported"])
	}
	if g, _ := a["grant_types_supported"].([]any); len(g) == 0 {
		t.Error("grant_types_supported missing")
	}
	j, _ := get(authserver.PathJWKS)
	if keys, _ := j["keys"].([]any); len(keys) != 1 {
		t.Errorf("jwks = %v", j)
	} else if k := keys[0].(map[string]any); k["kid"] != "k1" || k["d"] != nil || k["alg"] != "ES256" {
		t.Errorf("jwk = %v", k)
	}
}

func TestUserinfoErrors(t *testing.T) {
	f := newFixture(t)
	for _, authz := range []string{"", "Bearer garbage"} {
		req, _ := http.NewRequest(http.MethodGet, f.issuer+authserver.PathUserinfo, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%q: %d %q", authz, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestIssuerWithPath: endpoints live under the issuer's path, and RFC
// 8414's metadata URL puts the well-known segment before it.
func TestIssuerWithPath(t *testing.T) {
	f := newFixture(t, func(c *authserver.Config) { c.Issuer += "/auth" })
	for _, path := range []string{"/.well-known/oauth-authorization-server/auth", "/auth/.well-known/openid-configuration",
		"/auth/.well-known/oauth-authorization-server"} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		if m["issuer"] != f.srv.URL+"/auth" || m["token_endpoint"] != f.srv.URL+"/auth/oauth2/token" {
			t.Errorf("%s: %v", path, m)
		}
	}
	if resp, _ := http.Get(f.srv.URL + "/oauth2/jwks"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("endpoint outside the issuer path: %d", resp.StatusCode)
	}
}

func TestNewRejectsBadIssuers(t *testing.T) {
	cfg := authserver.Config{Registry: registry.NewHolder(), Store: storetest.NewMemoryStore(t, nil)}
	for _, iss := range []string{"https://auth.example.com", "https://auth.example.com/x", "http://127.0.0.1:8080", "http://localhost"} {
		cfg.Issuer = iss
		if _, err := authserver.New(cfg); err != nil {
			t.Errorf("%s refused: %v", iss, err)
		}
	}
	for _, iss := range []string{"http://auth.example.com", "https://auth.example.com/", "https://auth.example.com?x=1",
		"https://u@auth.example.com", "auth.example.com", "https://auth.example.com#f"} {
		cfg.Issuer = iss
		if _, err := authserver.New(cfg); err == nil {
			t.Errorf("%s accepted", iss)
		}
	}
}

// TestLoginPageLockoutAndOrigin: the login page counts failures towards the
// client's lockout and shows account_locked; a form posted from another
// origin is refused even with the right CSRF token.
func TestLoginPageLockoutAndOrigin(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	_, page := b.get(authURL(f, webRequest()))
	fields := formFields(t, page)
	fields.Set("username", "alice")
	fields.Set("password", alicePass)

	req, _ := http.NewRequest(http.MethodPost, f.issuer+authserver.PathAuthorize, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example.com")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusBadRequest || strings.Contains(body, "Allow access?") {
		t.Errorf("cross-origin form: %d", resp.StatusCode)
	}

	fields.Set("password", "wrong")
	for range 2 {
		if resp, _ := b.submit(fields); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("wrong password: %d", resp.StatusCode)
		}
	}
	resp, page = b.submit(fields)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "Account is temporarily locked.") {
		t.Errorf("third failure: %d\n%s", resp.StatusCode, page)
	}
	fields.Set("password", alicePass)
	if resp, page = b.submit(fields); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "Account is temporarily locked.") {
		t.Errorf("right password while locked: %d", resp.StatusCode)
	}
	f.clock.Advance(901 * time.Second)
	if resp, page = b.submit(fields); resp.StatusCode != 200 || !strings.Contains(page, "Allow access?") {
		t.Errorf("after the lock: %d\n%s", resp.StatusCode, page)
	}
}
