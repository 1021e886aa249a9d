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

package snapshot_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authops/authops/authserver/snapshot"
)

// TestParseJWKS: only public signing keys of the allowed algorithms pass;
// each refusal says why.
func TestParseJWKS(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	strong, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	set := func(keys ...jose.JSONWebKey) []byte {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	many := make([]jose.JSONWebKey, snapshot.MaxJWKSKeys+1)
	for i := range many {
		many[i] = jose.JSONWebKey{Key: ec.Public()}
	}
	cases := []struct {
		name string
		raw  []byte
		want string // "" accepts
	}{
		{"EC, RSA and Ed25519 public keys", set(jose.JSONWebKey{Key: ec.Public(), KeyID: "a", Algorithm: "ES256", Use: "sig"},
			jose.JSONWebKey{Key: strong.Public(), KeyID: "b"}, jose.JSONWebKey{Key: edPub, KeyID: "c", Algorithm: "EdDSA"}), ""},
		{"an EC private key", set(jose.JSONWebKey{Key: ec}), "not a public key"},
		{"an Ed25519 private key", set(jose.JSONWebKey{Key: edPriv}), "not a public key"},
		{"a symmetric key", set(jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef")}), "not a public key"},
		{"a 1024-bit RSA key", set(jose.JSONWebKey{Key: weak.Public()}), "2048 to 8192 bits"},
		{"a P-521 key", set(jose.JSONWebKey{Key: p521.Public()}), "unsupported key"},
		{"an alg that does not fit", set(jose.JSONWebKey{Key: ec.Public(), Algorithm: "RS256"}), "does not fit"},
		{"HS256 on a public key", set(jose.JSONWebKey{Key: ec.Public(), Algorithm: "HS256"}), "does not fit"},
		{"use enc", set(jose.JSONWebKey{Key: ec.Public(), Use: "enc"}), "use must be sig"},
		{"two keys with one kid", set(jose.JSONWebKey{Key: ec.Public(), KeyID: "k"}, jose.JSONWebKey{Key: edPub, KeyID: "k"}), "same kid"},
		{"too many keys", set(many...), "1 to 8 keys"},
		{"no keys", set(), "1 to 8 keys"},
		{"not JSON", []byte("{"), "not a JSON Web Key Set"},
		{"too large", []byte(`{"keys":[` + strings.Repeat(" ", snapshot.MaxJWKSSize) + `]}`), "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := snapshot.ParseJWKS(tc.raw)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
