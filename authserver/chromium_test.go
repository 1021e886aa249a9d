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
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/snapshot"
)

// The login, consent and device pages in a real browser: headless Chromium
// (Debian's chromium package) driven over the DevTools protocol by
// chromedp. Screenshots of every page go to $AUTHOPS_SCREENSHOT_DIR, else
// to a directory under the system temp dir; the test log prints where.

// chromiumPath finds the browser; without one the tests fail when
// AUTHOPS_REQUIRE_BROWSER=1 (CI) and are skipped loudly otherwise.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("AUTHOPS_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "headless Chromium is not installed (apt-get install chromium, or set AUTHOPS_CHROMIUM): the browser tests of the login, consent and device pages did not run"
	if os.Getenv("AUTHOPS_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + " and AUTHOPS_REQUIRE_BROWSER=1 requires them")
	}
	fmt.Fprintln(os.Stderr, "SKIP: "+msg)
	t.Skip(msg)
	return ""
}

// browserSession is one fresh Chromium profile.
type browserSession struct {
	t        *testing.T
	ctx      context.Context
	shotsDir string
	shots    int
}

func newBrowser(t *testing.T) *browserSession {
	t.Helper()
	exe := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	dir := os.Getenv("AUTHOPS_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "authops-screenshots")
	}
	dir = filepath.Join(dir, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", dir)
	return &browserSession{t: t, ctx: ctx, shotsDir: dir}
}

func (b *browserSession) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// submit clicks a button and waits for the next page to show waitSel. The
// current page is marked first, so an element of the old page cannot
// satisfy the wait.
func (b *browserSession) submit(what, button, waitSel string) {
	b.t.Helper()
	b.run(what,
		chromedp.SetAttributeValue(chromedp.CSS("body"), "data-old", "1"),
		chromedp.Click(chromedp.CSS(button)),
		chromedp.WaitVisible(chromedp.CSS("body:not([data-old]) "+waitSel)))
}

// get runs one action that returns a value.
func get[T any](b *browserSession, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// shot saves a full-page screenshot of the current page.
func (b *browserSession) shot(name string) {
	b.t.Helper()
	png := get(b, "screenshot "+name, chromedp.FullScreenshot(100))
	b.shots++
	p := filepath.Join(b.shotsDir, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browserSession) text(sel string) string {
	b.t.Helper()
	return get(b, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func (b *browserSession) title() string {
	b.t.Helper()
	return get(b, "title", chromedp.Title())
}

// callbackServer stands for the application: it records the query of every
// request to its /callback.
type callbackServer struct {
	*httptest.Server
	mu    sync.Mutex
	query url.Values
}

func newCallbackServer(t *testing.T) *callbackServer {
	cb := &callbackServer{}
	cb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r) // the browser also asks for /favicon.ico
			return
		}
		cb.mu.Lock()
		cb.query = r.URL.Query()
		cb.mu.Unlock()
		_, _ = fmt.Fprint(w, `<!doctype html><title>App callback</title><h1>Back in the app</h1>`)
	}))
	t.Cleanup(cb.Close)
	return cb
}

func (cb *callbackServer) got() url.Values {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return cb.query
}

// withCallback registers the callback server as a redirect URI of "web".
func (f *fixture) withCallback(cb *callbackServer) string {
	uri := cb.URL + "/callback"
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == "web" {
			d.Client.RedirectURIs = append(d.Client.RedirectURIs, uri)
		}
	})
	return uri
}

func TestBrowserLoginConsent(t *testing.T) {
	b := newBrowser(t)
	f := newFixture(t)
	cb := newCallbackServer(t)
	redirect := f.withCallback(cb)
	authURL := f.issuer + authserver.PathAuthorize + "?" + url.Values{"client_id": {"web"}, "response_type": {"code"},
		"redirect_uri": {redirect}, "scope": {"openid profile"}, "state": {"s-123"}}.Encode()

	b.run("open the authorization request", chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS("#username")))
	if got := b.title(); got != "Sign in" {
		t.Fatalf("title = %q, want the login page", got)
	}
	if !strings.Contains(b.text("main"), "Web App") {
		t.Errorf("the login page does not name the client: %q", b.text("main"))
	}
	b.shot("login")
	b.run("log in",
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePass))
	b.submit("log in", `button[type=submit]`, `button[value=allow]`)
	consent := b.text("main")
	if !strings.Contains(consent, "openid") || !strings.Contains(consent, "profile") || !strings.Contains(consent, "Alice") {
		t.Errorf("the consent page lacks the scopes or the account: %q", consent)
	}
	b.shot("consent")
	b.submit("allow", `button[value=allow]`, "h1")
	loc := get(b, "location", chromedp.Location())
	b.shot("callback")
	if !strings.HasPrefix(loc, redirect+"?") {
		t.Fatalf("browser is at %q, want the callback", loc)
	}
	q := cb.got()
	if q.Get("code") == "" || q.Get("state") != "s-123" || q.Get("iss") != f.issuer {
		t.Fatalf("callback query = %v", q)
	}
	// The code the browser carried is good at the token endpoint.
	resp := f.post(authserver.PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {redirect}}, "web", webSecret)
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "id_token") {
		t.Fatalf("code exchange: %d %s", resp.StatusCode, body)
	}
}

