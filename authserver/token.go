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
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/scope"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/tokens"
)

// maxFormBytes caps the body of form requests.
const maxFormBytes = 64 << 10

// tokenResponse is RFC 6749 §5.1's successful response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// parseForm reads a form-encoded POST body once (RFC 6749 §3.2): the
// content type must be application/x-www-form-urlencoded, the body is
// capped, parameters may not be repeated or sent in the query. The resource
// parameter (RFC 8707), which may repeat, comes back apart, as sent.
func parseForm(w http.ResponseWriter, r *http.Request) (params, []string, *oautherr.Error) {
	v, e := parseFormValues(w, r)
	if e != nil {
		return nil, nil, e
	}
	p, e := singleValued(v)
	return p, v[paramResource], e
}

// parseFormValues is parseForm before the repeated parameters are checked:
// the body's parameters as sent.
func parseFormValues(w http.ResponseWriter, r *http.Request) (url.Values, *oautherr.Error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "The Content-Type must be application/x-www-form-urlencoded.")
	}
	if r.URL.RawQuery != "" {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "Send parameters in the request body, not in the URL.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "The request body is too large or unreadable.")
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "The request body is not valid form encoding.")
	}
	return v, nil
}

// token is the token endpoint (RFC 6749 §3.2, §4, §5, §6; RFC 8707 §2.2;
// RFC 9449 §5). Every request runs one fixed pipeline: parse the form,
// authenticate the client, check the grant type is known and allowed for
// the client, check the scopes are the client's and the resources are
// granted to it, check the DPoP proof (dpop.go), run the grant
// (grantTable), write the response.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	reg := s.reg.Current()
	profile := s.profile
	resp, e := func() (*tokenResponse, *oautherr.Error) {
		p, resources, e := parseForm(w, r)
		if e != nil {
			return nil, e
		}
		gt := p["grant_type"]
		requestInfo(r.Context()).grantType = grantTypeLabel(gt)
		client, e := s.clientAuth.authenticate(r, reg, p)
		if e != nil {
			return nil, e
		}
		profile = client.Profile()
		if gt == "" {
			return nil, oautherr.Newf(oautherr.InvalidRequest, "grant_type is required.")
		}
		g, ok := s.grants[gt]
		if !ok {
			return nil, oautherr.New(oautherr.UnsupportedGrantType)
		}
		if !client.AllowsGrant(gt) {
			return nil, oautherr.New(oautherr.UnauthorizedClient)
		}
		scopes, e := requestedScopes(client, p["scope"])
		if e != nil {
			return nil, e
		}
		if resources, e = requestedResources(client, resources); e != nil {
			return nil, e
		}
		jkt, e := s.dpop.tokenProof(w, r, reg, client, s.issuer+PathToken)
		if e != nil {
			return nil, e
		}
		return g.handle(r.Context(), &tokenRequest{reg: reg, client: client, params: p, scopes: scopes, resources: resources,
			now: s.clock.Now(), authStyle: authStyle(r), dpopKey: jkt})
	}()
	if e != nil {
		s.writeError(w, r, e, profile)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// grantTypeLabel bounds the grant_type label of the metrics: a known grant
// type (snapshot.GrantTypes), "other", or "" when none was sent.
func grantTypeLabel(gt string) string {
	if gt == "" || slices.Contains(snapshot.GrantTypes, gt) {
		return gt
	}
	return "other"
}

// requestedScopes parses a request's scope parameter (RFC 6749 §3.3) for
// the token, device authorization and authorization endpoints: invalid_scope
// when it is malformed or names a scope that is not the client's; nil when
// the request names none (the caller picks the default).
func requestedScopes(c *registry.Client, raw string) ([]string, *oautherr.Error) {
	scopes, ok := scope.Parse(raw)
	if !ok {
		return nil, oautherr.Newf(oautherr.InvalidScope, "The scope parameter is malformed.")
	}
	for _, sc := range scopes {
		if !c.AllowsScope(sc) {
			return nil, oautherr.New(oautherr.InvalidScope)
		}
	}
	return scopes, nil
}

// writeJSON writes a JSON response that must not be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	oautherr.NoStore(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if tr, ok := v.(*tokenResponse); ok {
		_, _ = w.Write(tr.appendJSON(make([]byte, 0, 64+len(tr.AccessToken)+len(tr.RefreshToken)+len(tr.IDToken))))
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// appendJSON appends what json.Encoder writes for the response (the hot
// path of every grant), without reflection.
func (t *tokenResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"access_token":`...)
	b = tokens.AppendJSONString(b, t.AccessToken)
	b = append(b, `,"token_type":`...)
	b = tokens.AppendJSONString(b, t.TokenType)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, t.ExpiresIn, 10)
	for _, f := range [...]struct{ name, v string }{{"refresh_token", t.RefreshToken}, {"scope", t.Scope}, {"id_token", t.IDToken}} {
		if f.v != "" {
			b = append(b, ',', '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = tokens.AppendJSONString(b, f.v)
		}
	}
	return append(b, '}', '\n')
}
