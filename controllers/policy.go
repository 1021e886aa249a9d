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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// BuiltinPolicy is the policy of a client that names no GrantPolicy in a
// namespace without a GrantPolicy called "default". It equals the defaults of
// the GrantPolicy CRD, so `spec: {}` and no policy at all behave the same.
func BuiltinPolicy() oauthv1alpha1.GrantPolicySpec {
	d := func(v time.Duration) *metav1.Duration { return &metav1.Duration{Duration: v} }
	return oauthv1alpha1.GrantPolicySpec{
		AllowedGrantTypes: []oauthv1alpha1.GrantType{
			oauthv1alpha1.GrantTypeAuthorizationCode,
			oauthv1alpha1.GrantTypeRefreshToken,
			oauthv1alpha1.GrantTypeClientCredentials,
			oauthv1alpha1.GrantTypeDeviceCode,
		},
		PKCE:                        oauthv1alpha1.PKCERequired,
		PushedAuthorizationRequests: oauthv1alpha1.PushedAuthorizationRequestsOptional,
		DPoP:                        oauthv1alpha1.DPoPOptional,
		DPoPNonce:                   oauthv1alpha1.DPoPNonceNotRequired,
		Consent:                     oauthv1alpha1.ConsentPrompt,
		AccessTokenLifetime:         d(time.Hour),
		RefreshTokenLifetime:        d(720 * time.Hour),
		AuthorizationCodeLifetime:   d(time.Minute),
		DeviceCodeLifetime:          d(10 * time.Minute),
		RefreshTokenRotation:        oauthv1alpha1.RefreshTokenRotate,
		RefreshTokenReuseGrace:      d(2 * time.Second),
		DevicePollInterval:          d(5 * time.Second),
		Lockout: &oauthv1alpha1.LockoutSpec{
			MaxFailedAttempts: 5,
			Window:            d(15 * time.Minute),
			Duration:          d(15 * time.Minute),
		},
		ErrorProfile: oauthv1alpha1.ErrorProfileExtended,
	}
}

// withDefaults fills every unset field of spec from the built-in defaults.
// The API server applies the same defaults, so this matters only for objects
// written without them (or created by an older CRD). An empty, not nil,
// allowedGrantTypes (which the API refuses) is what a ClusterGrantPolicy
// left of it (Ceiling.Cap), and stays empty.
func withDefaults(spec oauthv1alpha1.GrantPolicySpec) oauthv1alpha1.GrantPolicySpec {
	def := BuiltinPolicy()
	if spec.AllowedGrantTypes == nil {
		spec.AllowedGrantTypes = def.AllowedGrantTypes
	}
	if spec.PKCE == "" {
		spec.PKCE = def.PKCE
	}
	if spec.PushedAuthorizationRequests == "" {
		spec.PushedAuthorizationRequests = def.PushedAuthorizationRequests
	}
	if spec.DPoP == "" {
		spec.DPoP = def.DPoP
	}
	if spec.DPoPNonce == "" {
		spec.DPoPNonce = def.DPoPNonce
	}
	if spec.Consent == "" {
		spec.Consent = def.Consent
	}
	durations := []struct{ v, def **metav1.Duration }{
		{&spec.AccessTokenLifetime, &def.AccessTokenLifetime},
		{&spec.RefreshTokenLifetime, &def.RefreshTokenLifetime},
		{&spec.AuthorizationCodeLifetime, &def.AuthorizationCodeLifetime},
		{&spec.DeviceCodeLifetime, &def.DeviceCodeLifetime},
		{&spec.DevicePollInterval, &def.DevicePollInterval},
		{&spec.RefreshTokenReuseGrace, &def.RefreshTokenReuseGrace},
	}
	for _, d := range durations {
		if *d.v == nil {
			*d.v = *d.def
		}
	}
	if spec.RefreshTokenRotation == "" {
		spec.RefreshTokenRotation = def.RefreshTokenRotation
	}
	lockout := *def.Lockout
	if spec.Lockout != nil {
		if spec.Lockout.MaxFailedAttempts > 0 {
			lockout.MaxFailedAttempts = spec.Lockout.MaxFailedAttempts
		}
		if spec.Lockout.Window != nil {
			lockout.Window = spec.Lockout.Window
		}
		if spec.Lockout.Duration != nil {
			lockout.Duration = spec.Lockout.Duration
		}
	}
	spec.Lockout = &lockout
	if spec.ErrorProfile == "" {
		spec.ErrorProfile = def.ErrorProfile
	}
	return spec
}

