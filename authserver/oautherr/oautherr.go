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

// Package oautherr is the error contract of the authops authorization server:
// one typed code, one table from code to HTTP status and default description
// (as docs/authserver.md documents it), and one writer.
//
// Two profiles decide how a code goes on the wire. Extended (the default) is
// the documented table. RFC is strict RFC behaviour for clients that need it:
// 405 for a wrong method, RFC 8628 §3.5's 400 and expired_token for device
// polling, invalid_grant for locked or disabled accounts.
package oautherr

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/authops/authops/authserver/snapshot"
)

// Code is an OAuth error code.
type Code string

// The documented error codes.
const (
	AccessDenied         Code = "access_denied"
	InvalidRequest       Code = "invalid_request"
	InvalidClient        Code = "invalid_client"
	InvalidGrant         Code = "invalid_grant"
	UnauthorizedClient   Code = "unauthorized_client"
	UnsupportedGrantType Code = "unsupported_grant_type"
	InvalidScope         Code = "invalid_scope"
	// InvalidTarget is RFC 8707 §2's code for a resource parameter that is
	// malformed or names an audience the client is not granted.
	InvalidTarget Code = "invalid_target"
	NotSupported  Code = "not_supported"
	// InvalidDPoPProof is RFC 9449 §5's code for a DPoP proof that is
	// missing where required, malformed, or fails a check.
	InvalidDPoPProof Code = "invalid_dpop_proof"
	// UseDPoPNonce is RFC 9449 §8's code for a DPoP proof without the
	// server's current nonce; the response carries a DPoP-Nonce header.
	UseDPoPNonce         Code = "use_dpop_nonce"
	AccountLocked        Code = "account_locked"
	AccountDisabled      Code = "account_disabled"
	AuthorizationPending Code = "authorization_pending"
	AuthorizationExpired Code = "authorization_expired"
	SlowDown             Code = "slow_down"
	// ExpiredToken is RFC 8628's name for AuthorizationExpired; only the RFC
	// profile sends it.
	ExpiredToken Code = "expired_token"
	// ServerError is sent when the server cannot answer (the store is down);
	// it is RFC 6749's code for that, with status 500.
	ServerError Code = "server_error"
	// TemporarilyUnavailable (503, RFC 6749 §4.1.2.1) is sent when the
	// store cannot be reached; retrying later can succeed. An extension of
	// the documented table, like ServerError.
	TemporarilyUnavailable Code = "temporarily_unavailable"
	// TooManyRequests (429, with Retry-After) is sent to a caller whose
	// failed attempts from its address exceed the limit. An extension of
	// the documented table.
	TooManyRequests Code = "too_many_requests"
	// InvalidRequestURI is sent by the authorization endpoint for a
	// request_uri (RFC 9126 §4) that is unknown, expired, used before or
	// another client's: RFC 9101 §7.1's code for a request_uri that
	// cannot be used. An extension of the documented table.
	InvalidRequestURI Code = "invalid_request_uri"
)

// The error codes of a protected resource (RFC 6750 §3.1), sent by the
// userinfo endpoint with a Bearer challenge (see Error.Bearer).
const (
	InvalidToken      Code = "invalid_token"
	InsufficientScope Code = "insufficient_scope"
)

// Entry is one row of the error table.
type Entry struct {
	Code        Code
	Status      int
	Description string
}

// Table is the documented error table, in the documented order. access_denied
// is 302 because it only ever travels in the authorization-code browser
// redirect; everything else is a JSON response with the given status.
var Table = []Entry{
	{AccessDenied, http.StatusFound, "Authorization has been denied by the user."},
	{InvalidRequest, http.StatusBadRequest, "The request is malformed. Check parameters."},
	{InvalidClient, http.StatusUnauthorized, "Authentication error, invalid authentication method, lack of credentials, etc."},
	{InvalidGrant, http.StatusBadRequest, "The authorization grant, token or credentials are expired or invalid."},
	{UnauthorizedClient, http.StatusBadRequest, "The authenticated client is not authorized to use this authorization grant type."},
	{UnsupportedGrantType, http.StatusBadRequest, "The authorization grant type is not supported by the authorization server."},
	{InvalidScope, http.StatusBadRequest, "The requested scope is invalid, unknown, malformed, or exceeds the scope granted by the resource owner."},
	{InvalidTarget, http.StatusBadRequest, "The requested resource is invalid, missing, unknown, or malformed."},
	{InvalidDPoPProof, http.StatusBadRequest, "The DPoP proof is missing, malformed or invalid."},
	{UseDPoPNonce, http.StatusBadRequest, "Resend the request with a DPoP proof that carries the nonce in the DPoP-Nonce header."},
	{NotSupported, http.StatusBadRequest, "HTTP method not supported for this request."},
	{AccountLocked, http.StatusUnauthorized, "Account is temporarily locked."},
	{AccountDisabled, http.StatusUnauthorized, "Account is disabled."},
	{AuthorizationPending, http.StatusUnauthorized, "Waiting for user to authorize application."},
	{AuthorizationExpired, http.StatusUnauthorized, "The authorization has expired waiting for user to authorize."},
	{SlowDown, http.StatusUnauthorized, "Slow down polling to the requested interval."},
}