// TestBrowserPushedRequest: a pushed authorization request (RFC 9126) in a
// real browser: the browser carries only client_id and the request_uri,
// logs in, consents and lands on the callback with the pushed state; the
// same URL again is the error page.
func TestBrowserPushedRequest(t *testing.T) {
	b := newBrowser(t)
	f := newFixture(t)
	cb := newCallbackServer(t)
	redirect := f.withCallback(cb)
	uri := f.pushWeb(t, url.Values{"response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid profile"},
		"state": {"pushed-1"}})
	authURL := byRequestURI(f, "web", uri)

	b.run("open the pushed authorization request", chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS("#username")))
	b.shot("par-login")
	b.run("log in",
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePass))
	b.submit("log in", `button[type=submit]`, `button[value=allow]`)
	b.submit("allow", `button[value=allow]`, "h1")
	if loc := get(b, "location", chromedp.Location()); !strings.HasPrefix(loc, redirect+"?") {
		t.Fatalf("browser is at %q, want the callback", loc)
	}
	if q := cb.got(); q.Get("code") == "" || q.Get("state") != "pushed-1" || q.Get("iss") != f.issuer {
		t.Fatalf("callback query = %v", q)
	}
	b.run("open the used request_uri again", chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS("main")))
	b.shot("par-used")
	if main := b.text("main"); !strings.Contains(main, string(oautherr.InvalidRequestURI)) {
		t.Errorf("the used request_uri shows %q, want the invalid_request_uri error page", main)
	}
}

func TestBrowserLockout(t *testing.T) {
	b := newBrowser(t)
	f := newFixture(t)
	authURL := f.issuer + authserver.PathAuthorize + "?" + url.Values{"client_id": {"web"}, "response_type": {"code"},
		"redirect_uri": {webRedir}}.Encode()
	b.run("open the authorization request", chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS("#username")))
	// The web client's policy locks after 3 failures.
	for i := 1; i <= 3; i++ {
		b.run(fmt.Sprintf("wrong password %d", i),
			chromedp.SetValue(chromedp.CSS("#username"), "alice"),
			chromedp.SendKeys(chromedp.CSS("#password"), "not the password"))
		b.submit(fmt.Sprintf("wrong password %d", i), `button[type=submit]`, `[role=alert]`)
		alert := b.text(`[role=alert]`)
		b.shot(fmt.Sprintf("wrong-password-%d", i))
		want := "Wrong username or password."
		if i == 3 {
			want = "Account is temporarily locked."
		}
		if !strings.Contains(alert, want) {
			t.Fatalf("after wrong password %d the alert says %q, want %q", i, alert, want)
		}
	}
	alert := b.text(`[role=alert]`)
	if !strings.Contains(alert, "until") || !strings.Contains(alert, "administrator") {
		t.Errorf("the lockout message does not say until when and what to do: %q", alert)
	}
	// Even the right password is refused while locked.
	b.run("right password while locked",
		chromedp.SetValue(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePass))
	b.submit("right password while locked", `button[type=submit]`, `[role=alert]`)
	b.shot("locked")
	if got := b.text(`[role=alert]`); !strings.Contains(got, "temporarily locked") {
		t.Fatalf("right password while locked: %q", got)
	}
}

// deviceInBrowser runs the verification page: the code from the complete
// URI, the login, and the decision.
func deviceInBrowser(t *testing.T, b *browserSession, d deviceResp, decision string) {
	t.Helper()
	b.run("open the verification URI", chromedp.Navigate(d.VerificationURIComplete), chromedp.WaitVisible(chromedp.CSS("#user_code")))
	code := get(b, "read the code", chromedp.Value(chromedp.CSS("#user_code")))
	if code != d.UserCode {
		t.Errorf("the code field holds %q, want %q", code, d.UserCode)
	}
	b.shot("device-code")
	b.submit("continue", `button[type=submit]`, "#username")
	if !strings.Contains(b.text("main"), "Living Room TV") {
		t.Errorf("the device login page does not name the client")
	}
	b.shot("device-login")
	b.run("log in",
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePass))
	b.submit("log in", `button[type=submit]`, `button[value=allow]`)
	page := b.text("main")
	if !strings.Contains(page, "Living Room TV") || !strings.Contains(page, "api.read") || !strings.Contains(page, d.UserCode) {
		t.Errorf("the device consent page lacks the client, the scopes or the code: %q", page)
	}
	b.shot("device-consent")
	b.submit(decision, `button[value=`+decision+`]`, "#result")
	b.shot("device-" + decision)
}

func TestBrowserDeviceApprove(t *testing.T) {
	b := newBrowser(t)
	f := newFixture(t)
	d := f.startDevice(tvClient, "openid api.read")
	expectError(t, f.poll(tvClient, d.DeviceCode), 401, oautherr.AuthorizationPending)
	deviceInBrowser(t, b, d, "allow")
	if got := b.text("#result"); !strings.Contains(got, "connected") {
		t.Fatalf("result = %q", got)
	}
	f.clock.Advance(2 * time.Second)
	resp := f.poll(tvClient, d.DeviceCode)
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "access_token") {
		t.Fatalf("poll after approval: %d %s", resp.StatusCode, body)
	}
}

func TestBrowserDeviceDeny(t *testing.T) {
	b := newBrowser(t)
	f := newFixture(t)
	d := f.startDevice(tvClient, "api.read")
	deviceInBrowser(t, b, d, "deny")
	if got := b.text("#result"); !strings.Contains(got, "denied") {
		t.Fatalf("result = %q", got)
	}
	f.clock.Advance(2 * time.Second)
	expectError(t, f.poll(tvClient, d.DeviceCode), 400, oautherr.AccessDenied)
}
