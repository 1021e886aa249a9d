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
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"strings"
	"time"

	"net/http"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store"
)

// DeviceCodeGrantType is RFC 8628's grant type.
const DeviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// userCodeAlphabet has no vowels (no words) and no look-alike characters
// (RFC 8628 §6.1): 20 characters, 8 of them give about 34.5 bits.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

const userCodeLength = 8

// pollGrace is the grace given to golang.org/x/oauth2's immediate re-send of
// a failed token request (it probes the client authentication style by
// sending the request again with the credentials in the body). It must stay
// below the smallest polling interval (1s): a poll within the grace is
// answered authorization_pending and changes nothing, so a grace as long as
// the interval would let a client poll as fast as it likes without ever
// being told to slow_down.
const pollGrace = 500 * time.Millisecond

// PollLeeway is the store's poll leeway (store.WithPollLeeway) the
// authserver runs with: a poll up to 250ms before the interval has passed is
// on time. Clients polling on a ticker arrive a little early whenever the
// previous poll's request was slower than this one.
const PollLeeway = 250 * time.Millisecond

// newUserCode returns 8 random characters of userCodeAlphabet (rejection
// sampling, so every character is equally likely).
func newUserCode() string {
	out := make([]byte, 0, userCodeLength)
	buf := make([]byte, 16)
	for len(out) < userCodeLength {
		_, _ = rand.Read(buf)
		for _, b := range buf {
			if b < 240 && len(out) < userCodeLength { // 240 = 12 * 20
				out = append(out, userCodeAlphabet[int(b)%len(userCodeAlphabet)])
			}
		}
	}
	return string(out)
}

// normalizeUserCode turns what a person typed into the stored form: upper
// case, dashes and spaces removed. ok is false when the result cannot be a
// user code.
func normalizeUserCode(s string) (string, bool) {
	var b strings.Builder
	for _, c := range strings.ToUpper(s) {
		switch {
		case c == '-' || c == ' ' || c == '\t':
		case strings.ContainsRune(userCodeAlphabet, c):
			b.WriteRune(c)
		default:
			return "", false
		}
		if b.Len() > userCodeLength {
			return "", false
		}
	}
	return b.String(), b.Len() == userCodeLength
}

// displayUserCode shows a stored user code as XXXX-XXXX.
func displayUserCode(c string) string {
	if len(c) != userCodeLength {
		return c
	}
	return c[:4] + "-" + c[4:]
}

// deviceAuthorizationResponse is RFC 8628 §3.2's response.
type deviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// deviceAuthorization is the device authorization endpoint (RFC 8628 §3.1,
// §3.2). The client authenticates as at the token endpoint (public clients
// send client_id only) and must be allowed the device_code grant type; the
// scopes must be its own (default scopes when none are asked for).
func (s *Server) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	reg := s.reg.Current()
	profile := s.profile
	resp, e := func() (*deviceAuthorizationResponse, *oautherr.Error) {
		p, e := parseForm(w, r)
		if e != nil {
			return nil, e
		}
		info(r).grantType = DeviceCodeGrantType
		client, e := s.authenticateClient(r, reg, p)
		if e != nil {
			return nil, e
		}
		profile = client.Profile()
		if !client.AllowsGrant(DeviceCodeGrantType) {
			return nil, oautherr.New(oautherr.UnauthorizedClient)
		}
		scopes, ok := parseScope(p["scope"])
		if !ok {
			return nil, oautherr.Newf(oautherr.InvalidScope, "The scope parameter is malformed.")
		}
		for _, sc := range scopes {
			if !client.AllowsScope(sc) {
				return nil, oautherr.New(oautherr.InvalidScope)
			}
		}
		if scopes == nil {
			scopes = allowedScopes(client, client.DefaultScopes)
		}
		return s.newDeviceAuth(r.Context(), client, scopes)
	}()
	if e != nil {
		s.writeError(w, r, e, profile)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// newDeviceAuth stores a pending device authorization, drawing a new user
// code if one happens to be taken.
func (s *Server) newDeviceAuth(ctx context.Context, c *registry.Client, scopes []string) (*deviceAuthorizationResponse, *oautherr.Error) {
	now := s.clock.Now()
	lifetime := registry.Seconds(c.Policy.DeviceCodeLifetimeSeconds)
	if lifetime <= 0 {
		lifetime = 10 * time.Minute
	}
	interval := c.Policy.DevicePollIntervalSeconds
	if interval < 1 {
		interval = 5
	}
	deviceCode := newSecret()
	for range 5 {
		userCode := newUserCode()
		err := s.store.CreateDeviceAuth(ctx, store.DeviceAuth{DeviceHash: store.HashToken(deviceCode), UserCode: userCode,
			ClientID: c.ID, Scopes: scopes, Interval: time.Duration(interval) * time.Second, CreatedAt: now,
			ExpiresAt: now.Add(lifetime)})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, serverError(err)
		}
		verify := s.issuer + PathDevice
		return &deviceAuthorizationResponse{DeviceCode: deviceCode, UserCode: displayUserCode(userCode),
			VerificationURI: verify, VerificationURIComplete: verify + "?" + url.Values{"user_code": {displayUserCode(userCode)}}.Encode(),
			ExpiresIn: int64(lifetime / time.Second), Interval: interval}, nil
	}
	return nil, serverError(errors.New("no free user code after 5 attempts"))
}

