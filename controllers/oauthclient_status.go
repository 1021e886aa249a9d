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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// reconcileReady sets Ready for a client every step let through: Reconciled
// (True, saying what is served and by how many authserver replicas),
// NotYetServed (False, and Reconciling True: compiled, but not every live
// replica serves it yet; a Lease change or the end of the Lease of a
// replica behind looks again) or Disabled (False: in the snapshot, but
// every request gets invalid_client; also once every replica serves that).
func (r *OAuthClientReconciler) reconcileReady(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (outcome, error) {
	if st.unusable.blocked() {
		return st.unusable, nil
	}
	status, reason, msg := metav1.ConditionTrue, oauthv1alpha1.ReconciledReason, ""
	if obj.Spec.Disabled {
		status, reason, msg = metav1.ConditionFalse, oauthv1alpha1.DisabledReason, "the client is disabled (spec.disabled): every request from it gets invalid_client"
	} else {
		msg = r.readyMessage(st)
	}
	replicas, out, err := r.Served.readyWhenServed(ctx, r.Recorder, obj, &obj.Status.Conditions, st.revision, status, reason, msg)
	obj.Status.ServedReplicas = replicas
	return out, err
}

// readyMessage says what is served of an enabled client.
func (r *OAuthClientReconciler) readyMessage(st *clientState) string {
	grants := make([]string, 0, len(st.access.GrantTypes))
	for _, g := range st.access.GrantTypes {
		grants = append(grants, string(g))
	}
	msg := fmt.Sprintf("client_id %s is served with grant types %s under %s", st.clientID, strings.Join(grants, ", "), policyDescription(st.policyName))
	if len(st.access.Restrictions) > 0 {
		msg += "; restricted: " + strings.Join(st.access.Restrictions, "; ")
	}
	return msg
}

// reconcileNotServed ends the reconcile of a client a step blocked (waiting
// or stalled): it sets the conditions the outcome names, clears
// status.previousSecretValidUntil and retires the snapshot entry (see
// snapshot.AnnotationRetired), so that the client is not served, as its
// status says. The retired entry keeps the policy annotation of a client
// its policy left without a usable grant: that policy's change is served
// once every replica serves the retirement too (GrantPolicyReconciler). A
// failed retirement is returned as a transient error whatever the outcome,
// so that it is retried: a stalled client is not reconciled again until
// something changes, and would stay served meanwhile.
func (r *OAuthClientReconciler) reconcileNotServed(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState, out outcome) (ctrl.Result, error) {
	out.summarize(&obj.Status.Conditions, obj.Generation)
	obj.Status.PreviousSecretValidUntil = nil
	obj.Status.ServedReplicas = ""
	r.Served.notWaiting(obj, &obj.Status.Conditions)
	if st.unusable.blocked() && out.reason == st.unusable.reason {
		// Written without a usable grant (reconcileSnapshot): served as
		// absent.
		return out.result()
	}
	entry, err := r.snapshots().readUnlessFresh(ctx, snapshotSecretName(snapshot.KindClient, obj.UID), st.fresh)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.snapshots().retire(ctx, entry, out.reason, map[string]string{AnnotationPolicy: st.policyAnnotation()}); err != nil {
		return ctrl.Result{}, err
	}
	return out.result()
}
