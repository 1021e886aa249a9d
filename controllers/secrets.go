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

package controllers

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"time"

	"github.com/authops/authops/authserver/snapshot"
)

// unreserved are the URI unreserved characters (RFC 3986 §2.3), safe in
// HTTP Basic credentials and form bodies without escaping.
const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

// generatedSecretLength is 43 characters of 66: log2(66^43) ≈ 260 bits, at
// least the 256 bits promised.
const generatedSecretLength = 43

// MinSecretLength is the shortest client secret the controller accepts.
const MinSecretLength = 32

// GenerateSecret returns a new client secret of 256 bits or more.
func GenerateSecret() (string, error) {
	b := make([]byte, generatedSecretLength)
	limit := big.NewInt(int64(len(unreserved)))
	for i := range b {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return "", err
		}
		b[i] = unreserved[n.Int64()]
	}
	return string(b), nil
}

// Digest is the hex SHA-256 digest of a secret, as the snapshot holds it.
func Digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// RotateDigests returns the digests valid from now on: current (without an
// end), the previous current one until now+overlap when the secret changed,
// and earlier ones until their end. rotated says that current replaced
// another secret just now.
func RotateDigests(existing []snapshot.SecretDigest, current string, now time.Time, overlap time.Duration) (valid []snapshot.SecretDigest, rotated bool) {
	valid = []snapshot.SecretDigest{{SHA256: current}}
	until := now.Add(overlap).UTC().Truncate(time.Second)
	for _, d := range existing {
		switch {
		case d.SHA256 == current:
			continue
		case d.NotAfter == nil:
			rotated = true
			if until.After(now) {
				valid = append(valid, snapshot.SecretDigest{SHA256: d.SHA256, NotAfter: &until})
			}
		case d.NotAfter.After(now):
			valid = append(valid, d)
		}
	}
	return valid, rotated
}

// previousValidUntil is when the last previous secret stops working, and
// nextExpiry when the first one does; both nil with a single secret.
func previousValidUntil(digests []snapshot.SecretDigest) (last, next *time.Time) {
	for _, d := range digests {
		if d.NotAfter == nil {
			continue
		}
		if last == nil || d.NotAfter.After(*last) {
			last = d.NotAfter
		}
		if next == nil || d.NotAfter.Before(*next) {
			next = d.NotAfter
		}
	}
	return last, next
}
