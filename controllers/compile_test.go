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
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

const (
	authCode = oauthv1alpha1.GrantTypeAuthorizationCode
	refresh  = oauthv1alpha1.GrantTypeRefreshToken
	clientCr = oauthv1alpha1.GrantTypeClientCredentials
	device   = oauthv1alpha1.GrantTypeDeviceCode
	password = oauthv1alpha1.GrantTypePassword
)

func TestComputeAccess(t *testing.T) {
	strict := oauthv1alpha1.GrantPolicySpec{
		AllowedGrantTypes: []oauthv1alpha1.GrantType{authCode, refresh},
		AllowedScopes:     []oauthv1alpha1.Scope{"openid", "orders.read"},
		DefaultScopes:     []oauthv1alpha1.Scope{"openid"},
	}
	tests := []struct {
		name          string
		grants        []oauthv1alpha1.GrantType
		scopes        []oauthv1alpha1.Scope
		policyName    string
		policy        oauthv1alpha1.GrantPolicySpec
		wantGrants    []oauthv1alpha1.GrantType
		wantScopes    []oauthv1alpha1.Scope
		wantDefaults  []oauthv1alpha1.Scope
		wantUsable    bool
		wantGrantCond metav1.Condition
		wantScopeCond metav1.Condition
	}{
		{
			name:       "built-in defaults allow all but password",
			grants:     []oauthv1alpha1.GrantType{authCode, refresh, clientCr, device},
			scopes:     []oauthv1alpha1.Scope{"a", "b"},
			wantGrants: []oauthv1alpha1.GrantType{authCode, refresh, clientCr, device},
			wantScopes: []oauthv1alpha1.Scope{"a", "b"},
			wantUsable: true,
			wantGrantCond: metav1.Condition{Status: metav1.ConditionTrue, Reason: oauthv1alpha1.AllowedReason,
				Message: "every grant type of the client is allowed by the built-in default policy"},
			wantScopeCond: metav1.Condition{Status: metav1.ConditionTrue, Reason: oauthv1alpha1.AllowedReason,
				Message: "every scope of the client is allowed by the built-in default policy"},
		},
		{
			name:       "built-in defaults refuse password",
			grants:     []oauthv1alpha1.GrantType{password, clientCr},
			wantGrants: []oauthv1alpha1.GrantType{clientCr},
			wantUsable: true,
			wantGrantCond: metav1.Condition{Status: metav1.ConditionFalse, Reason: oauthv1alpha1.UnauthorizedClientReason,
				Message: "grant type password is not allowed by the built-in default policy; token requests with it get unauthorized_client"},
			wantScopeCond: metav1.Condition{Status: metav1.ConditionTrue, Reason: oauthv1alpha1.AllowedReason,
				Message: "every scope of the client is allowed by the built-in default policy"},
		},
		{
			name:         "strict removes grant types and scopes, keeps the rest",
			grants:       []oauthv1alpha1.GrantType{authCode, refresh, password, clientCr},
			scopes:       []oauthv1alpha1.Scope{"openid", "admin", "orders.read", "root"},
			policyName:   "strict",
			policy:       strict,
			wantGrants:   []oauthv1alpha1.GrantType{authCode, refresh},
			wantScopes:   []oauthv1alpha1.Scope{"openid", "orders.read"},
			wantDefaults: []oauthv1alpha1.Scope{"openid"},
			wantUsable:   true,
			wantGrantCond: metav1.Condition{Status: metav1.ConditionFalse, Reason: oauthv1alpha1.UnauthorizedClientReason,
				Message: "grant types password, client_credentials are not allowed by GrantPolicy strict; token requests with them get unauthorized_client"},
			wantScopeCond: metav1.Condition{Status: metav1.ConditionFalse, Reason: oauthv1alpha1.InvalidScopeReason,
				Message: "scopes admin, root are not allowed by GrantPolicy strict; requests for them get invalid_scope"},
		},
		{
			name:       "nothing left is not usable",
			grants:     []oauthv1alpha1.GrantType{password},
			policyName: "strict",
			policy:     strict,
			wantUsable: false,
			wantGrantCond: metav1.Condition{Status: metav1.ConditionFalse, Reason: oauthv1alpha1.UnauthorizedClientReason,
				Message: "grant type password is not allowed by GrantPolicy strict; token requests with it get unauthorized_client"},
			wantScopeCond: metav1.Condition{Status: metav1.ConditionTrue, Reason: oauthv1alpha1.AllowedReason,
				Message: "every scope of the client is allowed by GrantPolicy strict"},
		},
		{
			name:       "refresh_token alone is not usable",
			grants:     []oauthv1alpha1.GrantType{password, refresh},
			policyName: "strict",
			policy:     strict,
			wantGrants: []oauthv1alpha1.GrantType{refresh},
			wantUsable: false,
			wantGrantCond: metav1.Condition{Status: metav1.ConditionFalse, Reason: oauthv1alpha1.UnauthorizedClientReason,
				Message: "grant type password is not allowed by GrantPolicy strict; token requests with it get unauthorized_client"},
			wantScopeCond: metav1.Condition{Status: metav1.ConditionTrue, Reason: oauthv1alpha1.AllowedReason,
				Message: "every scope of the client is allowed by GrantPolicy strict"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ComputeAccess(oauthv1alpha1.OAuthClientSpec{GrantTypes: tt.grants, Scopes: tt.scopes}, tt.policyName, tt.policy, nil)
			if !slices.Equal(got.GrantTypes, tt.wantGrants) || !slices.Equal(got.Scopes, tt.wantScopes) || !slices.Equal(got.DefaultScopes, tt.wantDefaults) {
				t.Errorf("got grants %v scopes %v defaults %v, want %v %v %v", got.GrantTypes, got.Scopes, got.DefaultScopes, tt.wantGrants, tt.wantScopes, tt.wantDefaults)
			}
			if got.Usable != tt.wantUsable {
				t.Errorf("usable = %v, want %v", got.Usable, tt.wantUsable)
			}
			for _, c := range []struct{ got, want metav1.Condition }{{got.GrantTypesAllowed, tt.wantGrantCond}, {got.ScopesAllowed, tt.wantScopeCond}} {
				if c.got.Status != c.want.Status || c.got.Reason != c.want.Reason || c.got.Message != c.want.Message {
					t.Errorf("condition %s = %s/%s %q, want %s/%s %q", c.got.Type, c.got.Status, c.got.Reason, c.got.Message, c.want.Status, c.want.Reason, c.want.Message)
				}
			}
		})
	}
}

