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

package authserver

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
)

// The fuzz targets of this package fuzz pure functions and handlers that
// never reach the store: noStore fails the target if they do.
type noStore struct{ store.Store }

// fuzzSecret has every character RFC 6749 §2.3.1's encoding must handle.
const fuzzSecret = "s3cr:et/+%& é"

// fuzzKeyPEM is a fixed test key, so that tokens in the committed seed
// corpus verify.
const fuzzKeyPEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgkB+8tGwBy4PdnqcB
iq04/cJNyth0R7TvxToKFfxL5uGhRANCAAQSoCqcwNbDxOB0iENPRDq437+7ga9R
bXFJQq5sustilHi/RfgXqneptp6DMDfULVhNQLOeUyDoPyMNG2ukUMH2
-----END PRIVATE KEY-----
`

var fuzzTime = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type fixedClock struct{}

func (fixedClock) Now() time.Time { return fuzzTime }

// fuzzRegisteredURIs are the redirect URIs of client "app".
var fuzzRegisteredURIs = []string{"https://app.example.com/cb", "https://app.example.com/cb?x=1", "http://127.0.0.1:8080/cb",
	"com.example.app:/oauth2redirect"}

// newFuzzServer returns a Server with one confidential client "app"
// (client_secret_basic, fuzzSecret), one public client "pub" and a signing
// key, on a store that must not be used.
func newFuzzServer(tb testing.TB) *Server {
	tb.Helper()
	d := sha256.Sum256([]byte(fuzzSecret))
	pol := snapshot.Policy{PKCE: "Optional", Consent: "Auto", ErrorProfile: "Extended", RefreshTokenRotation: "Rotate",
		AccessTokenLifetimeSeconds: 600, RefreshTokenLifetimeSeconds: 86400, AuthorizationCodeLifetimeSeconds: 60,
		DeviceCodeLifetimeSeconds: 600, DevicePollIntervalSeconds: 5, LockoutMaxFailedAttempts: 3,
		LockoutWindowSeconds: 900, LockoutDurationSeconds: 900}
	from := fuzzTime.Add(-time.Hour)
	docs := []snapshot.Document{
		{Version: snapshot.Version, Kind: snapshot.KindClient, Source: snapshot.Source{Kind: "OAuthClient", Namespace: "team", Name: "app", UID: "u1"},
			Client: &snapshot.Client{ID: "app", Namespace: "team", Type: "Confidential", TokenEndpointAuthMethod: "client_secret_basic",
				Secrets: []snapshot.SecretDigest{{SHA256: hex.EncodeToString(d[:])}}, RedirectURIs: fuzzRegisteredURIs,
				GrantTypes: []string{"authorization_code", "client_credentials"}, Scopes: []string{"openid", "api.read"}, Policy: pol}},
		{Version: snapshot.Version, Kind: snapshot.KindClient, Source: snapshot.Source{Kind: "OAuthClient", Namespace: "team", Name: "pub", UID: "u2"},
			Client: &snapshot.Client{ID: "pub", Namespace: "team", Type: "Public", TokenEndpointAuthMethod: "none",
				RedirectURIs: []string{"http://127.0.0.1:9999/cb"}, GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}, Policy: pol}},
		{Version: snapshot.Version, Kind: snapshot.KindKeySet, Source: snapshot.Source{Kind: "Secret", Name: snapshot.KeySetSecretName, UID: "keys"},
			KeySet: &snapshot.KeySet{Keys: []snapshot.Key{{ID: "k1", Algorithm: "ES256", PrivateKeyPEM: fuzzKeyPEM,
				PublishFrom: from, SignFrom: from, SignUntil: from.Add(48 * time.Hour), PublishUntil: from.Add(72 * time.Hour)}}}},
	}
	var entries []registry.Entry
	for _, doc := range docs {
		entries = append(entries, registry.Entry{Origin: doc.Source.Name, Document: doc})
	}
	h := registry.NewHolder()
	h.Store(registry.Build(entries, slog.New(slog.DiscardHandler)))
	h.MarkReady()
	s, err := New(Config{Issuer: "https://auth.example.com", Registry: h, Store: noStore{}, Clock: fixedClock{},
		Limits: Limits{Disabled: true}})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
