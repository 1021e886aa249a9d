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

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
)

// dummyDigest is compared against when the client is unknown, so an unknown
// client and a wrong secret take the same time.
var dummyDigest = func() []byte {
	d := sha256.Sum256([]byte("authops: no such client"))
	return d[:]
}()

// checkClient implements client authentication (RFC 6749 §2.3.1,
// §3.2.1): client_secret_basic (with the form-urlencoding of §2.3.1),
// client_secret_post, or none for public clients. HTTP Basic with an empty
// password from a public client counts as none (golang.org/x/oauth2 sends
// that). Using two methods at once is invalid_request. An unknown client, a
// wrong secret, a method the client is not registered for and a disabled
// client all get the same invalid_client, after the same work.
func (s *Server) checkClient(r *http.Request, reg *registry.Registry, p params) (*registry.Client, *oautherr.Error) {
	var (
		id, secret string
		method     string
		basic      bool
	)
	authz := r.Header.Values("Authorization")
	switch {
	case len(authz) > 1:
		return nil, oautherr.Newf(oautherr.InvalidRequest, "Send one Authorization header.")
	case len(authz) == 1:
		basic = true
		u, pw, ok := r.BasicAuth()
		if !ok {
			return nil, &oautherr.Error{Code: oautherr.InvalidClient, Basic: true}
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(u)
		secret, err2 = url.QueryUnescape(pw)
		if err1 != nil || err2 != nil || id == "" {
			return nil, &oautherr.Error{Code: oautherr.InvalidClient, Basic: true}
		}
		if _, ok := p["client_secret"]; ok {
			return nil, oautherr.Newf(oautherr.InvalidRequest, "Use one client authentication method, not two.")
		}
		if cid, ok := p["client_id"]; ok && cid != id {
			return nil, oautherr.Newf(oautherr.InvalidRequest, "client_id in the body differs from the one in the Authorization header.")
		}
		method = "client_secret_basic"
		if secret == "" {
			method = "none"
		}
	case p["client_secret"] != "":
		id, secret, method = p["client_id"], p["client_secret"], "client_secret_post"
	default:
		id, method = p["client_id"], "none"
	}
	fail := &oautherr.Error{Code: oautherr.InvalidClient, Basic: basic}
	client, found := reg.Client(id)
	if found {
		info(r).clientID = client.ID
	}
	if method == "none" {
		if !found || !client.Public() || client.TokenEndpointAuthMethod != "none" || client.Disabled {
			return nil, fail
		}
		return client, nil
	}
	digests := [][]byte{dummyDigest}
	if found && !client.Public() {
		if d := client.SecretDigests(s.clock.Now()); len(d) > 0 {
			digests = d
		}
	}
	sum := sha256.Sum256([]byte(secret))
	match := 0
	for _, d := range digests {
		match |= subtle.ConstantTimeCompare(sum[:], d)
	}
	if !found || client.Public() || match != 1 || client.TokenEndpointAuthMethod != method || client.Disabled {
		return nil, fail
	}
	return client, nil
}

// params is a request's parameters: one value each, empty values dropped.
type params map[string]string

// singleValued turns url.Values into params: a repeated parameter is
// invalid_request (RFC 6749 §3.1, §3.2), an empty one counts as absent.
func singleValued(v url.Values) (params, *oautherr.Error) {
	p := params{}
	for k, vs := range v {
		if len(vs) > 1 {
			return nil, oautherr.Newf(oautherr.InvalidRequest, "A request parameter is repeated.")
		}
		if vs[0] != "" {
			p[k] = vs[0]
		}
	}
	return p, nil
}

// parseScope splits a scope parameter (RFC 6749 §3.3); nil if absent.
func parseScope(s string) ([]string, bool) {
	if s == "" {
		return nil, true
	}
	var out []string
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		for _, c := range tok {
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, false
			}
		}
		if !contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, len(out) > 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !contains(b, x) {
			return false
		}
	}
	return true
}
