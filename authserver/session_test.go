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
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
)

const signedOutURI = "https://app.example.com/signed-out"

// onAccount edits alice's document (what the control plane writes).
func onAccount(mut func(*snapshot.Document)) func(*snapshot.Document) {
	return func(d *snapshot.Document) {
		if d.Account != nil && d.Account.Username == "alice" {
			mut(d)
		}
	}
}

// dropAlice removes alice's document from the snapshot (the Account was
// deleted).
func (f *fixture) dropAlice() {
	var docs []registry.Entry
	for _, e := range f.docs {
		if a := e.Document.Account; a == nil || a.Username != "alice" {
			docs = append(docs, e)
		}
	}
	f.docs = docs
	f.holder.Store(registry.Build(docs, slog.New(slog.DiscardHandler)))
}

// hasSession reports whether the browser's login session still signs it in:
// spa (consent Auto) redirects at once with a code, else shows the login
// form.
func (b *browser) hasSession(f *fixture) bool {
	b.t.Helper()
	conf := oauth2.Config{ClientID: "spa", Endpoint: f.endpoint(oauth2.AuthStyleInParams), RedirectURL: spaRedir, Scopes: []string{"openid"}}
	_, opts := pkce()
	resp, page := b.get(conf.AuthCodeURL("s", opts...))
	switch {
	case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
		return true
	case resp.StatusCode == http.StatusOK && strings.Contains(page, `name="password"`):
		return false
	}
	b.t.Fatalf("authorize: %d\n%s", resp.StatusCode, page)
	return false
}

