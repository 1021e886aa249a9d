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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/store/storetest"
)

const (
	webSecret = "w3b secret:with/odd+chars&more" // exercises RFC 6749 §2.3.1 encoding
	ccSecret  = "cc-secret"
	pwSecret  = "pw-secret"
	webRedir  = "https://app.example.com/callback"
	spaRedir  = "http://127.0.0.1:9999/cb"
	alicePass = "alice password"
)

func digest(secret string) snapshot.SecretDigest {
	d := sha256.Sum256([]byte(secret))
	return snapshot.SecretDigest{SHA256: hex.EncodeToString(d[:])}
}

func policy(mut ...func(*snapshot.Policy)) snapshot.Policy {
	p := snapshot.Policy{PKCE: "Optional", Consent: "Prompt", ErrorProfile: "Extended", RefreshTokenRotation: "Rotate",
		AccessTokenLifetimeSeconds: 600, RefreshTokenLifetimeSeconds: 86400, AuthorizationCodeLifetimeSeconds: 60,
		DeviceCodeLifetimeSeconds: 600, DevicePollIntervalSeconds: 5, LockoutMaxFailedAttempts: 3,
		LockoutWindowSeconds: 900, LockoutDurationSeconds: 900}
	for _, m := range mut {
		m(&p)
	}
	return p
}

func clientDoc(c snapshot.Client) snapshot.Document {
	if c.Namespace == "" {
		c.Namespace = "team"
	}
	return snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindClient,
		Source: snapshot.Source{Kind: "OAuthClient", Namespace: c.Namespace, Name: c.ID, UID: "uid-" + c.ID, Generation: 1},
		Client: &c}
}

func accountDoc(t testing.TB, ns, user, password string, mut ...func(*snapshot.Account)) snapshot.Document {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a := snapshot.Account{Subject: ns + "/" + user, Namespace: ns, Username: user, PasswordBcrypt: string(h),
		Email: user + "@example.com", DisplayName: strings.ToUpper(user[:1]) + user[1:], Groups: []string{"devs"}}
	for _, m := range mut {
		m(&a)
	}
	return snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindAccount,
		Source: snapshot.Source{Kind: "Account", Namespace: ns, Name: user, UID: "uid-" + ns + user}, Account: &a}
}

func keyDoc(t testing.TB, kid string, from time.Time) snapshot.Document {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := snapshot.EncodePrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindKeySet,
		Source: snapshot.Source{Kind: "Secret", Name: snapshot.KeySetSecretName, UID: "keys"},
		KeySet: &snapshot.KeySet{Keys: []snapshot.Key{{ID: kid, Algorithm: "ES256", PrivateKeyPEM: pemKey,
			PublishFrom: from, SignFrom: from, SignUntil: from.Add(48 * time.Hour), PublishUntil: from.Add(72 * time.Hour)}}}}
}

// fixture is a real server on a loopback listener with a fake clock, an
// in-memory store and a snapshot of test clients and accounts.
type fixture struct {
	t      testing.TB
	srv    *httptest.Server
	issuer string
	clock  *storetest.FakeClock
	store  store.Store
	holder *registry.Holder
	docs   []registry.Entry
	server *authserver.Server
}

// The audiences of the fixture's ResourceServers (see resourceServers).
const (
	apiAudience      = "https://api.example.com"
	paymentsAudience = "https://payments.example.com"
	// victimAudience is owned by a ResourceServer that grants no fixture
	// client.
	victimAudience = "https://payments.victim.example"
)

// resources is what the fixture's ResourceServers grant the clients cc,
// web, pw and tv: the api with its scopes, and payments, which withholds
// api.write and openid from them.
func resources() []snapshot.Resource {
	return []snapshot.Resource{{Audience: apiAudience, Scopes: []string{"api.read", "api.write"}},
		{Audience: paymentsAudience, Scopes: []string{"api.read"}, WithheldScopes: []string{"api.write", "openid"}}}
}

// The ResourceServers' IDs and secrets.
const (
	apiRS       = "rs/team/api"
	apiRSSecret = "api-rs-secret"
	paymentsRS  = "rs/team/payments"
	victimRS    = "rs/victim/payments"
)

func resourceServerDoc(id, audience, secret string) snapshot.Document {
	parts := strings.Split(id, "/")
	return snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindResourceServer,
		Source: snapshot.Source{Kind: "ResourceServer", Namespace: parts[1], Name: parts[2], UID: "uid-" + id, Generation: 1},
		ResourceServer: &snapshot.ResourceServer{ID: id, Namespace: parts[1], Audience: audience,
			Secrets: []snapshot.SecretDigest{digest(secret)}}}
}

