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
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/store"
)

// faultStore fails the store calls named in fail, once each.
type faultStore struct {
	store.Store
	fail map[string]bool
}

var errInjected = errors.New("injected store failure")

// call returns errInjected if name is to fail, else what next returns.
func call[T any](s *faultStore, name string, next func() (T, error)) (T, error) {
	if s.fail[name] {
		delete(s.fail, name)
		var zero T
		return zero, errInjected
	}
	return next()
}

func (s *faultStore) CreateSession(ctx context.Context, x store.Session) error {
	_, err := call(s, "CreateSession", func() (struct{}, error) { return struct{}{}, s.Store.CreateSession(ctx, x) })
	return err
}

func (s *faultStore) SaveConsent(ctx context.Context, c store.Consent) error {
	_, err := call(s, "SaveConsent", func() (struct{}, error) { return struct{}{}, s.Store.SaveConsent(ctx, c) })
	return err
}

func (s *faultStore) RecordFailedLogin(ctx context.Context, id string, p store.LockoutPolicy) (store.Lockout, error) {
	return call(s, "RecordFailedLogin", func() (store.Lockout, error) { return s.Store.RecordFailedLogin(ctx, id, p) })
}

func (s *faultStore) GetDeviceAuthByUserCode(ctx context.Context, code string) (store.DeviceAuth, error) {
	return call(s, "GetDeviceAuthByUserCode", func() (store.DeviceAuth, error) { return s.Store.GetDeviceAuthByUserCode(ctx, code) })
}

func (s *faultStore) ApproveDeviceAuth(ctx context.Context, code, accountID, binding string, authTime time.Time) (store.DeviceAuth, error) {
	return call(s, "ApproveDeviceAuth", func() (store.DeviceAuth, error) {
		return s.Store.ApproveDeviceAuth(ctx, code, accountID, binding, authTime)
	})
}

// transcript records every response of a browser session, whole (status,
// headers but Date, body), with the issuer, secrets and user codes replaced
// by stable names, to compare with a file under testdata/interaction.
type transcript struct {
	t       *testing.T
	f       *fixture
	client  *http.Client
	out     strings.Builder
	secrets map[string]string
	names   map[string]string // literal → name (user codes)
}

func (f *fixture) transcript(t *testing.T) *transcript {
	tr := &transcript{t: t, f: f, secrets: map[string]string{}, names: map[string]string{}}
	tr.client = tr.newClient()
	return tr
}

// newClient is a browser with its own cookies that follows no redirect.
func (tr *transcript) newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var secretPattern = regexp.MustCompile(`[A-Za-z0-9_-]{43}`)

func (tr *transcript) normalize(s string) string {
	s = strings.ReplaceAll(s, tr.f.issuer, "ISSUER")
	s = strings.ReplaceAll(s, url.QueryEscape(tr.f.issuer), "ISSUER")
	s = strings.ReplaceAll(s, strings.TrimPrefix(tr.f.issuer, "http://"), "ISSUERHOST")
	for lit, name := range tr.names {
		s = strings.ReplaceAll(s, lit, name)
	}
	return secretPattern.ReplaceAllStringFunc(s, func(m string) string {
		n, ok := tr.secrets[m]
		if !ok {
			n = fmt.Sprintf("<secret%d>", len(tr.secrets)+1)
			tr.secrets[m] = n
		}
		return n
	})
}

func (tr *transcript) record(step string, resp *http.Response) string {
	tr.t.Helper()
	body := readAll(tr.t, resp)
	fmt.Fprintf(&tr.out, "### %s\n%d\n", step, resp.StatusCode)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		if k != "Date" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(&tr.out, "%s: %s\n", k, tr.normalize(v))
		}
	}
	fmt.Fprintf(&tr.out, "\n%s\n\n", tr.normalize(body))
	return body
}

func (tr *transcript) get(step, u string) (*http.Response, string) {
	tr.t.Helper()
	resp, err := tr.client.Get(u)
	if err != nil {
		tr.t.Fatal(err)
	}
	return resp, tr.record(step, resp)
}

func (tr *transcript) post(step, path string, fields url.Values) (*http.Response, string) {
	tr.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, tr.f.issuer+path, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", tr.f.issuer)
	resp, err := tr.client.Do(req)
	if err != nil {
		tr.t.Fatal(err)
	}
	return resp, tr.record(step, resp)
}

// check compares the transcript with testdata/interaction/<name>; with
// AUTHOPS_UPDATE_GOLDEN=1 it writes the file instead.
func (tr *transcript) check(name string) {
	tr.t.Helper()
	path := filepath.Join("testdata", "interaction", name)
	got := tr.out.String()
	if os.Getenv("AUTHOPS_UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tr.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tr.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tr.t.Fatal(err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				tr.t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s", path, i+1, gl[i], wl[i])
			}
		}
		tr.t.Fatalf("%s differs in length: got %d lines, want %d", path, len(gl), len(wl))
	}
}

// lockSteps runs the login form up to the lockout: empty fields, wrong
// passwords, the lockout message, the right password while locked.
func lockSteps(tr *transcript, path string, fields url.Values) {
	login := func(step, password string) {
		fields.Set("username", "alice")
		fields.Set("password", password)
		tr.post(step, path, fields)
	}
	login("empty password", "")
	login("wrong password 1", "wrong")
	login("wrong password 2", "wrong")
	login("wrong password 3 locks", "wrong")
	login("right password while locked", alicePass)
}

