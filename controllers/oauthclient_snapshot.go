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
	"time"

	corev1 "k8s.io/api/core/v1"
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
	name := snapshotSecretName(snapshot.KindClient, obj.UID)
	entry := &snapshotEntry{name: name}
	if !st.fresh {
		var err error
		if entry, err = r.snapshots().read(ctx, name); err != nil {
			return proceed, err
		}
	}
	existing := entry.doc
	now := r.Clock.Now()
	var digests []snapshot.SecretDigest
	rotated := false
	if st.secret != "" {
		var old []snapshot.SecretDigest
		if existing != nil && existing.Client != nil {
			old = existing.Client.Secrets
		}
		digests, rotated = RotateDigests(old, Digest(st.secret), now, st.overlap)
	}
	doc := CompileClient(ClientInput{Client: obj, ClientID: st.clientID, Policy: st.policy, Access: st.access, Digests: digests})
	if err := r.snapshots().write(ctx, entry, doc); err != nil {
		return proceed, err
	}

	out := proceed
	last, next := previousValidUntil(digests)
	obj.Status.PreviousSecretValidUntil = nil
	if last != nil {
		obj.Status.PreviousSecretValidUntil = &metav1.Time{Time: *last}
		out.requeueAfter = next.Sub(now) + time.Second
	}
	if rotated {
		note := "the client secret changed; the previous one stopped working at once (rotationOverlap is 0s)"
		if last != nil {
			note = fmt.Sprintf("the client secret changed; the previous one stays valid until %s", last.Format(time.RFC3339))
		}
		r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, EventSecretRotated, "RotateSecret", note)
	}
	return out, nil
}

// snapshots reads snapshot entries from the cache of owned Secrets (see
// ownedSecrets and snapshotStore) and writes them to the API server.
func (r *OAuthClientReconciler) snapshots() snapshotStore {
	return snapshotStore{client: r.Client, reader: r.ownedReader(), namespace: r.Namespace}
}

// ownedReader reads the Secrets the controller writes: from Owned, the
// cache of those Secrets.
func (r *OAuthClientReconciler) ownedReader() client.Reader { return r.Owned }
