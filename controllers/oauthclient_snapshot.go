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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// reconcileSnapshot writes the effective client into its snapshot Secret,
// keeping the previous secret's digest valid until the rotation overlap
// ends. Sets status.previousSecretValidUntil, records SecretRotated when the
// secret changed, and asks for a requeue when a previous secret expires.
func (r *OAuthClientReconciler) reconcileSnapshot(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (outcome, error) {
	entry, err := r.snapshots().readUnlessFresh(ctx, snapshotSecretName(snapshot.KindClient, obj.UID), st.fresh)
	if err != nil {
		return proceed, err
	}
	var old []snapshot.SecretDigest
	if entry.doc != nil && entry.doc.Client != nil {
		old = entry.doc.Client.Secrets
	}
	rot := rotate(old, &st.secretState, r.Clock.Now())
	doc := CompileClient(ClientInput{Client: obj, ClientID: st.clientID, Policy: st.policy, PolicyIdentity: st.policyIdentity, Access: st.access, Audiences: st.audiences, Digests: rot.digests,
		ServiceAccount: st.secretless.serviceAccount, JWKS: st.secretless.jwks})
	if err := r.snapshots().writeAnnotated(ctx, entry, doc, map[string]string{AnnotationPolicy: st.policyAnnotation()}); err != nil {
		return proceed, err
	}
	st.revision, _ = snapshot.ParseRevision(entry.written)
	obj.Status.PreviousSecretValidUntil = nil
	if rot.last != nil {
		obj.Status.PreviousSecretValidUntil = &metav1.Time{Time: *rot.last}
	}
	rot.record(r.Recorder, obj, "client secret")
	out := proceed
	out.requeueAfter = rot.requeueAfter
	return out, nil
}

// policyAnnotation is the client's policy and its version for its
// snapshot Secret (AnnotationPolicy), for the GrantPolicy's served check:
// empty (no annotation) under the built-in defaults, or when the policy was
// not resolved.
func (st *clientState) policyAnnotation() string {
	if st.policyName == "" || st.policyDigest == "" {
		return ""
	}
	return st.policyName + "@" + st.policyDigest
}

// snapshots reads snapshot entries from the cache of owned Secrets (see
// ownedSecrets and snapshotStore) and writes them to the API server.
func (r *OAuthClientReconciler) snapshots() snapshotStore {
	return snapshotStore{client: r.Client, reader: r.ownedReader(), namespace: r.Namespace}
}

// ownedReader reads the Secrets the controller writes: from Owned, the
// cache of those Secrets, and one the cache does not hold from the API
// server (ownedOrAPI).
func (r *OAuthClientReconciler) ownedReader() client.Reader {
	return ownedOrAPI{owned: r.Owned, api: r.APIReader}
}
