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
	"context"
	"crypto"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
)

// DPoP (RFC 9449): a client proves with every request that it holds a
// private key, by sending a proof (a JWT signed with that key, the public
// key in its header) in the DPoP header; the tokens it gets are bound to
// the key's thumbprint (cnf.jkt) and work only with a fresh proof made
// with the same key. Every check of a proof (§4.3) is one function here;
// a failure is invalid_dpop_proof with a fixed description, or
// use_dpop_nonce with the nonce to use. The proof itself is never logged.

const (
	// HeaderDPoP carries a DPoP proof (RFC 9449 §4.1).
	HeaderDPoP = "DPoP"
	// dpopProofType is the typ of a DPoP proof (RFC 9449 §4.2).
	dpopProofType = "dpop+jwt"
	// dpopMaxAge is how old (iat) a proof may be: a proof is made for one
	// request, just before it.
	dpopMaxAge = 60 * time.Second
	// dpopFutureSkew is how far in the future iat may be (the client's
	// clock ahead of ours).
	dpopFutureSkew = 5 * time.Second
	// maxDPoPProofSize bounds the proof before it is parsed (an RSA 4096
	// key in the header is about 1 KiB).
	maxDPoPProofSize = 8 << 10
	// maxDPoPJTI bounds the jti (RFC 9449 asks for at least 96 bits of
	// randomness; a UUID is 36 characters).
	maxDPoPJTI = 256
	// dpopNonceStep is the lifetime unit of a server nonce: a nonce of
	// step n is accepted during steps n-1 (a replica whose clock is
	// behind), n and n+1, so for between one and two steps.
	dpopNonceStep = 2 * time.Minute
)

// dpopAlgorithms are the algorithms a proof may name: asymmetric only
// (jose.ParseSignedCompact refuses every other, "none" and HMAC included).
var dpopAlgorithms = signatureAlgorithms(snapshot.DPoPAlgorithms)

// firstUser is the part of the store the proof check uses: the single-use
// jti of every proof, on every replica.
type firstUser interface {
	FirstUse(ctx context.Context, scope, key string, expiresAt time.Time) (bool, error)
}

// dpopVerifier checks DPoP proofs and issues server nonces.
type dpopVerifier struct {
	jtis   firstUser
	clock  store.Clock
	nonces *dpopNonces
}

// dpopTarget is what a proof must match: the request's method and the
// endpoint's URL as the issuer publishes it, the access token it comes
// with ("" at the token endpoint), and whether a server nonce is required.
type dpopTarget struct {
	method, url string
	accessToken string
	nonce       bool
}

// dpopClaims are the claims of a proof (RFC 9449 §4.2).
type dpopClaims struct {
	JTI   string      `json:"jti"`
	HTM   string      `json:"htm"`
	HTU   string      `json:"htu"`
	IAT   json.Number `json:"iat"`
	Nonce string      `json:"nonce"`
	ATH   string      `json:"ath"`
}

// invalidProof is invalid_dpop_proof with a fixed description.
func invalidProof(description string) *oautherr.Error {
	return oautherr.Newf(oautherr.InvalidDPoPProof, description)
}

