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

package kubeissuer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authops/authops/authserver/kubeissuer"
)

// TestKeysCacheAndRefresh: the keys are fetched once, again for an unknown
// kid at most once per MinRefresh, and again once older than MaxAge; a
// failed refresh keeps the last set; without any set the error is
// returned. (The end-to-end test uses the real API server.)
func TestKeysCacheAndRefresh(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var published atomic.Value
	published.Store([]jose.JSONWebKey{{Key: k1.Public(), KeyID: "one", Algorithm: "ES256", Use: "sig"}})
	var fetches, down atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() == 1 {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		switch r.URL.Path {
		case kubeissuer.PathDiscovery:
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "https://kubernetes.default.svc"})
		case kubeissuer.PathJWKS:
			fetches.Add(1)
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: published.Load().([]jose.JSONWebKey)})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	now := time.Unix(1_800_000_000, 0)
	keys := &kubeissuer.Keys{Host: srv.URL, Client: srv.Client(), Now: func() time.Time { return now },
		MinRefresh: 10 * time.Second, MaxAge: 10 * time.Minute}
	ctx := context.Background()

	iss, key, err := keys.Key(ctx, "one")
	if err != nil || iss != "https://kubernetes.default.svc" || key.KeyID != "one" {
		t.Fatalf("Key(one) = %q, %v, %v", iss, key.KeyID, err)
	}
	for range 5 {
		if _, _, err := keys.Key(ctx, "made-up"); !errors.Is(err, kubeissuer.ErrUnknownKey) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after one lookup and five unknown kids within MinRefresh, want 1", n)
	}
	// A new key of the cluster is found once MinRefresh has passed.
	published.Store([]jose.JSONWebKey{{Key: k1.Public(), KeyID: "one"}, {Key: k2.Public(), KeyID: "two"}})
	if _, _, err := keys.Key(ctx, "two"); !errors.Is(err, kubeissuer.ErrUnknownKey) {
		t.Fatalf("kid two within MinRefresh: %v, want ErrUnknownKey (rate limited)", err)
	}
	now = now.Add(11 * time.Second)
	if _, key, err := keys.Key(ctx, "two"); err != nil || key.KeyID != "two" {
		t.Fatalf("kid two after MinRefresh: %v %v", key.KeyID, err)
	}
	// A removed key stops verifying after MaxAge.
	published.Store([]jose.JSONWebKey{{Key: k2.Public(), KeyID: "two"}})
	if _, _, err := keys.Key(ctx, "one"); err != nil {
		t.Fatalf("kid one before MaxAge: %v", err)
	}
	now = now.Add(11 * time.Minute)
	if _, _, err := keys.Key(ctx, "one"); !errors.Is(err, kubeissuer.ErrUnknownKey) {
		t.Fatalf("removed kid one after MaxAge: %v", err)
	}
	// The API server down: the cached set still serves.
	down.Store(1)
	now = now.Add(11 * time.Minute)
	if _, _, err := keys.Key(ctx, "two"); err != nil {
		t.Fatalf("cached kid two while the API server is down: %v", err)
	}
	fresh := &kubeissuer.Keys{Host: srv.URL, Client: srv.Client()}
	if _, _, err := fresh.Key(ctx, "two"); err == nil || errors.Is(err, kubeissuer.ErrUnknownKey) {
		t.Fatalf("no cache and the API server down: %v, want a fetch error", err)
	}
}
