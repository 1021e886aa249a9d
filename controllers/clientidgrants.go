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
	"maps"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// The grants ConfigMap is written in the operator namespace, and watched
// (only ConfigMaps labelled as ours are cached, see CacheOptions).
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update

// ClientIDGrantsConfigMap is the ConfigMap, in the operator namespace, that
// the admission policy (config/admission, the chart's
// admissionpolicy.yaml) reads the clientIDs grants from as its parameter:
// key a namespace, value the comma-separated IDs and prefixes granted to
// it, a prefix ending in "*".
const ClientIDGrantsConfigMap = "authops-client-id-grants"

// ClientIDGrantsReconciler keeps ClientIDGrantsConfigMap equal to the
// clientIDs grants of every ClusterGrantPolicy, overlapping ones left out
// (IndexClientIDGrants). It writes the ConfigMap even when there is no
// grant, at start and whenever it is changed or deleted, so that the
// admission policy finds its parameter.
type ClientIDGrantsReconciler struct {
	client.Client
	// APIReader reads the ConfigMap uncached: the cache holds only
	// ConfigMaps labelled as ours.
	APIReader client.Reader
	// Namespace is the operator namespace.
	Namespace string
}

// Reconcile writes the grants ConfigMap (every request is the same one).
func (r *ClientIDGrantsReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	policies, err := clusterPolicies(ctx, r.Client)
	if err != nil {
		return ctrl.Result{}, err
	}
	data := IndexClientIDGrants(policies).ConfigMapData()
	cm := &corev1.ConfigMap{}
	err = r.APIReader.Get(ctx, r.key(), cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: ClientIDGrantsConfigMap, Labels: map[string]string{LabelManagedBy: ManagedByValue}},
			Data:       data,
		}
		return ctrl.Result{}, client.IgnoreAlreadyExists(r.Create(ctx, cm))
	case err != nil:
		return ctrl.Result{}, err
	case maps.Equal(cm.Data, data) && cm.Labels[LabelManagedBy] == ManagedByValue:
		return ctrl.Result{}, nil
	}
	// An update carries the version read: a concurrent change makes it
	// fail, and the retry starts from the new version.
	cm.Data = data
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels[LabelManagedBy] = ManagedByValue
	return ctrl.Result{}, r.Update(ctx, cm)
}

func (r *ClientIDGrantsReconciler) key() types.NamespacedName {
	return types.NamespacedName{Namespace: r.Namespace, Name: ClientIDGrantsConfigMap}
}

// SetupWithManager runs a reconcile at start, on every change of a
// ClusterGrantPolicy's spec, and on every change or deletion of the
// ConfigMap.
func (r *ClientIDGrantsReconciler) SetupWithManager(mgr ctrl.Manager) error {
	only := reconcile.Request{NamespacedName: r.key()}
	toOnly := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request { return []reconcile.Request{only} })
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == r.Namespace && o.GetName() == ClientIDGrantsConfigMap
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("clientidgrants").
		// Its lines name the ConfigMap it writes, like every
		// controller's name its object (kind, namespace, name).
		WithLogConstructor(func(req *reconcile.Request) logr.Logger {
			log := mgr.GetLogger().WithValues("controller", "clientidgrants", "kind", "ConfigMap")
			if req != nil {
				log = log.WithValues("namespace", req.Namespace, "name", req.Name)
			}
			return log
		}).
		WatchesRawSource(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			q.Add(only)
			return nil
		})).
		Watches(&oauthv1alpha1.ClusterGrantPolicy{}, toOnly, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.ConfigMap{}, toOnly, builder.WithPredicates(ours)).
		Complete(r)
}
