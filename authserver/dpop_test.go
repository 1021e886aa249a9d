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

package authserver_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
)

// dpopKey is a client's DPoP key pair.
type dpopKey struct {
	t      testing.TB
	alg    jose.SignatureAlgorithm
	signer jose.Signer
	priv   crypto.Signer
	jkt    string
}

// newDPoPKey makes a key of alg (ES256, ES384, EdDSA, RS256 or PS256) and a
// go-jose signer that puts its public key into the header of every proof.
func newDPoPKey(t testing.TB, alg jose.SignatureAlgorithm) *dpopKey {
	t.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: priv},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{t: t, alg: alg, signer: signer, priv: priv, jkt: base64.RawURLEncoding.EncodeToString(sum)}
}

// proofClaims are a proof's claims; set to "" (or nil) to leave one out.
type proofClaims map[string]any

// claims are the claims of a good proof for htm and htu at now.
func (k *dpopKey) claims(htm, htu string, now time.Time) proofClaims {
	return proofClaims{"jti": store.NewID(), "htm": htm, "htu": htu, "iat": now.Unix()}
}

// sign makes a proof with go-jose.
func (k *dpopKey) sign(c proofClaims) string {
	k.t.Helper()
	payload, _ := json.Marshal(c)
	jws, err := k.signer.Sign(payload)
	if err != nil {
		k.t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

// proof is a good proof for htm and htu at now.
func (k *dpopKey) proof(htm, htu string, now time.Time) string {
	return k.sign(k.claims(htm, htu, now))
}

// handCrafted signs header and claims by hand (ES256 with priv, or HS256
// with hsKey), for the proofs go-jose refuses to make.
func handCrafted(t testing.TB, header, claims map[string]any, priv *ecdsa.PrivateKey, hsKey []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	var sig []byte
	switch {
	case priv != nil:
		sum := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case hsKey != nil:
		m := hmac.New(sha256.New, hsKey)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// ecJWK is the JWK of an EC key, with its private part when private.
func ecJWK(k *ecdsa.PrivateKey, private bool) map[string]any {
	b := func(i *big.Int) string { return base64.RawURLEncoding.EncodeToString(i.FillBytes(make([]byte, 32))) }
	m := map[string]any{"kty": "EC", "crv": "P-256", "x": b(k.X), "y": b(k.Y)}
	if private {
		m["d"] = b(k.D)
	}
	return m
}

// tokenRequest sends a token request with the given DPoP headers (none
// when empty) and Basic credentials (none when user is "").
func (f *fixture) dpopPost(path string, form url.Values, user, pass string, proofs ...string) *http.Response {
	f.t.Helper()
	return f.dpopDo(http.MethodPost, path, form, func(h http.Header) {
		if user != "" {
			req := http.Request{Header: h}
			req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
		}
		for _, p := range proofs {
			h.Add("DPoP", p)
		}
	})
}

func (f *fixture) dpopDo(method, path string, form url.Values, header func(http.Header)) *http.Response {
	f.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, f.issuer+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	header(req.Header)
	resp, err := noRedirect().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// ccForm is the client_credentials request of client cc.
func ccForm() url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {ccSecret}}
}

// tokenBody decodes a successful token response.
func tokenBody(t testing.TB, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %v", resp.StatusCode, m)
	}
	return m
}

// boundTo returns the cnf.jkt of an access token ("" for none).
func (f *fixture) boundTo(t *testing.T, tok string) string {
	t.Helper()
	cnf, _ := f.verifyAccessToken(t, tok)["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// TestDPoPClientCredentials: a proof with each supported algorithm gets a
// DPoP token bound to its key (cnf.jkt, token_type DPoP), which
// introspection reports; without a proof the token is a bearer token, and
// the metadata lists the algorithms.
func TestDPoPClientCredentials(t *testing.T) {
	f := newFixture(t)
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.RS256, jose.PS256} {
		k := newDPoPKey(t, alg)
		m := tokenBody(t, f.dpopPost(authserver.PathToken, ccForm(), "", "", k.proof("POST", f.issuer+authserver.PathToken, f.clock.Now())))
		tok, _ := m["access_token"].(string)
		if m["token_type"] != "DPoP" {
			t.Errorf("%s: token_type = %v, want DPoP", alg, m["token_type"])
		}
		if got := f.boundTo(t, tok); got != k.jkt {
			t.Errorf("%s: cnf.jkt = %q, want %q", alg, got, k.jkt)
		}
		in := f.introspectAs(t, apiRS, apiRSSecret, tok)
		if cnf, _ := in["cnf"].(map[string]any); in["active"] != true || in["token_type"] != "DPoP" || cnf["jkt"] != k.jkt {
			t.Errorf("%s: introspection = %v, want active, token_type DPoP, cnf.jkt %s", alg, in, k.jkt)
		}
	}
	m := tokenBody(t, f.dpopPost(authserver.PathToken, ccForm(), "", ""))
	if tok, _ := m["access_token"].(string); m["token_type"] != "Bearer" || f.boundTo(t, tok) != "" {
		t.Errorf("without a proof: token_type %v, cnf %q; want Bearer, none", m["token_type"], f.boundTo(t, tok))
	}
	if in := f.introspectAs(t, apiRS, apiRSSecret, m["access_token"].(string)); in["token_type"] != "Bearer" || in["cnf"] != nil {
		t.Errorf("introspection of a bearer token = %v", in)
	}
	resp, err := http.Get(f.issuer + authserver.PathOAuthMetadata)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	algs, _ := md["dpop_signing_alg_values_supported"].([]any)
	for _, want := range []string{"ES256", "ES384", "EdDSA", "RS256", "PS256"} {
		if !slices.Contains(algs, any(want)) {
			t.Errorf("dpop_signing_alg_values_supported = %v, lacks %s", algs, want)
		}
	}
	for _, a := range algs {
		if s := a.(string); s == "none" || strings.HasPrefix(s, "HS") {
			t.Errorf("dpop_signing_alg_values_supported lists %s", s)
		}
	}
}

// TestDPoPProofChecks: each check of RFC 9449 §4.3 refuses a proof that
// fails it with 400 invalid_dpop_proof, and the variants §4.3 lets through
// (htu with a query, another letter case or the default port) pass.
func TestDPoPProofChecks(t *testing.T) {
	f := newFixture(t)
	k := newDPoPKey(t, jose.ES256)
	other := newDPoPKey(t, jose.ES256)
	htu := f.issuer + authserver.PathToken
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	goodHeader := func() map[string]any {
		return map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": ecJWK(ec, false)}
	}
	now := func() time.Time { return f.clock.Now() }
	with := func(mut func(proofClaims)) string {
		c := k.claims("POST", htu, now())
		mut(c)
		return k.sign(c)
	}
	u, _ := url.Parse(f.issuer)
	for _, tc := range []struct {
		name   string
		proofs func() []string
		ok     bool
		// want is in the description of the error: the check that refused
		// it.
		want string
	}{
		{"good", func() []string { return []string{k.proof("POST", htu, now())} }, true, ""},
		{"htu with a query and a fragment", func() []string { return []string{k.proof("POST", htu+"?x=1#f", now())} }, true, ""},
		{"htu with another letter case and the default port", func() []string {
			return []string{k.proof("POST", "HTTP://"+strings.ToUpper(u.Hostname())+":"+u.Port()+authserver.PathToken, now())}
		}, true, ""},
		{"iat 59s ago", func() []string {
			return []string{with(func(c proofClaims) { c["iat"] = now().Add(-59 * time.Second).Unix() })}
		}, true, ""},
		{"iat 4s ahead", func() []string {
			return []string{with(func(c proofClaims) { c["iat"] = now().Add(4 * time.Second).Unix() })}
		}, true, ""},

		{"wrong htm", func() []string { return []string{k.proof("GET", htu, now())} }, false, "htm"},
		{"wrong htu path", func() []string { return []string{k.proof("POST", f.issuer+authserver.PathUserinfo, now())} }, false, "htu"},
		{"wrong htu host", func() []string { return []string{k.proof("POST", "http://evil.example"+authserver.PathToken, now())} }, false, "htu"},
		{"wrong htu scheme", func() []string {
			return []string{k.proof("POST", strings.Replace(htu, "http://", "https://", 1), now())}
		}, false, "htu"},
		{"stale iat", func() []string {
			return []string{with(func(c proofClaims) { c["iat"] = now().Add(-61 * time.Second).Unix() })}
		}, false, "too old"},
		{"future iat", func() []string {
			return []string{with(func(c proofClaims) { c["iat"] = now().Add(6 * time.Second).Unix() })}
		}, false, "in the future"},
		{"no jti", func() []string { return []string{with(func(c proofClaims) { delete(c, "jti") })} }, false, "must carry jti"},
		{"no iat", func() []string { return []string{with(func(c proofClaims) { delete(c, "iat") })} }, false, "must carry jti"},
		{"two DPoP headers", func() []string { return []string{k.proof("POST", htu, now()), k.proof("POST", htu, now())} }, false, "one DPoP header"},
		{"not a JWT", func() []string { return []string{"not.a.jwt"} }, false, "not a JWT"},
		{"bad signature: the header names another key", func() []string {
			p := k.proof("POST", htu, now())
			o := other.proof("POST", htu, now())
			return []string{strings.Split(o, ".")[0] + "." + strings.Split(p, ".")[1] + "." + strings.Split(p, ".")[2]}
		}, false, "signature"},
		{"bad signature: payload changed", func() []string {
			p := strings.Split(k.proof("POST", htu, now()), ".")
			c, _ := json.Marshal(k.claims("POST", htu, now()))
			return []string{p[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + p[2]}
		}, false, "signature"},
		{"private key in jwk", func() []string {
			h := goodHeader()
			h["jwk"] = ecJWK(ec, true)
			return []string{handCrafted(t, h, k.claims("POST", htu, now()), ec, nil)}
		}, false, "public key (jwk)"},
		{"no jwk", func() []string {
			h := goodHeader()
			delete(h, "jwk")
			return []string{handCrafted(t, h, k.claims("POST", htu, now()), ec, nil)}
		}, false, "must carry the public key"},
		{"symmetric jwk", func() []string {
			h := goodHeader()
			h["jwk"] = map[string]any{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))}
			return []string{handCrafted(t, h, k.claims("POST", htu, now()), ec, nil)}
		}, false, "public key (jwk)"},
		{"alg none", func() []string {
			h := goodHeader()
			h["alg"] = "none"
			return []string{handCrafted(t, h, k.claims("POST", htu, now()), nil, nil)}
		}, false, "dpop_signing_alg_values_supported"},
		{"alg HS256", func() []string {
			h := goodHeader()
			h["alg"] = "HS256"
			return []string{handCrafted(t, h, k.claims("POST", htu, now()), nil, []byte("0123456789abcdef0123456789abcdef"))}
		}, false, "dpop_signing_alg_values_supported"},
		{"wrong typ", func() []string {
			h := goodHeader()
			h["typ"] = "JWT"
			return []string{handCrafted(t, h, k.claims("POST", htu, now()), ec, nil)}
		}, false, "typ must be dpop+jwt"},
		{"no typ", func() []string {
			h := goodHeader()
			delete(h, "typ")
			return []string{handCrafted(t, h, k.claims("POST", htu, now()), ec, nil)}
		}, false, "typ must be dpop+jwt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The hand-crafted good header passes: the failures above are
			// the changed part's.
			if tc.name == "good" {
				tokenBody(t, f.dpopPost(authserver.PathToken, ccForm(), "", "", handCrafted(t, goodHeader(), k.claims("POST", htu, now()), ec, nil)))
			}
			resp := f.dpopPost(authserver.PathToken, ccForm(), "", "", tc.proofs()...)
			if tc.ok {
				tokenBody(t, resp)
				return
			}
			desc := errorDescription(t, resp, http.StatusBadRequest, oautherr.InvalidDPoPProof)
			if !strings.Contains(desc, tc.want) {
				t.Errorf("error_description = %q, want one about %q", desc, tc.want)
			}
		})
	}
}

// errorDescription checks an error response like expectError and returns
// its description.
func errorDescription(t *testing.T, resp *http.Response, status int, code oautherr.Code) string {
	t.Helper()
	body := errorBody(t, resp)
	if resp.StatusCode != status || body["error"] != string(code) {
		t.Errorf("status %d, error %q (%s); want %d %s", resp.StatusCode, body["error"], body["error_description"], status, code)
	}
	return body["error_description"]
}

// TestDPoPReplay: a proof is single-use, on every replica (the store's
// FirstUse): sent again, to this server or to another server on the same
// store, it gets invalid_dpop_proof. The same jti from another key is
// another proof.
func TestDPoPReplay(t *testing.T) {
	f := newFixture(t)
	k := newDPoPKey(t, jose.ES256)
	htu := f.issuer + authserver.PathToken
	c := k.claims("POST", htu, f.clock.Now())
	p := k.sign(c)
	tokenBody(t, f.dpopPost(authserver.PathToken, ccForm(), "", "", p))
	expectError(t, f.dpopPost(authserver.PathToken, ccForm(), "", "", p), http.StatusBadRequest, oautherr.InvalidDPoPProof)
	replica := f.replica(t)
	expectError(t, replica(authserver.PathToken, ccForm(), p), http.StatusBadRequest, oautherr.InvalidDPoPProof)
	// A new proof with the same jti, made by another key, is not a replay.
	o := newDPoPKey(t, jose.ES256)
	tokenBody(t, f.dpopPost(authserver.PathToken, ccForm(), "", "", o.sign(c)))
}

// replica is a second server of the same issuer on the same store and
// snapshot (another replica behind the same Service): it sends a form
// with a proof to it.
func (f *fixture) replica(t *testing.T) func(path string, form url.Values, proof string) *http.Response {
	t.Helper()
	s, err := authserver.New(authserver.Config{Issuer: f.issuer, Registry: f.holder, Store: f.store, Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	return func(path string, form url.Values, proof string) *http.Response {
		req := httptest.NewRequest(http.MethodPost, f.issuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}
}

// editClient changes one client of the fixture's snapshot.
func (f *fixture) editClient(id string, mut func(*snapshot.Client)) {
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == id {
			mut(d.Client)
		}
	})
}

// TestDPoPRequired: a client whose policy requires DPoP, or which asks for
// DPoP-bound access tokens itself, gets invalid_dpop_proof without a proof,
// at every grant that issues tokens.
func TestDPoPRequired(t *testing.T) {
	for name, mut := range map[string]func(*snapshot.Client){
		"policy dpop Required":         func(c *snapshot.Client) { c.Policy.DPoP = snapshot.DPoPRequired },
		"client dpopBoundAccessTokens": func(c *snapshot.Client) { c.DPoPBoundAccessTokens = true },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.editClient("cc", mut)
			f.editClient("pw", mut)
			expectError(t, f.dpopPost(authserver.PathToken, ccForm(), "", ""), http.StatusBadRequest, oautherr.InvalidDPoPProof)
			pw := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}}
			expectError(t, f.dpopPost(authserver.PathToken, pw, "pw", pwSecret), http.StatusBadRequest, oautherr.InvalidDPoPProof)
			k := newDPoPKey(t, jose.ES256)
			m := tokenBody(t, f.dpopPost(authserver.PathToken, pw, "pw", pwSecret, k.proof("POST", f.issuer+authserver.PathToken, f.clock.Now())))
			if m["token_type"] != "DPoP" {
				t.Errorf("password grant with a proof: token_type %v", m["token_type"])
			}
		})
	}
}

