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

// Command floor is the benchmark's reference: the least work a
// client_credentials token endpoint can do in Go. Per request it parses the
// form and the HTTP Basic credentials, compares the SHA-256 digest of the
// secret with the known one in constant time, signs an ES256 JWT access
// token and writes the JSON answer. test/bench/load runs it beside the
// authserver with the same load generator, so that authops's token path is
// measured as a ratio to this floor (docs/benchmarks.md). It knows one
// client, "bench" with the secret "benchsecret", and listens on loopback.
//
// GET /readyz answers 200 so that the harness can wait for it like for the
// authserver; it is not on the measured path.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

const (
	clientID     = "bench"
	clientSecret = "benchsecret"
	lifetime     = 3600 // seconds
	scope        = "read"
	audience     = "api"
)

// tokenEndpoint holds what every request reuses: the signing key, the
// digest of the one client's secret, and the encoded JWS header.
type tokenEndpoint struct {
	issuer string
	key    *ecdsa.PrivateKey
	digest [sha256.Size]byte
	header string // base64url of the protected header
}

func newTokenEndpoint(issuer string) (*tokenEndpoint, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	header, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "at+jwt", "kid": "floor-1"})
	if err != nil {
		return nil, err
	}
	return &tokenEndpoint{issuer: issuer, key: key, digest: sha256.Sum256([]byte(clientSecret)),
		header: base64.RawURLEncoding.EncodeToString(header)}, nil
}

// ServeHTTP answers POST grant_type=client_credentials with HTTP Basic
// client authentication: 400 for any other request, 401 for wrong
// credentials, else 200 and a signed access token.
func (e *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if !e.authenticate(r) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	token, err := e.sign(clientID, time.Now())
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	body := make([]byte, 0, len(token)+96)
	body = append(body, `{"access_token":"`...)
	body = append(body, token...)
	body = append(body, `","token_type":"Bearer","expires_in":`...)
	body = strconv.AppendInt(body, lifetime, 10)
	body = append(body, `,"scope":"`+scope+`"}`...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// authenticate checks the Basic credentials: the client id, and the
// secret's SHA-256 digest compared in constant time.
func (e *tokenEndpoint) authenticate(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	sum := sha256.Sum256([]byte(secret))
	return ok && id == clientID && subtle.ConstantTimeCompare(sum[:], e.digest[:]) == 1
}

// sign returns a compact ES256 JWS of the access token's claims.
func (e *tokenEndpoint) sign(subject string, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{
		"iss": e.issuer, "sub": subject, "aud": audience, "client_id": subject, "scope": scope,
		"iat": now.Unix(), "exp": now.Unix() + lifetime, "jti": base64.RawURLEncoding.EncodeToString(jti[:]),
	})
	if err != nil {
		return "", err
	}
	input := e.header + "." + base64.RawURLEncoding.EncodeToString(claims)
	hash := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, e.key, hash[:])
	if err != nil {
		return "", err
	}
	// JWS (RFC 7518 §3.4): R and S as 32-byte big-endian integers.
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig[:]), nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:4600", "Listen address (loopback).")
	flag.Parse()
	endpoint, err := newTokenEndpoint("http://" + *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle("/oauth2/token", endpoint)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	log.Fatal(http.ListenAndServe(*addr, mux))
}