// deviceCodeGrant is RFC 8628 §3.4, §3.5: the device polls with its device
// code. The store decides pending, slow_down (the interval grows by 5s for
// this and later polls), denied, expired or approved in one atomic step; an
// approved device code yields tokens once.
type deviceCodeGrant struct{ s *Server }

func (g deviceCodeGrant) handle(ctx context.Context, t *tokenRequest) (*tokenResponse, *oautherr.Error) {
	s, c := g.s, t.client
	code := t.params["device_code"]
	if code == "" {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "device_code is required.")
	}
	var (
		acc    *registry.Account
		scopes []string
		family string
		raw    string // the refresh token, if the client may have one
	)
	if c.AllowsGrant("refresh_token") {
		family, raw = newID(), newSecret()
	}
	// Called by the store once an approved poll has consumed the
	// authorization, in the poll's transaction: the device code is used up
	// from then on, whatever the checks say, and the refresh token is stored
	// with the consumption (one commit), so tokens are answered only after
	// the commit that holds the refresh token.
	poll := store.DevicePoll{Grace: pollGrace, Issue: func(d store.DeviceAuth) (*store.RefreshToken, error) {
		a, e := redeemableAccount(t.reg, c, d.AccountID)
		if e != nil {
			return nil, e
		}
		acc, scopes = a, allowedScopes(c, d.Scopes)
		if raw == "" {
			return nil, nil
		}
		rt := refreshRecord(t, acc, scopes, family, d.AuthTime, raw)
		return &rt, nil
	}}
	d, res, err := s.store.PollDeviceAuth(ctx, store.HashToken(code), c.ID, poll)
	var checkErr *oautherr.Error
	switch {
	case errors.As(err, &checkErr): // from Issue: the device code is used up
		return nil, checkErr
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrAlreadyUsed), errors.Is(err, store.ErrExpired),
		errors.Is(err, store.ErrRevoked):
		return nil, oautherr.New(oautherr.InvalidGrant)
	case err != nil:
		return nil, serverError(err)
	}
	switch res {
	case store.PollPending:
		return nil, oautherr.New(oautherr.AuthorizationPending)
	case store.PollSlowDown:
		return nil, oautherr.New(oautherr.SlowDown)
	case store.PollDenied:
		return nil, oautherr.New(oautherr.AccessDenied)
	case store.PollExpired:
		return nil, oautherr.New(oautherr.AuthorizationExpired)
	case store.PollApproved:
	default:
		return nil, serverError(errors.New("unknown poll outcome " + string(res)))
	}
	if acc == nil { // a store that did not call Issue
		return nil, serverError(errors.New("approved device poll without Issue"))
	}
	return s.mintOrFail(t, issue{client: c, account: acc, scopes: scopes, family: family, refresh: raw,
		authTime: d.AuthTime})
}

// redeemableAccount returns the account a grant (code, refresh token,
// approved device code) was issued to, if tokens may still be issued for
// it: gone or moved to another namespace is invalid_grant; disabled since is
// account_disabled.
func redeemableAccount(reg *registry.Registry, c *registry.Client, subject string) (*registry.Account, *oautherr.Error) {
	acc, ok := reg.AccountBySubject(subject)
	if !ok || acc.Namespace != c.Namespace {
		return nil, oautherr.New(oautherr.InvalidGrant)
	}
	if acc.Disabled {
		return nil, oautherr.New(oautherr.AccountDisabled)
	}
	return acc, nil
}