func TestCompilePolicy(t *testing.T) {
	p, err := CompilePolicy("", BuiltinPolicy())
	if err != nil {
		t.Fatal(err)
	}
	want := snapshot.Policy{
		PKCE: "Required", PushedAuthorizationRequests: "Optional", Consent: "Prompt", DPoP: "Optional", DPoPNonce: "NotRequired", ErrorProfile: "Extended", RefreshTokenRotation: "Rotate",
		AccessTokenLifetimeSeconds: 3600, RefreshTokenLifetimeSeconds: 720 * 3600, AuthorizationCodeLifetimeSeconds: 60,
		DeviceCodeLifetimeSeconds: 600, DevicePollIntervalSeconds: 5, RefreshTokenReuseGraceSeconds: 2,
		LockoutMaxFailedAttempts: 5, LockoutWindowSeconds: 900, LockoutDurationSeconds: 900,
	}
	if p != want {
		t.Errorf("built-in policy compiles to %+v, want %+v", p, want)
	}
	if empty, err := CompilePolicy("x", oauthv1alpha1.GrantPolicySpec{}); err != nil || empty.AccessTokenLifetimeSeconds != 3600 || empty.Name != "x" {
		t.Errorf("an empty spec must compile to the defaults, got %+v, %v", empty, err)
	}
	bad := BuiltinPolicy()
	bad.AccessTokenLifetime = &metav1.Duration{Duration: 800 * time.Hour}
	if _, err := CompilePolicy("bad", bad); err == nil {
		t.Error("an access token outliving its refresh token must be refused")
	}
	bad = BuiltinPolicy()
	bad.RefreshTokenReuseGrace = &metav1.Duration{Duration: 61 * time.Second}
	if _, err := CompilePolicy("bad", bad); err == nil {
		t.Error("a refresh token reuse grace above 60s must be refused")
	}
	strict := BuiltinPolicy()
	strict.RefreshTokenReuseGrace = &metav1.Duration{}
	if p, err := CompilePolicy("strict", strict); err != nil || p.RefreshTokenReuseGraceSeconds != 0 {
		t.Errorf("a reuse grace of 0s compiles to %+v, %v", p, err)
	}
}