// TestDPoPNonce: under a policy that requires nonces, a proof without one
// or with a wrong or expired one gets use_dpop_nonce with the nonce to use
// in DPoP-Nonce; a proof with it passes, on this replica and on another
// one (stateless nonces), and every answer carries the current nonce.
func TestDPoPNonce(t *testing.T) {
	f := newFixture(t)
	f.editClient("cc", func(c *snapshot.Client) { c.Policy.DPoPNonce = snapshot.DPoPNonceRequired })
	k := newDPoPKey(t, jose.ES256)
	htu := f.issuer + authserver.PathToken
	withNonce := func(n string) string {
		c := k.claims("POST", htu, f.clock.Now())
		if n != "" {
			c["nonce"] = n
		}
		return k.sign(c)
	}
	useNonce := func(resp *http.Response) string {
		t.Helper()
		n := resp.Header.Get("DPoP-Nonce")
		expectError(t, resp, http.StatusBadRequest, oautherr.UseDPoPNonce)
		if n == "" {
			t.Fatal("use_dpop_nonce without DPoP-Nonce")
		}
		return n
	}
	nonce := useNonce(f.dpopPost(authserver.PathToken, ccForm(), "", "", withNonce("")))
	resp := f.dpopPost(authserver.PathToken, ccForm(), "", "", withNonce(nonce))
	if resp.Header.Get("DPoP-Nonce") == "" {
		t.Error("a token response to a client that needs nonces carries no DPoP-Nonce")
	}
	tokenBody(t, resp)
	// Another replica accepts it: nothing is shared but the snapshot.
	tokenBody(t, f.replica(t)(authserver.PathToken, ccForm(), withNonce(nonce)))

	// A wrong nonce: random, or this one with a changed MAC.
	raw, _ := base64.RawURLEncoding.DecodeString(nonce)
	raw[len(raw)-1] ^= 1
	for _, bad := range []string{"bm9uY2U", base64.RawURLEncoding.EncodeToString(raw)} {
		useNonce(f.dpopPost(authserver.PathToken, ccForm(), "", "", withNonce(bad)))
	}
	// The nonce lasts at least two minutes and at most four.
	f.clock.Advance(2 * time.Minute)
	tokenBody(t, f.dpopPost(authserver.PathToken, ccForm(), "", "", withNonce(nonce)))
	f.clock.Advance(2 * time.Minute)
	fresh := useNonce(f.dpopPost(authserver.PathToken, ccForm(), "", "", withNonce(nonce)))
	if fresh == nonce {
		t.Error("the expired nonce was handed out again")
	}
	tokenBody(t, f.dpopPost(authserver.PathToken, ccForm(), "", "", withNonce(fresh)))
}

