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
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/store/storetest"
)

type deviceResp struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// deviceClient is how a test client authenticates.
type deviceClient struct {
	id   string
	auth url.Values // extra body parameters (client_id, client_secret)
}

var (
	tvClient    = deviceClient{id: "tv", auth: url.Values{"client_id": {"tv"}}}
	tvRFCClient = deviceClient{id: "tv-rfc", auth: url.Values{"client_id": {"tv-rfc"}, "client_secret": {pwSecret}}}
)

func (f *fixture) startDevice(c deviceClient, scope string) deviceResp {
	f.t.Helper()
	form := url.Values{}
	for k, v := range c.auth {
		form[k] = v
	}
	if scope != "" {
		form.Set("scope", scope)
	}
	resp := f.post(authserver.PathDeviceAuthorization, form, "", "")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		f.t.Fatalf("device authorization: %s: %s", resp.Status, b)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		f.t.Errorf("device authorization response is cacheable")
	}
	var d deviceResp
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) poll(c deviceClient, deviceCode string) *http.Response {
	f.t.Helper()
	form := url.Values{"grant_type": {authserver.DeviceCodeGrantType}, "device_code": {deviceCode}}
	for k, v := range c.auth {
		form[k] = v
	}
	return f.post(authserver.PathToken, form, "", "")
}

var userCodeRe = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func TestDeviceAuthorizationResponse(t *testing.T) {
	f := newFixture(t)
	d := f.startDevice(tvClient, "openid api.read")
	if len(d.DeviceCode) < 43 {
		t.Errorf("device_code %d characters, want at least 43 (256 bits)", len(d.DeviceCode))
	}
	if !userCodeRe.MatchString(d.UserCode) {
		t.Errorf("user_code = %q, want XXXX-XXXX from the consonant alphabet", d.UserCode)
	}
	if d.VerificationURI != f.issuer+"/device" {
		t.Errorf("verification_uri = %q", d.VerificationURI)
	}
	if d.VerificationURIComplete != f.issuer+"/device?user_code="+d.UserCode {
		t.Errorf("verification_uri_complete = %q", d.VerificationURIComplete)
	}
	if d.ExpiresIn != 600 || d.Interval != 1 {
		t.Errorf("expires_in, interval = %d, %d; want the policy's 600, 1", d.ExpiresIn, d.Interval)
	}
	if d2 := f.startDevice(tvClient, ""); d2.DeviceCode == d.DeviceCode || d2.UserCode == d.UserCode {
		t.Error("two device authorizations share a code")
	}

	for _, tc := range []struct {
		name   string
		form   url.Values
		basic  [2]string
		status int
		code   oautherr.Code
	}{
		{"unknown client", url.Values{"client_id": {"nope"}}, [2]string{}, 401, oautherr.InvalidClient},
		{"wrong secret", url.Values{"client_id": {"tv-rfc"}, "client_secret": {"wrong"}}, [2]string{}, 401, oautherr.InvalidClient},
		{"grant type not allowed", url.Values{}, [2]string{"web", webSecret}, 400, oautherr.UnauthorizedClient},
		{"scope not allowed", url.Values{"client_id": {"tv"}, "scope": {"admin"}}, [2]string{}, 400, oautherr.InvalidScope},
		{"disabled client", url.Values{"client_id": {"off"}, "client_secret": {ccSecret}}, [2]string{}, 401, oautherr.InvalidClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, f.post(authserver.PathDeviceAuthorization, tc.form, tc.basic[0], tc.basic[1]), tc.status, tc.code)
		})
	}
}