func allClients() []snapshot.Client {
	return []snapshot.Client{
		{ID: "web", Type: "Confidential", TokenEndpointAuthMethod: "client_secret_basic", DisplayName: "Web App",
			Secrets: []snapshot.SecretDigest{digest(webSecret)}, RedirectURIs: []string{webRedir, "https://app.example.com:8443/other"},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile", "email", "api.read"},
			DefaultScopes: []string{"openid"}, Resources: resources(), Policy: policy()},
		{ID: "spa", Type: "Public", TokenEndpointAuthMethod: "none", RedirectURIs: []string{spaRedir},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "api.read"},
			Policy: policy(func(p *snapshot.Policy) { p.Consent = "Auto"; p.RefreshTokenRotation = "Rotate" })},
		{ID: "cc", Type: "Confidential", TokenEndpointAuthMethod: "client_secret_post",
			Secrets:    []snapshot.SecretDigest{digest(ccSecret)},
			GrantTypes: []string{"client_credentials"}, RequestedGrantTypes: []string{"client_credentials", "password"},
			Scopes: []string{"api.read", "api.write"}, DefaultScopes: []string{"api.read"}, Audiences: []string{"https://api.example.com"},
			Resources: resources(), Policy: policy()},
		{ID: "pw", Type: "Confidential", TokenEndpointAuthMethod: "client_secret_basic",
			Secrets:    []snapshot.SecretDigest{digest(pwSecret)},
			GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"openid", "api.read"}, Resources: resources(),
			Policy: policy()},
		{ID: "pw-rfc", Type: "Confidential", TokenEndpointAuthMethod: "client_secret_basic",
			Secrets:    []snapshot.SecretDigest{digest(pwSecret)},
			GrantTypes: []string{"password"}, Scopes: []string{"api.read"},
			Policy: policy(func(p *snapshot.Policy) { p.ErrorProfile = "RFC" })},
		{ID: "reuse", Type: "Confidential", TokenEndpointAuthMethod: "client_secret_post",
			Secrets: []snapshot.SecretDigest{digest(pwSecret)}, RedirectURIs: []string{webRedir},
			GrantTypes: []string{"authorization_code", "password", "refresh_token"}, Scopes: []string{"openid", "api.read"},
			Policy: policy(func(p *snapshot.Policy) { p.RefreshTokenRotation = "Reuse"; p.PKCE = "Required"; p.Consent = "Auto" })},
		{ID: "tv", Type: "Public", TokenEndpointAuthMethod: "none", DisplayName: "Living Room TV",
			GrantTypes: []string{authserver.DeviceCodeGrantType, "refresh_token"}, Scopes: []string{"openid", "profile", "api.read"},
			DefaultScopes: []string{"openid"}, Resources: resources(),
			Policy: policy(func(p *snapshot.Policy) { p.DevicePollIntervalSeconds = 1 })},
		{ID: "tv-rfc", Type: "Confidential", TokenEndpointAuthMethod: "client_secret_post",
			Secrets:    []snapshot.SecretDigest{digest(pwSecret)},
			GrantTypes: []string{authserver.DeviceCodeGrantType}, Scopes: []string{"api.read"},
			Policy: policy(func(p *snapshot.Policy) { p.ErrorProfile = "RFC" })},
		{ID: "off", Type: "Confidential", TokenEndpointAuthMethod: "client_secret_post", Disabled: true,
			Secrets:    []snapshot.SecretDigest{digest(ccSecret)},
			GrantTypes: []string{"client_credentials"}, Policy: policy()},
	}
}

// logTo, when set, receives the server's debug logs (for the test that
// checks logs never carry secrets).
var logTo io.Writer

func newFixture(t testing.TB, mut ...func(*authserver.Config)) *fixture {
	t.Helper()
	return startFixture(t, httptest.NewServer, mut...)
}

// newTLSFixture is newFixture with an https issuer (httptest's TLS server,
// whose certificate f.post and f.browser trust).
func newTLSFixture(t testing.TB, mut ...func(*authserver.Config)) *fixture {
	t.Helper()
	return startFixture(t, httptest.NewTLSServer, mut...)
}

