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

// Package tokens mints and verifies the authorization server's JWTs: RFC
// 9068 access tokens and OpenID Connect ID tokens, ES256-signed with the
// keys of the current snapshot (package registry holds the key material).
package tokens

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/scope"
	"github.com/authops/authops/authserver/store"
)

// Errors of Mint and VerifyAccess.
var (
	ErrNoSigningKey = errors.New("the snapshot has no key that signs now")
	ErrBadToken     = errors.New("not a valid access token")
)

// Service mints and verifies the tokens of one issuer. It is safe for
// concurrent use.
type Service struct {
	issuer  string
	signers signers
}

// New returns the Service of issuer.
func New(issuer string) *Service { return &Service{issuer: issuer} }

// AccessClaims are the claims of an RFC 9068 access token.
type AccessClaims struct {
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
	// Confirmation binds the token to a DPoP key (RFC 9449 §6.1); nil for
	// a bearer token.
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is the cnf claim of a DPoP-bound token (RFC 7800 §3.1, RFC
// 9449 §6.1).
type Confirmation struct {
	// JKT is the JWK SHA-256 thumbprint (RFC 7638) of the DPoP key,
	// base64url.
	JKT string `json:"jkt"`
}

// BoundKey is the thumbprint of the DPoP key the token is bound to, "" for
// a bearer token.
func (c *AccessClaims) BoundKey() string {
	if c.Confirmation == nil {
		return ""
	}
	return c.Confirmation.JKT
}

// IDClaims are the claims of an OpenID Connect ID token.
type IDClaims struct {
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

// Issue describes the tokens one successful grant issues.
type Issue struct {
	Client  *registry.Client
	Account *registry.Account // nil for client_credentials
	Scopes  []string
	// Audience is the access token's aud (the server decides it, RFC
	// 8707); empty names the client itself.
	Audience []string
	JTI      string // "" for a new one
	Family   string // refresh family, "" if none
	AuthTime time.Time
	Nonce    string
	Expires  time.Time // access token expiry; zero for now + lifetime
	// DPoPKey is the thumbprint of the DPoP key the access token is bound
	// to (its cnf.jkt), "" for a bearer token.
	DPoPKey string
}

// Minted are the signed tokens of an Issue.
type Minted struct {
	AccessToken string
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64
	// IDToken is set when openid was granted to an account.
	IDToken string
}

// Mint signs the access token (and the ID token when openid is granted to
// an account) with the snapshot's current key.
func (s *Service) Mint(reg *registry.Registry, now time.Time, is Issue) (Minted, error) {
	key, ok := reg.SigningKey(now)
	if !ok {
		return Minted{}, ErrNoSigningKey
	}
	sg := s.signers.get(key, now)
	c := is.Client
	exp := is.Expires
	if exp.IsZero() {
		exp = now.Add(registry.Seconds(c.Policy.AccessTokenLifetimeSeconds))
	}
	jti := is.JTI
	if jti == "" {
		jti = store.NewID()
	}
	aud := is.Audience
	if len(aud) == 0 {
		aud = []string{c.ID}
	}
	sub := c.ID
	if is.Account != nil {
		sub = is.Account.Subject
	}
	ac := AccessClaims{Issuer: s.issuer, Subject: sub, Audience: aud, Expiry: exp.Unix(), IssuedAt: now.Unix(),
		JTI: jti, ClientID: c.ID, Scope: scope.Join(is.Scopes), Family: is.Family}
	if is.DPoPKey != "" {
		ac.Confirmation = &Confirmation{JKT: is.DPoPKey}
	}
	if !is.AuthTime.IsZero() {
		ac.AuthTime = is.AuthTime.Unix()
	}
	at, err := sg.sign(TypAccessToken, ac.AppendJSON(make([]byte, 0, 384)))
	if err != nil {
		return Minted{}, err
	}
	m := Minted{AccessToken: at, ExpiresIn: exp.Unix() - now.Unix()}
	if is.Account != nil && slices.Contains(is.Scopes, "openid") {
		h := sha256.Sum256([]byte(at))
		ic := IDClaims{Issuer: s.issuer, Subject: sub, Audience: c.ID, Expiry: exp.Unix(), IssuedAt: now.Unix(),
			Nonce: is.Nonce, AuthorizedParty: c.ID, AccessTokenHash: base64.RawURLEncoding.EncodeToString(h[:16])}
		if !is.AuthTime.IsZero() {
			ic.AuthTime = is.AuthTime.Unix()
		}
		ic.AddProfile(is.Account, is.Scopes)
		payload, err := json.Marshal(ic)
		if err != nil {
			return Minted{}, err
		}
		if m.IDToken, err = sg.sign(TypIDToken, payload); err != nil {
			return Minted{}, err
		}
	}
	return m, nil
}

// AddProfile adds the account's claims that the scopes grant (OIDC Core
// §5.4): profile, email, groups.
func (ic *IDClaims) AddProfile(a *registry.Account, scopes []string) {
	if slices.Contains(scopes, "profile") {
		ic.Name = a.DisplayName
		ic.PreferredUsername = a.Username
	}
	if slices.Contains(scopes, "email") {
		ic.Email = a.Email
	}
	if slices.Contains(scopes, "groups") {
		ic.Groups = a.Groups
	}
}

// AppendJSON appends the claims as JSON (what encoding/json makes of
// AccessClaims, without reflection: this is every token's hot path).
func (c *AccessClaims) AppendJSON(b []byte) []byte {
	b = append(b, `{"iss":`...)
	b = AppendJSONString(b, c.Issuer)
	b = append(b, `,"sub":`...)
	b = AppendJSONString(b, c.Subject)
	b = append(b, `,"aud":[`...)
	for i, a := range c.Audience {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, a)
	}
	b = append(b, `],"exp":`...)
	b = strconv.AppendInt(b, c.Expiry, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	b = append(b, `,"jti":`...)
	b = AppendJSONString(b, c.JTI)
	b = append(b, `,"client_id":`...)
	b = AppendJSONString(b, c.ClientID)
	if c.Scope != "" {
		b = append(b, `,"scope":`...)
		b = AppendJSONString(b, c.Scope)
	}
	if c.AuthTime != 0 {
		b = append(b, `,"auth_time":`...)
		b = strconv.AppendInt(b, c.AuthTime, 10)
	}
	if c.Family != "" {
		b = append(b, `,"fam":`...)
		b = AppendJSONString(b, c.Family)
	}
	if c.Confirmation != nil {
		b = append(b, `,"cnf":{"jkt":`...)
		b = AppendJSONString(b, c.Confirmation.JKT)
		b = append(b, '}')
	}
	return append(b, '}')
}

// AppendJSONString appends s as a JSON string: printable ASCII without
// quote, backslash or HTML characters directly, anything else through
// encoding/json (so the result is byte-identical to json.Marshal).
func AppendJSONString(b []byte, s string) []byte {
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

// VerifyAccess checks an access token's signature (a key published now),
// typ, issuer and expiry. Revocation is checked by the caller. The returned
// claims may be shared (remembered): callers must not modify them.
//
// Tokens this server signed carry exactly the header of their key, so the
// key is found by comparing that header, the signature is checked without a
// JOSE parser, and a verified token is remembered with its claims (until
// it expires): a resource server introspecting the same token again costs a
// SHA-256 and a map lookup instead of an ECDSA verification. Other headers
// go through go-jose.
func (s *Service) VerifyAccess(reg *registry.Registry, raw string, now time.Time) (*AccessClaims, error) {
	keys := reg.PublishedKeys(now)
	for _, k := range keys {
		sg := s.signers.get(k, now)
		if !sg.isOwnHeader(TypAccessToken, raw) {
			continue
		}
		sum := sha256.Sum256([]byte(raw))
		if v, ok := sg.memo.get(sum, now.Unix()); ok {
			return s.checkClaims(v, now)
		}
		payload, ok := sg.verifyOwn(TypAccessToken, raw)
		if !ok {
			return nil, ErrBadToken
		}
		c, err := s.decodeClaims(payload, now)
		if err == nil {
			sg.memo.put(sum, c, c.Expiry, now.Unix())
		}
		return c, err
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, ErrBadToken
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != TypAccessToken {
		return nil, ErrBadToken
	}
	var key *registry.Key
	for _, k := range keys {
		if k.ID == h.KeyID {
			key = k
		}
	}
	if key == nil {
		return nil, ErrBadToken
	}
	payload, err := jws.Verify(&key.Private.PublicKey)
	if err != nil {
		return nil, ErrBadToken
	}
	return s.decodeClaims(payload, now)
}

func (s *Service) decodeClaims(payload []byte, now time.Time) (*AccessClaims, error) {
	var c AccessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, ErrBadToken
	}
	return s.checkClaims(&c, now)
}

// checkClaims checks issuer, expiry and jti.
func (s *Service) checkClaims(c *AccessClaims, now time.Time) (*AccessClaims, error) {
	if c.Issuer != s.issuer || now.Unix() >= c.Expiry || c.JTI == "" {
		return nil, ErrBadToken
	}
	return c, nil
}

// VerifyIDTokenHint checks an ID token this server signed, presented as
// the id_token_hint of RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0 §2): its signature by a published key and its issuer. Its
// expiry is not checked: the specification asks servers to accept expired
// ID tokens as hints.
func (s *Service) VerifyIDTokenHint(reg *registry.Registry, raw string, now time.Time) (*IDClaims, error) {
	for _, k := range reg.PublishedKeys(now) {
		payload, ok := s.signers.get(k, now).verifyOwn(TypIDToken, raw)
		if !ok {
			continue
		}
		var c IDClaims
		if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != s.issuer || c.Audience == "" {
			return nil, ErrBadToken
		}
		return &c, nil
	}
	return nil, ErrBadToken
}
