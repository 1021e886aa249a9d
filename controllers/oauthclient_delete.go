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

	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// reconcileDelete removes the snapshot entry and the Secrets the client
// owns (the credentials Secret, a referenced Secret it generated), then the
// finalizer.
func (r *OAuthClientReconciler) reconcileDelete(ctx context.Context, obj *oauthv1alpha1.OAuthClient) error {
	names := []string{obj.Name + CredentialsSecretSuffix}
	if obj.Spec.Secret != nil {
		names = append(names, obj.Spec.Secret.SecretRef.Name)
	}
	r.Served.forget(client.ObjectKeyFromObject(obj))
	c := cleanup{client: r.Client, apiReader: r.APIReader, snapshots: r.snapshots()}
	return c.run(ctx, obj, snapshotSecretName(snapshot.KindClient, obj.UID), names)
}