// verify checks the DPoP proof of r against target (RFC 9449 §4.3) and
// returns the JWK SHA-256 thumbprint (RFC 7638, base64url) of its key; ""
// and no error when r carries no DPoP header (the caller decides whether
// one is required).
func (v *dpopVerifier) verify(ctx context.Context, r *http.Request, reg *registry.Registry, target dpopTarget) (string, *oautherr.Error) {
	values := r.Header.Values(HeaderDPoP)
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", invalidProof("Send one DPoP header.")
	case len(values[0]) > maxDPoPProofSize:
		return "", invalidProof("The DPoP proof is too large.")
	}
	jws, err := jose.ParseSignedCompact(values[0], dpopAlgorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return "", invalidProof("The DPoP proof is not a JWT signed with one of dpop_signing_alg_values_supported, with a public key (jwk) in its header.")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != dpopProofType {
		return "", invalidProof("The DPoP proof's typ must be dpop+jwt.")
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.IsPublic() || !jwk.Valid() {
		return "", invalidProof("The DPoP proof's header must carry the public key (jwk) it is signed with, and no private key.")
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return "", invalidProof("The DPoP proof's signature does not verify with the key in its header.")
	}
	var c dpopClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.JTI == "" || c.HTM == "" || c.HTU == "" || c.IAT == "" {
		return "", invalidProof("The DPoP proof must carry jti, htm, htu and iat.")
	}
	now := v.clock.Now()
	iat, e := checkProofClaims(&c, target, now)
	if e != nil {
		return "", e
	}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", invalidProof("The DPoP proof's key has no thumbprint.")
	}
	jkt := base64.RawURLEncoding.EncodeToString(sum)
	if target.nonce && !v.nonces.valid(reg, c.Nonce, now) {
		e := oautherr.Newf(oautherr.UseDPoPNonce, "The DPoP proof has no nonce or a stale one: make a new proof with the nonce in the DPoP-Nonce header.")
		e.Nonce = v.nonces.issue(reg, now)
		return "", e
	}
	// The key is the thumbprint and the jti: clients cannot collide, and
	// the proof is remembered while its iat can pass.
	first, err := v.jtis.FirstUse(ctx, store.ScopeDPoP, jkt+"\x00"+c.JTI, iat.Add(dpopMaxAge+time.Second))
	if err != nil {
		return "", serverError(err)
	}
	if !first {
		return "", invalidProof("The DPoP proof was used before: make a new proof (with a new jti) for every request.")
	}
	return jkt, nil
}

// checkProofClaims checks a proof's claims against the request: htm, htu,
// iat within [now-dpopMaxAge, now+dpopFutureSkew], and ath when the proof
// comes with an access token. It returns iat.
func checkProofClaims(c *dpopClaims, target dpopTarget, now time.Time) (time.Time, *oautherr.Error) {
	if len(c.JTI) > maxDPoPJTI {
		return time.Time{}, invalidProof("The DPoP proof's jti is too long.")
	}
	if c.HTM != target.method {
		return time.Time{}, invalidProof("The DPoP proof's htm is not the method of this request.")
	}
	if !sameHTU(c.HTU, target.url) {
		return time.Time{}, invalidProof("The DPoP proof's htu is not the URL of this endpoint (see the server metadata).")
	}
	secs, err := c.IAT.Float64()
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || secs < 0 || secs > 1<<40 {
		return time.Time{}, invalidProof("The DPoP proof's iat is not a time.")
	}
	iat := time.Unix(int64(secs), 0)
	switch {
	case iat.Before(now.Add(-dpopMaxAge)):
		return time.Time{}, invalidProof("The DPoP proof is too old (iat more than 60 seconds ago): make a new proof for every request.")
	case iat.After(now.Add(dpopFutureSkew)):
		return time.Time{}, invalidProof("The DPoP proof was issued in the future (iat): check the client's clock.")
	}
	if target.accessToken != "" {
		sum := sha256.Sum256([]byte(target.accessToken))
		if subtle.ConstantTimeCompare([]byte(c.ATH), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) != 1 {
			return time.Time{}, invalidProof("The DPoP proof's ath is not the hash of the access token it comes with.")
		}
	}
	return iat, nil
}

// sameHTU compares a proof's htu with an endpoint's URL as RFC 9449 §4.3
// asks: the scheme and host without case, a default port as none, an
// empty path as "/", the query and fragment ignored.
func sameHTU(htu, endpoint string) bool {
	a, ok := normalizeHTU(htu)
	if !ok {
		return false
	}
	b, ok := normalizeHTU(endpoint)
	return ok && a == b
}

