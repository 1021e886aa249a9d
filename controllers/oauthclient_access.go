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
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// reconcileClientID checks that the client's namespace owns its effective
// clientID (a ClusterGrantPolicy grants it to the namespace, or it starts
// with "<namespace>."), then claims it among the clients of the namespace:
// the oldest client using it keeps it. Sets ClientIDAllowed and
// ClientIDAvailable; Ready=False and Stalled with ClientIDNotPermitted (the
// client is requeued when a ClusterGrantPolicy changes) or
// ClientIDConflict (requeued when the other client goes away).
func (r *OAuthClientReconciler) reconcileClientID(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (outcome, error) {
	st.clientID = EffectiveClientID(obj)
	obj.Status.ClientID = st.clientID
	policies, err := clusterPolicies(ctx, r.Client)
	if err != nil {
		return proceed, err
	}
	permitted, why := IndexClientIDGrants(policies).Permitted(st.clientID, obj.Namespace, obj.Name, obj.Spec.ClientID != "")
	if !permitted {
		// The claim among the namespace's clients is not looked at.
		apimeta.RemoveStatusCondition(&obj.Status.Conditions, oauthv1alpha1.ClientIDAvailableCondition)
		return stalledOn(oauthv1alpha1.ClientIDAllowedCondition, oauthv1alpha1.ClientIDNotPermittedReason, why), nil
	}
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.ClientIDAllowedCondition, metav1.ConditionTrue, oauthv1alpha1.ClientIDPermittedReason, why)

	list := &oauthv1alpha1.OAuthClientList{}
	if err := r.List(ctx, list, client.InNamespace(obj.Namespace), client.MatchingFields{IndexClientID: st.clientID}); err != nil {
		return proceed, err
	}
	// Only the owning namespace's clients compete: an ID never passes to
	// a client of another namespace.
	owner := ClientIDOwner(append(list.Items, *obj))
	if owner != nil && owner.UID != obj.UID {
		return stalledOn(oauthv1alpha1.ClientIDAvailableCondition, oauthv1alpha1.ClientIDConflictReason, fmt.Sprintf(
			"clientID %s is already used by OAuthClient %s/%s, which is older; this client is not served. Delete one of them, or recreate this one with another spec.clientID",
			st.clientID, owner.Namespace, owner.Name)), nil
	}
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.ClientIDAvailableCondition, metav1.ConditionTrue, oauthv1alpha1.ClaimedReason,
		fmt.Sprintf("clientID %s belongs to this client", st.clientID))
	return proceed, nil
}

// reconcilePolicy resolves the GrantPolicy (grantPolicyRef, else the
// namespace's "default", else the built-in defaults) and intersects the
// client's grant types and scopes with it. Sets PolicyResolved,
// GrantTypesAllowed, ScopesAllowed and RefreshTokenRotationAllowed;
// Ready=False with PolicyNotFound (waiting for the policy), InvalidSpec or
// NoUsableGrant (stalled).
func (r *OAuthClientReconciler) reconcilePolicy(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (outcome, error) {
	gen := obj.Generation
	name := policyLookupName(obj)
	policy := &oauthv1alpha1.GrantPolicy{}
	err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, policy)
	var spec oauthv1alpha1.GrantPolicySpec
	switch {
	case apierrors.IsNotFound(err) && obj.Spec.GrantPolicyRef != nil:
		obj.Status.GrantPolicy = ""
		return waitingFor(oauthv1alpha1.PolicyResolvedCondition, oauthv1alpha1.PolicyNotFoundReason, fmt.Sprintf("GrantPolicy %s in namespace %s", name, obj.Namespace), fmt.Sprintf(
			"GrantPolicy %s does not exist in namespace %s; the client is not served (requests get invalid_client) until it is created or grantPolicyRef names another policy",
			name, obj.Namespace)), nil
	case apierrors.IsNotFound(err):
		spec = BuiltinPolicy()
		setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.BuiltinDefaultsReason,
			fmt.Sprintf("no grantPolicyRef and no GrantPolicy named default in namespace %s: the built-in default policy applies", obj.Namespace))
	case err != nil:
		return proceed, err
	default:
		spec = policy.Spec
		st.policyName = name
		setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.PolicyFoundReason,
			fmt.Sprintf("GrantPolicy %s governs the client", name))
	}
	obj.Status.GrantPolicy = st.policyName

	ceiling, err := ceilingOf(ctx, r.Client, obj.Namespace)
	if err != nil {
		return proceed, err
	}
	resolved, err := ResolvePolicy(st.policyName, spec, ceiling)
	if err != nil {
		return stalledOn("", oauthv1alpha1.InvalidSpecReason, fmt.Sprintf("%s cannot be applied: %v", policyDescription(st.policyName), err)), nil
	}
	if note := resolved.cappedNote(); note != "" {
		cond := apimeta.FindStatusCondition(obj.Status.Conditions, oauthv1alpha1.PolicyResolvedCondition)
		setCondition(&obj.Status.Conditions, gen, cond.Type, cond.Status, cond.Reason, cond.Message+note)
	}
	st.policy, st.policyDigest = resolved.Compiled, resolved.Digest()
	st.access = ComputeAccess(obj.Spec, st.policyName, resolved.Spec, resolved.Cuts)
	for _, c := range []metav1.Condition{st.access.GrantTypesAllowed, st.access.ScopesAllowed, st.access.RefreshTokenRotationAllowed} {
		setCondition(&obj.Status.Conditions, gen, c.Type, c.Status, c.Reason, c.Message)
	}
	obj.Status.GrantTypes = st.access.GrantTypes
	obj.Status.Scopes = st.access.Scopes
	if !st.access.Usable {
		return stalledOn("", oauthv1alpha1.NoUsableGrantReason, fmt.Sprintf(
			"no grant type the client can use is left under %s: %s. Allow one in the policy, or change spec.grantTypes",
			policyDescription(st.policyName), strings.Join(st.access.Restrictions, "; "))), nil
	}
	return proceed, nil
}

// policyLookupName is the GrantPolicy a client looks for: its
// grantPolicyRef, else "default".
func policyLookupName(obj *oauthv1alpha1.OAuthClient) string {
	if obj.Spec.GrantPolicyRef != nil {
		return obj.Spec.GrantPolicyRef.Name
	}
	return "default"
}
