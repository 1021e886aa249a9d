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
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store"
)

const (
	textBadCode     = "This code is not valid, was already used, or has expired. Check the code on your device, or start again there."
	textTooMany     = "Too many wrong codes were entered from your network. Wait a minute, then try again."
	textFormExpired = "The form expired or did not come from this server. Enter the code again."
)

// devicePage is the verification page of the device flow (RFC 8628 §3.3):
// the person enters the user code shown on the device (any case, with or
// without the dash), signs in if needed, sees the client and the scopes,
// and allows or denies. Wrong codes are rate-limited per source IP. Forms
// carry a CSRF token (double submit, Origin checked).
func (s *Server) devicePage(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w.Header())
	if r.Method != http.MethodPost {
		code := ""
		if c, ok := normalizeUserCode(r.URL.Query().Get("user_code")); ok {
			code = displayUserCode(c)
		}
		s.deviceEntry(w, r, code, "", http.StatusOK)
		return
	}
	vals, action, e := readAuthorizeForm(w, r)
	if e != nil {
		s.deviceEntry(w, r, "", oautherr.Resolve(e, oautherr.Extended, "").Body.ErrorDescription, http.StatusBadRequest)
		return
	}
	if !s.checkCSRF(r) {
		s.deviceEntry(w, r, "", textFormExpired, http.StatusBadRequest)
		return
	}
	codeKey := s.limits.userCode.Key("", info(r).source)
	now := s.clock.Now()
	if wait := s.limits.userCode.Wait(codeKey, now); wait > 0 {
		info(r).errCode = oautherr.TooManyRequests
		info(r).retryAfter = wait
		s.deviceEntry(w, r, "", textTooMany, http.StatusTooManyRequests)
		return
	}
	reg := s.reg.Current()
	code, ok := normalizeUserCode(vals.Get("user_code"))
	var (
		d      store.DeviceAuth
		client *registry.Client
	)
	if ok {
		var err error
		d, err = s.store.GetDeviceAuthByUserCode(r.Context(), code)
		switch {
		case err == nil:
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired):
			ok = false
		default:
			s.serverErrorPage(w, r, err)
			return
		}
		if ok {
			client, ok = reg.Client(d.ClientID)
			ok = ok && !client.Disabled && client.AllowsGrant(DeviceCodeGrantType) && d.Status == store.DevicePending
		}
	}
	if !ok {
		s.limits.userCode.Fail(codeKey, now)
		info(r).errCode = oautherr.InvalidGrant
		s.deviceEntry(w, r, vals.Get("user_code"), textBadCode, http.StatusBadRequest)
		return
	}
	info(r).clientID = client.ID
	ar := &authRequest{client: client, scopes: d.Scopes, carried: url.Values{"user_code": {displayUserCode(code)}}}
	switch action {
	case "login":
		s.deviceLogin(w, r, reg, ar)
		return
	case "consent":
		acc, authTime := s.sessionAccount(r, reg, client)
		if acc == nil {
			s.deviceLoginPage(w, r, ar, nil, http.StatusOK)
			return
		}
		s.deviceDecide(w, r, code, acc, authTime, r.PostForm.Get("decision") == "allow")
		return
	}
	acc, _ := s.sessionAccount(r, reg, client)
	if acc == nil {
		s.deviceLoginPage(w, r, ar, nil, http.StatusOK)
		return
	}
	s.deviceConsentPage(w, r, ar, acc)
}

