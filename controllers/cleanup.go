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
)

// cleanup is the deletion of an object compiled into the snapshot with
// Secrets it owns (an OAuthClient, a ResourceServer).
type cleanup struct {
	client    client.Client
	apiReader client.Reader
	snapshots snapshotStore
}

// run removes obj's snapshot entry and those of the named Secrets that obj
// controls (garbage collection would too; doing it here makes it
// immediate), then the finalizer.
func (c cleanup) run(ctx context.Context, obj client.Object, entry string, secrets []string) error {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	if err := c.snapshots.remove(ctx, entry); err != nil {
		return err
	}
	for _, name := range secrets {
		secret := &corev1.Secret{}
		err := c.apiReader.Get(ctx, types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}, secret)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if metav1.IsControlledBy(secret, obj) {
			if err := client.IgnoreNotFound(c.client.Delete(ctx, secret)); err != nil {
				return err
			}
		}
	}
	return removeFinalizer(ctx, c.client, obj)
}