// dpopTransport adds a fresh DPoP proof for the request to every request
// (what a DPoP-aware client library does around golang.org/x/oauth2).
type dpopTransport struct {
	key *dpopKey
	f   *fixture
}

func (d dpopTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	u := *r.URL
	u.RawQuery = ""
	r.Header.Set("DPoP", d.key.proof(r.Method, u.String(), d.f.clock.Now()))
	return http.DefaultTransport.RoundTrip(r)
}

// dpopContext makes golang.org/x/oauth2 send a proof of key with every
// request.
func (f *fixture) dpopContext(key *dpopKey) context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: dpopTransport{key: key, f: f}})
}

// TestDPoPAuthorizationCode: golang.org/x/oauth2 with a proof on every
// request runs the authorization code flow of a Public client with the
// code bound to its key (dpop_jkt); the code exchange with another key is
// invalid_grant (and uses the code up), the refresh token is bound to the
// key: a refresh with another key or without a proof is invalid_grant and
// leaves it usable, and one with the key gets a new DPoP token.
func TestDPoPAuthorizationCode(t *testing.T) {
	f := newFixture(t)
	k, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
	conf := oauth2.Config{ClientID: "spa", Endpoint: f.endpoint(oauth2.AuthStyleInParams), RedirectURL: spaRedir, Scopes: []string{"openid"}}
	code := func() (string, string) {
		verifier, opts := pkce()
		loc := f.browser().authorize(conf.AuthCodeURL("s", append(opts, oauth2.SetAuthURLParam("dpop_jkt", k.jkt))...), "alice", alicePass)
		return loc.Query().Get("code"), verifier
	}
	boundCode := func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "invalid_grant") && strings.Contains(err.Error(), "dpop_jkt")
	}
	c, v := code()
	if _, err := conf.Exchange(f.dpopContext(other), c, oauth2.VerifierOption(v)); !boundCode(err) {
		t.Fatalf("code exchange with another key than dpop_jkt: %v, want invalid_grant", err)
	}
	c, v = code()
	if _, err := conf.Exchange(context.Background(), c, oauth2.VerifierOption(v)); !boundCode(err) {
		t.Fatalf("code exchange of a dpop_jkt code without a proof: %v, want invalid_grant", err)
	}
	c, v = code()
	tok, err := conf.Exchange(f.dpopContext(k), c, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "DPoP" || f.boundTo(t, tok.AccessToken) != k.jkt || tok.RefreshToken == "" {
		t.Fatalf("token = %s, bound to %q, refresh %t; want DPoP, %q, a refresh token", tok.TokenType, f.boundTo(t, tok.AccessToken), tok.RefreshToken != "", k.jkt)
	}
	if in := f.introspectAs(t, "web", webSecret, tok.RefreshToken); in["active"] != false {
		t.Errorf("another client introspects the refresh token: %v", in)
	}

	refresh := func(ctx context.Context, rt string) (*oauth2.Token, error) {
		return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
	}
	for name, ctx := range map[string]context.Context{"another key": f.dpopContext(other), "no proof": context.Background()} {
		if _, err := refresh(ctx, tok.RefreshToken); err == nil || !strings.Contains(err.Error(), "bound to a DPoP key") {
			t.Errorf("refresh with %s: %v, want invalid_grant", name, err)
		}
	}
	next, err := refresh(f.dpopContext(k), tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh with the key after refused attempts: %v", err)
	}
	if next.TokenType != "DPoP" || f.boundTo(t, next.AccessToken) != k.jkt || next.RefreshToken == tok.RefreshToken {
		t.Errorf("refreshed token = %s bound to %q", next.TokenType, f.boundTo(t, next.AccessToken))
	}
	// The successor is bound too.
	if _, err := refresh(f.dpopContext(other), next.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("refresh of the successor with another key: %v, want invalid_grant", err)
	}

	// A malformed dpop_jkt is invalid_request, in the redirect.
	_, opts := pkce()
	resp, _ := f.browser().get(conf.AuthCodeURL("s", append(opts, oauth2.SetAuthURLParam("dpop_jkt", "short"))...))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("error") != "invalid_request" {
		t.Errorf("malformed dpop_jkt: %d %s", resp.StatusCode, loc)
	}
}