// deviceLogin checks the login form of the verification page like the
// authorization endpoint does, then asks for the decision.
func (s *Server) deviceLogin(w http.ResponseWriter, r *http.Request, reg *registry.Registry, ar *authRequest) {
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	if username == "" || password == "" {
		s.deviceLoginPage(w, r, ar, wrongPassword(), http.StatusBadRequest)
		return
	}
	acc, e := s.checkPassword(r.Context(), reg, ar.client, username, password)
	if e != nil {
		if e.Code == oautherr.ServerError {
			s.serverErrorPage(w, r, e.Cause)
			return
		}
		info(r).errCode = e.Code
		s.deviceLoginPage(w, r, ar, e, oautherr.Resolve(e, ar.client.Profile(), s.issuer).Status)
		return
	}
	raw := newSecret()
	now := s.clock.Now()
	if err := s.store.CreateSession(r.Context(), store.Session{IDHash: store.HashToken(raw), AccountID: acc.Subject,
		AuthTime: now, ExpiresAt: now.Add(s.sessionTTL)}); err != nil {
		s.serverErrorPage(w, r, err)
		return
	}
	s.log.Info("login", "account", acc.Subject, "clientID", ar.client.ID, "page", "device")
	http.SetCookie(w, s.cookie(sessionCookie, raw, s.devicePath(), int(s.sessionTTL.Seconds())))
	s.deviceConsentPage(w, r, ar, acc)
}

// deviceDecide records the person's decision; the device learns it at its
// next poll.
func (s *Server) deviceDecide(w http.ResponseWriter, r *http.Request, code string, acc *registry.Account, authTime time.Time, allow bool) {
	var err error
	if allow {
		_, err = s.store.ApproveDeviceAuth(r.Context(), code, acc.Subject, authTime)
	} else {
		_, err = s.store.DenyDeviceAuth(r.Context(), code)
	}
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExpired), errors.Is(err, store.ErrAlreadyUsed):
		s.deviceEntry(w, r, "", textBadCode, http.StatusBadRequest)
		return
	case err != nil:
		s.serverErrorPage(w, r, err)
		return
	}
	if allow {
		s.log.Info("device authorization approved", "account", acc.Subject)
		s.render(w, "device_done", http.StatusOK, pageData{Title: "Device connected",
			Description: "Your device is now connected. It receives access within a few seconds."})
		return
	}
	info(r).errCode = oautherr.AccessDenied
	s.log.Info("device authorization denied", "account", acc.Subject)
	s.render(w, "device_done", http.StatusOK, pageData{Title: "Access denied",
		Description: "You denied access. The device does not get access."})
}

func (s *Server) deviceEntry(w http.ResponseWriter, r *http.Request, code, problem string, status int) {
	s.render(w, "device", status, pageData{Title: "Connect a device", UserCode: code, Description: problem,
		Action: s.devicePath(), CSRF: s.csrfToken(w, r, s.devicePath())})
}

func (s *Server) deviceLoginPage(w http.ResponseWriter, r *http.Request, ar *authRequest, e *oautherr.Error, status int) {
	d := pageData{Title: "Sign in", Client: displayName(ar.client), Action: s.devicePath(),
		Carried: ar.carried, CSRF: s.csrfToken(w, r, s.devicePath())}
	if e != nil {
		d.Description = s.loginErrorText(r, ar.client, e)
	}
	s.render(w, "login", status, d)
}

func (s *Server) deviceConsentPage(w http.ResponseWriter, r *http.Request, ar *authRequest, acc *registry.Account) {
	name := acc.DisplayName
	if name == "" {
		name = acc.Username
	}
	s.render(w, "consent", http.StatusOK, pageData{Title: "Allow access?", Client: displayName(ar.client), Account: name,
		Scopes: ar.scopes, Action: s.devicePath(), Carried: ar.carried, CSRF: s.csrfToken(w, r, s.devicePath()),
		UserCode: ar.carried.Get("user_code")})
}

func (s *Server) serverErrorPage(w http.ResponseWriter, r *http.Request, err error) {
	info(r).errCode = oautherr.ServerError
	s.log.Error("device page failed", "error", err)
	s.render(w, "error", http.StatusInternalServerError, pageData{Title: "Something went wrong",
		Code: string(oautherr.ServerError), Description: oautherr.Resolve(serverError(err), oautherr.Extended, "").Body.ErrorDescription})
}