// CompilePolicy turns a GrantPolicy spec (name empty for the built-in
// defaults) into the snapshot's resolved policy. It fails, with a message for
// a person, on values the API server's validation should have refused.
func CompilePolicy(name string, spec oauthv1alpha1.GrantPolicySpec) (snapshot.Policy, error) {
	spec = withDefaults(spec)
	var problems []string
	seconds := func(field string, d *metav1.Duration) int64 {
		s := int64(d.Duration / time.Second)
		if s <= 0 {
			problems = append(problems, fmt.Sprintf("%s must be at least 1s", field))
		}
		return s
	}
	p := snapshot.Policy{
		Name:                             name,
		PKCE:                             string(spec.PKCE),
		PushedAuthorizationRequests:      string(spec.PushedAuthorizationRequests),
		DPoP:                             string(spec.DPoP),
		DPoPNonce:                        string(spec.DPoPNonce),
		Consent:                          string(spec.Consent),
		ErrorProfile:                     string(spec.ErrorProfile),
		RefreshTokenRotation:             string(spec.RefreshTokenRotation),
		AccessTokenLifetimeSeconds:       seconds("accessTokenLifetime", spec.AccessTokenLifetime),
		RefreshTokenLifetimeSeconds:      seconds("refreshTokenLifetime", spec.RefreshTokenLifetime),
		AuthorizationCodeLifetimeSeconds: seconds("authorizationCodeLifetime", spec.AuthorizationCodeLifetime),
		DeviceCodeLifetimeSeconds:        seconds("deviceCodeLifetime", spec.DeviceCodeLifetime),
		DevicePollIntervalSeconds:        seconds("devicePollInterval", spec.DevicePollInterval),
		RefreshTokenReuseGraceSeconds:    int64(spec.RefreshTokenReuseGrace.Duration / time.Second),
		LockoutMaxFailedAttempts:         spec.Lockout.MaxFailedAttempts,
		LockoutWindowSeconds:             seconds("lockout.window", spec.Lockout.Window),
		LockoutDurationSeconds:           seconds("lockout.duration", spec.Lockout.Duration),
	}
	if g := p.RefreshTokenReuseGraceSeconds; g < 0 || g > snapshot.MaxRefreshTokenReuseGraceSeconds {
		problems = append(problems, fmt.Sprintf("refreshTokenReuseGrace must be between 0s and %ds", snapshot.MaxRefreshTokenReuseGraceSeconds))
	}
	if p.AccessTokenLifetimeSeconds > p.RefreshTokenLifetimeSeconds {
		problems = append(problems, "accessTokenLifetime must not be longer than refreshTokenLifetime")
	}
	if spec.AllowedScopes != nil {
		for _, s := range spec.DefaultScopes {
			if !slices.Contains(spec.AllowedScopes, s) {
				problems = append(problems, fmt.Sprintf("default scope %s is not in allowedScopes", s))
			}
		}
	}
	if len(problems) > 0 {
		return snapshot.Policy{}, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return p, nil
}

// ResolvedPolicy is a GrantPolicy (or the built-in defaults) as it applies
// to a namespace: capped by the ClusterGrantPolicies selecting it.
type ResolvedPolicy struct {
	// Name is the GrantPolicy's name, empty for the built-in defaults.
	Name string
	// Spec is the capped spec, defaults filled in.
	Spec oauthv1alpha1.GrantPolicySpec
	// Cuts are what the ClusterGrantPolicies took from it.
	Cuts Cuts
	// Compiled is Spec compiled for the snapshot.
	Compiled snapshot.Policy
}

// ResolvePolicy caps a GrantPolicy spec (name empty for the built-in
// defaults) by the ceiling and compiles it. It fails, as CompilePolicy, on
// a spec that cannot be applied as written: capping never makes a policy
// invalid, nor a broken one acceptable.
func ResolvePolicy(name string, spec oauthv1alpha1.GrantPolicySpec, ceiling Ceiling) (ResolvedPolicy, error) {
	if _, err := CompilePolicy(name, spec); err != nil {
		return ResolvedPolicy{}, err
	}
	capped, cuts := ceiling.Cap(spec)
	compiled, err := CompilePolicy(name, capped)
	if err != nil {
		return ResolvedPolicy{}, fmt.Errorf("as capped by the ClusterGrantPolicies (%s): %w", cuts, err)
	}
	return ResolvedPolicy{Name: name, Spec: capped, Cuts: cuts, Compiled: compiled}, nil
}

// Digest identifies the resolved policy (the capped spec): two resolutions
// with the same digest compile every client alike. It is what a client's
// snapshot Secret records of its policy (AnnotationPolicy).
func (p ResolvedPolicy) Digest() string {
	// A struct of strings, numbers and durations always encodes.
	b, _ := json.Marshal(p.Spec)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// CompileGrantPolicy builds the snapshot document of a GrantPolicy as
// resolved for its namespace. A client compiled under the policy names it
// by UID (snapshot.Client.PolicyUID), and the authserver serves the client
// under the newest document of it (snapshot.Client.Under): a policy change
// is served once this one document is, not once every client's entry is
// compiled again. CompileClient and Under agree (TestUnderAgreesWithCompile).
func CompileGrantPolicy(obj *oauthv1alpha1.GrantPolicy, resolved ResolvedPolicy) snapshot.Document {
	p := &snapshot.GrantPolicy{
		Policy:            resolved.Compiled,
		AllowedGrantTypes: append([]string{}, toStrings(resolved.Spec.AllowedGrantTypes)...),
		AnyScope:          resolved.Spec.AllowedScopes == nil,
		AllowedScopes:     toStrings(resolved.Spec.AllowedScopes),
		DefaultScopes:     toStrings(resolved.Spec.DefaultScopes),
	}
	return snapshot.Document{
		Kind: snapshot.KindPolicy,
		Source: snapshot.Source{
			Kind:       "GrantPolicy",
			Namespace:  obj.Namespace,
			Name:       obj.Name,
			UID:        string(obj.UID),
			Generation: obj.Generation,
		},
		GrantPolicy: p,
	}
}

// policySecretName is the snapshot Secret of the GrantPolicy namespace/name
// (whatever its UID, so that a deleted policy's entry is found by name):
// a digest, as a namespace and a name together can be longer than a
// Secret's name may be.
func policySecretName(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	return fmt.Sprintf("authops-%s-%s", snapshot.KindPolicy, hex.EncodeToString(sum[:16]))
}

// cappedNote is what a ClusterGrantPolicy cut, as a clause to append to a
// message ("" when nothing was cut).
func (p ResolvedPolicy) cappedNote() string {
	if len(p.Cuts) == 0 {
		return ""
	}
	return "; capped by " + plural(len(p.Cuts.Policies()), "a ClusterGrantPolicy", "ClusterGrantPolicies") + ": " + p.Cuts.String()
}
