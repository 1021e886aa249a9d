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
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/ratelimit"
)

// from returns an http.Client whose connections come from the loopback
// address ip (Linux routes all of 127.0.0.0/8 to lo), a second source.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func postFrom(t *testing.T, c *http.Client, u string, form url.Values, user, pass string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func expectTooMany(t *testing.T, resp *http.Response, retryAfter string) {
	t.Helper()
	if got := resp.Header.Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After %q, want %q", got, retryAfter)
	}
	expectError(t, resp, http.StatusTooManyRequests, oautherr.TooManyRequests)
}

// TestClientAuthThrottledPerSource: 20 wrong secrets of one client from one
// source, then that source gets 429 too_many_requests with Retry-After,
// even with the right secret; the same client from another source keeps
// getting tokens; after Retry-After the first source works again.
func TestClientAuthThrottledPerSource(t *testing.T) {
	f := newFixture(t)
	attacker, legit := from("127.0.0.2"), from("127.0.0.1")
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {ccSecret}}
	bad := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {"guess"}}
	for i := range authserver.DefaultLimits.ClientAuth.Burst {
		if resp := postFrom(t, attacker, f.issuer+authserver.PathToken, bad, "", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	expectTooMany(t, postFrom(t, attacker, f.issuer+authserver.PathToken, good, "", ""), "3")
	// The same over Basic, and at the other endpoints that authenticate.
	expectTooMany(t, postFrom(t, attacker, f.issuer+authserver.PathIntrospect, url.Values{"token": {"x"}}, "cc", ccSecret), "3")
	for range 5 {
		resp := postFrom(t, legit, f.issuer+authserver.PathToken, good, "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the client from its own source: %d %v", resp.StatusCode, errorBody(t, resp))
		}
		resp.Body.Close()
	}
	// Another client from the attacker's source is not limited either.
	resp := postFrom(t, attacker, f.issuer+authserver.PathToken,
		url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}}, "pw", pwSecret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("another client from the limited source: %d %v", resp.StatusCode, errorBody(t, resp))
	}
	resp.Body.Close()
	f.clock.Advance(3 * time.Second)
	if resp := postFrom(t, attacker, f.issuer+authserver.PathToken, good, "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("after Retry-After: %d", resp.StatusCode)
	}
}

// TestLoginThrottledPerSource: wrong passwords for one username from one
// source get 429 after the burst (before the password is checked), an
// unknown username is locked and limited like a known one, and the account
// from another source logs in.
func TestLoginThrottledPerSource(t *testing.T) {
	f := newFixture(t)
	attacker, legit := from("127.0.0.3"), from("127.0.0.1")
	try := func(c *http.Client, user, pass string) *http.Response {
		return postFrom(t, c, f.issuer+authserver.PathToken,
			url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}}, "pw", pwSecret)
	}
	// An unknown username is locked like an account (3 failures), so the
	// lockout does not tell which names exist; then the limit.
	for i := range authserver.DefaultLimits.Login.Burst {
		if i < 2 {
			expectError(t, try(attacker, "mallory", "guess"), http.StatusBadRequest, oautherr.InvalidGrant)
		} else {
			expectError(t, try(attacker, "mallory", "guess"), http.StatusUnauthorized, oautherr.AccountLocked)
		}
	}
	expectTooMany(t, try(attacker, "mallory", "guess"), "6")
	// A known account: the lockout (3 failures) answers first, then the limit.
	for range authserver.DefaultLimits.Login.Burst {
		resp := try(attacker, "carol", "guess")
		resp.Body.Close()
	}
	expectTooMany(t, try(attacker, "carol", "guess"), "6")
	resp := try(legit, "alice", alicePass)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alice from her own source: %d %v", resp.StatusCode, errorBody(t, resp))
	}
	resp.Body.Close()
}

// TestFloodOfRandomClientIDs is the measurement: 10,000 token
// requests with random client IDs (and random secrets) from random
// sources, interleaved with a legitimate client's requests. The limiter
// never remembers more than its capacity, and the legitimate client's
// success rate is the same as without the flood (100%).
func TestFloodOfRandomClientIDs(t *testing.T) {
	const capacity = 1024
	fx := newFixture(t)
	// A server of its own on the fixture's snapshot and store, with a small
	// capacity so that the flood overflows it.
	srv, err := authserver.New(authserver.Config{Issuer: fx.issuer, Registry: fx.holder, Store: fx.store, Clock: fx.clock,
		Log:    slog.New(slog.DiscardHandler),
		Limits: authserver.Limits{ClientAuth: ratelimit.Config{Burst: 20, Interval: 3 * time.Second, Capacity: capacity}}})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	serve := func(form url.Values, remote string) int {
		req := httptest.NewRequest(http.MethodPost, fx.issuer+authserver.PathToken, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(context.Background()))
		return rec.Code
	}
	legit := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {ccSecret}}
	legitRate := func(flood func(i int)) float64 {
		ok := 0
		const n = 200
		for i := range n {
			if flood != nil {
				for j := range 50 {
					flood(i*50 + j)
				}
			}
			if serve(legit, "198.51.100.7:40000") == http.StatusOK {
				ok++
			}
		}
		return float64(ok) / n
	}
	randomSource := func() string {
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<24))
		v := n.Int64()
		return fmt.Sprintf("10.%d.%d.%d:1234", v>>16, v>>8&0xff, v&0xff)
	}
	randomID := func() string {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	before := legitRate(nil)
	statuses := map[int]int{}
	// 10,000 requests: random client IDs from random sources, then from one
	// source, then guesses of a real client's secret from random sources.
	during := legitRate(func(i int) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {randomID()}, "client_secret": {randomID()}}
		src := randomSource()
		switch {
		case i%4 == 1:
			src = "203.0.113.1:5555"
		case i%4 == 2:
			form.Set("client_id", "cc")
		}
		statuses[serve(form, src)]++
	})
	ca, _, _ := srv.LimiterKeys()
	promReg := prometheus.NewRegistry()
	authserver.RegisterLimiterMetrics(promReg, srv)
	if n, err := testutil.GatherAndCount(promReg, "authops_authserver_throttle_keys"); err != nil || n != 3 {
		t.Errorf("throttle metrics: %d series, %v", n, err)
	}
	t.Logf("legitimate success rate %.3f before, %.3f during the flood; flood statuses %v; client limiter keys %d (capacity %d, about %d KiB at most)",
		before, during, statuses, ca, capacity, capacity*ratelimit.EntryBytes/1024)
	if before != 1 || during != before {
		t.Errorf("legitimate success rate %.3f during the flood, %.3f before", during, before)
	}
	if ca > capacity {
		t.Errorf("the limiter remembers %d keys, more than its capacity %d", ca, capacity)
	}
	if statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != 10_000 {
		t.Errorf("flood statuses %v: want only 401 and 429", statuses)
	}
	if statuses[http.StatusTooManyRequests] < 2000 {
		t.Errorf("the single flooding source was not limited: %v", statuses)
	}
}
