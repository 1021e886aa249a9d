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
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
)

// Grants are bound to the client object and the account object they were
// issued to, not to their names (issue #14): a client or account deleted
// and recreated under the same name (a new UID in its snapshot document)
// does not inherit the codes, refresh tokens, device grants and consents
// of the old one.

// recreateClient swaps in the document of a new object with the same
// client ID (the OAuthClient was deleted and recreated: a new UID).
func (f *fixture) recreateClient(id string) {
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == id {
			d.Source.UID = "uid-" + id + "-recreated"
			d.Source.Generation = 1
		}
	})
}

// recreateAlice swaps in the document of a new Account object alice (the
// same subject, a new UID).
func (f *fixture) recreateAlice() {
	f.edit(onAccount(func(d *snapshot.Document) { d.Source.UID = "uid-alice-recreated" }))
}

// webCode runs alice through the authorization endpoint of web and returns
// the code.
func webCode(t *testing.T, f *fixture) string {
	t.Helper()
	code := f.browser().authorize(authURL(f, webRequest()), "alice", alicePass).Query().Get("code")
	if code == "" {
		t.Fatal("no code")
	}
	return code
}

// redeemWebCode exchanges a code of web.
func redeemWebCode(f *fixture, code string) *http.Response {
	return f.post(authserver.PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {webRedir}}, "web", webSecret)
}

// TestCodeBoundToClientAndAccount: a code issued to web cannot be redeemed
// once web or alice was deleted and recreated under the same name (or alice
// disabled and enabled again); a code issued to the recreated client works.
func TestCodeBoundToClientAndAccount(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(f *fixture)
	}{
		{"client recreated", func(f *fixture) { f.recreateClient("web") }},
		{"account recreated", func(f *fixture) { f.recreateAlice() }},
		{"account disabled and enabled", func(f *fixture) {
			f.edit(onAccount(func(d *snapshot.Document) { d.Account.DisabledCount++ }))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			code := webCode(t, f)
			tc.change(f)
			expectError(t, redeemWebCode(f, code), http.StatusBadRequest, oautherr.InvalidGrant)
			if resp := redeemWebCode(f, webCode(t, f)); resp.StatusCode != http.StatusOK {
				t.Errorf("a code issued after the change: %d %s", resp.StatusCode, readAll(t, resp))
			}
		})
	}
}

// TestRefreshBoundToClient: a refresh token issued to a client cannot be
// used by a new object with the same client ID, with rotation (pw) and
// without (reuse).
func TestRefreshBoundToClient(t *testing.T) {
	for _, c := range []struct {
		id    string
		style oauth2.AuthStyle
	}{{"pw", oauth2.AuthStyleInHeader}, {"reuse", oauth2.AuthStyleInParams}} {
		t.Run(c.id, func(t *testing.T) {
			f := newFixture(t)
			conf := oauth2.Config{ClientID: c.id, ClientSecret: pwSecret, Endpoint: f.endpoint(c.style),
				Scopes: []string{"openid"}}
			tok, err := conf.PasswordCredentialsToken(context.Background(), "alice", alicePass)
			if err != nil || tok.RefreshToken == "" {
				t.Fatalf("password grant: %v %+v", err, tok)
			}
			f.recreateClient(c.id)
			_, err = conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
				t.Errorf("refresh by the recreated client: %v, want invalid_grant", err)
			}
		})
	}
}

// approveDevice has alice approve the device authorization d on the
// verification page.
func approveDevice(t *testing.T, f *fixture, d deviceResp) {
	t.Helper()
	b := f.browser()
	_, page := b.get(d.VerificationURIComplete)
	for range 3 {
		fields := formFields(t, page)
		switch fields.Get("authops_action") {
		case "code":
			fields.Set("user_code", d.UserCode)
		case "login":
			fields.Set("username", "alice")
			fields.Set("password", alicePass)
		case "consent":
			fields.Set("decision", "allow")
		}
		var resp *http.Response
		resp, page = b.submitTo(authserver.PathDevice, fields)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("device page: %d\n%s", resp.StatusCode, page)
		}
		if strings.Contains(page, "Device connected") {
			return
		}
	}
	t.Fatalf("the device approval did not finish; last page:\n%s", page)
}

// TestDeviceGrantBoundToClientAndAccount: a device authorization of tv,
// pending or approved, yields nothing but invalid_grant once tv or alice
// was deleted and recreated under the same name (or alice disabled and
// enabled again).
func TestDeviceGrantBoundToClientAndAccount(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(f *fixture)
		approve bool // approve before the change
	}{
		{"client recreated while pending", func(f *fixture) { f.recreateClient("tv") }, false},
		{"client recreated after approval", func(f *fixture) { f.recreateClient("tv") }, true},
		{"account recreated after approval", func(f *fixture) { f.recreateAlice() }, true},
		{"account disabled and enabled after approval", func(f *fixture) {
			f.edit(onAccount(func(d *snapshot.Document) { d.Account.DisabledCount++ }))
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			d := f.startDevice(tvClient, "openid")
			if tc.approve {
				approveDevice(t, f, d)
			}
			tc.change(f)
			expectError(t, f.poll(tvClient, d.DeviceCode), http.StatusBadRequest, oautherr.InvalidGrant)
		})
	}
	// Unchanged, the same steps yield tokens.
	f := newFixture(t)
	d := f.startDevice(tvClient, "openid")
	approveDevice(t, f, d)
	if resp := f.poll(tvClient, d.DeviceCode); resp.StatusCode != http.StatusOK {
		t.Errorf("poll after approval: %d %s", resp.StatusCode, readAll(t, resp))
	}
}

