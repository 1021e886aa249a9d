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

package controllers

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

func cgp(name string, spec oauthv1alpha1.ClusterGrantPolicySpec) oauthv1alpha1.ClusterGrantPolicy {
	return oauthv1alpha1.ClusterGrantPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

func idGrant(ns string, ids []string, prefixes ...string) oauthv1alpha1.ClientIDGrant {
	return oauthv1alpha1.ClientIDGrant{Namespace: ns, IDs: ids, Prefixes: prefixes}
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func TestClientIDGrants(t *testing.T) {
	idx := IndexClientIDGrants([]oauthv1alpha1.ClusterGrantPolicy{
		cgp("platform", oauthv1alpha1.ClusterGrantPolicySpec{ClientIDs: []oauthv1alpha1.ClientIDGrant{
			idGrant("default", []string{"billing-backend"}),
			idGrant("shop", nil, "shop-", "legacy-"),
			idGrant("payments", []string{"victim.payments-ui"}),
		}}),
		cgp("other", oauthv1alpha1.ClusterGrantPolicySpec{ClientIDs: []oauthv1alpha1.ClientIDGrant{
			// Overlaps platform's legacy- prefix: granted to neither.
			idGrant("mallory", []string{"legacy-reports"}),
			// The same grant to the same namespace twice is no overlap.
			idGrant("shop", []string{"shop-cart"}),
		}}),
	})
	tests := []struct {
		id, owner string
	}{
		{"billing-backend", "default"},
		{"shop-cart", "shop"},
		{"shop-anything", "shop"},
		{"legacy-reports", ""},             // overlapping grants: neither namespace; no "." either
		{"legacy-x", ""},                   // the prefix overlapped too
		{"victim.reports", "victim"},       // its own prefix
		{"victim.payments-ui", "payments"}, // granted elsewhere by the platform team
		{"noprefix", ""},
		{".leading-dot", ""},
	}
	for _, tt := range tests {
		if got := idx.OwningNamespace(tt.id); got != tt.owner {
			t.Errorf("OwningNamespace(%q) = %q, want %q", tt.id, got, tt.owner)
		}
	}

	want := []string{"clientID legacy-reports granted to namespace mallory by ClusterGrantPolicy other overlaps clientID prefix legacy- granted to namespace shop by ClusterGrantPolicy platform"}
	for _, p := range []string{"platform", "other"} {
		if got := idx.Conflicts(p); !slices.Equal(got, want) {
			t.Errorf("Conflicts(%s) = %q, want %q", p, got, want)
		}
	}
	wantData := map[string]string{"default": "billing-backend", "shop": "shop-*,shop-cart", "payments": "victim.payments-ui"}
	if got := idx.ConfigMapData(); !maps.Equal(got, wantData) {
		t.Errorf("ConfigMapData() = %v, want %v", got, wantData)
	}
}

func TestClientIDGrantOverlaps(t *testing.T) {
	tests := []struct {
		name    string
		a, b    oauthv1alpha1.ClientIDGrant
		overlap bool
	}{
		{"same ID", idGrant("a", []string{"x"}), idGrant("b", []string{"x"}), true},
		{"different IDs sharing a start", idGrant("a", []string{"app"}), idGrant("b", []string{"apple"}), false},
		{"ID under a prefix", idGrant("a", nil, "app"), idGrant("b", []string{"apple"}), true},
		{"ID shorter than a prefix", idGrant("a", []string{"ap"}), idGrant("b", nil, "app"), false},
		{"nested prefixes", idGrant("a", nil, "team-"), idGrant("b", nil, "team-blue-"), true},
		{"same prefix", idGrant("a", nil, "p"), idGrant("b", nil, "p"), true},
		{"disjoint prefixes", idGrant("a", nil, "red-"), idGrant("b", nil, "blue-"), false},
		{"same namespace", idGrant("a", nil, "team-"), idGrant("a", []string{"team-x"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range [][2]oauthv1alpha1.ClientIDGrant{{tt.a, tt.b}, {tt.b, tt.a}} {
				idx := IndexClientIDGrants([]oauthv1alpha1.ClusterGrantPolicy{
					cgp("one", oauthv1alpha1.ClusterGrantPolicySpec{ClientIDs: []oauthv1alpha1.ClientIDGrant{order[0]}}),
					cgp("two", oauthv1alpha1.ClusterGrantPolicySpec{ClientIDs: []oauthv1alpha1.ClientIDGrant{order[1]}}),
				})
				if got := len(idx.Conflicts("one")) > 0 && len(idx.Conflicts("two")) > 0; got != tt.overlap {
					t.Errorf("overlap = %v, want %v (%v)", got, tt.overlap, idx.Conflicts("one"))
				}
				if tt.overlap && len(idx.ConfigMapData()) != 0 {
					t.Errorf("overlapping grants are in the ConfigMap: %v", idx.ConfigMapData())
				}
			}
		})
	}
}

func TestClientIDPermitted(t *testing.T) {
	idx := IndexClientIDGrants([]oauthv1alpha1.ClusterGrantPolicy{cgp("platform", oauthv1alpha1.ClusterGrantPolicySpec{ClientIDs: []oauthv1alpha1.ClientIDGrant{
		idGrant("default", []string{"billing-backend"}),
		idGrant("mallory", []string{"victim.granted"}),
		idGrant("eve", nil, "bob."),
	}})})
	tests := []struct {
		id, ns, name string
		explicit     bool
		ok           bool
		msg          string
	}{
		{"victim.reports", "victim", "reports", false, true, `clientID victim.reports starts with "victim."`},
		{"billing-backend", "default", "billing-backend", true, true, "clientID billing-backend is granted to namespace default by a ClusterGrantPolicy"},
		{"victim.reports", "mallory", "reports", true, false,
			`clientID victim.reports must start with "mallory." or be granted to namespace mallory by a ClusterGrantPolicy (spec.clientIDs); remove spec.clientID to use the default mallory.reports. The client is not served`},
		{"billing-backend", "mallory", "x", true, false,
			`clientID billing-backend must start with "mallory." or be granted to namespace mallory by a ClusterGrantPolicy (spec.clientIDs); remove spec.clientID to use the default mallory.x. The client is not served`},
		{"victim.granted", "victim", "g", true, false,
			"clientID victim.granted is granted to another namespace by a ClusterGrantPolicy (spec.clientIDs); remove spec.clientID to use the default victim.g. The client is not served"},
		{"victim.granted", "mallory", "g", true, true, "clientID victim.granted is granted to namespace mallory by a ClusterGrantPolicy"},
		{"bob.app", "bob", "app", false, false,
			`the default clientID bob.app is granted to another namespace by a ClusterGrantPolicy (spec.clientIDs); recreate the client with a spec.clientID that starts with "bob.", or have the grant changed. The client is not served`},
	}
	for _, tt := range tests {
		ok, msg := idx.Permitted(tt.id, tt.ns, tt.name, tt.explicit)
		if ok != tt.ok || msg != tt.msg {
			t.Errorf("Permitted(%s in %s) = %v %q, want %v %q", tt.id, tt.ns, ok, msg, tt.ok, tt.msg)
		}
	}
}

func TestCeilingCap(t *testing.T) {
	noPassword := cgp("no-password", oauthv1alpha1.ClusterGrantPolicySpec{
		AllowedGrantTypes: []oauthv1alpha1.GrantType{authCode, refresh, clientCr, device},
	})
	baseline := cgp("baseline", oauthv1alpha1.ClusterGrantPolicySpec{
		MaxAccessTokenLifetime:  dur(time.Hour),
		MaxRefreshTokenLifetime: dur(24 * time.Hour),
		PKCE:                    oauthv1alpha1.PKCERequired,
		AllowedErrorProfiles:    []oauthv1alpha1.ErrorProfile{oauthv1alpha1.ErrorProfileRFC},
	})
	stricter := cgp("stricter", oauthv1alpha1.ClusterGrantPolicySpec{
		NamespaceSelector:      &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}},
		AllowedGrantTypes:      []oauthv1alpha1.GrantType{authCode, refresh, clientCr},
		MaxAccessTokenLifetime: dur(15 * time.Minute),
		MaxDeviceCodeLifetime:  dur(5 * time.Minute),
	})
	all := []oauthv1alpha1.ClusterGrantPolicy{stricter, noPassword, baseline}
	generous := oauthv1alpha1.GrantPolicySpec{
		AllowedGrantTypes:    []oauthv1alpha1.GrantType{authCode, refresh, password, device},
		AccessTokenLifetime:  dur(24 * time.Hour),
		RefreshTokenLifetime: dur(720 * time.Hour),
		PKCE:                 oauthv1alpha1.PKCEOptional,
		ErrorProfile:         oauthv1alpha1.ErrorProfileExtended,
	}

	tests := []struct {
		name       string
		labels     map[string]string
		policies   []oauthv1alpha1.ClusterGrantPolicy
		spec       oauthv1alpha1.GrantPolicySpec
		wantGrants []oauthv1alpha1.GrantType
		wantAccess time.Duration
		wantCuts   string
		selecting  []string
	}{
		{
			name: "no ClusterGrantPolicy caps nothing", spec: generous,
			wantGrants: generous.AllowedGrantTypes, wantAccess: 24 * time.Hour,
		},
		{
			name: "every selecting policy applies, the most restrictive wins", policies: all, spec: generous,
			wantGrants: []oauthv1alpha1.GrantType{authCode, refresh, device}, wantAccess: time.Hour,
			selecting: []string{"baseline", "no-password"},
			wantCuts: "allowedGrantTypes: password removed by ClusterGrantPolicy no-password; " +
				"accessTokenLifetime 24h capped to 1h by ClusterGrantPolicy baseline; " +
				"refreshTokenLifetime 720h capped to 24h by ClusterGrantPolicy baseline; " +
				"pkce Optional changed to Required by ClusterGrantPolicy baseline; " +
				"errorProfile Extended changed to RFC by ClusterGrantPolicy baseline",
		},
		{
			name: "a selector picks namespaces by label", labels: map[string]string{"tier": "prod"}, policies: all, spec: generous,
			wantGrants: []oauthv1alpha1.GrantType{authCode, refresh}, wantAccess: 15 * time.Minute,
			selecting: []string{"baseline", "no-password", "stricter"},
			wantCuts: "allowedGrantTypes: password removed by ClusterGrantPolicy no-password; " +
				"allowedGrantTypes: urn:ietf:params:oauth:grant-type:device_code removed by ClusterGrantPolicy stricter; " +
				"accessTokenLifetime 24h capped to 15m by ClusterGrantPolicy stricter; " +
				"refreshTokenLifetime 720h capped to 24h by ClusterGrantPolicy baseline; " +
				"deviceCodeLifetime 10m capped to 5m by ClusterGrantPolicy stricter; " +
				"pkce Optional changed to Required by ClusterGrantPolicy baseline; " +
				"errorProfile Extended changed to RFC by ClusterGrantPolicy baseline",
		},
		{
			name: "the built-in defaults are capped too", labels: map[string]string{"tier": "prod"}, policies: []oauthv1alpha1.ClusterGrantPolicy{stricter},
			wantGrants: []oauthv1alpha1.GrantType{authCode, refresh, clientCr}, wantAccess: 15 * time.Minute, selecting: []string{"stricter"},
			wantCuts: "allowedGrantTypes: urn:ietf:params:oauth:grant-type:device_code removed by ClusterGrantPolicy stricter; " +
				"accessTokenLifetime 1h capped to 15m by ClusterGrantPolicy stricter; " +
				"deviceCodeLifetime 10m capped to 5m by ClusterGrantPolicy stricter",
		},
		{
			name: "a policy within the ceiling is not cut", policies: all,
			spec: oauthv1alpha1.GrantPolicySpec{AllowedGrantTypes: []oauthv1alpha1.GrantType{clientCr}, AccessTokenLifetime: dur(time.Minute),
				RefreshTokenLifetime: dur(time.Hour), ErrorProfile: oauthv1alpha1.ErrorProfileRFC},
			wantGrants: []oauthv1alpha1.GrantType{clientCr}, wantAccess: time.Minute, selecting: []string{"baseline", "no-password"},
		},
		{
			name:       "the access token lifetime follows a capped refresh token lifetime",
			policies:   []oauthv1alpha1.ClusterGrantPolicy{cgp("short", oauthv1alpha1.ClusterGrantPolicySpec{MaxRefreshTokenLifetime: dur(time.Hour)})},
			spec:       oauthv1alpha1.GrantPolicySpec{AccessTokenLifetime: dur(2 * time.Hour)},
			wantGrants: BuiltinPolicy().AllowedGrantTypes, wantAccess: time.Hour, selecting: []string{"short"},
			wantCuts: "refreshTokenLifetime 720h capped to 1h by ClusterGrantPolicy short; " +
				"accessTokenLifetime 2h capped to 1h by ClusterGrantPolicy short",
		},
		{
			name: "pushed authorization requests Required by any policy",
			policies: []oauthv1alpha1.ClusterGrantPolicy{cgp("par", oauthv1alpha1.ClusterGrantPolicySpec{
				PushedAuthorizationRequests: oauthv1alpha1.PushedAuthorizationRequestsRequired})},
			wantGrants: BuiltinPolicy().AllowedGrantTypes, wantAccess: time.Hour, selecting: []string{"par"},
			wantCuts: "pushedAuthorizationRequests Optional changed to Required by ClusterGrantPolicy par",
		},
		{
			name: "no grant type left stays empty",
			policies: []oauthv1alpha1.ClusterGrantPolicy{cgp("cc-only", oauthv1alpha1.ClusterGrantPolicySpec{
				AllowedGrantTypes: []oauthv1alpha1.GrantType{clientCr}})},
			spec:       oauthv1alpha1.GrantPolicySpec{AllowedGrantTypes: []oauthv1alpha1.GrantType{password}},
			wantGrants: []oauthv1alpha1.GrantType{}, wantAccess: time.Hour, selecting: []string{"cc-only"},
			wantCuts: "allowedGrantTypes: password removed by ClusterGrantPolicy cc-only",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ceiling := CeilingFor(tt.labels, tt.policies)
			if !slices.Equal(ceiling.Policies, tt.selecting) {
				t.Errorf("selecting policies %v, want %v", ceiling.Policies, tt.selecting)
			}
			before := tt.spec.DeepCopy()
			capped, cuts := ceiling.Cap(tt.spec)
			if !slices.Equal(capped.AllowedGrantTypes, tt.wantGrants) {
				t.Errorf("grant types %v, want %v", capped.AllowedGrantTypes, tt.wantGrants)
			}
			if capped.AccessTokenLifetime.Duration != tt.wantAccess {
				t.Errorf("access token lifetime %s, want %s", capped.AccessTokenLifetime.Duration, tt.wantAccess)
			}
			if got := cuts.String(); got != tt.wantCuts {
				t.Errorf("cuts:\n got %s\nwant %s", got, tt.wantCuts)
			}
			if !equality.Semantic.DeepEqual(*before, tt.spec) {
				t.Error("Cap modified its argument")
			}
			if _, err := CompilePolicy("p", capped); err != nil {
				t.Errorf("the capped policy does not compile: %v", err)
			}
		})
	}
}

