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
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/snapshot"
)

// refreshForm is a refresh_token request of client_id with no secret.
func refreshForm(clientID, refreshToken string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {clientID}}
}

// refreshOnce posts a refresh request and returns the status and the
// refresh token of the answer ("" for none or an error).
func refreshOnce(t *testing.T, f *fixture, form url.Values) (int, string) {
	t.Helper()
	resp := f.post(authserver.PathToken, form, "", "")
	defer resp.Body.Close()
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token answer is not JSON: %v", err)
	}
	return resp.StatusCode, body.RefreshToken
}

// TestPublicClientAlwaysRotates: a Public client's refresh tokens rotate
// even when its snapshot says Reuse (RFC 9700 §4.14.2; the controller never
// compiles Reuse for a Public client, this is the server's own guard): the
// refresh returns a new refresh token, and the old one is then refused.
func TestPublicClientAlwaysRotates(t *testing.T) {
	f := newFixture(t)
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == "spa" {
			d.Client.Policy.RefreshTokenRotation = snapshot.RotationReuse
		}
	})
	ctx := context.Background()
	conf := oauth2.Config{ClientID: "spa", Endpoint: f.endpoint(oauth2.AuthStyleInParams), RedirectURL: spaRedir, Scopes: []string{"openid"}}
	verifier, opts := pkce()
	loc := f.browser().authorize(conf.AuthCodeURL("s", opts...), "alice", alicePass)
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	status, next := refreshOnce(t, f, refreshForm("spa", tok.RefreshToken))
	if status != 200 || next == "" || next == tok.RefreshToken {
		t.Fatalf("a Public client's refresh under Reuse: %d, refresh_token %q (want a new one)", status, next)
	}
	expectError(t, f.post(authserver.PathToken, refreshForm("spa", tok.RefreshToken), "", ""), 400, oautherr.InvalidGrant)
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: next}).Token(); err == nil ||
		!strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("the reuse of the rotated token did not revoke the family: %v", err)
	}
}