var serverError = Entry{ServerError, http.StatusInternalServerError, "The server could not handle the request. Try again later."}

// Extensions are the codes sent beyond the documented table: the store is
// unreachable, the caller is rate-limited, or a pushed authorization
// request cannot be used.
var Extensions = []Entry{
	{TemporarilyUnavailable, http.StatusServiceUnavailable, "The server is temporarily unable to handle the request. Try again later."},
	{TooManyRequests, http.StatusTooManyRequests, "Too many failed attempts. Try again after the time in Retry-After."},
	{InvalidRequestURI, http.StatusBadRequest, "The request_uri is unknown, expired, used before or not this application's. Push the authorization request again."},
}

// BearerTable holds the codes of a protected resource (RFC 6750 §3.1).
var BearerTable = []Entry{
	{InvalidToken, http.StatusUnauthorized, "The access token is invalid, expired or revoked."},
	{InsufficientScope, http.StatusForbidden, "The access token lacks a scope the resource requires."},
}

var byCode = func() map[Code]Entry {
	m := make(map[Code]Entry, len(Table)+len(Extensions)+len(BearerTable)+1)
	for _, e := range slices.Concat(Table, Extensions, BearerTable) {
		m[e.Code] = e
	}
	m[ServerError] = serverError
	return m
}()

// Lookup returns the table entry of a code.
func Lookup(c Code) (Entry, bool) {
	e, ok := byCode[c]
	return e, ok
}

// Profile selects how errors are sent: the documented table (Extended) or
// strict RFC behaviour (RFC).
type Profile string

// Profiles: the values of a policy's errorProfile (package snapshot).
const (
	Extended Profile = snapshot.ErrorProfileExtended
	RFC      Profile = snapshot.ErrorProfileRFC
)

// ParseProfile parses a profile name as used by GrantPolicy's errorProfile
// and the --default-error-profile flag. The empty string is Extended.
func ParseProfile(s string) (Profile, error) {
	switch Profile(s) {
	case "", Extended:
		return Extended, nil
	case RFC:
		return RFC, nil
	}
	return "", fmt.Errorf("unknown error profile %q (want Extended or RFC)", s)
}

// Error is an error the server returns to a client. Description, when set,
// replaces the table's default; it is always a fixed text chosen by the
// server, never request input. Cause is logged, never sent.
type Error struct {
	Code        Code
	Description string
	// Allow lists the methods an endpoint accepts (for NotSupported).
	Allow []string
	// Basic is set when the client authenticated (or tried to) with HTTP
	// Basic; an invalid_client response then carries a Basic challenge.
	Basic bool
	// Bearer is set for the errors of a protected resource (RFC 6750 §3):
	// the response carries a Bearer challenge naming the error code.
	Bearer bool
	// DPoP is set for the errors of a protected resource whose request used
	// the DPoP scheme (RFC 9449 §7.1): the response carries a DPoP
	// challenge naming the error code and the accepted algorithms instead
	// of a Bearer one, and the DPoP proof codes are 401.
	DPoP bool
	// Nonce, when set, goes into the DPoP-Nonce header (RFC 9449 §8).
	Nonce string
	Cause error
}

// New returns an Error with the table's default description.
func New(c Code) *Error { return &Error{Code: c} }

// Newf returns an Error with a fixed description.
func Newf(c Code, description string) *Error { return &Error{Code: c, Description: description} }

// Method returns a not_supported error for an endpoint that accepts allow.
func Method(allow ...string) *Error { return &Error{Code: NotSupported, Allow: allow} }