func startFixture(t testing.TB, newServer func(http.Handler) *httptest.Server, mut ...func(*authserver.Config)) *fixture {
	t.Helper()
	clock := storetest.NewFakeClock()
	f := &fixture{t: t, clock: clock, store: storetest.NewMemoryStore(t, clock), holder: registry.NewHolder()}
	var docs []registry.Entry
	add := func(d snapshot.Document) { docs = append(docs, registry.Entry{Origin: docOrigin(d), Document: d}) }
	for _, c := range allClients() {
		add(clientDoc(c))
	}
	add(accountDoc(t, "team", "alice", alicePass))
	add(accountDoc(t, "team", "bob", "bob password", func(a *snapshot.Account) { a.Disabled = true }))
	add(accountDoc(t, "other", "carol", "carol password"))
	add(keyDoc(t, "k1", clock.Now().Add(-time.Hour)))
	add(resourceServerDoc(apiRS, apiAudience, apiRSSecret))
	add(resourceServerDoc(paymentsRS, paymentsAudience, "payments-rs-secret"))
	add(resourceServerDoc(victimRS, victimAudience, "victim-rs-secret"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("AUTHSERVER_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f.holder.Store(registry.Build(docs, log))
	f.holder.MarkReady()
	f.docs = docs

	var handler http.Handler
	f.srv = newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(f.srv.Close)
	f.issuer = f.srv.URL
	cfg := authserver.Config{Issuer: f.issuer, Registry: f.holder, Store: f.store, Clock: clock, Log: log}
	if logTo != nil {
		cfg.Log = slog.New(slog.NewJSONHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, m := range mut {
		m(&cfg)
	}
	s, err := authserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	handler = s.Handler()
	f.server = s
	return f
}

// edit swaps in a snapshot whose documents mut changed (a new generation
// from the control plane).
func (f *fixture) edit(mut func(*snapshot.Document)) {
	var docs []registry.Entry
	for _, e := range f.docs {
		d := e.Document
		if d.Client != nil {
			c := *d.Client
			d.Client = &c
		}
		if d.Account != nil {
			a := *d.Account
			d.Account = &a
		}
		mut(&d)
		docs = append(docs, registry.Entry{Origin: e.Origin, Document: d})
	}
	f.docs = docs
	f.holder.Store(registry.Build(docs, slog.New(slog.DiscardHandler)))
}

// docOrigin is the origin of a fixture document.
func docOrigin(d snapshot.Document) string {
	return d.Source.Namespace + "/" + d.Source.Name + "/" + string(d.Kind)
}

// put swaps in a snapshot with d added, or in place of the document of
// the same origin; the other documents stay as they are.
func (f *fixture) put(d snapshot.Document) {
	docs := slices.DeleteFunc(slices.Clone(f.docs), func(e registry.Entry) bool { return e.Origin == docOrigin(d) })
	f.docs = append(docs, registry.Entry{Origin: docOrigin(d), Document: d})
	f.holder.Store(registry.Build(f.docs, slog.New(slog.DiscardHandler)))
}

// remove swaps in a snapshot without the document d had the origin of.
func (f *fixture) remove(d snapshot.Document) {
	f.docs = slices.DeleteFunc(slices.Clone(f.docs), func(e registry.Entry) bool { return e.Origin == docOrigin(d) })
	f.holder.Store(registry.Build(f.docs, slog.New(slog.DiscardHandler)))
}

// noRedirect is an http.Client that does not follow redirects.
func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// post sends a form to path with optional Basic credentials.
func (f *fixture) post(path string, form url.Values, basicUser, basicPass string) *http.Response {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	c := noRedirect()
	c.Transport = f.srv.Client().Transport
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// errorBody reads a JSON error response.
func errorBody(t testing.TB, resp *http.Response) map[string]string {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("error body is not JSON: %v", err)
	}
	return m
}

func expectError(t testing.TB, resp *http.Response, status int, code oautherr.Code) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d", resp.StatusCode, status)
	}
	for k, v := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	body := errorBody(t, resp)
	if body["error"] != string(code) {
		t.Errorf("error = %q (%s), want %q", body["error"], body["error_description"], code)
	}
	if len(body) != 3 {
		t.Errorf("body has keys %v, want error, error_description, error_uri", body)
	}
}

// browser is a cookie-keeping http.Client that stops at redirects leaving
// the server (to the client's redirect URI).
type browser struct {
	t      testing.TB
	f      *fixture
	client *http.Client
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: f.t, f: f, client: &http.Client{Jar: jar, Transport: f.srv.Client().Transport, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), f.issuer) {
			return http.ErrUseLastResponse
		}
		return nil
	}}}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// form returns the hidden fields of the page's form.
func formFields(t testing.TB, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		v.Add(m[1], htmlUnescape(m[2]))
	}
	if v.Get("csrf_token") == "" {
		t.Fatalf("page has no form with a CSRF token:\n%s", page)
	}
	return v
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&quot;", `"`, "&#43;", "+")
	return r.Replace(s)
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.client.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, readAll(b.t, resp)
}

func (b *browser) submit(fields url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.f.issuer+authserver.PathAuthorize, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.f.issuer)
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, readAll(b.t, resp)
}

// authorize runs the browser through login (and consent, if asked) and
// returns the final redirect to the client.
func (b *browser) authorize(authURL, username, password string) *url.URL {
	b.t.Helper()
	resp, page := b.get(authURL)
	for range 3 {
		if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				b.t.Fatal(err)
			}
			return loc
		}
		if resp.StatusCode != http.StatusOK {
			b.t.Fatalf("authorize: status %d:\n%s", resp.StatusCode, page)
		}
		fields := formFields(b.t, page)
		switch fields.Get("authops_action") {
		case "login":
			fields.Set("username", username)
			fields.Set("password", password)
		case "consent":
			fields.Set("decision", "allow")
		}
		resp, page = b.submit(fields)
	}
	b.t.Fatalf("authorize did not finish; last page:\n%s", page)
	return nil
}

var _ = context.Background
