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

// Package oauthflow plays the person at the browser for the suites that run
// authops like a user (test/e2e, test/cluster): the authorization code flow
// with PKCE through the login and consent pages, and the device flow's
// verification page, as plain HTTP form posts with a cookie jar.
package oauthflow

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Browser is a person's browser: it logs in as Username with Password and
// allows what the consent page asks.
type Browser struct {
	// Issuer is the authserver's issuer URL (the Origin of the form posts,
	// and the iss the callback must carry).
	Issuer             string
	Username, Password string
	// Transport carries the browser's requests; nil is http.DefaultTransport.
	Transport http.RoundTripper
}

var (
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// AuthorizationCode runs the authorization code flow with PKCE the way a
// browser would (a cookie jar, the login form, the consent form), as Username,
// and redeems the code with the verifier. It also returns the forms it
// submitted ("login", "consent").
func (b Browser) AuthorizationCode(ctx context.Context, t testing.TB, conf *oauth2.Config) (*oauth2.Token, []string) {
	t.Helper()
	verifier, state := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	cb, forms := b.Authorize(ctx, t, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), conf.RedirectURL)
	q := cb.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state || q.Get("iss") != b.Issuer {
		t.Fatalf("callback state/iss = %q/%q, want %q/%q", q.Get("state"), q.Get("iss"), state, b.Issuer)
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	return tok, forms
}

// Authorize opens authorizeURL the way a browser would, fills the login
// and consent forms, and returns the URL of the redirect to the client's
// callback (a URL starting with redirectURL; nothing listens there) and the
// forms it submitted. The callback's parameters are the caller's to check.
func (b Browser) Authorize(ctx context.Context, t testing.TB, authorizeURL, redirectURL string) (*url.URL, []string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: b.Transport,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), redirectURL) {
				return http.ErrUseLastResponse // the app's callback: nothing listens there
			}
			return nil
		}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatalf("authorization request: %v", err)
	}
	var forms []string
	for page := 0; ; page++ {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
			cb, err := url.Parse(loc)
			if err != nil || !strings.HasPrefix(loc, redirectURL) {
				t.Fatalf("redirected to %q, want the callback", loc)
			}
			return cb, forms
		}
		if resp.StatusCode != http.StatusOK || page > 3 {
			t.Fatalf("page %d: %s: %s", page, resp.Status, body)
		}
		next, name, ok := b.submitForm(ctx, t, browser, resp, body, page, "")
		if !ok {
			t.Fatalf("page %d has no form: %s", page, body)
		}
		forms = append(forms, name)
		resp = next
	}
}

// submitForm fills the page's form the way a person would (the code form
// with userCode, the login form as Username, the consent form allowing) and
// posts it. ok is false when the page has no form.
func (b Browser) submitForm(ctx context.Context, t testing.TB, browser *http.Client, resp *http.Response, body []byte, page int, userCode string) (next *http.Response, name string, ok bool) {
	t.Helper()
	m := formAction.FindSubmatch(body)
	if m == nil {
		return nil, "", false
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{}
	for _, in := range hiddenInput.FindAllSubmatch(body, -1) {
		form.Set(html.UnescapeString(string(in[1])), html.UnescapeString(string(in[2])))
	}
	name = form.Get("authops_action")
	switch {
	case name == "code" && userCode != "":
		form.Set("user_code", userCode)
	case name == "login":
		form.Set("username", b.Username)
		form.Set("password", b.Password)
	case name == "consent":
		form.Set("decision", "allow")
	default:
		t.Fatalf("page %d: unexpected form %q: %s", page, name, body)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.Issuer)
	if next, err = browser.Do(req); err != nil {
		t.Fatalf("posting the %s form: %v", name, err)
	}
	return next, name, true
}

// ApproveDevice enters the user code on the verification page the way a
// person would (the code form, the login form as Username, the consent form)
// and returns the final page's text.
func (b Browser) ApproveDevice(ctx context.Context, t testing.TB, verificationURI, userCode string) (string, []string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: b.Transport}
	resp, err := browser.Get(verificationURI)
	if err != nil {
		t.Fatalf("verification page: %v", err)
	}
	var forms []string
	for page := 0; ; page++ {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || page > 4 {
			t.Fatalf("page %d: %s: %s", page, resp.Status, body)
		}
		next, name, ok := b.submitForm(ctx, t, browser, resp, body, page, userCode)
		if !ok {
			return string(body), forms // the result page has no form
		}
		forms = append(forms, name)
		resp = next
	}
}