func TestCeilingErrorProfiles(t *testing.T) {
	only := func(name string, p ...oauthv1alpha1.ErrorProfile) oauthv1alpha1.ClusterGrantPolicy {
		return cgp(name, oauthv1alpha1.ClusterGrantPolicySpec{AllowedErrorProfiles: p})
	}
	rfc, ext := oauthv1alpha1.ErrorProfileRFC, oauthv1alpha1.ErrorProfileExtended
	tests := []struct {
		name     string
		policies []oauthv1alpha1.ClusterGrantPolicy
		spec     oauthv1alpha1.ErrorProfile
		want     oauthv1alpha1.ErrorProfile
	}{
		{"allowed stays", []oauthv1alpha1.ClusterGrantPolicy{only("a", rfc, ext)}, rfc, rfc},
		{"RFC outside Extended-only gets Extended", []oauthv1alpha1.ClusterGrantPolicy{only("a", ext)}, rfc, ext},
		{"contradicting policies leave RFC", []oauthv1alpha1.ClusterGrantPolicy{only("a", ext), only("b", rfc)}, ext, rfc},
	}
	for _, tt := range tests {
		capped, _ := CeilingFor(nil, tt.policies).Cap(oauthv1alpha1.GrantPolicySpec{ErrorProfile: tt.spec})
		if capped.ErrorProfile != tt.want {
			t.Errorf("%s: error profile %s, want %s", tt.name, capped.ErrorProfile, tt.want)
		}
	}
}

