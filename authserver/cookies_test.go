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
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/authops/authops/authserver"
)

// setCookies records the cookies every response sets, by request path.
type setCookies struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[string][]*http.Cookie
}

func (s *setCookies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err == nil {
		s.mu.Lock()
		s.seen[req.URL.Path] = append(s.seen[req.URL.Path], resp.Cookies()...)
		s.mu.Unlock()
	}
	return resp, err
}

// recordCookies makes b record the cookies it is sent.
func recordCookies(b *browser) *setCookies {
	rec := &setCookies{next: b.client.Transport, seen: map[string][]*http.Cookie{}}
	b.client.Transport = rec
	return rec
}

// expectCookies checks that the cookies set at path are exactly the names
// given, each with path, Secure as given, HttpOnly, SameSite=Lax, no Domain.
func expectCookies(t *testing.T, rec *setCookies, path string, names []string, cookiePath string, secure bool) {
	t.Helper()
	got := map[string]bool{}
	for _, c := range rec.seen[path] {
		got[c.Name] = true
		if c.Path != cookiePath || c.Secure != secure || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("%s: cookie %s: Path=%q Secure=%v Domain=%q HttpOnly=%v SameSite=%v; want Path=%q Secure=%v, no Domain, HttpOnly, Lax",
				path, c.Name, c.Path, c.Secure, c.Domain, c.HttpOnly, c.SameSite, cookiePath, secure)
		}
	}
	for _, n := range names {
		if !got[n] {
			t.Errorf("%s: cookie %s not set; set: %v", path, n, got)
		}
		delete(got, n)
	}
	if len(got) > 0 {
		t.Errorf("%s: unexpected cookies %v", path, got)
	}
}

// TestHostPrefixedCookies: with an https issuer the session and CSRF
// cookies are __Host- cookies (Secure, Path=/, no Domain), one pair per
// flow so that a login on /device is not a session for
// /oauth2/authorize; the authorization code flow (golang.org/x/oauth2 and a
// cookie jar) and the device flow still work. With an http loopback issuer
// the cookies are as before.
func TestHostPrefixedCookies(t *testing.T) {
	f := newTLSFixture(t)
	b := f.browser()
	rec := recordCookies(b)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, f.srv.Client())
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
		RedirectURL: webRedir, Scopes: []string{"openid", "api.read"}}
	verifier, opts := pkce()
	code := b.authorize(conf.AuthCodeURL("s", opts...), "alice", alicePass).Query().Get("code")
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("code exchange over https: %v", err)
	}
	expectCookies(t, rec, authserver.PathAuthorize, []string{"__Host-authops_session", "__Host-authops_csrf"}, "/", true)

	// The device page in the same browser: its own login.
	d := f.startDevice(tvClient, "openid")
	_, page := b.get(d.VerificationURIComplete)
	fields := formFields(t, page)
	fields.Set("user_code", d.UserCode)
	resp, page := b.submitTo(authserver.PathDevice, fields)
	if fields = formFields(t, page); resp.StatusCode != 200 || fields.Get("authops_action") != "login" {
		t.Fatalf("the device page took the authorize session: %d\n%s", resp.StatusCode, page)
	}
	fields.Set("username", "alice")
	fields.Set("password", alicePass)
	if _, page = b.submitTo(authserver.PathDevice, fields); formFields(t, page).Get("authops_action") != "consent" {
		t.Fatalf("after login on /device:\n%s", page)
	}
	fields = formFields(t, page)
	fields.Set("decision", "allow")
	if resp, page = b.submitTo(authserver.PathDevice, fields); resp.StatusCode != 200 || !strings.Contains(page, "Device connected") {
		t.Fatalf("after allow: %d\n%s", resp.StatusCode, page)
	}
	expectCookies(t, rec, authserver.PathDevice, []string{"__Host-authops_device_session", "__Host-authops_device_csrf"}, "/", true)
	if resp := f.poll(tvClient, d.DeviceCode); resp.StatusCode != 200 {
		t.Fatalf("poll after approval: %d %s", resp.StatusCode, readAll(t, resp))
	}

	// http on loopback: unchanged names and paths, not Secure.
	f = newFixture(t)
	b = f.browser()
	rec = recordCookies(b)
	conf.Endpoint = f.endpoint(oauth2.AuthStyleInHeader)
	if loc := b.authorize(conf.AuthCodeURL("s", opts...), "alice", alicePass); loc.Query().Get("code") == "" {
		t.Fatalf("no code over http: %s", loc)
	}
	expectCookies(t, rec, authserver.PathAuthorize, []string{"authops_session", "authops_csrf"}, "/oauth2/", false)
	d = f.startDevice(tvClient, "openid")
	_, page = b.get(d.VerificationURIComplete)
	expectCookies(t, rec, authserver.PathDevice, []string{"authops_csrf"}, authserver.PathDevice, false)
}
