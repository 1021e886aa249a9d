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
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// EffectiveAccess is what a client may do under its policy: the grant types
// and scopes that survive the intersection, and the conditions that explain
// what was removed, in OAuth terms.
type EffectiveAccess struct {
	// GrantTypes are the client's grant types allowed by the policy.
	GrantTypes []oauthv1alpha1.GrantType
	// Scopes are the client's scopes allowed by the policy.
	Scopes []oauthv1alpha1.Scope
	// DefaultScopes are the policy's default scopes that the client may have.
	DefaultScopes []oauthv1alpha1.Scope
	// GrantTypesAllowed is the GrantTypesAllowed condition.
	GrantTypesAllowed metav1.Condition
	// ScopesAllowed is the ScopesAllowed condition.
	ScopesAllowed metav1.Condition
	// RefreshTokenRotation is the client's effective rotation: Rotate for a
	// Public client whatever the policy says (RFC 9700 §4.14.2), else the
	// policy's.
	RefreshTokenRotation oauthv1alpha1.RefreshTokenRotation
	// RefreshTokenRotationAllowed is the RefreshTokenRotationAllowed
	// condition.
	RefreshTokenRotationAllowed metav1.Condition
	// Usable is false when no grant type the client can actually use is
	// left: none at all, or only refresh_token without a grant that issues
	// refresh tokens.
	Usable bool
	// Restrictions are one sentence each about what the policy removed.
	Restrictions []string
}

// issuesRefreshTokens are the grant types after which refresh_token is useful.
var issuesRefreshTokens = []oauthv1alpha1.GrantType{
	oauthv1alpha1.GrantTypeAuthorizationCode,
	oauthv1alpha1.GrantTypeDeviceCode,
	oauthv1alpha1.GrantTypePassword,
}

// policyDescription names a policy for messages.
func policyDescription(name string) string {
	if name == "" {
		return "the built-in default policy"
	}
	return "GrantPolicy " + name
}

// ComputeAccess intersects the client's grant types and scopes with the
// policy's (policyName empty for the built-in defaults; policy as capped by
// the ClusterGrantPolicies, cuts what they cut) and says why anything was
// removed, naming the ClusterGrantPolicy when it removed a grant type the
// GrantPolicy allows: token requests with a removed grant type get
// unauthorized_client, requests for a removed scope get invalid_scope.
func ComputeAccess(spec oauthv1alpha1.OAuthClientSpec, policyName string, policy oauthv1alpha1.GrantPolicySpec, cuts Cuts) EffectiveAccess {
	policy = withDefaults(policy)
	by := policyDescription(policyName)
	var a EffectiveAccess

	// removedGrants groups the removed grant types by what removed them,
	// in order of first appearance.
	var removedBy []string
	removedGrants := map[string][]string{}
	for _, g := range spec.GrantTypes {
		if slices.Contains(policy.AllowedGrantTypes, g) {
			a.GrantTypes = append(a.GrantTypes, g)
			continue
		}
		who := by
		if cgp := cuts.removedGrantType(g); cgp != "" {
			who = "ClusterGrantPolicy " + cgp
		}
		if _, seen := removedGrants[who]; !seen {
			removedBy = append(removedBy, who)
		}
		removedGrants[who] = append(removedGrants[who], string(g))
	}
	a.GrantTypesAllowed = metav1.Condition{
		Type:    oauthv1alpha1.GrantTypesAllowedCondition,
		Status:  metav1.ConditionTrue,
		Reason:  oauthv1alpha1.AllowedReason,
		Message: fmt.Sprintf("every grant type of the client is allowed by %s", by),
	}
	if len(removedBy) > 0 {
		parts := make([]string, len(removedBy))
		removed := 0
		for i, who := range removedBy {
			items := removedGrants[who]
			parts[i] = fmt.Sprintf("%s %s not allowed by %s", plural(len(items), "grant type", "grant types"), joinIs(items), who)
			removed += len(items)
		}
		msg := fmt.Sprintf("%s; token requests with %s get unauthorized_client", strings.Join(parts, ", "), pronoun(removed))
		a.GrantTypesAllowed.Status = metav1.ConditionFalse
		a.GrantTypesAllowed.Reason = oauthv1alpha1.UnauthorizedClientReason
		a.GrantTypesAllowed.Message = msg
		a.Restrictions = append(a.Restrictions, msg)
	}
	for _, g := range a.GrantTypes {
		if g != oauthv1alpha1.GrantTypeRefreshToken || slices.ContainsFunc(a.GrantTypes, func(i oauthv1alpha1.GrantType) bool {
			return slices.Contains(issuesRefreshTokens, i)
		}) {
			a.Usable = true
		}
	}

	var removedScopes []string
	for _, s := range spec.Scopes {
		if policy.AllowedScopes == nil || slices.Contains(policy.AllowedScopes, s) {
			a.Scopes = append(a.Scopes, s)
		} else {
			removedScopes = append(removedScopes, string(s))
		}
	}
	for _, s := range policy.DefaultScopes {
		if slices.Contains(a.Scopes, s) {
			a.DefaultScopes = append(a.DefaultScopes, s)
		}
	}
	a.ScopesAllowed = metav1.Condition{
		Type:    oauthv1alpha1.ScopesAllowedCondition,
		Status:  metav1.ConditionTrue,
		Reason:  oauthv1alpha1.AllowedReason,
		Message: fmt.Sprintf("every scope of the client is allowed by %s", by),
	}
	if len(removedScopes) > 0 {
		msg := fmt.Sprintf("%s %s not allowed by %s; requests for %s get invalid_scope",
			plural(len(removedScopes), "scope", "scopes"), joinIs(removedScopes), by, pronoun(len(removedScopes)))
		a.ScopesAllowed.Status = metav1.ConditionFalse
		a.ScopesAllowed.Reason = oauthv1alpha1.InvalidScopeReason
		a.ScopesAllowed.Message = msg
		a.Restrictions = append(a.Restrictions, msg)
	}
	a.RefreshTokenRotation, a.RefreshTokenRotationAllowed = effectiveRotation(spec, policy.RefreshTokenRotation, by)
	if a.RefreshTokenRotationAllowed.Status == metav1.ConditionFalse {
		a.Restrictions = append(a.Restrictions, a.RefreshTokenRotationAllowed.Message)
	}
	return a
}