// TestConsentBoundToClient: alice's remembered consent to web is not a
// consent to a new object web: she is asked again.
func TestConsentBoundToClient(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.authorize(authURL(f, webRequest()), "alice", alicePass) // login and consent
	if resp, page := b.get(authURL(f, webRequest())); resp.StatusCode != http.StatusFound {
		t.Fatalf("the remembered consent does not count: %d\n%s", resp.StatusCode, page)
	}
	f.recreateClient("web")
	resp, page := b.get(authURL(f, webRequest()))
	if resp.StatusCode != http.StatusOK || formFields(t, page).Get("authops_action") != "consent" {
		t.Fatalf("the consent given to the old client counts for the recreated one: %d %s", resp.StatusCode,
			resp.Header.Get("Location"))
	}
}

// webTokens runs the code flow of web for alice.
func webTokens(t *testing.T, f *fixture) *oauth2.Token {
	t.Helper()
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
		RedirectURL: webRedir, Scopes: []string{"openid"}}
	tok, err := conf.Exchange(context.Background(), webCode(t, f))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("code exchange: %v %+v", err, tok)
	}
	return tok
}

// TestIntrospectionBoundToClient: a new object web does not see the old
// one's refresh token as active.
func TestIntrospectionBoundToClient(t *testing.T) {
	f := newFixture(t)
	tok := webTokens(t, f)
	if m := f.introspect(t, tok.RefreshToken); m["active"] != true {
		t.Fatalf("refresh introspection = %v", m)
	}
	f.recreateClient("web")
	if m := f.introspect(t, tok.RefreshToken); m["active"] != false {
		t.Errorf("the recreated client sees the old one's refresh token: %v", m)
	}
}

// TestRevocationBoundToClient: a new object web cannot revoke the old
// one's refresh token family (200, as RFC 7009 §2.2 answers a token the
// client may not revoke, and nothing revoked).
func TestRevocationBoundToClient(t *testing.T) {
	f := newFixture(t)
	tok := webTokens(t, f)
	f.recreateClient("web")
	resp := f.post(authserver.PathRevoke, url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}},
		"web", webSecret)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	rt, err := f.store.GetRefreshToken(context.Background(), store.HashToken(tok.RefreshToken))
	if err != nil {
		t.Fatalf("the recreated client revoked the old one's refresh token: %v", err)
	}
	if revoked, err := f.store.IsFamilyRevoked(context.Background(), rt.FamilyID); err != nil || revoked {
		t.Errorf("family revoked = %v, %v", revoked, err)
	}
}

// TestIntrospectionNotByAudience: a client whose ID is in an access
// token's aud is not the token's client and does not see it.
func TestIntrospectionNotByAudience(t *testing.T) {
	f := newFixture(t)
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == "cc" {
			d.Client.Audiences = []string{"web"}
			d.Client.Resources = []snapshot.Resource{{Audience: "web", Scopes: d.Client.Scopes}}
		}
	})
	cc := clientcredentials.Config{ClientID: "cc", ClientSecret: ccSecret, TokenURL: f.issuer + authserver.PathToken,
		AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if aud, _ := f.verifyAccessToken(t, tok.AccessToken)["aud"].([]any); len(aud) != 1 || aud[0] != "web" {
		t.Fatalf("aud = %v, want web", aud)
	}
	if m := f.introspect(t, tok.AccessToken); m["active"] != false {
		t.Errorf("a client named in the token's aud sees it: %v", m)
	}
}

// TestGrantsWithoutClientUID: records stored before client bindings
// existed (no client UID, no account binding) are still accepted.
func TestGrantsWithoutClientUID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := "a refresh token from before the migration"
	if err := f.store.CreateRefreshToken(ctx, store.RefreshToken{Hash: store.HashToken(raw), FamilyID: store.NewID(),
		ClientID: "pw", AccountID: "team/alice", Scopes: []string{"openid"},
		ExpiresAt: f.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	resp := f.post(authserver.PathIntrospect, url.Values{"token": {raw}}, "pw", pwSecret)
	if body := readAll(t, resp); !strings.Contains(body, `"active":true`) {
		t.Errorf("introspection of a refresh token without client UID = %s", body)
	}
	resp = f.post(authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {raw}}, "pw", pwSecret)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("refresh with a token without client UID: %d %s", resp.StatusCode, readAll(t, resp))
	}
}
