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
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
)

// authorizeParams are the authorization request parameters the login and
// consent forms carry along; nothing else is kept.
var authorizeParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", paramDPoPJKT}

// paramDPoPJKT binds the authorization code to a DPoP key (RFC 9449 §10):
// the thumbprint of the key whose proof must come with the code exchange.
const paramDPoPJKT = "dpop_jkt"

// authRequest is an authorization request whose client and redirect URI
// are known to be good, so errors can be redirected. The device page makes
// one for the device authorization a person decides on (client, scopes,
// carried and userCode only).
type authRequest struct {
	client      *registry.Client
	redirectURI string // where to send the response
	explicit    bool   // redirect_uri was in the request
	state       string
	nonce       string
	challenge   string
	dpopJKT     string // RFC 9449 §10's dpop_jkt, "" if none
	scopes      []string
	resources   []string   // RFC 8707 resource indicators, nil if none
	carried     url.Values // the parameters the pages' forms carry on
	userCode    string     // the device page's user code, as stored
	pushed      store.Hash // the resume handle's hash of a pushed request, zero if none
}

// authorize is the authorization endpoint (RFC 6749 §3.1, §4.1.1, §4.1.2;
// PKCE RFC 7636 §4.3; iss RFC 9207). GET and POST both carry an
// authorization request; a POST from the login or consent page also carries
// that page's answer. A request that refers to a pushed authorization
// request (RFC 9126 §4: request_uri) is that request (pushedRequest); a
// client whose policy requires pushed requests gets invalid_request for any
// other. The client and redirect URI are checked first and an error there
// (or with the request_uri) is shown on a page, never redirected; later
// errors go back to the redirect URI with error, error_description, state
// and iss.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w.Header())
	reg := s.reg.Current()
	in := s.authorizeInteraction()
	vals, action, e := readPageForm(w, r)
	if e != nil {
		s.errorPage(w, r, e)
		return
	}
	vals, resume, e := s.pushedRequest(r.Context(), reg, vals)
	if e != nil && e.Cause != nil {
		in.serverErrorPage(w, r, e.Cause)
		return
	}
	if e != nil {
		s.errorPage(w, r, e)
		return
	}
	ar, pageErr, redirErr := s.validateAuthRequest(reg, vals)
	if pageErr != nil {
		s.errorPage(w, r, pageErr)
		return
	}
	requestInfo(r.Context()).clientID = ar.client.ID
	switch {
	case resume != "":
		ar.pushed = store.HashToken(resume)
		ar.carried = url.Values{"client_id": {ar.client.ID}, paramPushed: {resume}}
	case ar.client.PARRequired():
		redirErr = oautherr.Newf(oautherr.InvalidRequest, "This application must push its authorization requests first "+
			"(RFC 9126) and send only client_id and request_uri here.")
	}
	if redirErr != nil {
		s.redirectError(w, r, ar, redirErr)
		return
	}
	if action != "" && !in.checkCSRF(r) {
		s.errorPage(w, r, oautherr.Newf(oautherr.InvalidRequest, "The form expired or did not come from this server. Start again from the application."))
		return
	}
	if action != "" && action != "login" && action != "consent" {
		s.errorPage(w, r, oautherr.Newf(oautherr.InvalidRequest, "Unknown form action."))
		return
	}
	acc, authTime, ok := in.answer(w, r, reg, ar, action)
	if !ok {
		return
	}
	if ar.client.Policy.Consent == snapshot.ConsentPrompt {
		ok, err := s.store.HasConsent(r.Context(), acc.Subject, ar.client.ID, ar.client.Source.UID, ar.scopes)
		if err != nil {
			s.redirectError(w, r, ar, serverError(err))
			return
		}
		if !ok {
			in.consentPage(w, r, ar, acc)
			return
		}
	}
	s.issueCode(w, r, ar, acc, authTime)
}

// authorizeInteraction is the login and consent of the authorization
// endpoint: a login sends the browser back to the authorization request
// (303), a decision ends in a redirect to the client, and server errors are
// redirected too.
func (s *Server) authorizeInteraction() *interaction {
	return &interaction{s: s, name: "authorize", action: s.issuerURL.Path + PathAuthorize,
		cookies: s.browserCookies("", s.issuerURL.Path+"/oauth2/"), signedIn: s.backToAuthorize, decided: s.authorizeDecided,
		fail: s.redirectError}
}

