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

// Package fault holds the fault tests of issue #9: the real authserver
// binary killed or cut off from its store or the API server under load,
// and what its clients hold afterwards. Every test is bounded in time.
package fault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/store/pgtest"
	"github.com/authops/authops/test/bench"
	"github.com/authops/authops/test/stack"
)

// TestMain resolves the authserver and manager binaries (building them
// when make has not) before any test starts, and stops the PostgreSQL
// server the tests start.
func TestMain(m *testing.M) { stack.Main(m, pgtest.Main) }

// server is one authserver process of a test.
type server struct {
	*stack.Server
	t    *testing.T
	base string // issuer
}

// snapshotDir writes the benchmark's snapshot (a key set, account
// bench/alice, client bench-web with authorization_code and refresh_token
// rotation) into a directory.
func snapshotDir(t *testing.T) string {
	t.Helper()
	docs, err := bench.Documents(0)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "snapshot")
	if err := bench.WriteSnapshotDir(dir, docs); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newServer prepares (does not start) an authserver on free loopback ports
// with the store at storeURL; o names where its snapshot comes from. It is
// stopped when the test ends, and its log shown if the test failed.
func newServer(t *testing.T, name, storeURL string, o stack.AuthserverOptions) *server {
	t.Helper()
	o.Name, o.Store, o.Log = name, storeURL, filepath.Join(t.TempDir(), name+".log")
	o.Args = append(o.Args, "--store-sweep-interval=1h")
	srv, err := stack.NewAuthserver(o)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Server: srv, t: t, base: srv.URL}
	t.Cleanup(func() {
		srv.Stop()
		if t.Failed() {
			t.Logf("%s log (last 3000 bytes):\n%s", name, srv.LogTail(3000))
		}
	})
	return s
}

// start starts the process and waits until /readyz answers 200.
func (s *server) start() {
	s.t.Helper()
	if err := s.Start(context.Background()); err != nil {
		s.t.Fatal(err)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.t.Helper()
	if err := s.Kill(); err != nil {
		s.t.Fatal(err)
	}
}

// ready returns the status of /readyz.
func (s *server) ready() int { return s.Ready() }

// reply is a token endpoint answer; transport is set when no answer came
// (connection refused or reset, timeout).
type reply struct {
	status    int
	errCode   string
	refresh   string
	transport error
	header    http.Header
}

var httpClient = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func tokenRequest(base string, form url.Values) reply {
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(bench.ClientWeb, bench.Secret)
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{transport: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{transport: err}
	}
	var m struct {
		Error        string `json:"error"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(b, &m)
	return reply{status: resp.StatusCode, errCode: m.Error, refresh: m.RefreshToken, header: resp.Header}
}

func refresh(base, tok string) reply {
	return tokenRequest(base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}})
}

func exchange(base, code string) reply {
	return tokenRequest(base, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {bench.RedirectURI}, "code_verifier": {bench.Verifier}})
}

func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// prepare puts refresh tokens (one family each) and authorization codes of
// bench-web for bench/alice into the store at storeURL.
func prepare(t *testing.T, storeURL string, refreshTokens, codes int) (rts, cs []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := store.Open(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	for range refreshTokens {
		raw := newSecret()
		if err := st.CreateRefreshToken(ctx, store.RefreshToken{Hash: store.HashToken(raw), FamilyID: store.NewID(),
			ClientID: bench.ClientWeb, AccountID: bench.Subject, Scopes: []string{"read"}, AuthTime: now,
			ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		rts = append(rts, raw)
	}
	sum := sha256.Sum256([]byte(bench.Verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	for range codes {
		raw := newSecret()
		if err := st.CreateAuthCode(ctx, store.AuthCode{Hash: store.HashToken(raw), ClientID: bench.ClientWeb,
			RedirectURI: bench.RedirectURI, CodeChallenge: challenge, CodeChallengeMethod: "S256",
			Scopes: []string{"openid", "read"}, AccountID: bench.Subject, AuthTime: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, raw)
	}
	return rts, cs
}

func isTransport(r reply) bool { return r.transport != nil }

var errViolation = errors.New("violation")