// TestDPoPConfidentialRefresh: a Confidential client's refresh token is not
// bound to a key (its client authentication constrains it), and each new
// access token is bound to the proof it comes with.
func TestDPoPConfidentialRefresh(t *testing.T) {
	f := newFixture(t)
	k, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
		RedirectURL: webRedir, Scopes: []string{"openid"}}
	verifier, opts := pkce()
	loc := f.browser().authorize(conf.AuthCodeURL("s", opts...), "alice", alicePass)
	tok, err := conf.Exchange(f.dpopContext(k), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if in := f.introspectAs(t, "web", webSecret, tok.RefreshToken); in["active"] != true || in["cnf"] != nil {
		t.Errorf("Confidential client's refresh token introspection = %v, want active, no cnf", in)
	}
	next, err := conf.TokenSource(f.dpopContext(other), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	if err != nil {
		t.Fatalf("refresh with another key: %v", err)
	}
	if f.boundTo(t, next.AccessToken) != other.jkt {
		t.Errorf("refreshed access token bound to %q, want the new proof's %q", f.boundTo(t, next.AccessToken), other.jkt)
	}
}

// TestDPoPDeviceFlow: the device code poll with a proof binds the tokens,
// the Public client's refresh token included.
func TestDPoPDeviceFlow(t *testing.T) {
	f := newFixture(t)
	k := newDPoPKey(t, jose.ES256)
	d := f.startDevice(tvClient, "openid")
	approveDevice(t, f, d)
	form := url.Values{"grant_type": {authserver.DeviceCodeGrantType}, "device_code": {d.DeviceCode}, "client_id": {"tv"}}
	m := tokenBody(t, f.dpopPost(authserver.PathToken, form, "", "", k.proof("POST", f.issuer+authserver.PathToken, f.clock.Now())))
	if m["token_type"] != "DPoP" || f.boundTo(t, m["access_token"].(string)) != k.jkt {
		t.Fatalf("device token = %v", m)
	}
	rt, _ := m["refresh_token"].(string)
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"tv"}}
	expectError(t, f.dpopPost(authserver.PathToken, refresh, "", ""), http.StatusBadRequest, oautherr.InvalidGrant)
	tokenBody(t, f.dpopPost(authserver.PathToken, refresh, "", "", k.proof("POST", f.issuer+authserver.PathToken, f.clock.Now())))
}

