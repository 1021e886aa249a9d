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
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authops/authops/authserver/registry"
)

// ES256 compact JWS (RFC 7515 §3.1, RFC 7518 §3.4) without a JOSE library
// on the token path: the protected header of each key and type is encoded
// once per key, the signature is ecdsa.Sign over SHA-256 of the signing
// input, encoded as the fixed-width R || S.

// Typ values of the protected headers.
const (
	TypAccessToken = "at+jwt"
	TypIDToken     = "JWT"
)

// signer is what this package derives from one key of the snapshot: its
// encoded protected headers and the memo of tokens verified under it.
type signer struct {
	key *registry.Key
	// atHeader and idHeader are the base64url protected headers of access
	// tokens (typ at+jwt) and ID tokens (typ JWT).
	atHeader, idHeader string
	memo               verifyMemo
}

func newSigner(k *registry.Key) *signer {
	return &signer{key: k, atHeader: encodedHeader(k.ID, TypAccessToken), idHeader: encodedHeader(k.ID, TypIDToken)}
}

// maxSigners bounds the signers remembered: a snapshot publishes a handful
// of keys at a time.
const maxSigners = 64

// signers maps the keys of the snapshots to their signers. Once more than
// maxSigners keys were seen, keys no longer published are forgotten (their
// tokens cannot verify any more), and if that is not enough, all others.
type signers struct {
	m sync.Map // *registry.Key → *signer
	n atomic.Int64
}

func (s *signers) get(k *registry.Key, now time.Time) *signer {
	if v, ok := s.m.Load(k); ok {
		return v.(*signer)
	}
	v, loaded := s.m.LoadOrStore(k, newSigner(k))
	if !loaded && s.n.Add(1) > maxSigners {
		s.forget(k, func(old *registry.Key) bool { return !now.Before(old.PublishUntil) })
		if s.n.Load() > maxSigners { // still full: start again
			s.forget(k, func(*registry.Key) bool { return true })
		}
	}
	return v.(*signer)
}

// forget drops the signers of the keys (other than keep) that drop says.
func (s *signers) forget(keep *registry.Key, drop func(*registry.Key) bool) {
	s.m.Range(func(key, _ any) bool {
		if k := key.(*registry.Key); k != keep && drop(k) {
			if _, ok := s.m.LoadAndDelete(k); ok {
				s.n.Add(-1)
			}
		}
		return true
	})
}

func encodedHeader(kid, typ string) string {
	// kid comes from a validated snapshot document; quote it like JSON.
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":` + jsonString(kid) + `,"typ":"` + typ + `"}`))
}

// sign returns the compact JWS of payload with this key's protected header
// for typ (TypAccessToken or TypIDToken).
func (k *signer) sign(typ string, payload []byte) (string, error) {
	hdr := k.header(typ)
	enc := base64.RawURLEncoding
	n := len(hdr) + 1 + enc.EncodedLen(len(payload))
	buf := make([]byte, 0, n+1+enc.EncodedLen(64))
	buf = append(buf, hdr...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sum := sha256.Sum256(buf)
	r, s, err := ecdsa.Sign(rand.Reader, k.key.Private, sum[:])
	if err != nil {
		return "", err
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig[:])
	return string(buf), nil
}

// isOwnHeader reports whether raw starts with exactly this key's protected
// header for typ (a token this key signed, or a forgery of one).
func (k *signer) isOwnHeader(typ, raw string) bool {
	hdr := k.header(typ)
	return len(raw) > len(hdr) && raw[:len(hdr)] == hdr && raw[len(hdr)] == '.'
}

func (k *signer) header(typ string) string {
	if typ == TypAccessToken {
		return k.atHeader
	}
	return k.idHeader
}

// verifyOwn checks a compact JWS with this key's header for typ (see
// isOwnHeader) and returns its payload; ok is false when the header is not
// this key's or the signature does not verify.
func (k *signer) verifyOwn(typ, raw string) (payload []byte, ok bool) {
	if !k.isOwnHeader(typ, raw) {
		return nil, false
	}
	hdr := k.header(typ)
	rest := raw[len(hdr)+1:]
	dot := strings.IndexByte(rest, '.')
	if dot < 0 {
		return nil, false
	}
	enc := base64.RawURLEncoding
	sig, err := enc.DecodeString(rest[dot+1:])
	if err != nil || len(sig) != 64 {
		return nil, false
	}
	payload, err = enc.DecodeString(rest[:dot])
	if err != nil {
		return nil, false
	}
	h := sha256.Sum256([]byte(raw[:len(hdr)+1+dot]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(&k.key.Private.PublicKey, h[:], r, s) {
		return nil, false
	}
	return payload, true
}

// verifyMemo remembers verified tokens (by the SHA-256 of the whole token)
// with their claims, so a token presented again costs a hash and a map
// lookup instead of a signature verification. It is a bounded map, sharded
// to keep lock contention low. A full shard first drops its expired
// entries, then everything (the next requests verify again).
type verifyMemo struct {
	shards [16]memoShard
}

const memoShardCap = 4096 // 64k tokens per key at most

type memoShard struct {
	mu sync.Mutex
	m  map[[32]byte]memoEntry
}

type memoEntry struct {
	v   *AccessClaims
	exp int64
}

// get returns what was remembered for a token, if it has not expired at now.
func (m *verifyMemo) get(sum [32]byte, now int64) (*AccessClaims, bool) {
	sh := &m.shards[sum[0]&15]
	sh.mu.Lock()
	e, ok := sh.m[sum]
	sh.mu.Unlock()
	if !ok || now >= e.exp {
		return nil, false
	}
	return e.v, true
}

// put remembers v for a token until exp (the token's exp).
func (m *verifyMemo) put(sum [32]byte, v *AccessClaims, exp, now int64) {
	sh := &m.shards[sum[0]&15]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = map[[32]byte]memoEntry{}
	}
	if len(sh.m) >= memoShardCap {
		for h, e := range sh.m {
			if e.exp <= now {
				delete(sh.m, h)
			}
		}
		if len(sh.m) >= memoShardCap {
			clear(sh.m)
		}
	}
	sh.m[sum] = memoEntry{v: v, exp: exp}
}

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
