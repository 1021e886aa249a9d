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

package snapshot

import (
	"slices"
	"testing"
)

// TestUnder: a client under a policy document has the document's policy
// (a Public client's refresh tokens rotating whatever it says), the
// requested grant types and scopes it allows in the client's order, and
// its default scopes among those.
func TestUnder(t *testing.T) {
	base := *validClient().Client
	base.RequestedGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}
	base.RequestedScopes = []string{"openid", "read", "write"}
	base.GrantTypes, base.Scopes, base.DefaultScopes = []string{"authorization_code", "refresh_token"}, []string{"openid"}, []string{"openid"}
	reuse := validPolicy().GrantPolicy.Policy
	reuse.RefreshTokenRotation, reuse.AccessTokenLifetimeSeconds = RotationReuse, 42
	public := base
	public.Type, public.TokenEndpointAuthMethod, public.Secrets = ClientPublic, AuthNone, nil
	for _, tt := range []struct {
		name                     string
		client                   Client
		policy                   GrantPolicy
		grants, scopes, defaults []string
		rotation                 string
		usable                   bool
	}{
		{"allowed subset", base, GrantPolicy{Policy: reuse, AllowedGrantTypes: []string{"client_credentials", "refresh_token", "password"},
			AllowedScopes: []string{"write", "read"}, DefaultScopes: []string{"write", "openid"}},
			[]string{"refresh_token", "client_credentials"}, []string{"read", "write"}, []string{"write"}, RotationReuse, true},
		{"any scope", base, GrantPolicy{Policy: reuse, AllowedGrantTypes: []string{"authorization_code"}, AnyScope: true,
			DefaultScopes: []string{"openid"}},
			[]string{"authorization_code"}, []string{"openid", "read", "write"}, []string{"openid"}, RotationReuse, true},
		{"public client rotates", public, GrantPolicy{Policy: reuse, AllowedGrantTypes: []string{"authorization_code"}},
			[]string{"authorization_code"}, nil, nil, RotationRotate, true},
		{"refresh_token only", base, GrantPolicy{Policy: reuse, AllowedGrantTypes: []string{"refresh_token"}},
			[]string{"refresh_token"}, nil, nil, RotationReuse, false},
		{"nothing requested allowed", base, GrantPolicy{Policy: reuse, AllowedGrantTypes: []string{"password"}},
			[]string{}, nil, nil, RotationReuse, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.client.Under(&tt.policy)
			if !slices.Equal(got.GrantTypes, tt.grants) || !slices.Equal(got.Scopes, tt.scopes) || !slices.Equal(got.DefaultScopes, tt.defaults) {
				t.Errorf("grant types %v, scopes %v, default scopes %v; want %v, %v, %v", got.GrantTypes, got.Scopes,
					got.DefaultScopes, tt.grants, tt.scopes, tt.defaults)
			}
			if got.Policy.RefreshTokenRotation != tt.rotation || got.Policy.AccessTokenLifetimeSeconds != 42 {
				t.Errorf("policy %+v, want the document's with rotation %s", got.Policy, tt.rotation)
			}
			if got.Usable() != tt.usable {
				t.Errorf("Usable() = %v, want %v", got.Usable(), tt.usable)
			}
			if got.ID != tt.client.ID || !slices.Equal(tt.client.GrantTypes, base.GrantTypes) {
				t.Error("Under changed the client's own settings, or the client")
			}
		})
	}
}
