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
	"errors"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/tokens"
)

// deviceStore is the part of the store the device code grant uses.
type deviceStore interface {
	PollDeviceAuth(ctx context.Context, deviceHash store.Hash, clientID string, p store.DevicePoll) (store.DeviceAuth, store.PollResult, error)
}

// pollErrors are the answers to a poll that did not yield tokens (RFC 8628
// §3.5).
var pollErrors = map[store.PollResult]oautherr.Code{
	store.PollPending:  oautherr.AuthorizationPending,
	store.PollSlowDown: oautherr.SlowDown,
	store.PollDenied:   oautherr.AccessDenied,
	store.PollExpired:  oautherr.AuthorizationExpired,
}

// deviceCodeGrant is RFC 8628 §3.4, §3.5: the device polls with its device
// code. The store decides pending, slow_down (the interval grows by 5s for
// this and later polls), denied, expired or approved in one atomic step; an
// approved device code yields tokens once.
type deviceCodeGrant struct {
	devices deviceStore
	tokens  minter
}

func (g deviceCodeGrant) handle(ctx context.Context, t *tokenRequest) (*tokenResponse, *oautherr.Error) {
	c := t.client
	code := t.params["device_code"]
	if code == "" {
		return nil, oautherr.Newf(oautherr.InvalidRequest, "device_code is required.")
	}
	var got redeemed
	family, raw := newRefresh(c) // the refresh token, if the client may have one
	// Called by the store once an approved poll has consumed the
	// authorization, in the poll's transaction: the device code is used up
	// from then on, whatever the checks say, and the refresh token is stored
	// with the consumption (one commit), so tokens are answered only after
	// the commit that holds the refresh token.
	poll := store.DevicePoll{Grace: pollGrace, AuthStyle: t.authStyle, Issue: func(d store.DeviceAuth) (*store.RefreshToken, error) {
		return got.issue(t, deviceGrant(d), family, raw)
	}}
	d, res, err := g.devices.PollDeviceAuth(ctx, store.HashToken(code), c.ID, poll)
	if e := grantError(err); e != nil {
		return nil, e
	}
	if !sameClient(c, d.ClientUID) { // pending, denied or expired, of an earlier client object
		return nil, oautherr.New(oautherr.InvalidGrant)
	}
	if code, ok := pollErrors[res]; ok {
		return nil, oautherr.New(code)
	}
	if res != store.PollApproved {
		return nil, serverError(errors.New("unknown poll outcome " + string(res)))
	}
	if got.acc == nil { // a store that did not call Issue
		return nil, serverError(errors.New("approved device poll without Issue"))
	}
	return respond(g.tokens, t, tokens.Issue{Client: c, Account: got.acc, Scopes: got.scopes, Audience: got.aud, Family: family,
		AuthTime: d.AuthTime}, raw)
}

// deviceGrant is what the approved device authorization d granted.
func deviceGrant(d store.DeviceAuth) consumedGrant {
	return consumedGrant{grantRecord: grantRecord{clientUID: d.ClientUID, accountID: d.AccountID, binding: d.Binding},
		scopes: d.Scopes, resources: d.Resources, authTime: d.AuthTime}
}
