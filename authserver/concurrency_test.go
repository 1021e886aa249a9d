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
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/store"
)

// gate holds expensive checks (password, secret, user code) while a burst
// of requests arrives, so that a test sees every request of the burst
// either answered or inside its check at one moment.
type gate struct {
	held    atomic.Int64
	release chan struct{}
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

// hold counts a check and waits until the burst has arrived.
func (g *gate) hold() {
	g.held.Add(1)
	<-g.release
}

// burst sends n requests at once (send returns the status). When every
// one of them is answered or held in its check, during runs; then the
// checks go on. It returns the statuses.
func (g *gate) burst(t *testing.T, n int, send func(i int) int, during func()) map[int]int {
	t.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		answered int
		statuses = map[int]int{}
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := send(i)
			mu.Lock()
			answered++
			statuses[s]++
			mu.Unlock()
		}()
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		arrived := answered + int(g.held.Load())
		mu.Unlock()
		if arrived == n {
			break
		}
		if time.Now().After(deadline) {
			close(g.release)
			wg.Wait()
			t.Fatalf("the burst did not arrive: %d of %d", arrived, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	func() {
		defer close(g.release) // also when during fails the test
		during()
	}()
	wg.Wait()
	return statuses
}

func status(resp *http.Response, err error) int {
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

func postForm(c *http.Client, u string, form url.Values, basicUser, basicPass string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	return c.Do(req)
}

// TestConcurrentWrongPasswords is the measurement: 60 wrong
// passwords for alice at once from one source (lockout at 3 failures,
// Login burst 10) cause at most 3 password verifications, lock the
// account, and the right password, sent while the wrong ones are being
// checked and after them, is refused.
func TestConcurrentWrongPasswords(t *testing.T) {
	f := newFixture(t)
	g := newGate()
	var verified atomic.Int64
	authserver.HookPasswordCompare(f.server, func(password []byte, next func() error) error {
		if string(password) != alicePass {
			verified.Add(1)
			g.hold()
		}
		return next()
	})
	attacker, legit := from("127.0.0.4"), from("127.0.0.5")
	try := func(c *http.Client, pass string) (*http.Response, error) {
		return postForm(c, f.issuer+authserver.PathToken,
			url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pass}}, "pw", pwSecret)
	}
	const n, maxAttempts = 60, 3
	statuses := g.burst(t, n, func(i int) int { return status(try(attacker, fmt.Sprintf("guess %d", i))) }, func() {
		resp, err := try(legit, alicePass)
		if err != nil {
			t.Fatal(err)
		}
		expectError(t, resp, http.StatusUnauthorized, oautherr.AccountLocked)
	})
	t.Logf("%d concurrent wrong passwords: statuses %v, %d verifications", n, statuses, verified.Load())
	if v := verified.Load(); v > maxAttempts {
		t.Errorf("%d wrong passwords at once caused %d password verifications, want at most %d (the lockout)", n, v, maxAttempts)
	}
	if lo, err := f.store.GetLockout(context.Background(), "team/alice"); err != nil || !lo.LockedAt(f.clock.Now()) {
		t.Errorf("alice after the burst: %+v, %v; want locked", lo, err)
	}
	resp, err := try(legit, alicePass)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, resp, http.StatusUnauthorized, oautherr.AccountLocked)
	resp, err = try(attacker, alicePass)
	if err != nil {
		t.Fatal(err)
	}
	expectTooMany(t, resp, "6")
}

// TestConcurrentWrongClientSecrets: 60 wrong secrets of one client at once
// from one source cause at most 20 (the ClientAuth burst) secret checks,
// and the right secret sent meanwhile from that source gets 429.
func TestConcurrentWrongClientSecrets(t *testing.T) {
	f := newFixture(t)
	g := newGate()
	var checked atomic.Int64
	authserver.HookClientCredentials(f.server, func(secret string, next func() bool) bool {
		if secret != ccSecret {
			checked.Add(1)
			g.hold()
		}
		return next()
	})
	attacker := from("127.0.0.6")
	try := func(secret string) (*http.Response, error) {
		return postForm(attacker, f.issuer+authserver.PathToken,
			url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {secret}}, "", "")
	}
	const n = 60
	burst := authserver.DefaultLimits.ClientAuth.Burst
	statuses := g.burst(t, n, func(i int) int { return status(try(fmt.Sprintf("guess %d", i))) }, func() {
		resp, err := try(ccSecret)
		if err != nil {
			t.Fatal(err)
		}
		expectTooMany(t, resp, "3")
	})
	t.Logf("%d concurrent wrong secrets: statuses %v, %d checks", n, statuses, checked.Load())
	if c := checked.Load(); c > int64(burst) {
		t.Errorf("%d wrong secrets at once caused %d secret checks, want at most %d (the burst)", n, c, burst)
	}
	if statuses[http.StatusUnauthorized] > burst || statuses[http.StatusTooManyRequests] < n-burst {
		t.Errorf("statuses %v, want at most %d 401 and the rest 429", statuses, burst)
	}
}

// holdingStore holds look-ups of user codes other than pass in a gate and
// counts them.
type holdingStore struct {
	store.Store
	g      *gate
	pass   atomic.Value // string: the code not held
	looked atomic.Int64
}

func (s *holdingStore) GetDeviceAuthByUserCode(ctx context.Context, code string) (store.DeviceAuth, error) {
	if p, _ := s.pass.Load().(string); code != p {
		s.looked.Add(1)
		s.g.hold()
	}
	return s.Store.GetDeviceAuthByUserCode(ctx, code)
}

