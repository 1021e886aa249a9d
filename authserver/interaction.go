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
	"net/http"
	"time"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store"
)

// Cookie names (see browserCookies).
const (
	sessionCookie = "authops_session"
	csrfCookie    = "authops_csrf"
	// hostPrefix (RFC 6265bis §4.1.3.2) makes a browser accept a cookie
	// only with Secure, Path=/ and no Domain: no subdomain and no plain
	// http page can set or overwrite it.
	hostPrefix = "__Host-"
)

// browserCookies are the names and the path of a flow's session and CSRF
// cookies.
type browserCookies struct {
	session, csrf, path string
}

// browserCookies are the cookies of the flow whose pages live at path.
// With an https issuer they are __Host- cookies, whose path must be "/":
// each flow then has names of its own (flow is added to them when not
// empty: __Host-authops_device_session), so that, as with the separate
// paths of an http loopback issuer, a login on one flow's page is not a
// session for the other. An http (loopback) issuer keeps the plain names
// under path: browsers refuse Secure cookies from http pages.
func (s *Server) browserCookies(flow, path string) browserCookies {
	if !s.secureCookie {
		return browserCookies{session: sessionCookie, csrf: csrfCookie, path: path}
	}
	prefix := hostPrefix + "authops_"
	if flow != "" {
		prefix += flow + "_"
	}
	return browserCookies{session: prefix + "session", csrf: prefix + "csrf", path: "/"}
}

// interaction is what the browser flows (/oauth2/authorize and /device)
// share: the login session, the CSRF token, the login form with its
// throttling and lockout messages, the consent page, and the server error
// page. Each flow makes one with what differs: where the forms post, the
// cookies, and what follows a login, a decision and a server error.
type interaction struct {
	s        *Server
	name     string // the flow's name in log messages
	action   string // where the pages' forms post
	cookies  browserCookies
	logAttrs []any // added to the log line of a login
	// signedIn continues after a good login (the session cookie is set).
	signedIn func(w http.ResponseWriter, r *http.Request, ar *authRequest, acc *registry.Account)
	// decided continues after the consent page's answer.
	decided func(w http.ResponseWriter, r *http.Request, ar *authRequest, acc *registry.Account, authTime time.Time, allow bool)
	// fail shows a server error (e's Cause is the internal error).
	fail func(w http.ResponseWriter, r *http.Request, ar *authRequest, e *oautherr.Error)
}

// answer handles the login and consent forms (action "login" and
// "consent"); for any other action it shows the login page to a browser
// without a session. It returns the session's account and true only when
// the flow goes on.
func (in *interaction) answer(w http.ResponseWriter, r *http.Request, reg *registry.Registry, ar *authRequest, action string) (*registry.Account, time.Time, bool) {
	if action == "login" {
		in.login(w, r, reg, ar)
		return nil, time.Time{}, false
	}
	acc, authTime := in.sessionAccount(r, reg, ar.client)
	if acc == nil {
		in.loginPage(w, r, ar, nil, http.StatusOK)
		return nil, time.Time{}, false
	}
	if action == "consent" {
		in.decided(w, r, ar, acc, authTime, r.PostForm.Get("decision") == "allow")
		return nil, time.Time{}, false
	}
	return acc, authTime, true
}

// login handles the login form: on success it starts a session and lets
// the flow go on.
func (in *interaction) login(w http.ResponseWriter, r *http.Request, reg *registry.Registry, ar *authRequest) {
	s := in.s
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	if username == "" || password == "" {
		in.loginPage(w, r, ar, wrongPassword(), http.StatusBadRequest)
		return
	}
	acc, e := s.passwords.check(r.Context(), reg, ar.client, username, password)
	if e != nil {
		if e.Code == oautherr.ServerError {
			in.fail(w, r, ar, e)
			return
		}
		requestInfo(r.Context()).errCode = e.Code
		in.loginPage(w, r, ar, e, oautherr.Resolve(e, ar.client.Profile(), s.issuer).Status)
		return
	}
	raw := newSecret()
	now := s.clock.Now()
	if err := s.store.CreateSession(r.Context(), store.Session{IDHash: store.HashToken(raw), AccountID: acc.Subject,
		Binding: acc.SessionBinding(), AuthTime: now, ExpiresAt: now.Add(s.sessionTTL)}); err != nil {
		in.fail(w, r, ar, serverError(err))
		return
	}
	s.log.Info("login", append([]any{"account", acc.Subject, "clientID", ar.client.ID}, in.logAttrs...)...)
	http.SetCookie(w, s.cookie(in.cookies.session, raw, in.cookies.path, int(s.sessionTTL.Seconds())))
	in.signedIn(w, r, ar, acc)
}

