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
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store"
)

// Cookie names.
const (
	sessionCookie = "authops_session"
	csrfCookie    = "authops_csrf"
)

// authorizeParams are the authorization request parameters the login and
// consent forms carry along; nothing else is kept.
var authorizeParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method"}

// authRequest is an authorization request whose client and redirect URI
// are known to be good, so errors can be redirected.
type authRequest struct {
	client      *registry.Client
	redirectURI string // where to send the response
	explicit    bool   // redirect_uri was in the request
	state       string
	nonce       string
	challenge   string
	scopes      []string
	carried     url.Values
}

// authorize is the authorization endpoint (RFC 6749 §3.1, §4.1.1, §4.1.2;
// PKCE RFC 7636 §4.3; iss RFC 9207). GET and POST both carry an
// authorization request; a POST from the login or consent page also carries
// that page's answer. The client and redirect URI are checked first and an
// error there is shown on a page, never redirected; later errors go back to
// the redirect URI with error, error_description, state and iss.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w.Header())
	reg := s.reg.Current()
	vals, action, e := readAuthorizeForm(w, r)
	if e != nil {
		s.errorPage(w, r, e)
		return
	}
	ar, pageErr, redirErr := s.validateAuthRequest(reg, vals)
	if pageErr != nil {
		s.errorPage(w, r, pageErr)
		return
	}
	info(r).clientID = ar.client.ID
	if redirErr != nil {
		s.redirectError(w, r, ar, redirErr)
		return
	}
	if action != "" && !s.checkCSRF(r) {
		s.errorPage(w, r, oautherr.Newf(oautherr.InvalidRequest, "The form expired or did not come from this server. Start again from the application."))
		return
	}
	switch action {
	case "login":
		s.login(w, r, reg, ar)
		return
	case "consent":
		acc, authTime := s.sessionAccount(r, reg, ar.client)
		if acc == nil {
			s.loginPage(w, r, ar, nil, http.StatusOK)
			return
		}
		if r.PostForm.Get("decision") != "allow" {
			s.redirectError(w, r, ar, oautherr.New(oautherr.AccessDenied))
			return
		}
		if err := s.store.SaveConsent(r.Context(), store.Consent{AccountID: acc.Subject, ClientID: ar.client.ID,
			Scopes: ar.scopes, ExpiresAt: s.clock.Now().Add(s.consentTTL)}); err != nil {
			s.redirectError(w, r, ar, serverError(err))
			return
		}
		s.issueCode(w, r, ar, acc, authTime)
		return
	case "":
	default:
		s.errorPage(w, r, oautherr.Newf(oautherr.InvalidRequest, "Unknown form action."))
		return
	}
	acc, authTime := s.sessionAccount(r, reg, ar.client)
	if acc == nil {
		s.loginPage(w, r, ar, nil, http.StatusOK)
		return
	}
	if ar.client.Policy.Consent == "Prompt" {
		ok, err := s.store.HasConsent(r.Context(), acc.Subject, ar.client.ID, ar.scopes)
		if err != nil {
			s.redirectError(w, r, ar, serverError(err))
			return
		}
		if !ok {
			s.consentPage(w, r, ar, acc)
			return
		}
	}
	s.issueCode(w, r, ar, acc, authTime)
}

// readAuthorizeForm returns the request's parameters (the query of a GET,
// the form body of a POST) and, for a POST from one of our pages, its
// action.
func readAuthorizeForm(w http.ResponseWriter, r *http.Request) (url.Values, string, *oautherr.Error) {
	if r.Method != http.MethodPost {
		return r.URL.Query(), "", nil
	}
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, "", oautherr.Newf(oautherr.InvalidRequest, "The Content-Type must be application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, "", oautherr.Newf(oautherr.InvalidRequest, "The request body is too large or not valid form encoding.")
	}
	return r.PostForm, r.PostForm.Get("authops_action"), nil
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
	client, ok := reg.Client(v.Get("client_id"))
	if !ok || client.Disabled {
		return nil, oautherr.Newf(oautherr.InvalidClient, "The application is unknown or disabled."), nil
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
	scopes, ok := parseScope(v.Get("scope"))
	if !ok {
		return ar, nil, oautherr.Newf(oautherr.InvalidScope, "The scope parameter is malformed.")
	}
	for _, sc := range scopes {
		if !client.AllowsScope(sc) {
			return ar, nil, oautherr.New(oautherr.InvalidScope)
		}
	}
	if scopes == nil {
		scopes = allowedScopes(client, client.DefaultScopes)
	}
	ar.scopes = scopes
	challenge, method := v.Get("code_challenge"), v.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return ar, nil, oautherr.Newf(oautherr.InvalidRequest, "code_challenge_method was sent without code_challenge.")
	case challenge == "" && client.PKCERequired():
		return ar, nil, oautherr.Newf(oautherr.InvalidRequest, "code_challenge is required (PKCE with S256).")
	case challenge != "" && method != "S256":
		return ar, nil, oautherr.Newf(oautherr.InvalidRequest, "code_challenge_method must be S256.")
	case challenge != "" && (!validPKCEValue(challenge) || len(challenge) != 43):
		return ar, nil, oautherr.Newf(oautherr.InvalidRequest, "code_challenge is malformed.")
	}
	ar.challenge = challenge
	return ar, nil, nil
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
	info(r).errCode = e.Code
	s.clientError(ar.client.ID, resp.Body.Error)
	if e.Cause != nil {
		s.log.Error("authorization request failed", "clientID", ar.client.ID, "error", string(e.Code), "cause", e.Cause.Error())
	}
	oautherr.NoStore(w.Header())
	http.Redirect(w, r, s.redirectURL(ar, url.Values{"error": {string(resp.Body.Error)},
		"error_description": {resp.Body.ErrorDescription}}), http.StatusFound)
}

