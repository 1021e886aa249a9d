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
	"slices"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store"
)

// logout is the end-session endpoint of OpenID Connect RP-Initiated Logout
// 1.0 (§2, §3): GET (query) or POST (form), with the optional
// id_token_hint, client_id, post_logout_redirect_uri and state.
//
// The request is checked first; an invalid one shows an error page (400),
// signs nobody out and never redirects: a post_logout_redirect_uri needs
// the client (client_id, or the aud of an id_token_hint this server signed;
// both must agree) and must be one of the client's PostLogoutRedirectURIs,
// compared exactly. A valid request deletes the browser's login session
// from the store, expires the session cookies, and redirects (303) to the
// post_logout_redirect_uri with state added, or shows a "signed out" page.
//
// There is no confirmation step: a third-party page can sign a browser out
// (a nuisance, not a breach; the specification allows GET), but it cannot
// redirect anywhere but a registered URI.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w.Header())
	reg := s.reg.Current()
	vals, _, e := readPageForm(w, r)
	if e == nil {
		var target string
		if target, e = s.logoutTarget(r, reg, vals); e == nil {
			s.endSession(w, r)
			if target == "" {
				s.render(w, "signed_out", http.StatusOK, pageData{Title: "Signed out"})
				return
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
	}
	resp := oautherr.Resolve(e, s.profile, s.issuer)
	requestInfo(r.Context()).errCode = e.Code
	s.render(w, "error", http.StatusBadRequest, pageData{Title: "Sign-out request not valid",
		Code: string(resp.Body.Error), Description: resp.Body.ErrorDescription})
}

// logoutTarget checks a logout request and returns where to send the
// browser afterwards ("" for the signed-out page).
func (s *Server) logoutTarget(r *http.Request, reg *registry.Registry, vals url.Values) (string, *oautherr.Error) {
	for _, v := range vals {
		if len(v) > 1 {
			return "", oautherr.Newf(oautherr.InvalidRequest, "A parameter is repeated.")
		}
	}
	clientID := vals.Get("client_id")
	if hint := vals.Get("id_token_hint"); hint != "" {
		c, err := s.tokens.VerifyIDTokenHint(reg, hint, s.clock.Now())
		if err != nil {
			return "", oautherr.Newf(oautherr.InvalidRequest, "The id_token_hint is not an ID token of this server.")
		}
		if clientID != "" && clientID != c.Audience {
			return "", oautherr.Newf(oautherr.InvalidRequest, "The client_id does not match the id_token_hint.")
		}
		clientID = c.Audience
	}
	var client *registry.Client
	if clientID != "" {
		c, ok := reg.Client(clientID)
		if !ok || c.Disabled {
			return "", oautherr.Newf(oautherr.InvalidRequest, "The client is unknown or disabled.")
		}
		client = c
		requestInfo(r.Context()).clientID = c.ID
	}
	target := vals.Get("post_logout_redirect_uri")
	if target == "" {
		return "", nil
	}
	if client == nil {
		return "", oautherr.Newf(oautherr.InvalidRequest, "A post_logout_redirect_uri needs client_id or id_token_hint.")
	}
	if !slices.Contains(client.PostLogoutRedirectURIs, target) {
		return "", oautherr.Newf(oautherr.InvalidRequest, "The post_logout_redirect_uri is not registered for the client.")
	}
	if state := vals.Get("state"); state != "" {
		u, err := url.Parse(target)
		if err != nil {
			return "", oautherr.Newf(oautherr.InvalidRequest, "The post_logout_redirect_uri is not a valid URL.")
		}
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
		target = u.String()
	}
	return target, nil
}

// endSession deletes the browser's login session, if it sent one, and
// expires the session cookies of /oauth2/ and /device (the latter's
// session is not sent here; its record expires with its lifetime). A
// session that is already gone is not an error; a store failure is logged
// and the cookies are expired anyway.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
		if err := s.store.DeleteSession(r.Context(), store.HashToken(ck.Value)); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("deleting a session failed", "error", err)
		}
	}
	for _, path := range []string{s.issuerURL.Path + "/oauth2/", s.issuerURL.Path + PathDevice} {
		http.SetCookie(w, s.cookie(sessionCookie, "", path, -1))
	}
}
