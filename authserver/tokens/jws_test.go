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

package tokens

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/authops/authops/authserver/registry"
)

// TestSignersForgetUnpublishedKeys: a key's signer is made once and kept
// while the key is published; once more than maxSigners keys were seen,
// keys past their PublishUntil are forgotten.
func TestSignersForgetUnpublishedKeys(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var s signers
	live := &registry.Key{ID: "live", Private: priv, PublishUntil: now.Add(time.Hour)}
	first := s.get(live, now)
	if s.get(live, now) != first {
		t.Fatal("a second signer for the same key")
	}
	for range maxSigners + 5 {
		s.get(&registry.Key{ID: "old", Private: priv, PublishUntil: now.Add(-time.Hour)}, now)
	}
	if n := s.n.Load(); n > maxSigners+1 {
		t.Errorf("%d signers remembered, want at most %d", n, maxSigners+1)
	}
	if s.get(live, now) != first {
		t.Error("a published key's signer was forgotten")
	}
}
