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
	"context"
	"errors"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/snapshot"
)

// Explanation says what a token request of a client gets, grant type by
// grant type and scope by scope, and what decides it (kubectl authops
// explain). It is computed as the OAuthClient controller computes the
// client's snapshot entry: the same policy lookup, ClusterGrantPolicy
// ceiling and intersection (ComputeAccess).
type Explanation struct {
	// ClientID is the effective client_id.
	ClientID string
	// Policy names the governing policy, with what ClusterGrantPolicies cut.
	Policy string
	// Blocked, when set, says why every request gets invalid_client.
	Blocked string
	// GrantTypes has one answer per grant type the server knows.
	GrantTypes []Answer
	// Scopes has one answer per scope of the client or of its policy.
	Scopes []Answer
}

// Answer is what a request for one grant type or scope gets.
type Answer struct {
	// Name is the grant type or scope.
	Name string
	// Error is empty when the request is allowed, else the OAuth error
	// the token endpoint answers, with its description from the server's
	// error table.
	Error       oautherr.Code
	Description string
	// DecidedBy names what decides: the OAuthClient's own list, its
	// GrantPolicy (or the built-in defaults), or a ClusterGrantPolicy.
	DecidedBy string
}

// Where an answer comes from, besides a policy.
const (
	decidedByClientGrants = "OAuthClient spec.grantTypes"
	decidedByClientScopes = "OAuthClient spec.scopes"
)

// Explain computes the Explanation of obj from what c reads (the
// GrantPolicy, the ClusterGrantPolicies, the namespace's labels).
func Explain(ctx context.Context, c client.Reader, obj *oauthv1alpha1.OAuthClient) (Explanation, error) {
	e := Explanation{ClientID: EffectiveClientID(obj)}
	name, spec, err := lookupClientPolicy(ctx, c, obj)
	if errors.Is(err, errPolicyNotFound) {
		e.Policy = policyDescription(name) + " (does not exist)"
		e.Blocked = fmt.Sprintf("GrantPolicy %s of grantPolicyRef does not exist in namespace %s: the client is not served", name, obj.Namespace)
		return e.blocked(obj), nil
	}
	if err != nil {
		return e, err
	}
	resolved, err := resolveClientPolicy(ctx, c, obj.Namespace, name, spec)
	var invalid *invalidPolicyError
	if errors.As(err, &invalid) {
		e.Policy = policyDescription(name)
		e.Blocked = invalid.Error()
		return e.blocked(obj), nil
	}
	if err != nil {
		return e, err
	}
	e.Policy = policyDescription(name) + resolved.cappedNote()
	if obj.Spec.Disabled {
		e.Blocked = "the client is disabled (spec.disabled)"
		return e.blocked(obj), nil
	}
	access := ComputeAccess(obj.Spec, name, resolved.Spec, resolved.Cuts)
	by := policyDescription(name)
	for _, g := range snapshot.GrantTypes {
		gt := oauthv1alpha1.GrantType(g)
		a := Answer{Name: g, DecidedBy: by}
		switch {
		case !slices.Contains(obj.Spec.GrantTypes, gt):
			a.DecidedBy = decidedByClientGrants
			a.Error = oautherr.UnauthorizedClient
		case !slices.Contains(access.GrantTypes, gt):
			if cgp := resolved.Cuts.removedGrantType(gt); cgp != "" {
				a.DecidedBy = "ClusterGrantPolicy " + cgp
			}
			a.Error = oautherr.UnauthorizedClient
		}
		e.GrantTypes = append(e.GrantTypes, a.described())
	}
	scopes := slices.Clone(obj.Spec.Scopes)
	for _, s := range resolved.Spec.AllowedScopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	for _, s := range scopes {
		a := Answer{Name: string(s), DecidedBy: by}
		switch {
		case !slices.Contains(obj.Spec.Scopes, s):
			a.DecidedBy = decidedByClientScopes
			a.Error = oautherr.InvalidScope
		case !slices.Contains(access.Scopes, s):
			a.Error = oautherr.InvalidScope
		}
		e.Scopes = append(e.Scopes, a.described())
	}
	return e, nil
}

// blocked answers invalid_client for every grant type and scope.
func (e Explanation) blocked(obj *oauthv1alpha1.OAuthClient) Explanation {
	for _, g := range snapshot.GrantTypes {
		e.GrantTypes = append(e.GrantTypes, Answer{Name: g, Error: oautherr.InvalidClient, DecidedBy: e.Policy}.described())
	}
	for _, s := range obj.Spec.Scopes {
		e.Scopes = append(e.Scopes, Answer{Name: string(s), Error: oautherr.InvalidClient, DecidedBy: e.Policy}.described())
	}
	return e
}

// described fills in the description of the answer's error from the
// server's error table.
func (a Answer) described() Answer {
	if entry, ok := oautherr.Lookup(a.Error); ok && a.Error != "" {
		a.Description = entry.Description
	}
	return a
}

// EffectiveAuthMethod is the client's token endpoint authentication method,
// with its type's default.
func EffectiveAuthMethod(spec oauthv1alpha1.OAuthClientSpec) oauthv1alpha1.TokenEndpointAuthMethod {
	return authMethod(spec)
}