func newPassword(t *testing.T) string {
	h, err := bcrypt.GenerateFromPassword([]byte("a new password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestSessionEndsWithAccountChange: a login session stops working the
// moment the account's snapshot document says the password changed, the
// account was disabled or deleted, and it does not come back when the
// account is enabled again or recreated under the same name. Edits that
// change nothing of the credentials keep it.
func TestSessionEndsWithAccountChange(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, f *fixture)
		keeps  bool
	}{
		{"display name changed", func(t *testing.T, f *fixture) {
			f.edit(onAccount(func(d *snapshot.Document) { d.Account.DisplayName = "Alice B."; d.Source.Generation++ }))
		}, true},
		{"same password hash rewritten", func(t *testing.T, f *fixture) {
			f.edit(onAccount(func(d *snapshot.Document) { d.Source.Generation++ }))
		}, true},
		{"password changed", func(t *testing.T, f *fixture) {
			h := newPassword(t)
			f.edit(onAccount(func(d *snapshot.Document) { d.Account.PasswordBcrypt = h }))
		}, false},
		{"disabled", func(t *testing.T, f *fixture) {
			f.edit(onAccount(func(d *snapshot.Document) { d.Account.Disabled = true; d.Account.DisabledCount++ }))
		}, false},
		{"disabled then enabled", func(t *testing.T, f *fixture) {
			f.edit(onAccount(func(d *snapshot.Document) { d.Account.Disabled = true; d.Account.DisabledCount++ }))
			f.edit(onAccount(func(d *snapshot.Document) { d.Account.Disabled = false }))
		}, false},
		{"deleted", func(t *testing.T, f *fixture) { f.dropAlice() }, false},
		{"deleted and recreated with the same password hash", func(t *testing.T, f *fixture) {
			f.edit(onAccount(func(d *snapshot.Document) { d.Source.UID = "uid-recreated" }))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			b := f.browser()
			b.authorize(authURL(f, webRequest()), "alice", alicePass)
			if !b.hasSession(f) {
				t.Fatal("no session after login")
			}
			tc.change(t, f)
			if got := b.hasSession(f); got != tc.keeps {
				t.Errorf("session works after the change: %v, want %v", got, tc.keeps)
			}
		})
	}
}

// TestRefreshTokenAfterReenable: disabling an account ends its refresh
// tokens for good: enabling it again (the control plane has counted the
// disable) does not bring them back, whatever the rotation policy, while
// tokens issued after the re-enable work. Deleting and recreating the
// account ends them too; changing the password does not.
func TestRefreshTokenAfterReenable(t *testing.T) {
	ctx := context.Background()
	disabledStatus := oautherr.Resolve(oautherr.New(oautherr.AccountDisabled), oautherr.Extended, "").Status
	for _, client := range []struct {
		id    string
		basic bool
	}{{"pw", true}, {"reuse", false}} {
		conf := oauth2.Config{ClientID: client.id, ClientSecret: pwSecret, Scopes: []string{"openid"}}
		style := oauth2.AuthStyleInParams
		if client.basic {
			style = oauth2.AuthStyleInHeader
		}
		refresh := func(f *fixture, rt string) *http.Response {
			if client.basic {
				return f.post(authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, client.id, pwSecret)
			}
			return f.post(authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
				"client_id": {client.id}, "client_secret": {pwSecret}}, "", "")
		}
		token := func(t *testing.T, f *fixture) string {
			c := conf
			c.Endpoint = f.endpoint(style)
			tok, err := c.PasswordCredentialsToken(ctx, "alice", alicePass)
			if err != nil || tok.RefreshToken == "" {
				t.Fatalf("password grant: %v %+v", err, tok)
			}
			return tok.RefreshToken
		}
		t.Run(client.id+"/disabled then enabled", func(t *testing.T) {
			f := newFixture(t)
			rt := token(t, f)
			f.edit(onAccount(func(d *snapshot.Document) { d.Account.Disabled = true; d.Account.DisabledCount++ }))
			expectError(t, refresh(f, rt), disabledStatus, oautherr.AccountDisabled)
			f.edit(onAccount(func(d *snapshot.Document) { d.Account.Disabled = false }))
			expectError(t, refresh(f, rt), http.StatusBadRequest, "invalid_grant")
			if resp := refresh(f, token(t, f)); resp.StatusCode != http.StatusOK {
				t.Errorf("a token issued after the re-enable: %d %s", resp.StatusCode, readAll(t, resp))
			}
		})
		t.Run(client.id+"/disabled and enabled unseen", func(t *testing.T) {
			f := newFixture(t)
			rt := token(t, f)
			f.edit(onAccount(func(d *snapshot.Document) { d.Account.DisabledCount++ }))
			expectError(t, refresh(f, rt), http.StatusBadRequest, "invalid_grant")
		})
		t.Run(client.id+"/deleted and recreated", func(t *testing.T) {
			f := newFixture(t)
			rt := token(t, f)
			f.edit(onAccount(func(d *snapshot.Document) { d.Source.UID = "uid-recreated" }))
			expectError(t, refresh(f, rt), http.StatusBadRequest, "invalid_grant")
		})
		t.Run(client.id+"/password changed", func(t *testing.T) {
			f := newFixture(t)
			rt := token(t, f)
			h := newPassword(t)
			f.edit(onAccount(func(d *snapshot.Document) { d.Account.PasswordBcrypt = h }))
			if resp := refresh(f, rt); resp.StatusCode != http.StatusOK {
				t.Errorf("refresh after a password change: %d %s", resp.StatusCode, readAll(t, resp))
			}
		})
	}
}

// withPostLogout registers signedOutURI for web.
func withPostLogout(f *fixture) {
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == "web" {
			d.Client.PostLogoutRedirectURIs = []string{signedOutURI}
		}
	})
}

// webLogin signs alice in to web in b and returns her ID token.
func webLogin(t *testing.T, f *fixture, b *browser) string {
	t.Helper()
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
		RedirectURL: webRedir, Scopes: []string{"openid"}}
	code := b.authorize(conf.AuthCodeURL("s"), "alice", alicePass).Query().Get("code")
	tok, err := conf.Exchange(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := tok.Extra("id_token").(string)
	if id == "" {
		t.Fatal("no ID token")
	}
	return id
}