// TestDevicePollingErrors drives every polling outcome in both profiles with
// the fake clock (RFC 8628 §3.5).
func TestDevicePollingErrors(t *testing.T) {
	type want struct {
		status int
		code   oautherr.Code
	}
	for _, tc := range []struct {
		name   string
		client deviceClient
		// The tv policy polls every 1s, tv-rfc every 5s.
		interval                                     time.Duration
		pending, slowDown, expired, denied, disabled want
	}{
		{name: "Extended", client: tvClient, interval: time.Second,
			pending: want{401, oautherr.AuthorizationPending}, slowDown: want{401, oautherr.SlowDown},
			expired: want{401, oautherr.AuthorizationExpired}, denied: want{400, oautherr.AccessDenied},
			disabled: want{401, oautherr.AccountDisabled}},
		{name: "RFC", client: tvRFCClient, interval: 5 * time.Second,
			pending: want{400, oautherr.AuthorizationPending}, slowDown: want{400, oautherr.SlowDown},
			expired: want{400, oautherr.ExpiredToken}, denied: want{400, oautherr.AccessDenied},
			disabled: want{400, oautherr.InvalidGrant}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			d := f.startDevice(tc.client, "")
			userCode := strings.ReplaceAll(d.UserCode, "-", "")

			expectError(t, f.poll(tc.client, d.DeviceCode), tc.pending.status, tc.pending.code)
			// golang.org/x/oauth2's immediate re-send in the other client
			// authentication style: pending, not slow_down. (tv-rfc, a
			// client_secret_post client, cannot authenticate in the other
			// style: its re-sends never reach the poll.)
			if tc.client.id == "tv" {
				f.clock.Advance(50 * time.Millisecond)
				expectError(t, f.post(authserver.PathToken, url.Values{"grant_type": {authserver.DeviceCodeGrantType},
					"device_code": {d.DeviceCode}}, "tv", ""), tc.pending.status, tc.pending.code)
			}
			// Too early after the grace: slow_down, and the interval grows by 5s.
			f.clock.Advance(700 * time.Millisecond)
			expectError(t, f.poll(tc.client, d.DeviceCode), tc.slowDown.status, tc.slowDown.code)
			f.clock.Advance(tc.interval + 4*time.Second) // the old interval plus 4s: still too early
			expectError(t, f.poll(tc.client, d.DeviceCode), tc.slowDown.status, tc.slowDown.code)
			f.clock.Advance(tc.interval + 10*time.Second) // grown twice by 5s
			expectError(t, f.poll(tc.client, d.DeviceCode), tc.pending.status, tc.pending.code)

			// Another client's device code, a made-up one, none at all.
			other := tvRFCClient
			if tc.client.id == "tv-rfc" {
				other = tvClient
			}
			expectError(t, f.poll(other, d.DeviceCode), 400, oautherr.InvalidGrant)
			expectError(t, f.poll(tc.client, "made-up"), 400, oautherr.InvalidGrant)
			expectError(t, f.poll(tc.client, ""), 400, oautherr.InvalidRequest)

			// Denied.
			dn := f.startDevice(tc.client, "")
			if _, err := f.store.DenyDeviceAuth(ctx, strings.ReplaceAll(dn.UserCode, "-", "")); err != nil {
				t.Fatal(err)
			}
			expectError(t, f.poll(tc.client, dn.DeviceCode), tc.denied.status, tc.denied.code)

			// Approved: tokens once, then invalid_grant.
			if _, err := f.store.ApproveDeviceAuth(ctx, userCode, "team/alice", "", f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Minute)
			resp := f.poll(tc.client, d.DeviceCode)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"access_token"`) {
				t.Fatalf("approved poll: %d %s", resp.StatusCode, body)
			}
			f.clock.Advance(time.Minute)
			expectError(t, f.poll(tc.client, d.DeviceCode), 400, oautherr.InvalidGrant)

			// Approved by an account that was disabled before the device polled.
			db := f.startDevice(tc.client, "")
			if _, err := f.store.ApproveDeviceAuth(ctx, strings.ReplaceAll(db.UserCode, "-", ""), "team/bob", "", f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			expectError(t, f.poll(tc.client, db.DeviceCode), tc.disabled.status, tc.disabled.code)

			// Expired.
			ex := f.startDevice(tc.client, "")
			f.clock.Advance(601 * time.Second)
			expectError(t, f.poll(tc.client, ex.DeviceCode), tc.expired.status, tc.expired.code)
		})
	}
}

// TestDevicePollRace: of concurrent polls of one device code, one passes
// the interval check; with an approval, exactly one gets tokens.
func TestDevicePollRace(t *testing.T) {
	f := newFixture(t)
	d := f.startDevice(tvClient, "")
	if _, err := f.store.ApproveDeviceAuth(context.Background(), strings.ReplaceAll(d.UserCode, "-", ""), "team/alice", "", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens int
	)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := f.poll(tvClient, d.DeviceCode)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				mu.Lock()
				tokens++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if tokens != 1 {
		t.Fatalf("%d concurrent polls got tokens, want exactly 1", tokens)
	}
}

// TestDeviceVerificationPage walks the page as a browser would: a code in
// lower case without the dash, the login, the consent, approval; and the
// CSRF and rate-limit defences.
func TestDeviceVerificationPage(t *testing.T) {
	f := newFixture(t)
	d := f.startDevice(tvClient, "openid api.read")
	b := f.browser()

	resp, page := b.get(d.VerificationURIComplete)
	if resp.StatusCode != 200 || !strings.Contains(page, `value="`+d.UserCode+`"`) {
		t.Fatalf("verification page: %d\n%s", resp.StatusCode, page)
	}
	if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("verification page lacks the page headers")
	}
	fields := formFields(t, page)
	fields.Set("user_code", strings.ToLower(strings.ReplaceAll(d.UserCode, "-", " ")))
	resp, page = b.submitTo(authserver.PathDevice, fields)
	if resp.StatusCode != 200 || !strings.Contains(page, "Living Room TV") || formFields(t, page).Get("authops_action") != "login" {
		t.Fatalf("after the code: %d\n%s", resp.StatusCode, page)
	}
	fields = formFields(t, page)
	fields.Set("username", "alice")
	fields.Set("password", "wrong")
	resp, page = b.submitTo(authserver.PathDevice, fields)
	if resp.StatusCode != 400 || !strings.Contains(page, "Wrong username or password.") {
		t.Fatalf("wrong password: %d\n%s", resp.StatusCode, page)
	}
	fields.Set("password", alicePass)
	resp, page = b.submitTo(authserver.PathDevice, fields)
	if resp.StatusCode != 200 || !strings.Contains(page, "api.read") || !strings.Contains(page, d.UserCode) ||
		formFields(t, page).Get("authops_action") != "consent" {
		t.Fatalf("after login: %d\n%s", resp.StatusCode, page)
	}
	fields = formFields(t, page)
	fields.Set("decision", "allow")
	resp, page = b.submitTo(authserver.PathDevice, fields)
	if resp.StatusCode != 200 || !strings.Contains(page, "Device connected") {
		t.Fatalf("after allow: %d\n%s", resp.StatusCode, page)
	}
	f.clock.Advance(time.Second)
	if resp := f.poll(tvClient, d.DeviceCode); resp.StatusCode != 200 {
		t.Fatalf("poll after approval: %d %s", resp.StatusCode, readAll(t, resp))
	}
	// The same code again: already decided.
	fields.Set("authops_action", "code")
	if resp, page = b.submitTo(authserver.PathDevice, fields); resp.StatusCode != 400 || !strings.Contains(page, "not valid") {
		t.Fatalf("reused code: %d\n%s", resp.StatusCode, page)
	}

	// A second device: the session is remembered, so the code leads straight to consent; deny.
	d2 := f.startDevice(tvClient, "")
	_, page = b.get(f.issuer + authserver.PathDevice)
	fields = formFields(t, page)
	fields.Set("user_code", d2.UserCode)
	if resp, page = b.submitTo(authserver.PathDevice, fields); formFields(t, page).Get("authops_action") != "consent" {
		t.Fatalf("with a session: %d\n%s", resp.StatusCode, page)
	}
	fields = formFields(t, page)
	fields.Set("decision", "deny")
	if resp, page = b.submitTo(authserver.PathDevice, fields); !strings.Contains(page, "Access denied") {
		t.Fatalf("after deny: %d\n%s", resp.StatusCode, page)
	}
	expectError(t, f.poll(tvClient, d2.DeviceCode), 400, oautherr.AccessDenied)

	// A form without the CSRF token is refused.
	fields.Del("csrf_token")
	if resp, _ = b.submitTo(authserver.PathDevice, fields); resp.StatusCode != 400 {
		t.Errorf("form without CSRF token: %d", resp.StatusCode)
	}

	// Wrong codes are limited per source: after 10 (one above, the reused
	// code) the right one is refused too, for a minute.
	d3 := f.startDevice(tvClient, "")
	_, page = b.get(f.issuer + authserver.PathDevice)
	fields = formFields(t, page)
	for i := range 9 {
		fields.Set("user_code", "BBBB-BBB"+string("BCDFGHJKLM"[i]))
		if resp, _ = b.submitTo(authserver.PathDevice, fields); resp.StatusCode != 400 {
			t.Fatalf("wrong code %d: %d", i, resp.StatusCode)
		}
	}
	fields.Set("user_code", d3.UserCode)
	if resp, page = b.submitTo(authserver.PathDevice, fields); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "Too many") {
		t.Fatalf("after 10 wrong codes: %d\n%s", resp.StatusCode, page)
	}
	f.clock.Advance(time.Minute)
	if resp, page = b.submitTo(authserver.PathDevice, fields); resp.StatusCode != 200 {
		t.Fatalf("a minute later: %d\n%s", resp.StatusCode, page)
	}
}

func (b *browser) submitTo(path string, fields url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.f.issuer+path, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.f.issuer)
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, readAll(b.t, resp)
}

// wallClock follows real time from a start point (for real clients that
// sleep between requests).
type wallClock struct {
	base, start time.Time
}

func (c wallClock) Now() time.Time { return c.base.Add(time.Since(c.start)) }

// recorder records the error code of every token response.
type recorder struct {
	mu    sync.Mutex
	codes []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || resp.StatusCode == 200 {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	r.mu.Lock()
	r.codes = append(r.codes, e.Error)
	r.mu.Unlock()
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp, nil
}

// TestDeviceFlowOAuth2Client runs golang.org/x/oauth2's DeviceAuth and
// DeviceAccessToken against the server (interval 1s, real time) while a
// person approves on the verification page. The client's automatic
// auth-style probing re-sends every pending poll at once; none of that may
// earn a slow_down.
func TestDeviceFlowOAuth2Client(t *testing.T) {
	clock := wallClock{base: storetest.Epoch, start: time.Now()}
	var st store.Store
	f := newFixture(t, func(c *authserver.Config) {
		var err error
		st, err = store.OpenSQLite(context.Background(), ":memory:", store.WithClock(clock), store.WithPollLeeway(authserver.PollLeeway))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		c.Clock, c.Store = clock, st
	})
	rec := &recorder{}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rec})
	conf := &oauth2.Config{ClientID: "tv", Scopes: []string{"openid", "api.read"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: f.issuer + authserver.PathDeviceAuthorization, TokenURL: f.issuer + authserver.PathToken}}
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da.Interval != 1 || da.VerificationURI != f.issuer+"/device" {
		t.Fatalf("device auth response: %+v", da)
	}
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := conf.DeviceAccessToken(ctx, da)
		done <- result{tok, err}
	}()
	time.Sleep(2500 * time.Millisecond) // a few pending polls first

	b := f.browser()
	_, page := b.get(da.VerificationURIComplete)
	fields := formFields(t, page)
	fields.Set("user_code", da.UserCode)
	_, page = b.submitTo(authserver.PathDevice, fields)
	fields = formFields(t, page)
	fields.Set("username", "alice")
	fields.Set("password", alicePass)
	_, page = b.submitTo(authserver.PathDevice, fields)
	fields = formFields(t, page)
	fields.Set("decision", "allow")
	if _, page = b.submitTo(authserver.PathDevice, fields); !strings.Contains(page, "Device connected") {
		t.Fatalf("approval failed:\n%s", page)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("DeviceAccessToken did not return")
	}
	if r.err != nil {
		t.Fatalf("DeviceAccessToken: %v", r.err)
	}
	if r.tok.AccessToken == "" || r.tok.RefreshToken == "" || r.tok.Extra("id_token") == nil {
		t.Errorf("token response lacks access, refresh or ID token: %+v", r.tok)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	pending := 0
	for _, c := range rec.codes {
		switch c {
		case "authorization_pending":
			pending++
		default:
			t.Errorf("the client got %s; want only authorization_pending before the tokens (all: %v)", c, rec.codes)
		}
	}
	if pending < 2 {
		t.Errorf("got %d pending answers, want at least 2 (codes %v)", pending, rec.codes)
	}
	// The refresh token works for this client.
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: r.tok.RefreshToken}).Token(); err != nil {
		t.Errorf("refresh: %v", err)
	}
}

// TestAccountDisabledAtRedemption: a refresh token or an authorization code
// of an account that was disabled since gets account_disabled.
func TestAccountDisabledAtRedemption(t *testing.T) {
	f := newFixture(t)
	pw := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}, "scope": {"openid"}}
	resp := f.post(authserver.PathToken, pw, "pw", pwSecret)
	var tok map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		t.Fatalf("password grant: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	b := f.browser()
	loc := b.authorize(f.issuer+authserver.PathAuthorize+"?"+url.Values{"client_id": {"web"}, "response_type": {"code"},
		"redirect_uri": {webRedir}, "scope": {"openid"}}.Encode(), "alice", alicePass)
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", loc)
	}
	f.edit(func(d *snapshot.Document) {
		if d.Account != nil && d.Account.Username == "alice" {
			d.Account.Disabled = true
		}
	})
	expectError(t, f.post(authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, "pw", pwSecret),
		401, oautherr.AccountDisabled)
	expectError(t, f.post(authserver.PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedir}}, "web", webSecret),
		401, oautherr.AccountDisabled)
	expectError(t, f.post(authserver.PathToken, pw, "pw", pwSecret), 401, oautherr.AccountDisabled)
}

// storingStore makes the device grant's refresh token fail to be stored on
// the next approved poll (a conflicting hash), and refuses
// CreateRefreshToken: the device grant must store its refresh token with the
// poll, in one transaction.
type storingStore struct {
	store.Store
	existing store.Hash // hash of a refresh token already stored
	fail     bool
}

func (s *storingStore) CreateRefreshToken(context.Context, store.RefreshToken) error {
	return errors.New("the device grant must not store its refresh token separately")
}

func (s *storingStore) PollDeviceAuth(ctx context.Context, h store.Hash, clientID string, p store.DevicePoll) (store.DeviceAuth, store.PollResult, error) {
	if s.fail && p.Issue != nil {
		s.fail = false
		issue := p.Issue
		p.Issue = func(d store.DeviceAuth) (*store.RefreshToken, error) {
			rt, err := issue(d)
			if rt != nil {
				conflicting := *rt
				conflicting.Hash = s.existing
				rt = &conflicting
			}
			return rt, err
		}
	}
	return s.Store.PollDeviceAuth(ctx, h, clientID, p)
}

// TestDeviceTokensAfterCommit: an approved poll whose refresh token cannot be
// stored gets no tokens and does not use up the approval; the next poll gets
// tokens whose refresh token was stored with the poll.
func TestDeviceTokensAfterCommit(t *testing.T) {
	var st *storingStore
	f := newFixture(t, func(c *authserver.Config) {
		st = &storingStore{Store: c.Store}
		c.Store = st
	})
	ctx := context.Background()
	existing := store.RefreshToken{Hash: store.HashToken("existing"), FamilyID: store.NewID(), ClientID: "tv",
		AccountID: "team/alice", ExpiresAt: f.clock.Now().Add(time.Hour)}
	if err := f.store.CreateRefreshToken(ctx, existing); err != nil {
		t.Fatal(err)
	}
	st.existing, st.fail = existing.Hash, true
	d := f.startDevice(tvClient, "openid")
	if _, err := f.store.ApproveDeviceAuth(ctx, strings.ReplaceAll(d.UserCode, "-", ""), "team/alice", "", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	expectError(t, f.poll(tvClient, d.DeviceCode), http.StatusInternalServerError, oautherr.ServerError)
	if st.fail {
		t.Fatal("the approved poll did not go through PollDeviceAuth with Issue")
	}
	// The failed poll did not count: no slow_down, and the approval is
	// still there.
	resp := f.poll(tvClient, d.DeviceCode)
	var tok map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("poll after the failed one: %d %v %v", resp.StatusCode, tok, err)
	}
	resp.Body.Close()
	raw, _ := tok["refresh_token"].(string)
	if raw == "" {
		t.Fatalf("no refresh token: %v", tok)
	}
	rt, err := f.store.GetRefreshToken(ctx, store.HashToken(raw))
	if err != nil || rt.ClientID != "tv" || rt.AccountID != "team/alice" {
		t.Fatalf("refresh token of the device grant: %+v, %v", rt, err)
	}
	f.clock.Advance(time.Minute)
	expectError(t, f.poll(tvClient, d.DeviceCode), 400, oautherr.InvalidGrant)
}

// TestDevicePollGraceOnlyForTheOtherStyle: the poll grace is for
// golang.org/x/oauth2's re-send in the other client authentication style
// (Basic header, then client_id in the body). Two polls at once in the same
// style are polling too fast: one of them gets slow_down. Polls at once in
// the two styles both get authorization_pending, once: a third poll within
// the grace gets slow_down.
func TestDevicePollGraceOnlyForTheOtherStyle(t *testing.T) {
	f := newFixture(t)
	inBody := func(d deviceResp) func() *http.Response {
		return func() *http.Response { return f.poll(tvClient, d.DeviceCode) }
	}
	inHeader := func(d deviceResp) func() *http.Response {
		return func() *http.Response {
			return f.post(authserver.PathToken, url.Values{"grant_type": {authserver.DeviceCodeGrantType}, "device_code": {d.DeviceCode}}, "tv", "")
		}
	}
	atOnce := func(polls ...func() *http.Response) []string {
		codes := make([]string, len(polls))
		var wg sync.WaitGroup
		for i, p := range polls {
			wg.Go(func() { codes[i] = errorBody(t, p())["error"] })
		}
		wg.Wait()
		slices.Sort(codes)
		return codes
	}

	d := f.startDevice(tvClient, "")
	if got := atOnce(inBody(d), inBody(d)); !slices.Equal(got, []string{"authorization_pending", "slow_down"}) {
		t.Errorf("two polls at once in the same style got %v, want one authorization_pending and one slow_down", got)
	}
	d = f.startDevice(tvClient, "")
	if got := atOnce(inBody(d), inHeader(d)); !slices.Equal(got, []string{"authorization_pending", "authorization_pending"}) {
		t.Errorf("two polls at once in the two styles got %v, want authorization_pending twice", got)
	}
	f.clock.Advance(100 * time.Millisecond)
	expectError(t, inHeader(d)(), 401, oautherr.SlowDown)
}
