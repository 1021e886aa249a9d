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
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
)

// FuzzTokenEndpoint: whatever the body and Authorization header, the token
// endpoint answers with a documented status and, on error, exactly the
// three-member JSON body with a code of the table and no request input in
// the description. Run longer with go test -fuzz FuzzTokenEndpoint.
func FuzzTokenEndpoint(f *testing.F) {
	for _, seed := range [][2]string{
		{"grant_type=client_credentials&client_id=cc&client_secret=cc-secret", ""},
		{"grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback", "Basic d2ViOng="},
		{"grant_type=refresh_token&refresh_token=%ff&scope=a%20b", "Basic Og=="},
		{"grant_type=password&username=alice&password=x&grant_type=x", "Bearer x"},
		{"%zz=1&;", "Basic !!!"},
	} {
		f.Add(seed[0], seed[1])
	}
	fx := newFixture(f)
	h := fx.srv.Config.Handler
	codes := map[string]bool{}
	for _, e := range append(append([]oautherr.Entry{}, oautherr.Table...), oautherr.Extensions...) {
		codes[string(e.Code)] = true
	}
	send := func(body, authz string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, authserver.PathToken, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	f.Fuzz(func(t *testing.T, body, authz string) {
		rec := send(body, authz)
		if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Pragma") != "no-cache" {
			t.Fatalf("status %d without no-store headers", rec.Code)
		}
		if rec.Code == http.StatusOK {
			return
		}
		var m map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || len(m) != 3 {
			t.Fatalf("status %d body %q", rec.Code, rec.Body.String())
		}
		if !codes[m["error"]] {
			t.Fatalf("code %q not in the table", m["error"])
		}
		if len(body) > 8 && strings.Contains(m["error_description"], body) {
			// A fixed text can contain a short body by chance ("grant_typ"
			// in "grant_type is required."); an echo follows the body when
			// the body changes.
			last := byte('x')
			if body[len(body)-1] == 'x' {
				last = 'y'
			}
			changed := body[:len(body)-1] + string(last)
			var m2 map[string]string
			_ = json.Unmarshal(send(changed, authz).Body.Bytes(), &m2)
			if strings.Contains(m2["error_description"], changed) {
				t.Fatalf("description echoes the body: %q", m["error_description"])
			}
		}
	})
}

// FuzzIntrospect: whatever token and hint an authenticated resource server
// sends, introspection answers 200 with {"active":false} or, for a token
// of the caller that is active, active:true with the token's client; never
// an error status, never a 5xx.
func FuzzIntrospect(f *testing.F) {
	f.Add("not a token", "")
	f.Add("a.b.c", "access_token")
	f.Add("x", "refresh_token")
	fx := newFixture(f)
	resp := fx.post(authserver.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {ccSecret}}, "", "")
	var tr map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK {
		f.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	valid, _ := tr["access_token"].(string)
	f.Add(valid, "access_token")
	f.Add(valid+"x", "")
	h := fx.srv.Config.Handler
	f.Fuzz(func(t *testing.T, token, hint string) {
		form := url.Values{"client_id": {"cc"}, "client_secret": {ccSecret}, "token": {token}, "token_type_hint": {hint}}
		req := httptest.NewRequest(http.MethodPost, authserver.PathIntrospect, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if token == "" {
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("no token: %d", rec.Code)
			}
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("body %q", rec.Body)
		}
		switch m["active"] {
		case false:
			if len(m) != 1 {
				t.Fatalf("inactive with more: %v", m)
			}
		case true:
			if m["client_id"] != "cc" {
				t.Fatalf("active token of another client: %v", m)
			}
		default:
			t.Fatalf("body %v", m)
		}
	})
}