// TestLogout: RP-initiated logout ends the session (in the store: the old
// cookie, sent again, no longer signs in) and redirects to a registered
// post_logout_redirect_uri with state, identified by id_token_hint (GET)
// or client_id (POST); without one it shows the signed-out page.
func TestLogout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		params func(idToken string) url.Values
		want   string // Location; "" for the signed-out page
	}{
		{"id_token_hint", http.MethodGet, func(id string) url.Values {
			return url.Values{"id_token_hint": {id}, "post_logout_redirect_uri": {signedOutURI}, "state": {"st 1"}}
		}, signedOutURI + "?state=st+1"},
		{"client_id by POST", http.MethodPost, func(string) url.Values {
			return url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {signedOutURI}}
		}, signedOutURI},
		{"both, no state", http.MethodGet, func(id string) url.Values {
			return url.Values{"client_id": {"web"}, "id_token_hint": {id}, "post_logout_redirect_uri": {signedOutURI}}
		}, signedOutURI},
		{"no parameters", http.MethodGet, func(string) url.Values { return url.Values{} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			withPostLogout(f)
			b := f.browser()
			id := webLogin(t, f, b)
			issuer, _ := url.Parse(f.issuer + "/oauth2/")
			cookies := b.client.Jar.Cookies(issuer)
			var req *http.Request
			if tc.method == http.MethodGet {
				req, _ = http.NewRequest(http.MethodGet, f.issuer+authserver.PathLogout+"?"+tc.params(id).Encode(), nil)
			} else {
				req, _ = http.NewRequest(http.MethodPost, f.issuer+authserver.PathLogout, strings.NewReader(tc.params(id).Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp, err := b.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			page := readAll(t, resp)
			if tc.want != "" {
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.want {
					t.Fatalf("logout: %d Location %q, want 303 %q\n%s", resp.StatusCode, resp.Header.Get("Location"), tc.want, page)
				}
			} else if resp.StatusCode != http.StatusOK || !strings.Contains(page, "You are signed out.") {
				t.Fatalf("logout: %d\n%s", resp.StatusCode, page)
			}
			if b.hasSession(f) {
				t.Error("the browser still has a session after logout")
			}
			// The session is gone from the store: the old cookie no longer works.
			stale := f.browser()
			stale.client.Jar.SetCookies(issuer, cookies)
			if stale.hasSession(f) {
				t.Error("the session's old cookie still signs in after logout")
			}
		})
	}
}

// TestLogoutRefused: a post_logout_redirect_uri that is not registered
// exactly for the identified client, or without a client, or a bad
// id_token_hint, gets an error page (400), no redirect, and the session
// stays.
func TestLogoutRefused(t *testing.T) {
	f := newFixture(t)
	withPostLogout(f)
	b := f.browser()
	id := webLogin(t, f, b)
	for name, q := range map[string]url.Values{
		"unregistered":         {"client_id": {"web"}, "post_logout_redirect_uri": {"https://evil.example/"}},
		"prefix of registered": {"client_id": {"web"}, "post_logout_redirect_uri": {signedOutURI + "/x"}},
		"with a query":         {"client_id": {"web"}, "post_logout_redirect_uri": {signedOutURI + "?a=b"}},
		"another client's":     {"client_id": {"spa"}, "post_logout_redirect_uri": {signedOutURI}},
		"no client":            {"post_logout_redirect_uri": {signedOutURI}},
		"unknown client":       {"client_id": {"nope"}, "post_logout_redirect_uri": {signedOutURI}},
		"hint of another":      {"client_id": {"spa"}, "id_token_hint": {id}, "post_logout_redirect_uri": {signedOutURI}},
		"bad hint":             {"id_token_hint": {id + "x"}, "post_logout_redirect_uri": {signedOutURI}},
		"access token as hint": {"id_token_hint": {"eyJhbGciOiJFUzI1NiJ9.e30.AAAA"}},
	} {
		resp, page := b.get(f.issuer + authserver.PathLogout + "?" + q.Encode())
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, "invalid_request") {
			t.Errorf("%s: %d Location %q\n%s", name, resp.StatusCode, resp.Header.Get("Location"), page)
		}
		if !b.hasSession(f) {
			t.Fatalf("%s: a refused logout ended the session", name)
		}
	}
}

// TestDiscoveryEndSession: both metadata documents name the end-session
// endpoint.
func TestDiscoveryEndSession(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{authserver.PathOpenIDMetadata, authserver.PathOAuthMetadata} {
		resp, err := http.Get(f.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if m["end_session_endpoint"] != f.issuer+"/oauth2/logout" {
			t.Errorf("%s: end_session_endpoint = %v", path, m["end_session_endpoint"])
		}
	}
}
