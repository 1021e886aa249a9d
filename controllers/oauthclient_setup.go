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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// SetupWithManager watches OAuthClients, the GrantPolicies they use, the
// ResourceServers (which grant audiences) and ClusterGrantPolicies (the
// ceiling, client ID grants and audience restrictions; spec changes only),
// the labels of Namespaces (they pick the ClusterGrantPolicies that apply
// and the ResourceServer grants that match), the metadata of
// ServiceAccounts (workload identity), and Secrets: the metadata of
// referenced Secrets, and through Owned the credentials Secrets and
// snapshot entries. Needs SetupIndexes first.
//
// Only what can change the compiled client runs a reconcile: a new
// generation of the OAuthClient (spec, or deletion, which bumps it), not
// its status or metadata (the controller's own status and finalizer
// writes, the authorization server's feedback conditions); and of Secrets,
// not the creation of the ones the controller writes itself (credentials
// and snapshot entries), which the reconcile that wrote them has already
// accounted for. Every change and deletion of those Secrets still runs it.
func (r *OAuthClientReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Owned == nil {
		return errors.New("OAuthClientReconciler needs Owned, the cache of the Secrets the controllers write (see Setup)")
	}
	generation := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	b := ctrl.NewControllerManagedBy(mgr).
		For(&oauthv1alpha1.OAuthClient{}, generation).
		Named("oauthclient").
		Watches(&oauthv1alpha1.OAuthClient{}, handler.EnqueueRequestsFromMapFunc(r.clientsSharingID), generation).
		Watches(&oauthv1alpha1.GrantPolicy{}, handler.EnqueueRequestsFromMapFunc(r.clientsOfPolicy), generation).
		Watches(&oauthv1alpha1.ResourceServer{}, handler.EnqueueRequestsFromMapFunc(r.clientsOfResourceServer), generation).
		Watches(&oauthv1alpha1.ClusterGrantPolicy{}, handler.EnqueueRequestsFromMapFunc(r.clientsOfAnyClusterPolicy), generation).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.clientsOfNamespace), builder.OnlyMetadata,
			builder.WithPredicates(labelsChanged)).
		Watches(&corev1.ServiceAccount{}, handler.EnqueueRequestsFromMapFunc(r.clientsOfServiceAccount), builder.OnlyMetadata).
		// The credentials ConfigMaps of the clients without a secret: a
		// change or deletion writes them again; their creation is the
		// controller's own (the manager's cache holds only ConfigMaps
		// labelled as ours).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &oauthv1alpha1.OAuthClient{}, handler.OnlyControllerOwner()),
			builder.WithPredicates(predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }}))
	if r.Served != nil {
		// The replicas' Leases wake the clients waiting to be served.
		b = b.WatchesRawSource(r.Served.source())
	}
	return watchSecrets(b, r.Owned, r.clientsOfSecret, r.writtenByController).Complete(r)
}

// watchSecrets adds the Secret watches of a controller whose objects use
// Secrets: the Secrets the controllers write through owned, the cache they
// are read from, except the creation of those written says the controller
// writes itself (the reconcile that wrote them has already accounted for
// them; every change and deletion still runs one); and the metadata of the
// others (referenced Secrets: CacheOptions leaves ours out of the manager's
// watch at the API server, the predicate makes sure).
func watchSecrets(b *builder.Builder, owned cache.Cache, toRequests handler.MapFunc, written func(client.Object) bool) *builder.Builder {
	notOwnCreate := predicate.Funcs{CreateFunc: func(e event.CreateEvent) bool { return !written(e.Object) }}
	notLabelled := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetLabels()[LabelManagedBy] != ManagedByValue })
	return b.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(toRequests), builder.OnlyMetadata, builder.WithPredicates(notLabelled)).
		WatchesRawSource(source.Kind(owned, client.Object(&corev1.Secret{}), handler.EnqueueRequestsFromMapFunc(toRequests), notOwnCreate))
}

// writtenByController says whether a Secret is one the OAuthClient
// controller creates: a client's snapshot entry, or a Secret an OAuthClient
// controls (credentials, or a referenced Secret generated on request).
func (r *OAuthClientReconciler) writtenByController(o client.Object) bool {
	if o.GetNamespace() == r.Namespace && o.GetLabels()[snapshot.LabelSnapshot] == string(snapshot.KindClient) {
		return true
	}
	return controlledByClient(o) != nil
}

// controlledByClient returns the OAuthClient controlling o, if one does.
func controlledByClient(o client.Object) *metav1.OwnerReference {
	return controlledBy(o, "OAuthClient")
}

