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
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store"
)

const (
	// requestURIPrefix starts every request_uri (RFC 9126 §2.2); a random
	// 256-bit value follows.
	requestURIPrefix = "urn:ietf:params:oauth:request_uri:"
	// pushedRequestLifetime is how long a request_uri can be used: long
	// enough to send the browser to the authorization endpoint, short
	// enough that a leaked one is of little use (RFC 9126 §2.2 and §7.3).
	pushedRequestLifetime = 60 * time.Second
	// pushedInteractionLifetime is how long the login and consent pages of
	// a used request_uri may take before the person must start again.
	pushedInteractionLifetime = 15 * time.Minute
	// paramPushed carries the resume handle of a used request_uri through
	// the login and consent pages (see pushedRequest).
	paramPushed = "pushed_request"
)

// pushedParams are the parameters a pushed request keeps: those the
// authorization endpoint reads. Client credentials are never kept.
var pushedParams = append(slices.Clone(authorizeParams), paramResource)

// pushedResponse is RFC 9126 §2.2's successful response.
type pushedResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int64  `json:"expires_in"`
}

// pushAuthorizationRequest is the pushed authorization request endpoint
// (RFC 9126 §2). The client authenticates as at the token endpoint (public
// clients send client_id only); the parameters are checked as the
// authorization endpoint checks them (validateAuthRequest), and every
// error, an unregistered redirect_uri too, is answered here as JSON (§2.3),
// never redirected. A request_uri among them is invalid_request (§2.1). The
// answer is 201 with a single-use request_uri bound to the client's object,
// valid for pushedRequestLifetime.
func (s *Server) pushAuthorizationRequest(w http.ResponseWriter, r *http.Request) {
	reg := s.reg.Current()
	profile := s.profile
	resp, e := func() (*pushedResponse, *oautherr.Error) {
		v, e := parseFormValues(w, r)
		if e != nil {
			return nil, e
		}
		p, e := singleValued(v)
		if e != nil {
			return nil, e
		}
		client, e := s.clientAuth.authenticate(r, reg, p)
		if e != nil {
			return nil, e
		}
		profile = client.Profile()
		if _, ok := v["request_uri"]; ok {
			return nil, oautherr.Newf(oautherr.InvalidRequest, "request_uri cannot be pushed (RFC 9126 §2.1): push the authorization request's parameters themselves.")
		}
		kept := url.Values{}
		for _, k := range pushedParams {
			if vs, ok := v[k]; ok {
				kept[k] = vs
			}
		}
		kept.Set("client_id", client.ID)
		// RFC 9449 §10.1: a DPoP proof sent with the push binds the code
		// to its key, as dpop_jkt would; both must then name one key.
		jkt, e := s.dpop.clientProof(w, r, reg, client, s.issuer+PathPushedAuthorizationRequest)
		if e != nil {
			return nil, e
		}
		if jkt != "" {
			if pushed := kept.Get(paramDPoPJKT); pushed != "" && pushed != jkt {
				return nil, oautherr.Newf(oautherr.InvalidRequest, "dpop_jkt is not the thumbprint of the DPoP proof's key: send one of them, or make them name the same key.")
			}
			kept.Set(paramDPoPJKT, jkt)
		}
		if _, pageErr, redirErr := s.validateAuthRequest(reg, kept); pageErr != nil || redirErr != nil {
			return nil, cmp.Or(pageErr, redirErr)
		}
		raw := requestURIPrefix + newSecret()
		if err := s.store.CreatePushedRequest(r.Context(), store.PushedRequest{Hash: store.HashToken(raw), ClientID: client.ID,
			ClientUID: client.Source.UID, Params: kept, ExpiresAt: s.clock.Now().Add(pushedRequestLifetime)}); err != nil {
			return nil, serverError(err)
		}
		return &pushedResponse{RequestURI: raw, ExpiresIn: int64(pushedRequestLifetime / time.Second)}, nil
	}()
	if e != nil {
		s.writeError(w, r, e, profile)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

// pushedRequest resolves an authorization request that refers to a pushed
// one (RFC 9126 §4). Its request_uri is used up at once (a second use of it
// is refused, from any replica), and the use gives the pushed request a
// resume handle that the login and consent pages carry on (paramPushed)
// until the code is issued (issueCode ends the pushed request). It returns
// the pushed parameters, which replace the request's: of the request only
// client_id is read. A request that refers to no pushed request comes back
// as it is, with resume "". The errors are for the error page (the
// redirect URI is not known yet); one with a Cause is a server error.
func (s *Server) pushedRequest(ctx context.Context, reg *registry.Registry, v url.Values) (params url.Values, resume string, e *oautherr.Error) {
	uri, resume := v.Get("request_uri"), v.Get(paramPushed)
	if uri == "" && resume == "" {
		return v, "", nil
	}
	if len(v["client_id"]) > 1 || len(v["request_uri"]) > 1 || len(v[paramPushed]) > 1 || (uri != "" && resume != "") {
		return nil, "", oautherr.Newf(oautherr.InvalidRequest, "A request parameter is repeated.")
	}
	client, e := authorizeClient(reg, v.Get("client_id"))
	if e != nil {
		return nil, "", e
	}
	var (
		pr  store.PushedRequest
		err error
	)
	if uri != "" {
		resume = newSecret()
		pr, err = s.store.UsePushedRequest(ctx, store.HashToken(uri), client.ID, store.HashToken(resume),
			s.clock.Now().Add(pushedInteractionLifetime))
	} else {
		pr, err = s.store.ResumePushedRequest(ctx, store.HashToken(resume), client.ID)
	}
	switch {
	case err == nil:
	case uri == "" && grantGone(err):
		return nil, "", pushedEnded()
	case errors.Is(err, store.ErrAlreadyUsed):
		return nil, "", oautherr.Newf(oautherr.InvalidRequestURI, "The request_uri was used before: push a new authorization request for every authorization.")
	case errors.Is(err, store.ErrExpired):
		return nil, "", oautherr.Newf(oautherr.InvalidRequestURI, "The request_uri has expired: push the authorization request again and send the browser here within expires_in.")
	case grantGone(err):
		return nil, "", oautherr.New(oautherr.InvalidRequestURI)
	default:
		return nil, "", serverError(err)
	}
	if !sameClient(client, pr.ClientUID) {
		// Pushed by an earlier object with this client ID (deleted and
		// recreated since): not this client's.
		return nil, "", oautherr.New(oautherr.InvalidRequestURI)
	}
	params = url.Values{}
	for k, vs := range pr.Params {
		params[k] = vs
	}
	params.Set("client_id", client.ID)
	return params, resume, nil
}

// pushedEnded is the error for a resume handle whose pushed request has
// ended: its code was issued, or the login took too long.
func pushedEnded() *oautherr.Error {
	return oautherr.Newf(oautherr.InvalidRequestURI, "This sign-in request has ended. Start again from the application.")
}
