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

package registry

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"sync"
)

// ES256 compact JWS (RFC 7515 §3.1, RFC 7518 §3.4) without a JOSE library
// on the token path: the protected header of each key and type is encoded
// once per snapshot, the signature is ecdsa.Sign over SHA-256 of the
// signing input, encoded as the fixed-width R || S.

// Typ values of the protected headers.
const (
	TypAccessToken = "at+jwt"
	TypIDToken     = "JWT"
)

func encodedHeader(kid, typ string) string {
	// kid comes from a validated snapshot document; quote it like JSON.
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":` + jsonString(kid) + `,"typ":"` + typ + `"}`))
}

// Sign returns the compact JWS of payload with this key's protected header
// for typ (TypAccessToken or TypIDToken).
func (k *Key) Sign(typ string, payload []byte) (string, error) {
	hdr := k.header(typ)
	enc := base64.RawURLEncoding
	n := len(hdr) + 1 + enc.EncodedLen(len(payload))
	buf := make([]byte, 0, n+1+enc.EncodedLen(64))
	buf = append(buf, hdr...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sum := sha256.Sum256(buf)
	r, s, err := ecdsa.Sign(rand.Reader, k.Private, sum[:])
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

// IsOwnHeader reports whether raw starts with exactly this key's protected
// header for typ (a token this key signed, or a forgery of one).
func (k *Key) IsOwnHeader(typ, raw string) bool {
	hdr := k.header(typ)
	return len(raw) > len(hdr) && raw[:len(hdr)] == hdr && raw[len(hdr)] == '.'
}

func (k *Key) header(typ string) string {
	if typ == TypAccessToken {
		return k.atHeader
	}
	return k.idHeader
}

// VerifyOwn checks a compact JWS with this key's header for typ (see
// IsOwnHeader) and returns its payload; ok is false when the header is not
// this key's or the signature does not verify.
func (k *Key) VerifyOwn(typ, raw string) (payload []byte, ok bool) {
	if !k.IsOwnHeader(typ, raw) {
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
	if !ecdsa.Verify(&k.Private.PublicKey, h[:], r, s) {
		return nil, false
	}
	return payload, true
}

// Verified tokens can be remembered (by the SHA-256 of the whole token)
// with the value the caller stores through Remember, so a token presented
// again costs a hash and a map lookup instead of a signature verification.

// Verified returns what was remembered for a token that verified under this
// key (by the SHA-256 of the whole token), if it has not expired at nowUnix.
func (k *Key) Verified(sum [32]byte, nowUnix int64) (any, bool) {
	return k.memo.get(sum, nowUnix)
}

// Remember stores v for a token that verified under this key, until
// expUnix (the token's exp).
func (k *Key) Remember(sum [32]byte, v any, expUnix, nowUnix int64) {
	k.memo.put(sum, v, expUnix, nowUnix)
}

// verifyMemo is a bounded map of verified tokens, sharded to keep lock
// contention low. A full shard first drops its expired entries, then
// everything (the next requests verify again).
type verifyMemo struct {
	shards [16]memoShard
}

const memoShardCap = 4096 // 64k tokens per key at most

type memoShard struct {
	mu sync.Mutex
	m  map[[32]byte]memoEntry
}

type memoEntry struct {
	v   any
	exp int64
}

func (m *verifyMemo) get(sum [32]byte, now int64) (any, bool) {
	sh := &m.shards[sum[0]&15]
	sh.mu.Lock()
	e, ok := sh.m[sum]
	sh.mu.Unlock()
	if !ok || now >= e.exp {
		return nil, false
	}
	return e.v, true
}

func (m *verifyMemo) put(sum [32]byte, v any, exp, now int64) {
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