// effectiveRotation is the client's refresh token rotation under a policy
// saying rotation (described by "by"), and the RefreshTokenRotationAllowed
// condition: a Public client's refresh tokens always rotate (RFC 9700
// §2.2.2, §4.14.2: they are neither sender-constrained here nor protected by
// a client secret), so Reuse does not apply to it.
func effectiveRotation(spec oauthv1alpha1.OAuthClientSpec, rotation oauthv1alpha1.RefreshTokenRotation, by string) (oauthv1alpha1.RefreshTokenRotation, metav1.Condition) {
	cond := metav1.Condition{
		Type:    oauthv1alpha1.RefreshTokenRotationAllowedCondition,
		Status:  metav1.ConditionTrue,
		Reason:  oauthv1alpha1.AllowedReason,
		Message: fmt.Sprintf("refreshTokenRotation %s of %s applies to the client", rotation, by),
	}
	if rotation != oauthv1alpha1.RefreshTokenReuse || clientType(spec) != oauthv1alpha1.ClientTypePublic {
		return rotation, cond
	}
	cond.Status = metav1.ConditionFalse
	cond.Reason = oauthv1alpha1.PublicClientRotatesReason
	cond.Message = fmt.Sprintf("refreshTokenRotation Reuse of %s does not apply to a Public client: its refresh tokens rotate "+
		"(RFC 9700 §4.14.2), every refresh returns a new one and presenting a used one revokes its family", by)
	return oauthv1alpha1.RefreshTokenRotate, cond
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// joinIs renders "password is" or "password, client_credentials are".
func joinIs(items []string) string {
	if len(items) == 1 {
		return items[0] + " is"
	}
	return strings.Join(items, ", ") + " are"
}

// ClientInput is everything CompileClient needs: the client, its resolved
// policy and access, the audiences ResourceServers grant it, and the digests
// of its valid secrets.
type ClientInput struct {
	Client   *oauthv1alpha1.OAuthClient
	ClientID string
	Policy   snapshot.Policy
	// PolicyIdentity is the version of the GrantPolicy Policy names, zero
	// for the built-in defaults: the authserver serves the client under
	// that policy's document (CompileGrantPolicy) of this generation or
	// newer.
	PolicyIdentity policyIdentity
	Access         EffectiveAccess
	Audiences      AudienceAccess
	Digests        []snapshot.SecretDigest
	// ServiceAccount and JWKS are the credential of a client without a
	// secret (spec.authentication), checked by the controller.
	ServiceAccount *snapshot.ServiceAccount
	JWKS           []byte
}

// CompileClient builds the snapshot document of an effective client.
func CompileClient(in ClientInput) snapshot.Document {
	spec := in.Client.Spec
	c := &snapshot.Client{
		ID:                      in.ClientID,
		Namespace:               in.Client.Namespace,
		Type:                    string(clientType(spec)),
		DisplayName:             spec.DisplayName,
		Disabled:                spec.Disabled,
		DPoPBoundAccessTokens:   spec.DPoPBoundAccessTokens,
		TokenEndpointAuthMethod: string(authMethod(spec)),
		Audiences:               in.Audiences.Audiences,
		Resources:               in.Audiences.Resources,
		Policy:                  in.Policy,
		PolicyUID:               string(in.PolicyIdentity.uid),
		PolicyGeneration:        in.PolicyIdentity.generation,
		GrantTypes:              []string{},
	}
	if in.Access.RefreshTokenRotation != "" {
		c.Policy.RefreshTokenRotation = string(in.Access.RefreshTokenRotation)
	}
	switch {
	case spec.Authentication != nil:
		// No secret: a digest left from before the change to
		// spec.authentication must not keep working.
		c.ServiceAccount = in.ServiceAccount
		c.JWKS = in.JWKS
	case c.Type == string(oauthv1alpha1.ClientTypeConfidential):
		c.Secrets = in.Digests
	}
	c.RedirectURIs = toStrings(spec.RedirectURIs)
	c.PostLogoutRedirectURIs = toStrings(spec.PostLogoutRedirectURIs)
	c.GrantTypes = append(c.GrantTypes, toStrings(in.Access.GrantTypes)...)
	c.RequestedGrantTypes = toStrings(spec.GrantTypes)
	c.Scopes = toStrings(in.Access.Scopes)
	c.RequestedScopes = toStrings(spec.Scopes)
	c.DefaultScopes = toStrings(in.Access.DefaultScopes)
	return snapshot.Document{
		Kind: snapshot.KindClient,
		Source: snapshot.Source{
			Kind:       "OAuthClient",
			Namespace:  in.Client.Namespace,
			Name:       in.Client.Name,
			UID:        string(in.Client.UID),
			Generation: in.Client.Generation,
		},
		Client: c,
	}
}

// toStrings converts a list of named strings (grant types, scopes, URIs)
// to the snapshot's plain strings: nil for none.
func toStrings[T ~string](in []T) []string {
	var out []string
	for _, v := range in {
		out = append(out, string(v))
	}
	return out
}

// clientType is the client's type, Confidential when unset.
func clientType(spec oauthv1alpha1.OAuthClientSpec) oauthv1alpha1.ClientType {
	if spec.Type == "" {
		return oauthv1alpha1.ClientTypeConfidential
	}
	return spec.Type
}

// authMethod is the token endpoint auth method with its type's default.
func authMethod(spec oauthv1alpha1.OAuthClientSpec) oauthv1alpha1.TokenEndpointAuthMethod {
	switch {
	case spec.Authentication != nil && spec.Authentication.ServiceAccount != nil:
		return oauthv1alpha1.TokenEndpointAuthMethod(snapshot.AuthServiceAccountToken)
	case spec.TokenEndpointAuthMethod != "":
		return spec.TokenEndpointAuthMethod
	case clientType(spec) == oauthv1alpha1.ClientTypePublic:
		return oauthv1alpha1.AuthMethodNone
	default:
		return oauthv1alpha1.AuthMethodClientSecretBasic
	}
}

// EffectiveClientID is spec.clientID, or <namespace>.<name> without one.
func EffectiveClientID(c *oauthv1alpha1.OAuthClient) string {
	if c.Spec.ClientID != "" {
		return c.Spec.ClientID
	}
	return c.Namespace + "." + c.Name
}

// ClientIDOwner picks, among clients using the same clientID, the one that
// keeps it: the oldest by creationTimestamp, then by UID. Clients being
// deleted never win.
func ClientIDOwner(clients []oauthv1alpha1.OAuthClient) *oauthv1alpha1.OAuthClient {
	var owner *oauthv1alpha1.OAuthClient
	for i := range clients {
		c := &clients[i]
		if !c.DeletionTimestamp.IsZero() {
			continue
		}
		if owner == nil || c.CreationTimestamp.Before(&owner.CreationTimestamp) ||
			(c.CreationTimestamp.Equal(&owner.CreationTimestamp) && c.UID < owner.UID) {
			owner = c
		}
	}
	return owner
}
