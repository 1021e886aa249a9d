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
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// Bounds of a client's public key set ([Client.JWKS]).
const (
	// MaxJWKSSize bounds the JSON of a key set.
	MaxJWKSSize = 16 << 10
	// MaxJWKSKeys bounds the keys of a set.
	MaxJWKSKeys = 8
	// MinRSABits and MaxRSABits bound an RSA key's modulus.
	MinRSABits = 2048
	MaxRSABits = 8192
)

// ParseJWKS parses a client's public key set and checks it: 1 to
// MaxJWKSKeys public signing keys (RSA of MinRSABits to MaxRSABits, EC
// P-256 or P-384, Ed25519), no private or symmetric key, unique key IDs,
// alg (when set) one of the key's [KeyAlgorithms], use (when set) sig. The
// error says what is wrong in words a person can act on; it never quotes
// key material.
func ParseJWKS(raw []byte) ([]jose.JSONWebKey, error) {
	if len(raw) == 0 {
		return nil, errors.New("the key set is empty")
	}
	if len(raw) > MaxJWKSSize {
		return nil, fmt.Errorf("the key set is larger than %d bytes", MaxJWKSSize)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, errors.New("the key set is not a JSON Web Key Set of RSA, EC or OKP keys (RFC 7517)")
	}
	if len(set.Keys) == 0 || len(set.Keys) > MaxJWKSKeys {
		return nil, fmt.Errorf("the key set must hold 1 to %d keys, not %d", MaxJWKSKeys, len(set.Keys))
	}
	for i, k := range set.Keys {
		if err := checkPublicKey(k); err != nil {
			return nil, fmt.Errorf("key %d%s: %w", i, kidNote(k.KeyID), err)
		}
		for _, other := range set.Keys[:i] {
			if k.KeyID != "" && other.KeyID == k.KeyID {
				return nil, fmt.Errorf("key %d%s: two keys have the same kid", i, kidNote(k.KeyID))
			}
		}
	}
	return set.Keys, nil
}

func kidNote(kid string) string {
	if kid == "" || len(kid) > 128 {
		return ""
	}
	return fmt.Sprintf(" (kid %q)", kid)
}

func checkPublicKey(k jose.JSONWebKey) error {
	if !k.IsPublic() {
		return errors.New("not a public key: publish only the public part (no d, p, q; no symmetric oct keys)")
	}
	if k.Use != "" && k.Use != "sig" {
		return errors.New("use must be sig")
	}
	if rsaKey, ok := k.Key.(*rsa.PublicKey); ok {
		if bits := rsaKey.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return fmt.Errorf("an RSA key must have %d to %d bits, not %d", MinRSABits, MaxRSABits, bits)
		}
	}
	algs := KeyAlgorithms(jose.JSONWebKey{Key: k.Key})
	if len(algs) == 0 {
		return errors.New("unsupported key: use RSA, EC P-256 or P-384, or Ed25519")
	}
	if k.Algorithm != "" && !slices.Contains(algs, k.Algorithm) {
		return fmt.Errorf("alg %q does not fit the key (allowed: %v)", k.Algorithm, algs)
	}
	return nil
}

// KeyAlgorithms are the JWS algorithms a public key may verify: its alg
// alone when set (and one of [AssertionAlgorithms]), else every algorithm
// of its type. Empty for a key no algorithm fits.
func KeyAlgorithms(k jose.JSONWebKey) []string {
	var algs []string
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		algs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		switch key.Curve {
		case elliptic.P256():
			algs = []string{"ES256"}
		case elliptic.P384():
			algs = []string{"ES384"}
		}
	case ed25519.PublicKey:
		algs = []string{"EdDSA"}
	}
	if k.Algorithm != "" {
		if !slices.Contains(algs, k.Algorithm) {
			return nil
		}
		return []string{k.Algorithm}
	}
	return algs
}
