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
	"slices"
	"testing"

	"github.com/authops/authops/authserver/snapshot"
)

// TestGrantTable: the token endpoint serves exactly the grant types of
// snapshot.GrantTypes, the list the metadata advertises in this order.
func TestGrantTable(t *testing.T) {
	want := []string{"authorization_code", "refresh_token", "client_credentials", "password",
		"urn:ietf:params:oauth:grant-type:device_code"}
	if !slices.Equal(snapshot.GrantTypes, want) {
		t.Errorf("snapshot.GrantTypes = %q, want %q (grant_types_supported must not change)", snapshot.GrantTypes, want)
	}
	grants := newGrants(grantDeps{})
	for _, gt := range want {
		if grants[gt] == nil {
			t.Errorf("no grant for %s", gt)
		}
		if grantTypeLabel(gt) != gt {
			t.Errorf("metric label of %s = %q", gt, grantTypeLabel(gt))
		}
	}
	if len(grants) != len(want) {
		t.Errorf("%d grants, want %d", len(grants), len(want))
	}
	if grantTypeLabel("implicit") != "other" || grantTypeLabel("") != "" {
		t.Error("unknown grant types must share the label other")
	}
}
