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
	in := s.deviceInteraction()
	if r.Method != http.MethodPost {
		code := ""
		if c, ok := normalizeUserCode(r.URL.Query().Get("user_code")); ok {
			code = displayUserCode(c)
		}
		s.deviceEntry(w, r, in, code, "", http.StatusOK)
		return
	}
	vals, action, e := readPageForm(w, r)
	if e != nil {
		s.deviceEntry(w, r, in, "", oautherr.Resolve(e, oautherr.Extended, "").Body.ErrorDescription, http.StatusBadRequest)
		return
	}
	if !in.checkCSRF(r) {
		s.deviceEntry(w, r, in, "", textFormExpired, http.StatusBadRequest)
		return
	}
	reg := s.reg.Current()
	ar, done := s.deviceRequest(w, r, in, reg, vals.Get("user_code"))
	if done {
		return
	}
	if acc, _, ok := in.answer(w, r, reg, ar, action); ok {
		in.consentPage(w, r, ar, acc)
	}
}

// deviceInteraction is the login and consent of the verification page: a
// login goes straight on to the consent page, a decision is recorded for
// the device's next poll, and server errors are shown on a page.
func (s *Server) deviceInteraction() *interaction {
	in := &interaction{s: s, name: "device", action: s.issuerURL.Path + PathDevice,
		cookies: s.browserCookies("device", s.issuerURL.Path+PathDevice), logAttrs: []any{"page", "device"}}
	in.decided = func(w http.ResponseWriter, r *http.Request, ar *authRequest, acc *registry.Account, authTime time.Time, allow bool) {
		s.deviceDecide(w, r, in, ar, acc, authTime, allow)
	}
	in.signedIn = func(w http.ResponseWriter, r *http.Request, ar *authRequest, acc *registry.Account) {
		in.consentPage(w, r, ar, acc)
	}
	in.fail = func(w http.ResponseWriter, r *http.Request, _ *authRequest, e *oautherr.Error) {
		in.serverErrorPage(w, r, e.Cause)
	}
	return in
}

// deviceRequest finds the pending device authorization of the code the
// person typed, within the per-source limit of wrong codes. When it
// cannot, it answers the request itself and returns done.
func (s *Server) deviceRequest(w http.ResponseWriter, r *http.Request, in *interaction, reg *registry.Registry, typed string) (ar *authRequest, done bool) {
	// The attempt counts as a wrong code before the code is looked up (one
	// atomic step, so that at most Burst attempts at once are looked up),
	// and is taken back unless the code is wrong.
	codeKey := s.limits.userCode.Key("", requestInfo(r.Context()).source)
	now := s.clock.Now()
	if wait := s.limits.userCode.Reserve(codeKey, now); wait > 0 {
		requestInfo(r.Context()).errCode = oautherr.TooManyRequests
		requestInfo(r.Context()).retryAfter = wait
		s.deviceEntry(w, r, in, "", textTooMany, http.StatusTooManyRequests)
		return nil, true
	}
	code, ok := normalizeUserCode(typed)
	var (
		d      store.DeviceAuth
		client *registry.Client
	)
	if ok {
		var err error
		d, err = s.store.GetDeviceAuthByUserCode(r.Context(), code)
		switch {
		case err == nil:
		case grantGone(err): // unknown or expired
			ok = false
		default:
			s.limits.userCode.Refund(codeKey, now)
			in.serverErrorPage(w, r, err)
			return nil, true
		}
		if ok {
			client, ok = reg.Client(d.ClientID)
			ok = ok && !client.Disabled && client.AllowsGrant(DeviceCodeGrantType) && d.Status == store.DevicePending
		}
	}
	if !ok {
		requestInfo(r.Context()).errCode = oautherr.InvalidGrant
		s.deviceEntry(w, r, in, typed, textBadCode, http.StatusBadRequest)
		return nil, true
	}
	s.limits.userCode.Refund(codeKey, now)
	requestInfo(r.Context()).clientID = client.ID
	return &authRequest{client: client, scopes: d.Scopes, carried: url.Values{"user_code": {displayUserCode(code)}},
		userCode: code}, false
}

// deviceDecide records the person's decision; the device learns it at its
// next poll.
func (s *Server) deviceDecide(w http.ResponseWriter, r *http.Request, in *interaction, ar *authRequest, acc *registry.Account, authTime time.Time, allow bool) {
	var err error
	if allow {
		_, err = s.store.ApproveDeviceAuth(r.Context(), ar.userCode, acc.Subject, acc.GrantBinding(), authTime)
	} else {
		_, err = s.store.DenyDeviceAuth(r.Context(), ar.userCode)
	}
	switch {
	case grantGone(err): // unknown, expired or decided already
		s.deviceEntry(w, r, in, "", textBadCode, http.StatusBadRequest)
		return
	case err != nil:
		in.serverErrorPage(w, r, err)
		return
	}
	if allow {
		s.log.Info("device authorization approved", "account", acc.Subject)
		s.render(w, "device_done", http.StatusOK, pageData{Title: "Device connected",
			Description: "Your device is now connected. It receives access within a few seconds."})
		return
	}
	requestInfo(r.Context()).errCode = oautherr.AccessDenied
	s.log.Info("device authorization denied", "account", acc.Subject)
	s.render(w, "device_done", http.StatusOK, pageData{Title: "Access denied",
		Description: "You denied access. The device does not get access."})
}

// deviceEntry shows the page where the person enters the user code, with
// a problem if there is one.
func (s *Server) deviceEntry(w http.ResponseWriter, r *http.Request, in *interaction, code, problem string, status int) {
	s.render(w, "device", status, pageData{Title: "Connect a device", UserCode: code, Description: problem,
		Action: in.action, CSRF: in.csrfToken(w, r)})
}