// issueCode creates the authorization code and redirects to the client
// (RFC 6749 §4.1.2): 302 after a GET, 303 after a POST.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, ar *authRequest, acc *registry.Account, authTime time.Time) {
	raw := newSecret()
	now := s.clock.Now()
	c := store.AuthCode{Hash: store.HashToken(raw), ClientID: ar.client.ID, Scopes: ar.scopes, AccountID: acc.Subject,
		Nonce: ar.nonce, AuthTime: authTime,
		ExpiresAt: now.Add(registry.Seconds(ar.client.Policy.AuthorizationCodeLifetimeSeconds))}
	if ar.explicit {
		c.RedirectURI = ar.redirectURI
	}
	if ar.challenge != "" {
		c.CodeChallenge, c.CodeChallengeMethod = ar.challenge, "S256"
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

// login handles the login form: on success it starts a session and sends
// the browser back to the authorization request (303).
func (s *Server) login(w http.ResponseWriter, r *http.Request, reg *registry.Registry, ar *authRequest) {
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	if username == "" || password == "" {
		s.loginPage(w, r, ar, wrongPassword(), http.StatusBadRequest)
		return
	}
	acc, e := s.checkPassword(r.Context(), reg, ar.client, username, password)
	if e != nil {
		if e.Code == oautherr.ServerError {
			s.redirectError(w, r, ar, e)
			return
		}
		info(r).errCode = e.Code
		s.loginPage(w, r, ar, e, oautherr.Resolve(e, ar.client.Profile(), s.issuer).Status)
		return
	}
	raw := newSecret()
	now := s.clock.Now()
	if err := s.store.CreateSession(r.Context(), store.Session{IDHash: store.HashToken(raw), AccountID: acc.Subject,
		AuthTime: now, ExpiresAt: now.Add(s.sessionTTL)}); err != nil {
		s.redirectError(w, r, ar, serverError(err))
		return
	}
	s.log.Info("login", "account", acc.Subject, "clientID", ar.client.ID)
	http.SetCookie(w, s.cookie(sessionCookie, raw, s.oauthPath(), int(s.sessionTTL.Seconds())))
	u := s.issuer + PathAuthorize + "?" + ar.carried.Encode()
	oautherr.NoStore(w.Header())
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// sessionAccount returns the account of the browser's login session if it
// can use this client (same namespace, not disabled), else nil.
func (s *Server) sessionAccount(r *http.Request, reg *registry.Registry, c *registry.Client) (*registry.Account, time.Time) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, time.Time{}
	}
	sess, err := s.store.GetSession(r.Context(), store.HashToken(ck.Value))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrExpired) {
			s.log.Error("reading a session failed", "error", err)
		}
		return nil, time.Time{}
	}
	acc, ok := reg.AccountBySubject(sess.AccountID)
	if !ok || acc.Disabled || acc.Namespace != c.Namespace {
		return nil, time.Time{}
	}
	return acc, sess.AuthTime
}

// oauthPath is the cookie path of the authorization endpoint's pages.
func (s *Server) oauthPath() string { return s.issuerURL.Path + "/oauth2/" }

// devicePath is the cookie path of the device verification page.
func (s *Server) devicePath() string { return s.issuerURL.Path + PathDevice }

func (s *Server) cookie(name, value, path string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode}
}

// csrfToken returns the browser's CSRF token, setting the cookie (for the
// pages under path) if the browser has none (double-submit: the form echoes
// the cookie).
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request, path string) string {
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	v := newSecret()
	http.SetCookie(w, s.cookie(csrfCookie, v, path, 0))
	return v
}

// checkCSRF accepts a form POST only with the CSRF cookie echoed in the
// form, and, when the browser says where the form came from, only from the
// issuer's origin.
func (s *Server) checkCSRF(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != s.origin {
		return false
	}
	ck, err := r.Cookie(csrfCookie)
	if err != nil || len(ck.Value) != 43 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf_token"))) == 1
}

// setPageHeaders sets the headers of every authorize response.
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: under no-referrer browsers send
	// "Origin: null" with the pages' form posts (Fetch §3.2.5), which the
	// Origin check must refuse. Other sites still get no Referer.
	h.Set("Referrer-Policy", "same-origin")
	oautherr.NoStore(h)
}
