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
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// SetupWithManager watches ResourceServers (spec changes), the other
// ResourceServers claiming the same audience, ClusterGrantPolicies (which
// may restrict audiences), Secrets (referenced ones by metadata; through
// Owned the credentials Secrets and snapshot entries), and, to keep
// status.clients current, OAuthClients appearing or going away and the
// labels of Namespaces. Needs SetupIndexes first.
func (r *ResourceServerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Owned == nil {
		return errors.New("ResourceServerReconciler needs Owned, the cache of the Secrets the controllers write (see Setup)")
	}
	generation := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	b := ctrl.NewControllerManagedBy(mgr).
		For(&oauthv1alpha1.ResourceServer{}, generation).
		Named("resourceserver").
		Watches(&oauthv1alpha1.ResourceServer{}, handler.EnqueueRequestsFromMapFunc(r.claimants), generation).
		Watches(&oauthv1alpha1.ClusterGrantPolicy{}, handler.EnqueueRequestsFromMapFunc(r.all), generation).
		Watches(&oauthv1alpha1.OAuthClient{}, clientCountChanges{r.grantingClient}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.withSelectors), builder.OnlyMetadata,
			builder.WithPredicates(predicate.LabelChangedPredicate{}))
	if r.Served != nil {
		// The replicas' Leases wake the ResourceServers waiting to be served.
		b = b.WatchesRawSource(r.Served.source())
	}
	return watchSecrets(b, r.Owned, r.ofSecret, r.writtenByController).Complete(r)
}

// writtenByController says whether a Secret is one this controller
// creates: a ResourceServer's snapshot entry, or a Secret a ResourceServer
// controls.
func (r *ResourceServerReconciler) writtenByController(o client.Object) bool {
	if o.GetNamespace() == r.Namespace && o.GetLabels()[snapshot.LabelSnapshot] == string(snapshot.KindResourceServer) {
		return true
	}
	return controlledBy(o, "ResourceServer") != nil
}

// ofSecret maps a Secret to the ResourceServers it concerns: those
// referencing it, the one owning it, or the one a snapshot entry was
// compiled from.
func (r *ResourceServerReconciler) ofSecret(ctx context.Context, o client.Object) []reconcile.Request {
	if o.GetNamespace() == r.Namespace && o.GetLabels()[snapshot.LabelSnapshot] == string(snapshot.KindResourceServer) {
		return sourceRequest(o)
	}
	var reqs []reconcile.Request
	list := &oauthv1alpha1.ResourceServerList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{IndexResourceServerSecretRef: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing ResourceServers by secretRef failed")
	}
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	if owner := controlledBy(o, "ResourceServer"); owner != nil {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: owner.Name}})
	}
	return reqs
}

// claimants requeues the other ResourceServers claiming a ResourceServer's
// audience, so that a conflict resolves when the owner goes away.
func (r *ResourceServerReconciler) claimants(ctx context.Context, o client.Object) []reconcile.Request {
	rs, ok := o.(*oauthv1alpha1.ResourceServer)
	if !ok {
		return nil
	}
	return r.list(ctx, func(other *oauthv1alpha1.ResourceServer) bool { return other.UID != rs.UID },
		client.MatchingFields{IndexResourceServerAudience: rs.Spec.Audience})
}

// all requeues every ResourceServer (a ClusterGrantPolicy changed).
func (r *ResourceServerReconciler) all(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.list(ctx, func(*oauthv1alpha1.ResourceServer) bool { return true })
}

// withSelectors requeues the ResourceServers granting by namespaceSelector
// (a Namespace's labels changed).
func (r *ResourceServerReconciler) withSelectors(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.list(ctx, func(rs *oauthv1alpha1.ResourceServer) bool {
		for _, g := range rs.Spec.Clients {
			if g.NamespaceSelector != nil {
				return true
			}
		}
		return false
	})
}

// grantingClient lists the ResourceServers whose grants match a client.
func (r *ResourceServerReconciler) grantingClient(ctx context.Context, o client.Object) []reconcile.Request {
	labels, err := namespaceLabels(ctx, r.Client, o.GetNamespace())
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Reading a namespace failed")
		return nil
	}
	return r.list(ctx, func(rs *oauthv1alpha1.ResourceServer) bool {
		for _, g := range rs.Spec.Clients {
			if grantMatches(rs.Namespace, g, o.GetNamespace(), o.GetName(), labels) {
				return true
			}
		}
		return false
	})
}

// list lists the ResourceServers that keep says yes to.
func (r *ResourceServerReconciler) list(ctx context.Context, keep func(*oauthv1alpha1.ResourceServer) bool, opts ...client.ListOption) []reconcile.Request {
	list := &oauthv1alpha1.ResourceServerList{}
	if err := r.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing ResourceServers failed")
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if keep(&list.Items[i]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// clientCountChanges queues, countDelay later, the ResourceServers granting
// a client when the client appears or goes away (their status.clients
// changes); a burst of clients shares one recount, as for GrantPolicies.
type clientCountChanges struct {
	resourceServers func(context.Context, client.Object) []reconcile.Request
}

func (h clientCountChanges) queue(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], o client.Object) {
	for _, req := range h.resourceServers(ctx, o) {
		q.AddAfter(req, countDelay)
	}
}

func (h clientCountChanges) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.queue(ctx, q, e.Object)
}

func (clientCountChanges) Update(context.Context, event.UpdateEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

func (h clientCountChanges) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.queue(ctx, q, e.Object)
}

func (clientCountChanges) Generic(context.Context, event.GenericEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

// controlledBy returns the controller reference of o if it is an authops
// object of kind.
func controlledBy(o client.Object, kind string) *metav1.OwnerReference {
	owner := metav1.GetControllerOf(o)
	if owner != nil && owner.Kind == kind && strings.HasPrefix(owner.APIVersion, oauthv1alpha1.GroupVersion.Group+"/") {
		return owner
	}
	return nil
}
