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
	name, spec, version, err := lookupClientPolicyIdentity(ctx, r.Client, obj)
	switch {
	case errors.Is(err, errPolicyNotFound):
		obj.Status.GrantPolicy = ""
		return waitingFor(oauthv1alpha1.PolicyResolvedCondition, oauthv1alpha1.PolicyNotFoundReason, fmt.Sprintf("GrantPolicy %s in namespace %s", name, obj.Namespace), fmt.Sprintf(
			"GrantPolicy %s does not exist in namespace %s; the client is not served (requests get invalid_client) until it is created or grantPolicyRef names another policy",
			name, obj.Namespace)), nil
	case err != nil:
		return proceed, err
	case name == "":
		setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.BuiltinDefaultsReason,
			fmt.Sprintf("no grantPolicyRef and no GrantPolicy named default in namespace %s: the built-in default policy applies", obj.Namespace))
	default:
		st.policyName, st.policyIdentity = name, version
		setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.PolicyFoundReason,
			fmt.Sprintf("GrantPolicy %s governs the client", name))
	}
	obj.Status.GrantPolicy = st.policyName

	resolved, err := resolveClientPolicy(ctx, r.Client, obj.Namespace, st.policyName, spec)
	var invalid *invalidPolicyError
	if errors.As(err, &invalid) {
		return stalledOn("", oauthv1alpha1.InvalidSpecReason, invalid.Error()), nil
	}
	if err != nil {
		return proceed, err
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
		// The client's entry is still compiled and written, without a
		// usable grant (the authserver serves it as absent): a policy
		// change that allows one again is then served by the policy's
		// document alone. The client stops at reconcileReady.
		st.unusable = stalledOn("", oauthv1alpha1.NoUsableGrantReason, fmt.Sprintf(
			"no grant type the client can use is left under %s: %s. Allow one in the policy, or change spec.grantTypes",
			policyDescription(st.policyName), strings.Join(st.access.Restrictions, "; ")))
	}
	return proceed, nil
}

// errPolicyNotFound: the GrantPolicy a client's grantPolicyRef names does
// not exist.
var errPolicyNotFound = errors.New("the GrantPolicy of grantPolicyRef does not exist")

// lookupClientPolicy finds the GrantPolicy governing a client: its
// grantPolicyRef (errPolicyNotFound, with the name, when it does not
// exist), else the namespace's "default", else the built-in defaults (name
// empty).
func lookupClientPolicy(ctx context.Context, c client.Reader, obj *oauthv1alpha1.OAuthClient) (string, oauthv1alpha1.GrantPolicySpec, error) {
	name, spec, _, err := lookupClientPolicyIdentity(ctx, c, obj)
	return name, spec, err
}

// policyIdentity identifies the version of a GrantPolicy a client is
// compiled under (zero for the built-in defaults).
type policyIdentity struct {
	uid        types.UID
	generation int64
}

// lookupClientPolicyIdentity is lookupClientPolicy, also returning the
// GrantPolicy's version.
func lookupClientPolicyIdentity(ctx context.Context, c client.Reader, obj *oauthv1alpha1.OAuthClient) (string, oauthv1alpha1.GrantPolicySpec, policyIdentity, error) {
	name := policyLookupName(obj)
	policy := &oauthv1alpha1.GrantPolicy{}
	err := c.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, policy)
	switch {
	case apierrors.IsNotFound(err) && obj.Spec.GrantPolicyRef != nil:
		return name, oauthv1alpha1.GrantPolicySpec{}, policyIdentity{}, errPolicyNotFound
	case apierrors.IsNotFound(err):
		return "", BuiltinPolicy(), policyIdentity{}, nil
	case err != nil:
		return name, oauthv1alpha1.GrantPolicySpec{}, policyIdentity{}, err
	}
	return name, policy.Spec, policyIdentity{uid: policy.UID, generation: policy.Generation}, nil
}

// invalidPolicyError: a policy cannot be applied (the client is stalled).
type invalidPolicyError struct{ msg string }

func (e *invalidPolicyError) Error() string { return e.msg }

// resolveClientPolicy caps a client's policy (name empty for the built-in
// defaults) by the ClusterGrantPolicies selecting its namespace; an
// *invalidPolicyError says it cannot be applied.
func resolveClientPolicy(ctx context.Context, c client.Reader, namespace, name string, spec oauthv1alpha1.GrantPolicySpec) (ResolvedPolicy, error) {
	ceiling, err := ceilingOf(ctx, c, namespace)
	if err != nil {
		return ResolvedPolicy{}, err
	}
	resolved, err := ResolvePolicy(name, spec, ceiling)
	if err != nil {
		return ResolvedPolicy{}, &invalidPolicyError{fmt.Sprintf("%s cannot be applied: %v", policyDescription(name), err)}
	}
	return resolved, nil
}

// policyLookupName is the GrantPolicy a client looks for: its
// grantPolicyRef, else "default".
func policyLookupName(obj *oauthv1alpha1.OAuthClient) string {
	if obj.Spec.GrantPolicyRef != nil {
		return obj.Spec.GrantPolicyRef.Name
	}
	return "default"
}
