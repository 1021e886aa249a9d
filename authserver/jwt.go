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
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authops/authops/authserver/registry"
)

// newSecret returns 256 random bits in base64url: authorization codes,
// refresh tokens, session IDs and CSRF tokens.
func newSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("authserver: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// accessClaims are the claims of an RFC 9068 access token.
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JTI      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	// Family is the refresh-token family the token was issued from;
	// revoking the family revokes the token.
	Family string `json:"fam,omitempty"`
}

// idClaims are the claims of an OpenID Connect ID token.
type idClaims struct {
	Issuer            string   `json:"iss"`
	Subject           string   `json:"sub"`
	Audience          string   `json:"aud"`
	Expiry            int64    `json:"exp"`
	IssuedAt          int64    `json:"iat"`
	AuthTime          int64    `json:"auth_time,omitempty"`
	Nonce             string   `json:"nonce,omitempty"`
	AuthorizedParty   string   `json:"azp"`
	AccessTokenHash   string   `json:"at_hash,omitempty"`
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Email             string   `json:"email,omitempty"`
	Groups            []string `json:"groups,omitempty"`
}

var errNoSigningKey = errors.New("the snapshot has no key that signs now")

// issue describes the tokens one successful grant issues.
type issue struct {
	client   *registry.Client
	account  *registry.Account // nil for client_credentials
	scopes   []string
	jti      string // "" for a new one
	family   string // refresh family, "" if none
	refresh  string // raw refresh token to return, "" if none
	authTime time.Time
	nonce    string
	expires  time.Time // access token expiry; zero for now + lifetime
}

// mint signs the access token (and the ID token when openid is granted)
// with the snapshot's current key.
func (s *Server) mint(reg *registry.Registry, now time.Time, is issue) (*tokenResponse, error) {
	key, ok := reg.SigningKey(now)
	if !ok {
		return nil, errNoSigningKey
	}
	c := is.client
	exp := is.expires
	if exp.IsZero() {
		exp = now.Add(registry.Seconds(c.Policy.AccessTokenLifetimeSeconds))
	}
	jti := is.jti
	if jti == "" {
		jti = newID()
	}
	aud := c.Audiences
	if len(aud) == 0 {
		aud = []string{c.ID}
	}
	sub := c.ID
	if is.account != nil {
		sub = is.account.Subject
	}
	ac := accessClaims{Issuer: s.issuer, Subject: sub, Audience: aud, Expiry: exp.Unix(), IssuedAt: now.Unix(),
		JTI: jti, ClientID: c.ID, Scope: joinScopes(is.scopes), Family: is.family}
	if !is.authTime.IsZero() {
		ac.AuthTime = is.authTime.Unix()
	}
	at, err := key.Sign(registry.TypAccessToken, ac.appendJSON(make([]byte, 0, 384)))
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: exp.Unix() - now.Unix(),
		RefreshToken: is.refresh, Scope: joinScopes(is.scopes)}
	if is.account != nil && contains(is.scopes, "openid") {
		h := sha256.Sum256([]byte(at))
		ic := idClaims{Issuer: s.issuer, Subject: sub, Audience: c.ID, Expiry: exp.Unix(), IssuedAt: now.Unix(),
			Nonce: is.nonce, AuthorizedParty: c.ID, AccessTokenHash: base64.RawURLEncoding.EncodeToString(h[:16])}
		if !is.authTime.IsZero() {
			ic.AuthTime = is.authTime.Unix()
		}
		addProfileClaims(&ic, is.account, is.scopes)
		if resp.IDToken, err = sign(key, registry.TypIDToken, ic); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func addProfileClaims(ic *idClaims, a *registry.Account, scopes []string) {
	if contains(scopes, "profile") {
		ic.Name = a.DisplayName
		ic.PreferredUsername = a.Username
	}
	if contains(scopes, "email") {
		ic.Email = a.Email
	}
	if contains(scopes, "groups") {
		ic.Groups = a.Groups
	}
}

func sign(key *registry.Key, typ string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return key.Sign(typ, payload)
}

// appendJSON appends the claims as JSON (what encoding/json makes of
// accessClaims, without reflection: this is every token's hot path).
func (c *accessClaims) appendJSON(b []byte) []byte {
	b = append(b, `{"iss":`...)
	b = appendJSONString(b, c.Issuer)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, c.Subject)
	b = append(b, `,"aud":[`...)
	for i, a := range c.Audience {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, a)
	}
	b = append(b, `],"exp":`...)
	b = strconv.AppendInt(b, c.Expiry, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	b = append(b, `,"jti":`...)
	b = appendJSONString(b, c.JTI)
	b = append(b, `,"client_id":`...)
	b = appendJSONString(b, c.ClientID)
	if c.Scope != "" {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, c.Scope)
	}
	if c.AuthTime != 0 {
		b = append(b, `,"auth_time":`...)
		b = strconv.AppendInt(b, c.AuthTime, 10)
	}
	if c.Family != "" {
		b = append(b, `,"fam":`...)
		b = appendJSONString(b, c.Family)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: printable ASCII without
// quote, backslash or HTML characters directly, anything else through
// encoding/json (so the result is byte-identical to json.Marshal).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

var errBadToken = errors.New("not a valid access token")

// verifyAccessToken checks an access token's signature (a key published
// now), typ, issuer and expiry. Revocation is checked by the caller.
//
// Tokens this server signed carry exactly the header of their key, so the
// key is found by comparing that header, the signature is checked without a
// JOSE parser, and a verified token is remembered with its claims (until
// it expires): a resource server introspecting the same token again costs a
// SHA-256 and a map lookup instead of an ECDSA verification. Other headers
// go through go-jose.
func (s *Server) verifyAccessToken(reg *registry.Registry, raw string, now time.Time) (*accessClaims, error) {
	keys := reg.PublishedKeys(now)
	for _, k := range keys {
		if !k.IsOwnHeader(registry.TypAccessToken, raw) {
			continue
		}
		sum := sha256.Sum256([]byte(raw))
		if v, ok := k.Verified(sum, now.Unix()); ok {
			return s.checkClaims(v.(*accessClaims), now)
		}
		payload, ok := k.VerifyOwn(registry.TypAccessToken, raw)
		if !ok {
			return nil, errBadToken
		}
		c, err := s.decodeClaims(payload, now)
		if err == nil {
			k.Remember(sum, c, c.Expiry, now.Unix())
		}
		return c, err
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errBadToken
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		return nil, errBadToken
	}
	var key *registry.Key
	for _, k := range keys {
		if k.ID == h.KeyID {
			key = k
		}
	}
	if key == nil {
		return nil, errBadToken
	}
	payload, err := jws.Verify(&key.Private.PublicKey)
	if err != nil {
		return nil, errBadToken
	}
	return s.decodeClaims(payload, now)
}

func (s *Server) decodeClaims(payload []byte, now time.Time) (*accessClaims, error) {
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errBadToken
	}
	return s.checkClaims(&c, now)
}

// checkClaims checks issuer, expiry and jti. The returned claims may be
// shared (remembered): callers must not modify them.
func (s *Server) checkClaims(c *accessClaims, now time.Time) (*accessClaims, error) {
	if c.Issuer != s.issuer || now.Unix() >= c.Expiry || c.JTI == "" {
		return nil, errBadToken
	}
	return c, nil
}