// TestEffectiveRotation: a Public client's refresh tokens rotate whatever
// the policy says, and the condition says so; otherwise the policy applies.
func TestEffectiveRotation(t *testing.T) {
	for _, tc := range []struct {
		typ        oauthv1alpha1.ClientType
		policy     oauthv1alpha1.RefreshTokenRotation
		want       oauthv1alpha1.RefreshTokenRotation
		status     metav1.ConditionStatus
		reason     string
		restricted bool
	}{
		{oauthv1alpha1.ClientTypePublic, oauthv1alpha1.RefreshTokenReuse, oauthv1alpha1.RefreshTokenRotate, metav1.ConditionFalse, oauthv1alpha1.PublicClientRotatesReason, true},
		{oauthv1alpha1.ClientTypePublic, oauthv1alpha1.RefreshTokenRotate, oauthv1alpha1.RefreshTokenRotate, metav1.ConditionTrue, oauthv1alpha1.AllowedReason, false},
		{oauthv1alpha1.ClientTypeConfidential, oauthv1alpha1.RefreshTokenReuse, oauthv1alpha1.RefreshTokenReuse, metav1.ConditionTrue, oauthv1alpha1.AllowedReason, false},
		{"", oauthv1alpha1.RefreshTokenReuse, oauthv1alpha1.RefreshTokenReuse, metav1.ConditionTrue, oauthv1alpha1.AllowedReason, false},
	} {
		spec := oauthv1alpha1.OAuthClientSpec{Type: tc.typ, GrantTypes: []oauthv1alpha1.GrantType{authCode, refresh}}
		policy := BuiltinPolicy()
		policy.RefreshTokenRotation = tc.policy
		a := ComputeAccess(spec, "p", policy, nil)
		c := a.RefreshTokenRotationAllowed
		if a.RefreshTokenRotation != tc.want || c.Type != oauthv1alpha1.RefreshTokenRotationAllowedCondition || c.Status != tc.status ||
			c.Reason != tc.reason || (len(a.Restrictions) > 0) != tc.restricted {
			t.Errorf("%q client under %s: rotation %s, condition %+v, restrictions %v", tc.typ, tc.policy, a.RefreshTokenRotation, c, a.Restrictions)
		}
		compiled, _ := CompilePolicy("p", policy)
		doc := CompileClient(ClientInput{Client: &oauthv1alpha1.OAuthClient{Spec: spec}, ClientID: "x", Policy: compiled, Access: a})
		if doc.Client.Policy.RefreshTokenRotation != string(tc.want) {
			t.Errorf("%q client under %s compiles to %s", tc.typ, tc.policy, doc.Client.Policy.RefreshTokenRotation)
		}
	}
}

func TestCompileClient(t *testing.T) {
	c := &oauthv1alpha1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1", Generation: 3},
		Spec: oauthv1alpha1.OAuthClientSpec{
			GrantTypes:   []oauthv1alpha1.GrantType{authCode, password},
			RedirectURIs: []oauthv1alpha1.RedirectURI{"https://app.example.com/cb"},
			Scopes:       []oauthv1alpha1.Scope{"openid"},
			PostLogoutRedirectURIs: []oauthv1alpha1.RedirectURI{"https://app.example.com/signed-out",
				"http://127.0.0.1:8080/bye"},
		},
	}
	policy, _ := CompilePolicy("", BuiltinPolicy())
	doc := CompileClient(ClientInput{
		Client: c, ClientID: EffectiveClientID(c), Policy: policy,
		Access:  ComputeAccess(c.Spec, "", BuiltinPolicy(), nil),
		Digests: []snapshot.SecretDigest{{SHA256: Digest("s")}},
	})
	if _, err := snapshot.Encode(doc); err != nil {
		t.Fatalf("compiled document is invalid: %v", err)
	}
	cl := doc.Client
	if cl.ID != "ns.web" || cl.Type != "Confidential" || cl.TokenEndpointAuthMethod != "client_secret_basic" ||
		!slices.Equal(cl.GrantTypes, []string{"authorization_code"}) || !slices.Equal(cl.RequestedGrantTypes, []string{"authorization_code", "password"}) ||
		len(cl.Secrets) != 1 || doc.Source.UID != "u1" || doc.Source.Generation != 3 {
		t.Errorf("unexpected compiled client %+v (source %+v)", cl, doc.Source)
	}
	if want := []string{"https://app.example.com/signed-out", "http://127.0.0.1:8080/bye"}; !slices.Equal(cl.PostLogoutRedirectURIs, want) {
		t.Errorf("PostLogoutRedirectURIs = %q, want %q", cl.PostLogoutRedirectURIs, want)
	}
	if cl.DPoPBoundAccessTokens {
		t.Error("dpopBoundAccessTokens compiled without being asked for")
	}
	c.Spec.DPoPBoundAccessTokens = true
	if doc := CompileClient(ClientInput{Client: c, ClientID: "x", Policy: policy}); !doc.Client.DPoPBoundAccessTokens {
		t.Error("spec.dpopBoundAccessTokens is not compiled")
	}
	c.Spec.Type = oauthv1alpha1.ClientTypePublic
	if doc := CompileClient(ClientInput{Client: c, ClientID: "x", Policy: policy, Digests: []snapshot.SecretDigest{{SHA256: Digest("s")}}}); len(doc.Client.Secrets) != 0 || doc.Client.TokenEndpointAuthMethod != "none" {
		t.Errorf("a Public client must have no secrets and auth method none, got %+v", doc.Client)
	}
}