// TestConcurrentWrongUserCodes: 60 wrong user codes at once from one
// source cause at most 10 (the UserCode burst) look-ups, and the right
// code sent meanwhile from that source gets 429.
func TestConcurrentWrongUserCodes(t *testing.T) {
	hs := &holdingStore{g: newGate()}
	f := newFixture(t, func(c *authserver.Config) {
		hs.Store = c.Store
		c.Store = hs
	})
	d := f.startDevice(tvClient, "")
	hs.pass.Store(strings.ReplaceAll(d.UserCode, "-", ""))
	b := f.browser()
	_, page := b.get(f.issuer + authserver.PathDevice)
	fields := formFields(t, page)
	try := func(code string) (*http.Response, error) {
		v := url.Values{}
		for k, vs := range fields {
			v[k] = vs
		}
		v.Set("user_code", code)
		req, _ := http.NewRequest(http.MethodPost, f.issuer+authserver.PathDevice, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", f.issuer)
		return b.client.Do(req)
	}
	const n = 60
	burst := authserver.DefaultLimits.UserCode.Burst
	statuses := hs.g.burst(t, n, func(int) int { return status(try("BBBB-BBBB")) }, func() {
		if s := status(try(d.UserCode)); s != http.StatusTooManyRequests {
			t.Errorf("the right code during the burst: %d, want 429", s)
		}
	})
	t.Logf("%d concurrent wrong codes: statuses %v, %d look-ups", n, statuses, hs.looked.Load())
	if l := hs.looked.Load(); l > int64(burst) {
		t.Errorf("%d wrong codes at once caused %d look-ups, want at most %d (the burst)", n, l, burst)
	}
	if s := status(try(d.UserCode)); s != http.StatusTooManyRequests {
		t.Errorf("the right code after the burst: %d, want 429", s)
	}
}

// TestBasicClientIDThrottledDecoded: a client ID sent %-encoded in HTTP
// Basic (RFC 6749 §2.3.1) counts towards the same limit as the plain one.
func TestBasicClientIDThrottledDecoded(t *testing.T) {
	f := newFixture(t)
	attacker := from("127.0.0.7")
	for i := range authserver.DefaultLimits.ClientAuth.Burst {
		req, _ := http.NewRequest(http.MethodPost, f.issuer+authserver.PathToken,
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("%63c", "guess") // "cc", encoded
		if s := status(attacker.Do(req)); s != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, s)
		}
	}
	resp, err := postForm(attacker, f.issuer+authserver.PathToken,
		url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {ccSecret}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	expectTooMany(t, resp, "3")
}

// countingStore counts the store calls of password checking.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	calls map[string]int
}

func (s *countingStore) count(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[name]++
}

func (s *countingStore) take() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = map[string]int{}
	return c
}

func (s *countingStore) RecordFailedLogin(ctx context.Context, accountID string, p store.LockoutPolicy) (store.Lockout, error) {
	s.count("RecordFailedLogin")
	return s.Store.RecordFailedLogin(ctx, accountID, p)
}

func (s *countingStore) GetLockout(ctx context.Context, accountID string) (store.Lockout, error) {
	s.count("GetLockout")
	return s.Store.GetLockout(ctx, accountID)
}

func (s *countingStore) ClearFailedLogins(ctx context.Context, accountID string, failures int) (bool, error) {
	s.count("ClearFailedLogins")
	return s.Store.ClearFailedLogins(ctx, accountID, failures)
}

func (s *countingStore) ResetFailedLogins(ctx context.Context, accountID string) error {
	s.count("ResetFailedLogins")
	return s.Store.ResetFailedLogins(ctx, accountID)
}

// TestUnknownUsernameLockedLikeKnown: wrong passwords for an existing
// username and for an unknown one get byte-identical answers, attempt by
// attempt, through the lockout (account_locked, and on the login page
// "blocked until …"), after the same work: the same password
// verifications and the same store calls.
func TestUnknownUsernameLockedLikeKnown(t *testing.T) {
	cs := &countingStore{calls: map[string]int{}}
	f := newFixture(t, func(c *authserver.Config) {
		cs.Store = c.Store
		c.Store = cs
	})
	var verified atomic.Int64
	authserver.HookPasswordCompare(f.server, func(_ []byte, next func() error) error {
		verified.Add(1)
		return next()
	})
	type answer struct {
		status int
		body   string
		calls  map[string]int
		hashes int64
	}
	measure := func(send func() *http.Response) answer {
		cs.take()
		v := verified.Load()
		resp := send()
		body := readAll(t, resp)
		return answer{resp.StatusCode, body, cs.take(), verified.Load() - v}
	}
	compare := func(what string, user func(name string, attempt int) *http.Response) {
		for i := range 5 {
			known := measure(func() *http.Response { return user("alice", i) })
			unknown := measure(func() *http.Response { return user("nobody", i) })
			if fmt.Sprint(known) != fmt.Sprint(unknown) {
				t.Errorf("%s, wrong password %d:\nexisting username: %+v\nunknown username:  %+v", what, i+1, known, unknown)
			}
			if i == 4 && known.status != http.StatusUnauthorized {
				t.Errorf("%s, wrong password %d: %d, want 401 account_locked", what, i+1, known.status)
			}
		}
	}
	compare("password grant", func(name string, _ int) *http.Response {
		return f.post(authserver.PathToken, url.Values{"grant_type": {"password"}, "username": {name}, "password": {"wrong"}}, "pw", pwSecret)
	})
	f.clock.Advance(901 * time.Second) // the locks end
	b := f.browser()
	_, page := b.get(authURL(f, webRequest()))
	fields := formFields(t, page)
	fields.Set("password", "wrong")
	compare("login page", func(name string, _ int) *http.Response {
		fields.Set("username", name)
		req, _ := http.NewRequest(http.MethodPost, f.issuer+authserver.PathAuthorize, strings.NewReader(fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", f.issuer)
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	})
}