// TestDPoPUserinfo: a DPoP-bound token works at userinfo with the DPoP
// scheme and a proof of its key for this request and this token (ath);
// anything else is 401 with a challenge: a wrong ath, another key, no
// proof, the bound token as Bearer, a bearer token with the DPoP scheme,
// and a missing nonce where the client's policy requires one.
func TestDPoPUserinfo(t *testing.T) {
	f := newFixture(t)
	k, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
	htu := f.issuer + authserver.PathUserinfo
	pw := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}, "scope": {"openid"}}
	bound := tokenBody(t, f.dpopPost(authserver.PathToken, pw, "pw", pwSecret, k.proof("POST", f.issuer+authserver.PathToken, f.clock.Now())))["access_token"].(string)
	bearer := tokenBody(t, f.dpopPost(authserver.PathToken, pw, "pw", pwSecret))["access_token"].(string)
	ath := func(tok string) string {
		s := sha256.Sum256([]byte(tok))
		return base64.RawURLEncoding.EncodeToString(s[:])
	}
	proofFor := func(key *dpopKey, tok, method string, mut ...func(proofClaims)) string {
		c := key.claims(method, htu, f.clock.Now())
		c["ath"] = ath(tok)
		for _, m := range mut {
			m(c)
		}
		return key.sign(c)
	}
	get := func(scheme, tok string, proofs ...string) *http.Response {
		return f.dpopDo(http.MethodGet, authserver.PathUserinfo, nil, func(h http.Header) {
			h.Set("Authorization", scheme+" "+tok)
			for _, p := range proofs {
				h.Add("DPoP", p)
			}
		})
	}
	resp := get("DPoP", bound, proofFor(k, bound, "GET"))
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `"sub":"team/alice"`) {
		t.Fatalf("userinfo with a bound token and its proof: %d %s", resp.StatusCode, body)
	}
	challenge := func(resp *http.Response, scheme string, code oautherr.Code) {
		t.Helper()
		wwwa := resp.Header.Get("WWW-Authenticate")
		expectError(t, resp, http.StatusUnauthorized, code)
		if !strings.HasPrefix(wwwa, scheme+" ") || !strings.Contains(wwwa, `error="`+string(code)+`"`) {
			t.Errorf("WWW-Authenticate = %q, want a %s challenge with error %s", wwwa, scheme, code)
		}
	}
	challenge(get("DPoP", bound, proofFor(k, bound, "GET", func(c proofClaims) { c["ath"] = ath(bearer) })), "DPoP", oautherr.InvalidDPoPProof)
	challenge(get("DPoP", bound, proofFor(k, bound, "GET", func(c proofClaims) { delete(c, "ath") })), "DPoP", oautherr.InvalidDPoPProof)
	challenge(get("DPoP", bound, proofFor(other, bound, "GET")), "DPoP", oautherr.InvalidDPoPProof)
	challenge(get("DPoP", bound, proofFor(k, bound, "POST")), "DPoP", oautherr.InvalidDPoPProof)
	if d := errorDescription(t, get("DPoP", bound), http.StatusUnauthorized, oautherr.InvalidDPoPProof); !strings.Contains(d, "Send a DPoP proof") {
		t.Errorf("a bound token without a proof: %q", d)
	}
	challenge(get("DPoP", bound), "DPoP", oautherr.InvalidDPoPProof)
	challenge(get("Bearer", bound), "Bearer", oautherr.InvalidToken)
	challenge(get("Bearer", bound, proofFor(k, bound, "GET")), "Bearer", oautherr.InvalidToken)
	challenge(get("DPoP", bearer, proofFor(k, bearer, "GET")), "DPoP", oautherr.InvalidToken)
	if resp := get("Bearer", bearer); resp.StatusCode != 200 {
		t.Errorf("a bearer token as Bearer: %d", resp.StatusCode)
	}
	// A replayed proof.
	p := proofFor(k, bound, "GET")
	if resp := get("DPoP", bound, p); resp.StatusCode != 200 {
		t.Fatalf("userinfo: %d", resp.StatusCode)
	}
	challenge(get("DPoP", bound, p), "DPoP", oautherr.InvalidDPoPProof)

	// The client's policy requires nonces: use_dpop_nonce, then the nonce
	// works.
	f.editClient("pw", func(c *snapshot.Client) { c.Policy.DPoPNonce = snapshot.DPoPNonceRequired })
	resp = get("DPoP", bound, proofFor(k, bound, "GET"))
	nonce := resp.Header.Get("DPoP-Nonce")
	challenge(resp, "DPoP", oautherr.UseDPoPNonce)
	if nonce == "" {
		t.Fatal("use_dpop_nonce at userinfo without DPoP-Nonce")
	}
	if resp := get("DPoP", bound, proofFor(k, bound, "GET", func(c proofClaims) { c["nonce"] = nonce })); resp.StatusCode != 200 {
		t.Errorf("userinfo with the nonce: %d", resp.StatusCode)
	}
}

