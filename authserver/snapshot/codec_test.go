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

package snapshot

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"
)

func validClient() Document {
	return Document{
		Version: Version,
		Kind:    KindClient,
		Source:  Source{Kind: "OAuthClient", Namespace: "ns", Name: "web", UID: "u1", Generation: 2},
		Client: &Client{
			ID: "ns.web", Namespace: "ns", Type: "Confidential", TokenEndpointAuthMethod: "client_secret_basic",
			Secrets:    []SecretDigest{{SHA256: strings.Repeat("ab", 32)}},
			GrantTypes: []string{"client_credentials"},
			Policy: Policy{PKCE: "Required", Consent: "Prompt", ErrorProfile: "Extended", RefreshTokenRotation: "Rotate",
				AccessTokenLifetimeSeconds: 3600, RefreshTokenLifetimeSeconds: 86400, AuthorizationCodeLifetimeSeconds: 60,
				DeviceCodeLifetimeSeconds: 600, DevicePollIntervalSeconds: 5, LockoutMaxFailedAttempts: 5,
				LockoutWindowSeconds: 900, LockoutDurationSeconds: 900},
		},
	}
}

func validKeySet(t *testing.T) Document {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := EncodePrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return Document{Version: Version, Kind: KindKeySet, Source: Source{Kind: "Secret", Name: KeySetSecretName, UID: "k"},
		KeySet: &KeySet{Keys: []Key{{ID: "k1", Algorithm: "ES256", PrivateKeyPEM: pemKey,
			PublishFrom: now, SignFrom: now.Add(time.Hour), SignUntil: now.Add(48 * time.Hour), PublishUntil: now.Add(72 * time.Hour)}}}}
}

func TestRoundTrip(t *testing.T) {
	for _, d := range []Document{validClient(), validKeySet(t), {
		Kind: KindAccount, Source: Source{Kind: "Account", Namespace: "ns", Name: "alice", UID: "a"},
		Account: &Account{Subject: "ns/alice", Namespace: "ns", Username: "alice", PasswordBcrypt: "$2a$10$x"},
	}} {
		data, err := Encode(d)
		if err != nil {
			t.Fatalf("Encode(%s): %v", d.Kind, err)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatalf("Decode(%s): %v", d.Kind, err)
		}
		if got.Version != Version || got.Kind != d.Kind || got.Source != d.Source {
			t.Fatalf("round trip changed the document: %+v", got)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *Document)
		want   string
	}{
		{"other version", func(d *Document) { d.Version = "snapshot.oauth.authops.io/v2" }, "unknown snapshot version"},
		{"no uid", func(d *Document) { d.Source.UID = "" }, "source.name and source.uid are required"},
		{"kind without payload", func(d *Document) { d.Kind = KindAccount }, "exactly one of"},
		{"two payloads", func(d *Document) { d.Account = &Account{Subject: "a", Namespace: "a", Username: "a"} }, "exactly one of"},
		{"unknown grant type", func(d *Document) { d.Client.GrantTypes = []string{"implicit"} }, `grant type "implicit"`},
		{"bad digest", func(d *Document) { d.Client.Secrets[0].SHA256 = "zz" }, "not a hex SHA-256 digest"},
		{"public with secret", func(d *Document) { d.Client.Type = "Public"; d.Client.TokenEndpointAuthMethod = "none" }, "a Public client has no secrets"},
		{"zero lifetime", func(d *Document) { d.Client.Policy.AccessTokenLifetimeSeconds = 0 }, "accessTokenLifetimeSeconds: must be positive"},
		{"unknown profile", func(d *Document) { d.Client.Policy.ErrorProfile = "Loose" }, `policy.errorProfile "Loose"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validClient()
			tt.mutate(&d)
			err := d.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := Decode([]byte("{not json")); err == nil {
		t.Fatal("Decode accepted invalid JSON")
	}
}

func TestKeySetRejectsBadKeys(t *testing.T) {
	d := validKeySet(t)
	d.KeySet.Keys[0].PrivateKeyPEM = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "PKCS #8") {
		t.Fatalf("Validate() = %v, want a PKCS #8 error", err)
	}
	d = validKeySet(t)
	d.KeySet.Keys[0].SignUntil = d.KeySet.Keys[0].SignFrom
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "publishFrom <= signFrom") {
		t.Fatalf("Validate() = %v, want an ordering error", err)
	}
}

func validPolicy() Document {
	p := validClient().Client.Policy
	p.Name = "strict"
	return Document{Version: Version, Kind: KindPolicy,
		Source: Source{Kind: "GrantPolicy", Namespace: "ns", Name: "strict", UID: "gp1", Generation: 4},
		GrantPolicy: &GrantPolicy{Policy: p, AllowedGrantTypes: []string{"client_credentials"}, AllowedScopes: []string{"read"},
			DefaultScopes: []string{"read"}}}
}

// TestPolicyDocument: a policy document round-trips; one without a
// namespace, naming another policy than its source, with an unknown grant
// type or with both anyScope and allowedScopes is refused, and so is a
// client that names a policy by UID without its name.
func TestPolicyDocument(t *testing.T) {
	data, err := Encode(validPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decode(data); err != nil || got.GrantPolicy == nil || got.GrantPolicy.Policy.Name != "strict" {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	for _, tt := range []struct {
		name   string
		mutate func(d *Document)
		want   string
	}{
		{"no namespace", func(d *Document) { d.Source.Namespace = "" }, "source.namespace is required"},
		{"another name", func(d *Document) { d.GrantPolicy.Policy.Name = "lax" }, `policy.name "lax" is not the source's name "strict"`},
		{"unknown grant type", func(d *Document) { d.GrantPolicy.AllowedGrantTypes = []string{"implicit"} }, `allowed grant type "implicit"`},
		{"any scope and allowed scopes", func(d *Document) { d.GrantPolicy.AnyScope = true }, "anyScope and allowedScopes exclude each other"},
		{"client payload", func(d *Document) { d.GrantPolicy, d.Client = nil, validClient().Client }, "exactly one of"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := validPolicy()
			tt.mutate(&d)
			if err := d.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	d := validClient()
	d.Client.PolicyUID = "gp1"
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "needs policy.name") {
		t.Fatalf("Validate() = %v, want the policy's name required", err)
	}
}
