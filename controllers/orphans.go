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
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// OrphanCleaner removes, once at start-up, the snapshot entries whose
// source object no longer exists (deleted while no manager ran, or with its
// finalizer removed by hand). It runs on the leader only.
type OrphanCleaner struct {
	Client    client.Client
	APIReader client.Reader
	Namespace string
}

// NeedLeaderElection makes the cleaner run on the leader only.
func (o *OrphanCleaner) NeedLeaderElection() bool { return true }

// Start removes the orphans and returns.
func (o *OrphanCleaner) Start(ctx context.Context) error {
	log := ctrl.Log.WithName("orphancleaner")
	removed, err := o.Clean(ctx)
	if err != nil {
		log.Error(err, "Removing orphaned snapshot entries failed")
		return nil
	}
	log.Info("Removed orphaned snapshot entries", "count", removed)
	return nil
}

// Clean removes the orphaned client, account, resourceserver and policy
// entries
// and says how many.
func (o *OrphanCleaner) Clean(ctx context.Context) (int, error) {
	secrets := &corev1.SecretList{}
	if err := o.APIReader.List(ctx, secrets, client.InNamespace(o.Namespace),
		client.HasLabels{snapshot.LabelSnapshot}); err != nil {
		return 0, err
	}
	removed := 0
	for i := range secrets.Items {
		secret := &secrets.Items[i]
		var source client.Object
		switch snapshot.Kind(secret.Labels[snapshot.LabelSnapshot]) {
		case snapshot.KindClient:
			source = &oauthv1alpha1.OAuthClient{}
		case snapshot.KindAccount:
			source = &oauthv1alpha1.Account{}
		case snapshot.KindResourceServer:
			source = &oauthv1alpha1.ResourceServer{}
		case snapshot.KindPolicy:
			source = &oauthv1alpha1.GrantPolicy{}
		default:
			continue
		}
		orphan := true
		if doc, err := snapshot.Decode(secret.Data[snapshot.DataKey]); err == nil {
			err := o.APIReader.Get(ctx, types.NamespacedName{Namespace: doc.Source.Namespace, Name: doc.Source.Name}, source)
			if err != nil && !apierrors.IsNotFound(err) {
				return removed, err
			}
			orphan = err != nil || string(source.GetUID()) != doc.Source.UID
		}
		if !orphan {
			continue
		}
		if err := client.IgnoreNotFound(o.Client.Delete(ctx, secret)); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}