// backToAuthorize sends the browser back to the authorization request
// after a login (303).
func (s *Server) backToAuthorize(w http.ResponseWriter, r *http.Request, ar *authRequest, _ *registry.Account) {
	u := s.issuer + PathAuthorize + "?" + ar.carried.Encode()
	oautherr.NoStore(w.Header())
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// authorizeDecided answers the consent page: access_denied to the client,
// or the consent is stored and the code issued.
func (s *Server) authorizeDecided(w http.ResponseWriter, r *http.Request, ar *authRequest, acc *registry.Account, authTime time.Time, allow bool) {
	if !allow {
		s.redirectError(w, r, ar, oautherr.New(oautherr.AccessDenied))
		return
	}
	if err := s.store.SaveConsent(r.Context(), store.Consent{AccountID: acc.Subject, ClientID: ar.client.ID,
		ClientUID: ar.client.Source.UID, Scopes: ar.scopes, ExpiresAt: s.clock.Now().Add(s.consentTTL)}); err != nil {
		s.redirectError(w, r, ar, serverError(err))
		return
	}
	s.issueCode(w, r, ar, acc, authTime)
}

// validateAuthRequest checks an authorization request. pageErr is for
// errors that must not be redirected (unknown client, bad redirect URI);
// redirErr for the rest.
func (s *Server) validateAuthRequest(reg *registry.Registry, v url.Values) (ar *authRequest, pageErr, redirErr *oautherr.Error) {
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(v[k]) > 1 {
			return nil, oautherr.Newf(oautherr.InvalidRequest, "A request parameter is repeated."), nil
		}
	}
	client, e := authorizeClient(reg, v.Get("client_id"))
	if e != nil {
		return nil, e, nil
	}
	ar = &authRequest{client: client, carried: url.Values{}}
	if ru := v.Get("redirect_uri"); ru != "" {
		if !registeredRedirect(client.RedirectURIs, ru) {
			return nil, oautherr.Newf(oautherr.InvalidRequest, "The redirect_uri is not registered for this application."), nil
		}
		ar.redirectURI, ar.explicit = ru, true
	} else if len(client.RedirectURIs) == 1 {
		ar.redirectURI = client.RedirectURIs[0]
	} else {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "redirect_uri is required."), nil
	}
	if len(v["state"]) == 1 {
		ar.state = v.Get("state")
	}
	for _, k := range authorizeParams {
		if len(v[k]) > 1 {
			return ar, nil, oautherr.Newf(oautherr.InvalidRequest, "A request parameter is repeated.")
		}
		if x := v.Get(k); x != "" {
			ar.carried.Set(k, x)
		}
	}
	ar.nonce = v.Get("nonce")
	if v.Get("response_type") != "code" {
		return ar, nil, oautherr.Newf(oautherr.InvalidRequest, "response_type must be code.")
	}
	if !client.AllowsGrant("authorization_code") {
		return ar, nil, oautherr.New(oautherr.UnauthorizedClient)
	}
	if ar.scopes, ar.resources, e = authorizedScopes(client, v.Get("scope"), v[paramResource]); e != nil {
		return ar, nil, e
	}
	if ar.resources != nil {
		ar.carried[paramResource] = ar.resources
	}
	if ar.challenge, e = pkceChallenge(client, v); e != nil {
		return ar, nil, e
	}
	if ar.dpopJKT = v.Get(paramDPoPJKT); ar.dpopJKT != "" && !validJKT(ar.dpopJKT) {
		return ar, nil, oautherr.Newf(oautherr.InvalidRequest, "dpop_jkt must be the base64url JWK SHA-256 thumbprint of the DPoP key.")
	}
	return ar, nil, nil
}

// authorizeClient is the client an authorization request names, if it is
// known and enabled.
func authorizeClient(reg *registry.Registry, id string) (*registry.Client, *oautherr.Error) {
	client, ok := reg.Client(id)
	if !ok || client.Disabled {
		return nil, oautherr.Newf(oautherr.InvalidClient, "The application is unknown or disabled.")
	}
	return client, nil
}

