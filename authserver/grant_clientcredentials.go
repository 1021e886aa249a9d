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

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/tokens"
)

// clientCredentialsGrant is RFC 6749 §4.4: a confidential client gets an
// access token for itself.
type clientCredentialsGrant struct {
	tokens minter
}

func (g clientCredentialsGrant) handle(_ context.Context, t *tokenRequest) (*tokenResponse, *oautherr.Error) {
	if t.client.Public() {
		return nil, oautherr.New(oautherr.UnauthorizedClient)
	}
	aud, scopes, e := audience(t.client, t.resources, nil, false, requestedOrDefault(t.client, t.scopes), t.scopes != nil)
	if e != nil {
		return nil, e
	}
	return respond(g.tokens, t, tokens.Issue{Client: t.client, Scopes: scopes, Audience: aud}, "")
}
