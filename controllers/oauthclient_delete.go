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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// reconcileDelete removes the snapshot entry and the Secrets the client
// owns (garbage collection would too; doing it here makes it immediate),
// then the finalizer.
func (r *OAuthClientReconciler) reconcileDelete(ctx context.Context, obj *oauthv1alpha1.OAuthClient) error {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	if err := r.snapshots().remove(ctx, snapshotSecretName(snapshot.KindClient, obj.UID)); err != nil {
		return err
	}
	names := []string{obj.Name + CredentialsSecretSuffix}
	if obj.Spec.Secret != nil {
		names = append(names, obj.Spec.Secret.SecretRef.Name)
	}
	for _, name := range names {
		secret := &corev1.Secret{}
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, secret)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if metav1.IsControlledBy(secret, obj) {
			if err := client.IgnoreNotFound(r.Delete(ctx, secret)); err != nil {
				return err
			}
		}
	}
	patch := client.MergeFrom(obj.DeepCopy())
	controllerutil.RemoveFinalizer(obj, Finalizer)
	return client.IgnoreNotFound(r.Patch(ctx, obj, patch))
}