// pkceChallenge returns the request's PKCE code challenge (RFC 7636 §4.3;
// S256 only) as the client's policy asks for it, "" if there is none.
func pkceChallenge(client *registry.Client, v url.Values) (string, *oautherr.Error) {
	challenge, method := v.Get("code_challenge"), v.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return "", oautherr.Newf(oautherr.InvalidRequest, "code_challenge_method was sent without code_challenge.")
	case challenge == "" && client.PKCERequired():
		return "", oautherr.Newf(oautherr.InvalidRequest, "code_challenge is required (PKCE with S256).")
	case challenge != "" && method != "S256":
		return "", oautherr.Newf(oautherr.InvalidRequest, "code_challenge_method must be S256.")
	case challenge != "" && (!validPKCEValue(challenge) || len(challenge) != 43):
		return "", oautherr.Newf(oautherr.InvalidRequest, "code_challenge is malformed.")
	}
	return challenge, nil
}

// errorPage shows an authorization error that must not be redirected
// (unknown client, unregistered redirect URI), with status 400.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, e *oautherr.Error) {
	resp := oautherr.Resolve(e, s.profile, s.issuer)
	requestInfo(r.Context()).errCode = e.Code
	s.render(w, "error", http.StatusBadRequest, pageData{Title: "Sign-in request not valid",
		Code: string(resp.Body.Error), Description: resp.Body.ErrorDescription})
}

// redirectURL returns the redirect URI with the response parameters added
// (RFC 6749 §4.1.2, RFC 9207 iss).
func (s *Server) redirectURL(ar *authRequest, add url.Values) string {
	if ar.state != "" {
		add.Set("state", ar.state)
	}
	add.Set("iss", s.issuer)
	u := ar.redirectURI
	if strings.Contains(u, "?") {
		return u + "&" + add.Encode()
	}
	return u + "?" + add.Encode()
}

// redirectError sends an error to the client's redirect URI (RFC 6749
// §4.1.2.1) with 302, the status of access_denied in the error table.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, ar *authRequest, e *oautherr.Error) {
	resp := oautherr.Resolve(e, oautherr.Extended, s.issuer)
	requestInfo(r.Context()).errCode = e.Code
	s.clientError(ar.client.ID, resp.Body.Error)
	if e.Cause != nil {
		s.log.Error("authorization request failed", "clientID", ar.client.ID, "error", string(e.Code), "cause", e.Cause.Error())
	}
	oautherr.NoStore(w.Header())
	http.Redirect(w, r, s.redirectURL(ar, url.Values{"error": {string(resp.Body.Error)},
		"error_description": {resp.Body.ErrorDescription}}), http.StatusFound)
}

// issueCode creates the authorization code and redirects to the client
// (RFC 6749 §4.1.2): 302 after a GET, 303 after a POST. A pushed request
// ends here.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, ar *authRequest, acc *registry.Account, authTime time.Time) {
	raw := newSecret()
	now := s.clock.Now()
	c := store.AuthCode{Hash: store.HashToken(raw), ClientID: ar.client.ID, ClientUID: ar.client.Source.UID,
		Scopes: ar.scopes, Resources: ar.resources, AccountID: acc.Subject, Binding: acc.GrantBinding(), Nonce: ar.nonce,
		DPoPJKT: ar.dpopJKT, AuthTime: authTime,
		ExpiresAt: now.Add(registry.Seconds(ar.client.Policy.AuthorizationCodeLifetimeSeconds))}
	if ar.explicit {
		c.RedirectURI = ar.redirectURI
	}
	if ar.challenge != "" {
		c.CodeChallenge, c.CodeChallengeMethod = ar.challenge, "S256"
	}
	if !ar.pushed.IsZero() {
		// One code per pushed request: the pages that led here cannot be
		// sent again for another.
		if err := s.store.FinishPushedRequest(r.Context(), ar.pushed); grantGone(err) {
			s.errorPage(w, r, pushedEnded())
			return
		} else if err != nil {
			s.redirectError(w, r, ar, serverError(err))
			return
		}
	}
	if err := s.store.CreateAuthCode(r.Context(), c); err != nil {
		s.redirectError(w, r, ar, serverError(err))
		return
	}
	oautherr.NoStore(w.Header())
	http.Redirect(w, r, s.redirectURL(ar, url.Values{"code": {raw}}), redirectStatus(r))
}

func redirectStatus(r *http.Request) int {
	if r.Method == http.MethodPost {
		return http.StatusSeeOther
	}
	return http.StatusFound
}
