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
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/ratelimit"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
)

// dummyDigest is compared against when the client is unknown, so an unknown
// client and a wrong secret take the same time.
var dummyDigest = func() []byte {
	d := sha256.Sum256([]byte("authops: no such client"))
	return d[:]
}()

// clientAuthenticator is client authentication at the token, device
// authorization, introspection and revocation endpoints: the client a
// request authenticates as, or the error to answer. The introspection
// endpoint alone also takes ResourceServers (introspector); everywhere else
// a ResourceServer's ID is an unknown client.
type clientAuthenticator interface {
	authenticate(r *http.Request, reg *registry.Registry, p params) (*registry.Client, *oautherr.Error)
	introspector(r *http.Request, reg *registry.Registry, p params) (introspector, *oautherr.Error)
}

// introspector is who calls the introspection endpoint: a confidential
// client or a ResourceServer (exactly one is set).
type introspector struct {
	client *registry.Client
	rs     *registry.ResourceServer
}

// newClientAuthenticator is client authentication by credentials, behind
// the ClientAuth limit when there is one (nil: none).
func newClientAuthenticator(clock store.Clock, limit *ratelimit.Limiter, assertions *assertionVerifier) clientAuthenticator {
	var a clientAuthenticator = credentials{clock: clock, assertions: assertions}
	if limit != nil {
		a = throttled{next: a, limit: limit, clock: clock}
	}
	return a
}

// credentials implements client authentication (RFC 6749 §2.3.1,
// §3.2.1): client_secret_basic (with the form-urlencoding of §2.3.1),
// client_secret_post, none for public clients, or a client assertion
// (RFC 7523 §2.2: private_key_jwt or a ServiceAccount token, see
// assertion.go). HTTP Basic with an empty password from a public client
// counts as none (golang.org/x/oauth2 sends that). Using two methods at
// once is invalid_request. An unknown client, a wrong secret, a method the
// client is not registered for and a disabled client all get the same
// invalid_client, after the same work; an assertion that fails a check of
// a client registered for assertions gets a description of the check.
type credentials struct {
	clock      store.Clock
	assertions *assertionVerifier
}

// presentation is what a request presents to authenticate: an ID and a
// secret with method snapshot.Auth*, or a client assertion (method
// methodAssertion).
type presentation struct {
	id, secret, method string
	assertion          *jwt.JSONWebToken
}

func (a credentials) authenticate(r *http.Request, reg *registry.Registry, p params) (*registry.Client, *oautherr.Error) {
	pr, e := presented(r, p)
	if e != nil {
		return nil, e
	}
	return a.client(r, reg, pr)
}

// introspector authenticates a confidential client, or a ResourceServer by
// its ID (rs/<namespace>/<name>, never a client ID: those have no "/") and
// secret, sent with HTTP Basic or in the body like a client's. An unknown
// ResourceServer and a wrong secret get the same invalid_client after the
// same work, as for clients.
func (a credentials) introspector(r *http.Request, reg *registry.Registry, p params) (introspector, *oautherr.Error) {
	pr, e := presented(r, p)
	if e != nil {
		return introspector{}, e
	}
	id, secret := pr.id, pr.secret
	if !strings.Contains(id, "/") {
		c, e := a.client(r, reg, pr)
		if e == nil && c.Public() {
			e = authFailure(r)
		}
		return introspector{client: c}, e
	}
	rs, found := reg.ResourceServer(id)
	if found {
		requestInfo(r.Context()).clientID = rs.ID
	}
	digests := [][]byte{dummyDigest}
	if found {
		if d := rs.SecretDigests(a.clock.Now()); len(d) > 0 {
			digests = d
		}
	}
	if !secretMatches(secret, digests) || !found || pr.assertion != nil {
		return introspector{}, authFailure(r)
	}
	return introspector{rs: rs}, nil
}

// authFailure is invalid_client; after HTTP Basic it carries a Basic
// challenge.
func authFailure(r *http.Request) *oautherr.Error {
	return &oautherr.Error{Code: oautherr.InvalidClient, Basic: len(r.Header.Values("Authorization")) == 1}
}

// secretMatches compares the secret's digest with every digest in constant
// time.
func secretMatches(secret string, digests [][]byte) bool {
	sum := sha256.Sum256([]byte(secret))
	match := 0
	for _, d := range digests {
		match |= subtle.ConstantTimeCompare(sum[:], d)
	}
	return match == 1
}

// client authenticates the client with what a request presented.
func (a credentials) client(r *http.Request, reg *registry.Registry, pr presentation) (*registry.Client, *oautherr.Error) {
	fail := authFailure(r)
	id, secret, method := pr.id, pr.secret, pr.method
	client, found := reg.Client(id)
	if found {
		requestInfo(r.Context()).clientID = client.ID
	}
	if method == methodAssertion {
		if !found || client.Public() || client.Disabled {
			return nil, fail
		}
		if e := a.assertions.verify(r.Context(), client, pr.assertion); e != nil {
			return nil, e
		}
		return client, nil
	}
	if method == snapshot.AuthNone {
		if !found || !client.Public() || client.TokenEndpointAuthMethod != snapshot.AuthNone || client.Disabled {
			return nil, fail
		}
		return client, nil
	}
	digests := [][]byte{dummyDigest}
	if found && !client.Public() {
		if d := client.SecretDigests(a.clock.Now()); len(d) > 0 {
			digests = d
		}
	}
	match := secretMatches(secret, digests)
	if !found || client.Public() || !match || client.TokenEndpointAuthMethod != method || client.Disabled {
		return nil, fail
	}
	return client, nil
}