// TestDPoPPushedRequest: a DPoP proof sent with a pushed authorization
// request binds the code to its key (RFC 9449 §10.1), as dpop_jkt would:
// the exchange with another key is invalid_grant, with the key a DPoP
// token. A pushed dpop_jkt naming another key than the proof's is refused.
func TestDPoPPushedRequest(t *testing.T) {
	f := newFixture(t)
	k, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader), RedirectURL: webRedir,
		Scopes: []string{"openid"}}
	push := func(extra ...oauth2.AuthCodeOption) (*http.Response, string) {
		verifier, opts := pkce()
		u, _ := url.Parse(conf.AuthCodeURL("s", append(opts, extra...)...))
		req, _ := http.NewRequest(http.MethodPost, f.issuer+authserver.PathPushedAuthorizationRequest, strings.NewReader(u.Query().Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", url.QueryEscape(webSecret))
		resp, err := (&http.Client{Transport: dpopTransport{key: k, f: f}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, verifier
	}
	code := func() (string, string) {
		resp, verifier := push()
		loc := f.browser().authorize(byRequestURI(f, "web", requestURI(t, resp)), "alice", alicePass)
		return loc.Query().Get("code"), verifier
	}
	c, v := code()
	if _, err := conf.Exchange(f.dpopContext(other), c, oauth2.VerifierOption(v)); err == nil || !strings.Contains(err.Error(), "dpop_jkt") {
		t.Fatalf("code exchange with another key than the pushed proof's: %v, want invalid_grant", err)
	}
	c, v = code()
	tok, err := conf.Exchange(f.dpopContext(k), c, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "DPoP" || f.boundTo(t, tok.AccessToken) != k.jkt {
		t.Fatalf("token = %s bound to %q, want DPoP bound to %q", tok.TokenType, f.boundTo(t, tok.AccessToken), k.jkt)
	}
	resp, _ := push(oauth2.SetAuthURLParam("dpop_jkt", other.jkt))
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "invalid_request") || !strings.Contains(string(body), "dpop_jkt") {
		t.Fatalf("push with dpop_jkt of another key than the proof's: %d %s, want 400 invalid_request", resp.StatusCode, body)
	}
}
