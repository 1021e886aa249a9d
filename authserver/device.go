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
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
)

// DeviceCodeGrantType is RFC 8628's grant type.
const DeviceCodeGrantType = snapshot.GrantDeviceCode

// userCodeAlphabet has no vowels (no words) and no look-alike characters
// (RFC 8628 §6.1): 20 characters, 8 of them give about 34.5 bits.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

const userCodeLength = 8

// pollGrace is the grace given to golang.org/x/oauth2's immediate re-send of
// a failed token request (it probes the client authentication style by
// sending the request again with the credentials in the body). Only a poll
// in the other authentication style than the last one is in the grace, once
// per poll that passed (store.DevicePoll): a client that polls twice at once
// in the same style gets slow_down. It must stay below the smallest polling
// interval (1s): a poll within the grace is answered authorization_pending,
// so a grace as long as the interval would let a client poll twice as fast
// as it should without being told to slow_down.
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
// §3.2; RFC 8707 §2). The client authenticates as at the token endpoint
// (public clients send client_id only) and must be allowed the device_code
// grant type; the scopes must be its own (default scopes when none are
// asked for) and the resources granted to it.
func (s *Server) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	reg := s.reg.Current()
	profile := s.profile
	resp, e := func() (*deviceAuthorizationResponse, *oautherr.Error) {
		p, resourceValues, e := parseForm(w, r)
		if e != nil {
			return nil, e
		}
		requestInfo(r.Context()).grantType = DeviceCodeGrantType
		client, e := s.clientAuth.authenticate(r, reg, p)
		if e != nil {
			return nil, e
		}
		profile = client.Profile()
		if !client.AllowsGrant(DeviceCodeGrantType) {
			return nil, oautherr.New(oautherr.UnauthorizedClient)
		}
		scopes, resources, e := authorizedScopes(client, p["scope"], resourceValues)
		if e != nil {
			return nil, e
		}
		return s.newDeviceAuth(r.Context(), client, scopes, resources)
	}()
	if e != nil {
		s.writeError(w, r, e, profile)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// newDeviceAuth stores a pending device authorization, drawing a new user
// code if one happens to be taken.
func (s *Server) newDeviceAuth(ctx context.Context, c *registry.Client, scopes, resources []string) (*deviceAuthorizationResponse, *oautherr.Error) {
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
			ClientID: c.ID, ClientUID: c.Source.UID, Scopes: scopes, Resources: resources,
			Interval: time.Duration(interval) * time.Second, CreatedAt: now,
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