// TestCeilingDPoP: a ClusterGrantPolicy can require DPoP and DPoP nonces
// (the first by name is named in the cut), like PKCE; the compiled policy
// carries both; a GrantPolicy that already requires them is not cut.
func TestCeilingDPoP(t *testing.T) {
	policies := []oauthv1alpha1.ClusterGrantPolicy{
		cgp("b-dpop", oauthv1alpha1.ClusterGrantPolicySpec{DPoP: oauthv1alpha1.DPoPRequired}),
		cgp("a-both", oauthv1alpha1.ClusterGrantPolicySpec{DPoP: oauthv1alpha1.DPoPRequired, DPoPNonce: oauthv1alpha1.DPoPNonceRequired}),
		cgp("c-optional", oauthv1alpha1.ClusterGrantPolicySpec{DPoP: oauthv1alpha1.DPoPOptional}),
	}
	resolved, err := ResolvePolicy("apps", oauthv1alpha1.GrantPolicySpec{}, CeilingFor(nil, policies))
	if err != nil {
		t.Fatal(err)
	}
	if want := "dpop Optional changed to Required by ClusterGrantPolicy a-both; " +
		"dpopNonce NotRequired changed to Required by ClusterGrantPolicy a-both"; resolved.Cuts.String() != want {
		t.Errorf("cuts:\n got %s\nwant %s", resolved.Cuts, want)
	}
	if resolved.Compiled.DPoP != snapshot.DPoPRequired || resolved.Compiled.DPoPNonce != snapshot.DPoPNonceRequired {
		t.Errorf("compiled dpop %q, dpopNonce %q; want Required, Required", resolved.Compiled.DPoP, resolved.Compiled.DPoPNonce)
	}
	strict := oauthv1alpha1.GrantPolicySpec{DPoP: oauthv1alpha1.DPoPRequired, DPoPNonce: oauthv1alpha1.DPoPNonceRequired}
	if _, cuts := CeilingFor(nil, policies).Cap(strict); len(cuts) != 0 {
		t.Errorf("a policy requiring DPoP and nonces was cut: %s", cuts)
	}
	// Without a ceiling the defaults are Optional and NotRequired.
	def, err := CompilePolicy("", oauthv1alpha1.GrantPolicySpec{})
	if err != nil || def.DPoP != snapshot.DPoPOptional || def.DPoPNonce != snapshot.DPoPNonceNotRequired {
		t.Errorf("default policy dpop %q, dpopNonce %q, %v", def.DPoP, def.DPoPNonce, err)
	}
}

