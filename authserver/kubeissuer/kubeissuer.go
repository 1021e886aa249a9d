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

// Package kubeissuer knows the keys the cluster signs ServiceAccount tokens
// with: the API server's ServiceAccount issuer discovery
// (/.well-known/openid-configuration for the issuer) and its JWKS
// (/openid/v1/jwks), fetched from the API server the authserver already
// talks to, cached, and fetched again when a token names a key ID the cache
// does not know (at most once per MinRefresh) or the cache is older than
// MaxAge. A ServiceAccount token is then verified in memory: no API call
// per request (see docs/authserver.md, "Workload identity").
package kubeissuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Paths the API server serves (KEP-1393, ServiceAccount issuer discovery).
const (
	PathDiscovery = "/.well-known/openid-configuration"
	PathJWKS      = "/openid/v1/jwks"
)

// ErrUnknownKey: the token names a key the cluster does not publish.
var ErrUnknownKey = errors.New("the ServiceAccount issuer publishes no such key")

// maxBody bounds the discovery document and the JWKS.
const maxBody = 1 << 20

// Keys is the cache of the cluster's ServiceAccount issuer and keys.
type Keys struct {
	// Host is the API server's URL (rest.Config.Host).
	Host string
	// Client reaches it, with the authserver's credentials
	// (rest.HTTPClientFor). The default RBAC binds the role
	// system:service-account-issuer-discovery to every ServiceAccount.
	Client *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxAge is how long a fetched set serves before the next lookup
	// fetches it again (default 10 minutes), so that keys the cluster
	// removed stop verifying.
	MaxAge time.Duration
	// MinRefresh is the least time between two fetches caused by unknown
	// key IDs (default 10 seconds): tokens naming made-up key IDs cannot
	// make the server hammer the API server.
	MinRefresh time.Duration

	mu      sync.Mutex
	issuer  string
	keys    []jose.JSONWebKey
	fetched time.Time // of the set in use; zero before the first
	tried   time.Time // last fetch attempt
}

// Key returns the cluster's ServiceAccount issuer and its key kid.
// ErrUnknownKey when the issuer publishes no such key (after a fetch, if
// one is allowed); another error when the API server cannot be asked and
// nothing is cached.
func (k *Keys) Key(ctx context.Context, kid string) (issuer string, key jose.JSONWebKey, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	stale := k.fetched.IsZero() || now.Sub(k.fetched) >= k.maxAge()
	found, ok := k.find(kid)
	if stale || (!ok && now.Sub(k.tried) >= k.minRefresh()) {
		k.tried = now
		// One fetch at a time, under the lock: concurrent lookups wait
		// for it instead of fetching too.
		if ferr := k.fetch(ctx); ferr != nil && k.fetched.IsZero() {
			return "", jose.JSONWebKey{}, ferr
		}
		// A failed refresh keeps the last set until the next attempt.
		found, ok = k.find(kid)
	}
	if !ok {
		return k.issuer, jose.JSONWebKey{}, ErrUnknownKey
	}
	return k.issuer, found, nil
}

func (k *Keys) find(kid string) (jose.JSONWebKey, bool) {
	for _, key := range k.keys {
		if key.KeyID == kid {
			return key, true
		}
	}
	return jose.JSONWebKey{}, false
}

// fetch reads the discovery document and the JWKS, and keeps them only
// when both are valid.
func (k *Keys) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var disc struct {
		Issuer string `json:"issuer"`
	}
	if err := k.get(ctx, PathDiscovery, &disc); err != nil {
		return err
	}
	if disc.Issuer == "" {
		return errors.New("the ServiceAccount issuer discovery document has no issuer")
	}
	var set jose.JSONWebKeySet
	if err := k.get(ctx, PathJWKS, &set); err != nil {
		return err
	}
	var keys []jose.JSONWebKey
	for _, key := range set.Keys {
		if key.IsPublic() && key.Valid() {
			keys = append(keys, key)
		}
	}
	k.issuer, k.keys, k.fetched = disc.Issuer, keys, k.now()
	return nil
}

func (k *Keys) get(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(k.Host, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := k.Client.Do(req)
	if err != nil {
		return fmt.Errorf("fetching the ServiceAccount issuer's %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching the ServiceAccount issuer's %s: HTTP %d", path, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("reading the ServiceAccount issuer's %s: %w", path, err)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("the ServiceAccount issuer's %s is not valid JSON: %w", path, err)
	}
	return nil
}

func (k *Keys) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func (k *Keys) maxAge() time.Duration {
	if k.MaxAge > 0 {
		return k.MaxAge
	}
	return 10 * time.Minute
}

func (k *Keys) minRefresh() time.Duration {
	if k.MinRefresh > 0 {
		return k.MinRefresh
	}
	return 10 * time.Second
}