// sessionAccount returns the account of the browser's login session if it
// can use this client (same namespace, not disabled) and is still the one
// that signed in (see registry.Account.SessionBinding: the session ends when
// the password changes, and re-enabling or recreating the account does not
// bring it back), else nil.
func (in *interaction) sessionAccount(r *http.Request, reg *registry.Registry, c *registry.Client) (*registry.Account, time.Time) {
	ck, err := r.Cookie(in.cookies.session)
	if err != nil || ck.Value == "" {
		return nil, time.Time{}
	}
	sess, err := in.s.store.GetSession(r.Context(), store.HashToken(ck.Value))
	if err != nil {
		if !grantGone(err) {
			in.s.log.Error("reading a session failed", "error", err)
		}
		return nil, time.Time{}
	}
	acc, ok := reg.AccountBySubject(sess.AccountID)
	if !ok || acc.Disabled || acc.Namespace != c.Namespace || sess.Binding != acc.SessionBinding() {
		return nil, time.Time{}
	}
	return acc, sess.AuthTime
}

// loginPage shows the login form, with what went wrong if e is set.
func (in *interaction) loginPage(w http.ResponseWriter, r *http.Request, ar *authRequest, e *oautherr.Error, status int) {
	d := in.form(w, r, ar, "Sign in")
	if e != nil {
		d.Description = in.loginErrorText(r, ar.client, e)
	}
	in.s.render(w, "login", status, d)
}

// consentPage asks the person whether the client may act on their behalf
// with the request's scopes (and, on the device page, names the user code
// to compare).
func (in *interaction) consentPage(w http.ResponseWriter, r *http.Request, ar *authRequest, acc *registry.Account) {
	d := in.form(w, r, ar, "Allow access?")
	d.Account, d.Scopes, d.UserCode = acc.DisplayName, ar.scopes, ar.carried.Get("user_code")
	if d.Account == "" {
		d.Account = acc.Username
	}
	in.s.render(w, "consent", http.StatusOK, d)
}

// form is the data of a page whose form carries the request on.
func (in *interaction) form(w http.ResponseWriter, r *http.Request, ar *authRequest, title string) pageData {
	return pageData{Title: title, Client: displayName(ar.client), Action: in.action, Carried: ar.carried,
		CSRF: in.csrfToken(w, r)}
}

// loginErrorText is what the login page says about a failed login: the
// table's description, and for a locked account until when and what to do.
func (in *interaction) loginErrorText(r *http.Request, c *registry.Client, e *oautherr.Error) string {
	s := in.s
	desc := oautherr.Resolve(e, oautherr.Extended, "").Body.ErrorDescription
	switch e.Code {
	case oautherr.AccountLocked:
		until := ""
		// The same for an unknown username, which is locked the same way.
		_, key := lockoutKey(s.reg.Current(), c.Namespace, r.PostForm.Get("username"))
		if lo, err := s.store.GetLockout(r.Context(), key); err == nil && lo.LockedAt(s.clock.Now()) {
			until = " until " + lo.LockedUntil.UTC().Format("15:04:05 MST (2006-01-02)")
		}
		return desc + " There were too many failed sign-in attempts: sign-in is blocked" + until +
			". Wait and try again, or ask your administrator."
	case oautherr.AccountDisabled:
		return desc + " Ask your administrator to enable it."
	}
	return desc
}

// serverErrorPage shows a server error on a page (500); the cause goes
// to the log only.
func (in *interaction) serverErrorPage(w http.ResponseWriter, r *http.Request, err error) {
	requestInfo(r.Context()).errCode = oautherr.ServerError
	in.s.log.Error(in.name+" page failed", "error", err)
	in.s.render(w, "error", http.StatusInternalServerError, pageData{Title: "Something went wrong",
		Code: string(oautherr.ServerError), Description: oautherr.Resolve(serverError(err), oautherr.Extended, "").Body.ErrorDescription})
}

// csrfToken returns the browser's CSRF token, setting the cookie if the
// browser has none (double submit: the form echoes the cookie).
func (in *interaction) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(in.cookies.csrf); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	v := newSecret()
	http.SetCookie(w, in.s.cookie(in.cookies.csrf, v, in.cookies.path, 0))
	return v
}

// checkCSRF accepts a form POST only with the CSRF cookie echoed in the
// form, and, when the browser says where the form came from, only from the
// issuer's origin.
func (in *interaction) checkCSRF(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != in.s.origin {
		return false
	}
	ck, err := r.Cookie(in.cookies.csrf)
	if err != nil || len(ck.Value) != 43 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf_token"))) == 1
}

func (s *Server) cookie(name, value, path string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode}
}
