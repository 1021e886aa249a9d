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
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/authops/authops/authserver"
)

// TestUserinfoErrorsExact pins every userinfo error response byte for byte
// (status, headers, body): RFC 6750 §3's challenge without a token, and
// invalid_token and insufficient_scope with their JSON bodies.
func TestUserinfoErrorsExact(t *testing.T) {
	f := newFixture(t)
	token := func(form url.Values, user, pass string) string {
		t.Helper()
		resp := f.post(authserver.PathToken, form, user, pass)
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
			t.Fatalf("token: %d %v", resp.StatusCode, err)
		}
		return tr.AccessToken
	}
	noOpenID := token(url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {ccSecret}}, "", "")
	revoked := token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}, "scope": {"openid"}}, "pw", pwSecret)
	if resp := f.post(authserver.PathRevoke, url.Values{"token": {revoked}}, "pw", pwSecret); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	invalid := `{"error":"invalid_token","error_description":"The access token is invalid, expired or revoked.","error_uri":""}` + "\n"
	for _, tc := range []struct {
		name, authz string
		status      int
		challenge   string
		contentType string
		body        string
	}{
		{"no header", "", 401, `Bearer realm="` + f.issuer + `"`, "", ""},
		{"not bearer", "Basic eDp5", 401, `Bearer realm="` + f.issuer + `"`, "", ""},
		{"empty bearer", "Bearer ", 401, `Bearer realm="` + f.issuer + `"`, "", ""},
		{"garbage", "Bearer garbage", 401, `Bearer realm="` + f.issuer + `", error="invalid_token"`, "application/json", invalid},
		{"revoked", "bearer " + revoked, 401, `Bearer realm="` + f.issuer + `", error="invalid_token"`, "application/json", invalid},
		{"no openid", "Bearer " + noOpenID, 403, `Bearer realm="` + f.issuer + `", error="insufficient_scope"`, "application/json",
			`{"error":"insufficient_scope","error_description":"The access token was not granted the openid scope for an account.","error_uri":""}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, f.issuer+authserver.PathUserinfo, nil)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || string(body) != tc.body {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
			want := http.Header{"Www-Authenticate": {tc.challenge}, "Cache-Control": {"no-store"}, "Pragma": {"no-cache"},
				"X-Content-Type-Options": {"nosniff"}}
			if tc.contentType != "" {
				want["Content-Type"] = []string{tc.contentType}
			}
			for _, k := range []string{"Date", "Content-Length"} {
				resp.Header.Del(k)
			}
			if tc.contentType == "" {
				resp.Header.Del("Content-Type") // Go's server sniffs none for an empty body
			}
			if got, _ := json.Marshal(resp.Header); string(got) != string(must(json.Marshal(want))) {
				t.Errorf("headers %s, want %s", got, must(json.Marshal(want)))
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
