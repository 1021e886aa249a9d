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
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/snapshot"
)

// refreshForm is a refresh_token request of client_id with no secret.
func refreshForm(clientID, refreshToken string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {clientID}}
}

// decodeRefresh returns the status and the refresh token of a token
// endpoint answer ("" for none or an error).
func decodeRefresh(t *testing.T, resp *http.Response) (int, string) {
	t.Helper()
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
	status, next := decodeRefresh(t, f.post(authserver.PathToken, refreshForm("spa", tok.RefreshToken), "", ""))
	if status != 200 || next == "" || next == tok.RefreshToken {
		t.Fatalf("a Public client's refresh under Reuse: %d, refresh_token %q (want a new one)", status, next)
	}
	expectError(t, f.post(authserver.PathToken, refreshForm("spa", tok.RefreshToken), "", ""), 400, oautherr.InvalidGrant)
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: next}).Token(); err == nil ||
		!strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("the reuse of the rotated token did not revoke the family: %v", err)
	}
}

// TestRefreshReuseGrace: two refreshes of one token at once, within the
// policy's reuse grace, both get a new refresh token of the family, and the
// family stays alive; presenting the old token after the grace is reuse and
// revokes the family. (Grace 0 revokes at once: TestAuthorizationCodeFlow.)
func TestRefreshReuseGrace(t *testing.T) {
	f := newFixture(t)
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == "pw" {
			d.Client.Policy.RefreshTokenReuseGraceSeconds = 10
		}
	})
	conf := oauth2.Config{ClientID: "pw", ClientSecret: pwSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader)}
	tok, err := conf.PasswordCredentialsToken(context.Background(), "alice", alicePass)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		status  [2]int
		fresh   [2]string
		refresh = func(rt string) *http.Response {
			return f.post(authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "pw", pwSecret)
		}
	)
	for i := range 2 {
		wg.Go(func() { status[i], fresh[i] = decodeRefresh(t, refresh(tok.RefreshToken)) })
	}
	wg.Wait()
	if status != [2]int{200, 200} || fresh[0] == "" || fresh[1] == "" || fresh[0] == fresh[1] {
		t.Fatalf("two refreshes at once within the grace: %v, refresh tokens %q (want two new ones)", status, fresh)
	}
	// Both successors work: the family is alive.
	for i := range fresh {
		s, next := decodeRefresh(t, refresh(fresh[i]))
		if s != 200 || next == "" {
			t.Fatalf("successor %d after refreshes within the grace: %d", i, s)
		}
		fresh[i] = next
	}
	// The old token once more, after the grace: reuse, the family is revoked.
	f.clock.Advance(10 * time.Second)
	expectError(t, refresh(tok.RefreshToken), 400, oautherr.InvalidGrant)
	for i := range fresh {
		expectError(t, refresh(fresh[i]), 400, oautherr.InvalidGrant)
	}
}