func TestComputeAccessNamesTheClusterGrantPolicy(t *testing.T) {
	ceiling := CeilingFor(nil, []oauthv1alpha1.ClusterGrantPolicy{cgp("no-password", oauthv1alpha1.ClusterGrantPolicySpec{
		AllowedGrantTypes: []oauthv1alpha1.GrantType{authCode, refresh, clientCr}})})
	resolved, err := ResolvePolicy("apps", oauthv1alpha1.GrantPolicySpec{AllowedGrantTypes: []oauthv1alpha1.GrantType{clientCr, password}}, ceiling)
	if err != nil {
		t.Fatal(err)
	}
	a := ComputeAccess(oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{password, device, clientCr}}, "apps", resolved.Spec, resolved.Cuts)
	want := "grant type password is not allowed by ClusterGrantPolicy no-password, grant type urn:ietf:params:oauth:grant-type:device_code " +
		"is not allowed by GrantPolicy apps; token requests with them get unauthorized_client"
	if a.GrantTypesAllowed.Message != want || a.GrantTypesAllowed.Reason != oauthv1alpha1.UnauthorizedClientReason {
		t.Errorf("GrantTypesAllowed %s %q, want %q", a.GrantTypesAllowed.Reason, a.GrantTypesAllowed.Message, want)
	}
	if !slices.Equal(a.GrantTypes, []oauthv1alpha1.GrantType{clientCr}) {
		t.Errorf("grant types %v", a.GrantTypes)
	}
	if note := resolved.cappedNote(); !strings.Contains(note, "allowedGrantTypes: password removed by ClusterGrantPolicy no-password") {
		t.Errorf("capped note %q", note)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{24 * time.Hour: "24h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", 10 * time.Second: "10s", time.Hour + time.Second: "1h0m1s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %s, want %s", d, got, want)
		}
	}
}