// WithCause records the internal cause (logged, never sent).
func (e *Error) WithCause(err error) *Error { e.Cause = err; return e }

func (e *Error) Error() string {
	msg := string(e.Code)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Body is the JSON body of every error response.
type Body struct {
	Error            Code   `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorURI         string `json:"error_uri"`
}

// Response is an error as it goes on the wire under a profile.
type Response struct {
	Status int
	Body   Body
	// Allow, WWWAuthenticate and DPoPNonce are set when the response
	// carries them.
	Allow           string
	WWWAuthenticate string
	DPoPNonce       string
}

// Resolve applies the table and the profile to e. realm is the issuer, used
// in the Basic challenge. access_denied resolves to 400 here: Resolve builds
// JSON responses, and the 302 of the table is the browser redirect, which
// the authorize endpoint builds itself.
func Resolve(e *Error, p Profile, realm string) Response {
	code := e.Code
	entry, ok := byCode[code]
	if !ok {
		entry = serverError
		code = ServerError
	}
	desc := entry.Description
	if e.Description != "" {
		desc = e.Description
	}
	r := Response{Status: entry.Status}
	switch code {
	case AccessDenied:
		r.Status = http.StatusBadRequest
	case NotSupported:
		r.Allow = strings.Join(e.Allow, ", ")
		if p == RFC {
			r.Status = http.StatusMethodNotAllowed
			code = InvalidRequest
		}
	case InvalidClient:
		if e.Basic {
			r.WWWAuthenticate = fmt.Sprintf("Basic realm=%q", realm)
		}
	case AuthorizationPending, SlowDown:
		if p == RFC {
			r.Status = http.StatusBadRequest
		}
	case AuthorizationExpired:
		if p == RFC {
			r.Status = http.StatusBadRequest
			code = ExpiredToken
		}
	case AccountLocked, AccountDisabled:
		if p == RFC {
			r.Status = http.StatusBadRequest
			code = InvalidGrant
			desc = byCode[InvalidGrant].Description
		}
	}
	switch {
	case e.DPoP:
		if code == InvalidDPoPProof || code == UseDPoPNonce {
			r.Status = http.StatusUnauthorized
		}
		r.WWWAuthenticate = DPoPChallenge(realm) + `, error="` + string(code) + `"`
	case e.Bearer:
		r.WWWAuthenticate = bearerChallenge(realm) + `, error="` + string(code) + `"`
	}
	r.DPoPNonce = e.Nonce
	r.Body = Body{Error: code, ErrorDescription: desc}
	return r
}

func bearerChallenge(realm string) string { return `Bearer realm="` + realm + `"` }

// dpopAlgs is the algs parameter of a DPoP challenge.
var dpopAlgs = strings.Join(snapshot.DPoPAlgorithms, " ")

// DPoPChallenge is the DPoP challenge of a protected resource (RFC 9449
// §7.1) without an error code: its realm and the accepted algorithms.
func DPoPChallenge(realm string) string {
	return `DPoP realm="` + realm + `", algs="` + dpopAlgs + `"`
}

// WriteBearerChallenge answers a request to a protected resource that
// carried no bearer token (RFC 6750 §3.1): 401 with a Bearer challenge
// without an error code, and no body.
func WriteBearerChallenge(w http.ResponseWriter, realm string) {
	NoStore(w.Header())
	w.Header().Set("WWW-Authenticate", bearerChallenge(realm))
	w.WriteHeader(http.StatusUnauthorized)
}

// HeaderDPoPNonce carries a DPoP nonce (RFC 9449 §8).
const HeaderDPoPNonce = "DPoP-Nonce"

// NoStore sets the headers every token and error response carries.
func NoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// Write sends e as a JSON error response under profile p and returns what it
// sent (for metrics and logs).
func Write(w http.ResponseWriter, e *Error, p Profile, realm string) Response {
	r := Resolve(e, p, realm)
	h := w.Header()
	NoStore(h)
	h.Set("Content-Type", "application/json")
	if r.Allow != "" {
		h.Set("Allow", r.Allow)
	}
	if r.WWWAuthenticate != "" {
		h.Set("WWW-Authenticate", r.WWWAuthenticate)
	}
	if r.DPoPNonce != "" {
		h.Set(HeaderDPoPNonce, r.DPoPNonce)
	}
	w.WriteHeader(r.Status)
	_ = json.NewEncoder(w).Encode(r.Body)
	return r
}