// clientsSharingID requeues the other clients using a client's clientID, so
// that a conflict resolves when the older client goes away.
func (r *OAuthClientReconciler) clientsSharingID(ctx context.Context, o client.Object) []reconcile.Request {
	c, ok := o.(*oauthv1alpha1.OAuthClient)
	if !ok {
		return nil
	}
	list := &oauthv1alpha1.OAuthClientList{}
	if err := r.List(ctx, list, client.MatchingFields{IndexClientID: EffectiveClientID(c)}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing clients by clientID failed")
		return nil
	}
	var reqs []reconcile.Request
	for _, other := range list.Items {
		if other.UID != c.UID {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&other)})
		}
	}
	return reqs
}

// clientsOfPolicy requeues exactly the clients a GrantPolicy governs, or
// would govern once it exists: those naming it, and for "default" those
// naming none.
func (r *OAuthClientReconciler) clientsOfPolicy(ctx context.Context, o client.Object) []reconcile.Request {
	return listRequests(ctx, r.Client, o.GetNamespace(), IndexPolicyName, o.GetName())
}

// clientsOfClusterPolicy requeues the clients a ClusterGrantPolicy (in
// the version of the event: before and after a change, or deleted) may
// concern: those of the namespaces its ceiling selects, and those whose
// clientID a clientIDs grant of any ClusterGrantPolicy covers (a change of
// one grant can end or start an overlap with another's).
func (r *OAuthClientReconciler) clientsOfClusterPolicy(ctx context.Context, o client.Object) []reconcile.Request {
	changed, ok := o.(*oauthv1alpha1.ClusterGrantPolicy)
	if !ok {
		return nil
	}
	policies, err := clusterPolicies(ctx, r.Client)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing ClusterGrantPolicies failed")
		return nil
	}
	policies = append(policies, *changed)
	list := &oauthv1alpha1.OAuthClientList{}
	if err := r.List(ctx, list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing clients failed")
		return nil
	}
	selected := selectsNamespace(ctx, r.Client, changed)
	var reqs []reconcile.Request
	for i := range list.Items {
		c := &list.Items[i]
		if selected(c.Namespace) || grantsCover(policies, EffectiveClientID(c)) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(c)})
		}
	}
	return reqs
}

// clientsOfAnyClusterPolicy requeues, on a ClusterGrantPolicy change, the
// clients its ceiling or client ID grants concern and those whose
// audiences its audience restrictions may change.
func (r *OAuthClientReconciler) clientsOfAnyClusterPolicy(ctx context.Context, o client.Object) []reconcile.Request {
	return uniqueRequests(r.clientsOfClusterPolicy(ctx, o), r.clientsOfAudiencePolicy(ctx, o))
}

// uniqueRequests concatenates request lists without repeats.
func uniqueRequests(lists ...[]reconcile.Request) []reconcile.Request {
	seen := map[reconcile.Request]bool{}
	var out []reconcile.Request
	for _, l := range lists {
		for _, req := range l {
			if !seen[req] {
				seen[req] = true
				out = append(out, req)
			}
		}
	}
	return out
}

// clientsOfNamespace requeues the clients of a namespace whose labels
// changed (they pick the ClusterGrantPolicies that apply and the
// ResourceServer grants that match).
func (r *OAuthClientReconciler) clientsOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	list := &oauthv1alpha1.OAuthClientList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetName())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing clients failed")
		return nil
	}
	return requestsFor(list.Items)
}

// clientsOfSecret maps a Secret to the clients it concerns: the clients
// referencing it, the client owning it, or the client a snapshot entry was
// compiled from.
func (r *OAuthClientReconciler) clientsOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	if o.GetNamespace() == r.Namespace && o.GetLabels()[snapshot.LabelSnapshot] == string(snapshot.KindClient) {
		return sourceRequest(o)
	}
	reqs := listRequests(ctx, r.Client, o.GetNamespace(), IndexSecretRef, o.GetName())
	if owner := controlledByClient(o); owner != nil {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: owner.Name}})
	}
	return reqs
}

// clientsOfServiceAccount maps a ServiceAccount to the clients of its
// namespace that authenticate as it (created, deleted or recreated with a
// new UID).
func (r *OAuthClientReconciler) clientsOfServiceAccount(ctx context.Context, o client.Object) []reconcile.Request {
	return listRequests(ctx, r.Client, o.GetNamespace(), IndexServiceAccount, o.GetName())
}

// listRequests lists the OAuthClients of a namespace with an index value.
func listRequests(ctx context.Context, c client.Client, namespace, index, value string) []reconcile.Request {
	list := &oauthv1alpha1.OAuthClientList{}
	if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{index: value}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing clients by index failed", "index", index)
		return nil
	}
	return requestsFor(list.Items)
}

// requestsFor is one request per client.
func requestsFor(clients []oauthv1alpha1.OAuthClient) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(clients))
	for i := range clients {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&clients[i])})
	}
	return reqs
}
