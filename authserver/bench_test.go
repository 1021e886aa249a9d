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
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/test/bench"
)

// benchServer is the token path in process (no network), with the SQLite
// store and metrics as cmd/authserver runs it, for profiles:
//
//	go test ./authserver -run '^$' -bench . -cpuprofile cpu.out -memprofile mem.out
func benchServer(b *testing.B) (http.Handler, *bench.Prepared) {
	b.Helper()
	return benchServerCodes(b, 0)
}

// benchServerCodes is benchServer with codes prepared authorization codes
// and 64 refresh tokens (one family each).
func benchServerCodes(b *testing.B, codes int) (http.Handler, *bench.Prepared) {
	b.Helper()
	docs, err := bench.Documents(1000)
	if err != nil {
		b.Fatal(err)
	}
	var entries []registry.Entry
	for i, d := range docs {
		d.Version = "snapshot.oauth.authops.io/v1"
		entries = append(entries, registry.Entry{Origin: string(rune('a'+i%26)) + d.Source.Name, Document: d})
	}
	holder := registry.NewHolder()
	holder.Store(registry.Build(entries, slog.New(slog.DiscardHandler)))
	holder.MarkReady()
	path := filepath.Join(b.TempDir(), "state.db")
	prep, err := bench.PrepareStore(context.Background(), path, codes, 64, 0)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	s, err := authserver.New(authserver.Config{Issuer: "http://127.0.0.1:1", Registry: holder, Store: st,
		Metrics: authserver.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		b.Fatal(err)
	}
	return s.Handler(), prep
}

func post(h http.Handler, path, form, user, pass string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(user, pass)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func benchPost(b *testing.B, h http.Handler, path, form, user, pass string, want ...int) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if w := post(h, path, form, user, pass); !slices.Contains(want, w.Code) {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

func BenchmarkClientCredentials(b *testing.B) {
	h, _ := benchServer(b)
	benchPost(b, h, "/oauth2/token", "grant_type=client_credentials&scope=read", bench.ClientCC, bench.Secret, 200)
}

// BenchmarkClientCredentialsDPoP is BenchmarkClientCredentials with a
// fresh DPoP proof (ES256) on every request: the server also verifies the
// proof and writes its jti to the store (FirstUse). The proofs are made
// ahead, outside the timer, a thousand at a time.
func BenchmarkClientCredentialsDPoP(b *testing.B) {
	h, _ := benchServer(b)
	prover, err := bench.NewDPoPProver()
	if err != nil {
		b.Fatal(err)
	}
	var proofs []string
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if len(proofs) == 0 {
			b.StopTimer()
			for range 1000 {
				proofs = append(proofs, prover.Proof(http.MethodPost, "http://127.0.0.1:1/oauth2/token", time.Now()))
			}
			b.StartTimer()
		}
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=read"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("DPoP", proofs[len(proofs)-1])
		proofs = proofs[:len(proofs)-1]
		r.SetBasicAuth(bench.ClientCC, bench.Secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"token_type":"DPoP"`) {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

func BenchmarkBadSecret(b *testing.B) {
	h, _ := benchServer(b)
	// 401 invalid_client, then 429 once the failed-authentication limiter
	// steps in: both are rejections, both are measured.
	benchPost(b, h, "/oauth2/token", "grant_type=client_credentials&scope=read", bench.ClientCC, "wrong", 401, 429)
}

func BenchmarkIntrospection(b *testing.B) {
	h, _ := benchServer(b)
	w := post(h, "/oauth2/token", "grant_type=client_credentials&scope=read", bench.ClientCC, bench.Secret)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("no token: %s", w.Body)
	}
	benchPost(b, h, "/oauth2/introspect", "token="+url.QueryEscape(tok.AccessToken), bench.ClientCC, bench.Secret, 200)
}

func BenchmarkRefreshRotation(b *testing.B) {
	h, prep := benchServer(b)
	rt := prep.Refresh[0]
	b.ReportAllocs()
	for b.Loop() {
		w := post(h, "/oauth2/token", "grant_type=refresh_token&refresh_token="+rt, bench.ClientWeb, bench.Secret)
		var resp struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		rt = resp.RefreshToken
	}
}

// BenchmarkParallelCodeExchange exchanges prepared codes (PKCE, scope
// "openid read": an access token and an ID token each) from 8 goroutines
// at once, as the load generator's connections do, so that the writes are
// group-committed; with -cpuprofile it shows the server's CPU per exchange.
func BenchmarkParallelCodeExchange(b *testing.B) {
	h, prep := benchServerCodes(b, b.N)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			code := prep.Codes[next.Add(1)-1]
			form := "grant_type=authorization_code&code=" + code + "&redirect_uri=" + url.QueryEscape(bench.RedirectURI) +
				"&code_verifier=" + bench.Verifier
			if w := post(h, "/oauth2/token", form, bench.ClientWeb, bench.Secret); w.Code != 200 {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}

// BenchmarkParallelRefreshRotation: each goroutine follows its own
// rotation chain.
func BenchmarkParallelRefreshRotation(b *testing.B) {
	h, prep := benchServerCodes(b, 0)
	var chains atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rt := prep.Refresh[chains.Add(1)-1]
		for pb.Next() {
			w := post(h, "/oauth2/token", "grant_type=refresh_token&refresh_token="+rt, bench.ClientWeb, bench.Secret)
			var resp struct {
				RefreshToken string `json:"refresh_token"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != 200 {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
			rt = resp.RefreshToken
		}
	})
}