func TestClientIDOwner(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Second))
	mk := func(uid string, created metav1.Time, deleting bool) oauthv1alpha1.OAuthClient {
		c := oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{UID: k8stypes.UID("u" + uid), CreationTimestamp: created}}
		if deleting {
			c.DeletionTimestamp = &t1
		}
		return c
	}
	tests := []struct {
		name    string
		clients []oauthv1alpha1.OAuthClient
		want    string
	}{
		{"oldest wins", []oauthv1alpha1.OAuthClient{mk("b", t1, false), mk("a", t0, false)}, "ua"},
		{"same time: smaller UID wins", []oauthv1alpha1.OAuthClient{mk("b", t0, false), mk("a", t0, false)}, "ua"},
		{"a client being deleted never wins", []oauthv1alpha1.OAuthClient{mk("a", t0, true), mk("b", t1, false)}, "ub"},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if o := ClientIDOwner(tt.clients); o != nil {
				got = string(o.UID)
			}
			if got != tt.want {
				t.Errorf("owner = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDisabledCount: the count grows only when the stored document was
// enabled and the account is now disabled, so a disable followed by a
// re-enable leaves it one higher than before.
func TestDisabledCount(t *testing.T) {
	doc := func(disabled bool, n int64) *snapshot.Document {
		return &snapshot.Document{Account: &snapshot.Account{Disabled: disabled, DisabledCount: n}}
	}
	for _, tc := range []struct {
		name     string
		existing *snapshot.Document
		disabled bool
		want     int64
	}{
		{"new enabled account", nil, false, 0},
		{"new disabled account", nil, true, 0},
		{"stays enabled", doc(false, 2), false, 2},
		{"enabled to disabled", doc(false, 2), true, 3},
		{"stays disabled", doc(true, 3), true, 3},
		{"disabled to enabled", doc(true, 3), false, 3},
		{"not an account document", &snapshot.Document{}, true, 0},
	} {
		if got := disabledCount(tc.existing, tc.disabled); got != tc.want {
			t.Errorf("%s: disabledCount = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestCompileSecretlessClient: a client with spec.authentication carries
// its credential and never a secret digest, even one the previous document
// had (a client that drops its secret for a ServiceAccount must not keep
// accepting the secret).
func TestCompileSecretlessClient(t *testing.T) {
	policy, _ := CompilePolicy("", BuiltinPolicy())
	old := []snapshot.SecretDigest{{SHA256: Digest("the secret before the change")}}
	sa := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "worker", UID: "u1"},
		Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{"client_credentials"},
			Authentication: &oauthv1alpha1.ClientAuthenticationSpec{ServiceAccount: &oauthv1alpha1.LocalObjectReference{Name: "robot"}}}}
	identity := &snapshot.ServiceAccount{Subject: snapshot.ServiceAccountSubject("ns", "robot"), UID: "sa-uid"}
	doc := CompileClient(ClientInput{Client: sa, ClientID: "ns.worker", Policy: policy,
		Access: ComputeAccess(sa.Spec, "", BuiltinPolicy(), nil), Digests: old, ServiceAccount: identity})
	if _, err := snapshot.Encode(doc); err != nil {
		t.Fatalf("compiled document is invalid: %v", err)
	}
	if c := doc.Client; len(c.Secrets) != 0 || c.TokenEndpointAuthMethod != snapshot.AuthServiceAccountToken ||
		c.ServiceAccount == nil || c.ServiceAccount.Subject != "system:serviceaccount:ns:robot" || c.ServiceAccount.UID != "sa-uid" {
		t.Errorf("compiled ServiceAccount client = %+v", c)
	}
	keys := []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`)
	pkj := sa.DeepCopy()
	pkj.Spec.TokenEndpointAuthMethod = oauthv1alpha1.AuthMethodPrivateKeyJWT
	pkj.Spec.Authentication = &oauthv1alpha1.ClientAuthenticationSpec{JWKSSecretRef: &oauthv1alpha1.SecretKeyReference{Name: "keys"}}
	doc = CompileClient(ClientInput{Client: pkj, ClientID: "ns.worker", Policy: policy,
		Access: ComputeAccess(pkj.Spec, "", BuiltinPolicy(), nil), Digests: old, JWKS: keys})
	if _, err := snapshot.Encode(doc); err != nil {
		t.Fatalf("compiled document is invalid: %v", err)
	}
	if c := doc.Client; len(c.Secrets) != 0 || c.TokenEndpointAuthMethod != snapshot.AuthPrivateKeyJWT || string(c.JWKS) != string(keys) {
		t.Errorf("compiled private_key_jwt client = %+v", c)
	}
}