// normalizeHTU is the scheme, host and path of an absolute http(s) URL in
// RFC 3986 §6.2.2 and §6.2.3's normal form.
func normalizeHTU(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	switch port := u.Port(); {
	case port == "", scheme == "https" && port == "443", scheme == "http" && port == "80":
	case scheme == "https", scheme == "http":
		host += ":" + port
	default:
		return "", false
	}
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// dpopNonces are stateless server nonces (RFC 9449 §8): a time step and an
// HMAC of it under a key derived (HKDF-SHA256) from a signing key of the
// snapshot, which every replica serves, so every replica accepts every
// replica's nonces without sharing state. A nonce is made with the key that
// signs now and accepted with any published key, so a key rotation does not
// invalidate the nonces in use.
type dpopNonces struct {
	mu sync.Mutex
	// keys are the derived HMAC keys by signing key (pointer: a new
	// snapshot with the same kid prepares a new key).
	keys map[*registry.Key][]byte
}

// macKey is the HMAC key derived from signing key k.
func (n *dpopNonces) macKey(k *registry.Key) []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	if mk, ok := n.keys[k]; ok {
		return mk
	}
	secret, err := k.Private.Bytes()
	if err != nil {
		return nil
	}
	mk, err := hkdf.Key(sha256.New, secret, nil, "authops dpop nonce "+k.ID, 32)
	if err != nil {
		return nil
	}
	if n.keys == nil || len(n.keys) >= 16 { // old snapshots' keys go
		n.keys = map[*registry.Key][]byte{}
	}
	n.keys[k] = mk
	return mk
}

// mac is the nonce of step under key mk: the step (8 bytes, big endian)
// and 16 bytes of HMAC-SHA256, base64url.
func dpopNonceMAC(mk []byte, step int64) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(step))
	m := hmac.New(sha256.New, mk)
	m.Write(b[:8])
	copy(b[8:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func dpopStep(now time.Time) int64 { return now.Unix() / int64(dpopNonceStep/time.Second) }

// issue is the nonce of now ("" without a signing key).
func (n *dpopNonces) issue(reg *registry.Registry, now time.Time) string {
	k, ok := reg.SigningKey(now)
	if !ok {
		return ""
	}
	mk := n.macKey(k)
	if mk == nil {
		return ""
	}
	return dpopNonceMAC(mk, dpopStep(now))
}

// valid reports whether nonce is a nonce of this step, the one before or
// the one after, under a key published now.
func (n *dpopNonces) valid(reg *registry.Registry, nonce string, now time.Time) bool {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 8+16 {
		return false
	}
	step := int64(binary.BigEndian.Uint64(b[:8]))
	if d := step - dpopStep(now); d < -1 || d > 1 {
		return false
	}
	for _, k := range reg.PublishedKeys(now) {
		if mk := n.macKey(k); mk != nil && hmac.Equal([]byte(dpopNonceMAC(mk, step)), []byte(nonce)) {
			return true
		}
	}
	return false
}

// tokenProof checks the DPoP proof of a token request (RFC 9449 §5) from
// client c: the thumbprint its tokens are bound to, "" without a proof
// (invalid_dpop_proof when the client must send one). A client whose
// policy requires nonces gets the current one in DPoP-Nonce on every
// answer.
func (v *dpopVerifier) tokenProof(w http.ResponseWriter, r *http.Request, reg *registry.Registry, c *registry.Client, endpoint string) (string, *oautherr.Error) {
	jkt, e := v.clientProof(w, r, reg, c, endpoint)
	if e == nil && jkt == "" && c.DPoPRequired() {
		return "", invalidProof("This client must send a DPoP proof (the DPoP header) with every token request.")
	}
	return jkt, e
}

// clientProof checks the DPoP proof, if any, of a request from client c to
// endpoint: the thumbprint of its key, "" without a proof. A client whose
// policy requires nonces gets the current one in DPoP-Nonce on every
// answer, and use_dpop_nonce for a proof without it.
func (v *dpopVerifier) clientProof(w http.ResponseWriter, r *http.Request, reg *registry.Registry, c *registry.Client, endpoint string) (string, *oautherr.Error) {
	nonce := c.DPoPNonceRequired()
	if nonce {
		if n := v.nonces.issue(reg, v.clock.Now()); n != "" {
			w.Header().Set(oautherr.HeaderDPoPNonce, n)
		}
	}
	return v.verify(r.Context(), r, reg, dpopTarget{method: r.Method, url: endpoint, nonce: nonce})
}

// boundKeyMatches reports whether a grant (an authorization code with
// dpop_jkt, a refresh token of a Public client) bound to thumbprint bound
// ("" for none) may be used with the proof's key jkt.
func boundKeyMatches(bound, jkt string) bool {
	return bound == "" || subtle.ConstantTimeCompare([]byte(bound), []byte(jkt)) == 1
}

// validJKT checks the syntax of a JWK SHA-256 thumbprint: 32 bytes,
// base64url without padding (RFC 9449 §10's dpop_jkt).
func validJKT(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}