// loginSteps runs the login form, after the lockout has passed, through a
// disabled account, store failures, and finally a good login, whose
// response it returns.
func loginSteps(tr *transcript, st *faultStore, path string, fields url.Values) (*http.Response, string) {
	login := func(step, user, password string) (*http.Response, string) {
		fields.Set("username", user)
		fields.Set("password", password)
		return tr.post(step, path, fields)
	}
	login("disabled account", "bob", "bob password")
	st.fail["RecordFailedLogin"] = true // the attempt's reservation
	login("lockout cannot be recorded", "alice", alicePass)
	st.fail["CreateSession"] = true
	login("session cannot be stored", "alice", alicePass)
	return login("login", "alice", alicePass)
}

// newTranscriptFixture is a fixture whose store fails on demand, and a
// transcript of a browser on it.
func newTranscriptFixture(t *testing.T) (*fixture, *faultStore, *transcript) {
	var st *faultStore
	f := newFixture(t, func(c *authserver.Config) {
		st = &faultStore{Store: c.Store, fail: map[string]bool{}}
		c.Store = st
	})
	return f, st, f.transcript(t)
}

// TestAuthorizeInteractionTranscript pins every answer of the authorization
// endpoint's login and consent pages, byte for byte: pages, statuses,
// headers, cookies (names, paths, attributes) and redirects.
func TestAuthorizeInteractionTranscript(t *testing.T) {
	f, st, tr := newTranscriptFixture(t)
	_, page := tr.get("login page", authURL(f, webRequest()))
	fields := formFields(t, page)
	lockSteps(tr, authserver.PathAuthorize, fields)
	f.clock.Advance(901 * time.Second)
	resp, _ := loginSteps(tr, st, authserver.PathAuthorize, fields)
	_, page = tr.get("after login", resp.Header.Get("Location"))
	consent := formFields(t, page)
	consent.Set("decision", "deny")
	tr.post("deny", authserver.PathAuthorize, consent)
	consent.Set("decision", "allow")
	st.fail["SaveConsent"] = true
	tr.post("consent cannot be stored", authserver.PathAuthorize, consent)
	tr.post("allow", authserver.PathAuthorize, consent)

	noCSRF := url.Values{}
	for k, v := range consent {
		noCSRF[k] = v
	}
	noCSRF.Del("csrf_token")
	tr.post("form without CSRF token", authserver.PathAuthorize, noCSRF)
	consent.Set("authops_action", "other")
	tr.post("unknown action", authserver.PathAuthorize, consent)

	tr.client = tr.newClient()
	_, page = tr.get("login page, new browser", authURL(f, webRequest()))
	fields = formFields(t, page)
	fields.Set("authops_action", "consent")
	fields.Set("decision", "allow")
	tr.post("consent without a session", authserver.PathAuthorize, fields)
	tr.check("authorize.txt")
}

// TestDeviceInteractionTranscript pins every answer of the device
// verification page, byte for byte, like
// TestAuthorizeInteractionTranscript.
func TestDeviceInteractionTranscript(t *testing.T) {
	f, st, tr := newTranscriptFixture(t)
	d := f.startDevice(tvClient, "openid api.read")
	tr.names[d.UserCode] = "<usercode1>"
	_, page := tr.get("code page", d.VerificationURIComplete)
	fields := formFields(t, page)
	fields.Set("user_code", d.UserCode)
	st.fail["GetDeviceAuthByUserCode"] = true
	tr.post("code cannot be read", authserver.PathDevice, fields)
	_, page = tr.post("code", authserver.PathDevice, fields)
	lockSteps(tr, authserver.PathDevice, formFields(t, page))
	f.clock.Advance(901 * time.Second) // the lock and the device code expire
	tr.post("expired code", authserver.PathDevice, fields)

	d = f.startDevice(tvClient, "openid api.read")
	tr.names[d.UserCode] = "<usercode4>"
	fields.Set("user_code", d.UserCode)
	_, page = tr.post("new code", authserver.PathDevice, fields)
	_, page = loginSteps(tr, st, authserver.PathDevice, formFields(t, page))
	consent := formFields(t, page)
	consent.Set("decision", "allow")
	st.fail["ApproveDeviceAuth"] = true
	tr.post("approval cannot be stored", authserver.PathDevice, consent)
	tr.post("allow", authserver.PathDevice, consent)

	d2 := f.startDevice(tvClient, "")
	tr.names[d2.UserCode] = "<usercode2>"
	fields.Set("user_code", d2.UserCode)
	_, page = tr.post("code with a session", authserver.PathDevice, fields)
	consent = formFields(t, page)
	consent.Set("decision", "deny")
	tr.post("deny", authserver.PathDevice, consent)
	consent.Del("csrf_token")
	tr.post("form without CSRF token", authserver.PathDevice, consent)

	d3 := f.startDevice(tvClient, "")
	tr.names[d3.UserCode] = "<usercode3>"
	tr.client = tr.newClient()
	_, page = tr.get("code page, new browser", f.issuer+authserver.PathDevice)
	fields = formFields(t, page)
	fields.Set("user_code", d3.UserCode)
	fields.Set("authops_action", "consent")
	fields.Set("decision", "allow")
	tr.post("consent without a session", authserver.PathDevice, fields)
	tr.check("device.txt")
}