// presented reads the credentials a request presents and the method they
// use (snapshot.Auth*, or methodAssertion).
func presented(r *http.Request, p params) (presentation, *oautherr.Error) {
	tok, e := presentedAssertion(r, p)
	switch {
	case e != nil:
		return presentation{}, e
	case tok != nil:
		id := p["client_id"]
		if id == "" {
			id = assertionSubject(tok)
		}
		return presentation{id: id, method: methodAssertion, assertion: tok}, nil
	}
	id, secret, method, e := presentedSecret(r, p)
	return presentation{id: id, secret: secret, method: method}, e
}

// presentedSecret reads a client ID and secret (or none).
func presentedSecret(r *http.Request, p params) (id, secret, method string, e *oautherr.Error) {
	authz := r.Header.Values("Authorization")
	switch {
	case len(authz) > 1:
		return "", "", "", oautherr.Newf(oautherr.InvalidRequest, "Send one Authorization header.")
	case len(authz) == 1:
		u, pw, ok := r.BasicAuth()
		if !ok {
			return "", "", "", &oautherr.Error{Code: oautherr.InvalidClient, Basic: true}
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(u)
		secret, err2 = url.QueryUnescape(pw)
		if err1 != nil || err2 != nil || id == "" {
			return "", "", "", &oautherr.Error{Code: oautherr.InvalidClient, Basic: true}
		}
		if _, ok := p["client_secret"]; ok {
			return "", "", "", oautherr.Newf(oautherr.InvalidRequest, "Use one client authentication method, not two.")
		}
		if cid, ok := p["client_id"]; ok && cid != id {
			return "", "", "", oautherr.Newf(oautherr.InvalidRequest, "client_id in the body differs from the one in the Authorization header.")
		}
		if secret == "" {
			return id, "", snapshot.AuthNone, nil
		}
		return id, secret, snapshot.AuthClientSecretBasic, nil
	case p["client_secret"] != "":
		return p["client_id"], p["client_secret"], snapshot.AuthClientSecretPost, nil
	default:
		return p["client_id"], "", snapshot.AuthNone, nil
	}
}

// throttled puts client authentication behind the ClientAuth limit (see
// Limits): a caller over the limit gets too_many_requests before its
// credentials are looked at. Each attempt is counted as a failure before
// the credentials are checked (one atomic step, so that at most Burst
// attempts at once get checked) and taken back unless it fails with
// invalid_client.
type throttled struct {
	next  clientAuthenticator
	limit *ratelimit.Limiter
	clock store.Clock
}

func (a throttled) authenticate(r *http.Request, reg *registry.Registry, p params) (*registry.Client, *oautherr.Error) {
	key, now, e := a.reserve(r, reg, p)
	if e != nil {
		return nil, e
	}
	c, e := a.next.authenticate(r, reg, p)
	a.settle(key, now, e)
	return c, e
}

func (a throttled) introspector(r *http.Request, reg *registry.Registry, p params) (introspector, *oautherr.Error) {
	key, now, e := a.reserve(r, reg, p)
	if e != nil {
		return introspector{}, e
	}
	c, e := a.next.introspector(r, reg, p)
	a.settle(key, now, e)
	return c, e
}

// reserve counts an attempt as a failure of the client (or ResourceServer)
// it names, from the request's source: too_many_requests when over the
// limit.
func (a throttled) reserve(r *http.Request, reg *registry.Registry, p params) (key ratelimit.Key, now time.Time, e *oautherr.Error) {
	ri := requestInfo(r.Context())
	id := presentedClientID(r, p)
	if !reg.Known(id) {
		id = "" // unknown IDs share one key per source
	}
	key = a.limit.Key(id, ri.source)
	now = a.clock.Now()
	if wait := a.limit.Reserve(key, now); wait > 0 {
		return key, now, tooMany(ri, wait)
	}
	return key, now, nil
}

// settle takes the attempt back unless it failed with invalid_client.
func (a throttled) settle(key ratelimit.Key, now time.Time, e *oautherr.Error) {
	if e == nil || e.Code != oautherr.InvalidClient {
		a.limit.Refund(key, now)
	}
}

// presentedClientID is the client ID a request names: the Basic user name,
// decoded as credentials decodes it (form-urlencoded, RFC 6749 §2.3.1), so
// that an encoded ID counts towards its client's limit; else the client_id
// parameter; else the sub of a client assertion (unverified).
func presentedClientID(r *http.Request, p params) string {
	if u, _, ok := r.BasicAuth(); ok {
		id, _ := url.QueryUnescape(u) // an undecodable name is simply an unknown client
		return id
	}
	if id := p["client_id"]; id != "" || p[paramClientAssertion] == "" {
		return id
	}
	if tok, e := presentedAssertion(r, p); e == nil && tok != nil {
		return assertionSubject(tok)
	}
	return ""
}

// params is a request's parameters: one value each, empty values dropped.
type params map[string]string

// singleValued turns url.Values into params: a repeated parameter is
// invalid_request (RFC 6749 §3.1, §3.2), an empty one counts as absent.
// The resource parameter, which may repeat (RFC 8707 §2), is left out.
func singleValued(v url.Values) (params, *oautherr.Error) {
	p := params{}
	for k, vs := range v {
		if k == paramResource {
			continue
		}
		if len(vs) > 1 {
			return nil, oautherr.Newf(oautherr.InvalidRequest, "A request parameter is repeated.")
		}
		if vs[0] != "" {
			p[k] = vs[0]
		}
	}
	return p, nil
}
