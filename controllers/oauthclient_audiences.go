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

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// reconcileAudiences compiles what the ResourceServers owning audiences
// grant the client (see ComputeAudiences). Sets AudiencesGranted and
// status.audiences; an entry of spec.audiences that is not granted is left
// out of the tokens and listed among Ready's restrictions, like a scope the
// policy removes: it never stops the client from being served.
func (r *OAuthClientReconciler) reconcileAudiences(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (outcome, error) {
	owners, _, err := listAudienceOwners(ctx, r.Client)
	if err != nil {
		return proceed, err
	}
	nsLabels, err := namespaceLabels(ctx, r.Client, obj.Namespace)
	if err != nil {
		return proceed, err
	}
	st.audiences = ComputeAudiences(obj, nsLabels, owners)
	c := st.audiences.AudiencesGranted
	setCondition(&obj.Status.Conditions, obj.Generation, c.Type, c.Status, c.Reason, c.Message)
	obj.Status.Audiences = st.audiences.Granted
	if st.audiences.Restriction != "" {
		st.access.Restrictions = append(st.access.Restrictions, st.audiences.Restriction)
	}
	return proceed, nil
}

// listAudienceOwners reads every ResourceServer and ClusterGrantPolicy
// (from the cache) and resolves who owns each audience (AudienceOwners).
// Every client reconcile does, so the cached objects are not copied: what
// it returns must only be read.
func listAudienceOwners(ctx context.Context, c client.Reader) (map[string]*oauthv1alpha1.ResourceServer, []oauthv1alpha1.ClusterGrantPolicy, error) {
	rss := &oauthv1alpha1.ResourceServerList{}
	if err := c.List(ctx, rss, client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, err
	}
	cgps := &oauthv1alpha1.ClusterGrantPolicyList{}
	if err := c.List(ctx, cgps, client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, err
	}
	return AudienceOwners(rss.Items, cgps.Items), cgps.Items, nil
}

// namespaceMeta is an empty Namespace metadata object: the controllers
// watch and read only the metadata (labels) of Namespaces.
func namespaceMeta(name string) *metav1.PartialObjectMetadata {
	ns := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name}}
	ns.SetGroupVersionKind(namespaceGVK)
	return ns
}

// namespaceLabels are the labels of a Namespace (none when it is gone).
func namespaceLabels(ctx context.Context, c client.Reader, name string) (map[string]string, error) {
	ns := namespaceMeta(name)
	if err := c.Get(ctx, types.NamespacedName{Name: name}, ns); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return ns.Labels, nil
}

// grantedClients lists the OAuthClients that rs's spec.clients entries
// match: every client of the namespaces a namespaceSelector matches, and
// the clients named in clientRefs that exist.
func grantedClients(ctx context.Context, c client.Reader, rs *oauthv1alpha1.ResourceServer) ([]types.NamespacedName, error) {
	seen := map[types.NamespacedName]bool{}
	var out []types.NamespacedName
	add := func(k types.NamespacedName) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	var namespaces *metav1.PartialObjectMetadataList
	for _, g := range rs.Spec.Clients {
		if g.NamespaceSelector != nil {
			if namespaces == nil {
				namespaces = &metav1.PartialObjectMetadataList{}
				namespaces.SetGroupVersionKind(namespaceGVK.GroupVersion().WithKind("NamespaceList"))
				if err := c.List(ctx, namespaces); err != nil {
					return nil, err
				}
			}
			for _, ns := range namespaces.Items {
				if !grantMatches(rs.Namespace, oauthv1alpha1.ResourceServerGrant{NamespaceSelector: g.NamespaceSelector}, ns.Name, "", ns.Labels) {
					continue
				}
				list := &oauthv1alpha1.OAuthClientList{}
				if err := c.List(ctx, list, client.InNamespace(ns.Name)); err != nil {
					return nil, err
				}
				for i := range list.Items {
					add(client.ObjectKeyFromObject(&list.Items[i]))
				}
			}
		}
		for _, ref := range g.ClientRefs {
			key := types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
			if key.Namespace == "" {
				key.Namespace = rs.Namespace
			}
			err := c.Get(ctx, key, &oauthv1alpha1.OAuthClient{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return nil, err
			default:
				add(key)
			}
		}
	}
	return out, nil
}

// clientsOfResourceServer requeues the clients a ResourceServer change can
// concern: those its grants match, or the grants of another
// ResourceServer claiming the same audience (which may own it now), and
// those naming the audience in spec.audiences or holding it in
// status.audiences. Called with the old and the new object on an update,
// so the clients it no longer grants are requeued too.
func (r *OAuthClientReconciler) clientsOfResourceServer(ctx context.Context, o client.Object) []reconcile.Request {
	rs, ok := o.(*oauthv1alpha1.ResourceServer)
	if !ok {
		return nil
	}
	claimants := &oauthv1alpha1.ResourceServerList{}
	if err := r.List(ctx, claimants, client.MatchingFields{IndexResourceServerAudience: rs.Spec.Audience}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing ResourceServers by audience failed")
		return nil
	}
	reqs := map[reconcile.Request]bool{}
	for _, claimant := range append(claimants.Items, *rs) {
		keys, err := grantedClients(ctx, r.Client, &claimant)
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Listing the clients of a ResourceServer failed")
			return nil
		}
		for _, k := range keys {
			reqs[reconcile.Request{NamespacedName: k}] = true
		}
	}
	list := &oauthv1alpha1.OAuthClientList{}
	if err := r.List(ctx, list, client.MatchingFields{IndexClientAudience: rs.Spec.Audience}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing clients by audience failed")
		return nil
	}
	for i := range list.Items {
		reqs[reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}] = true
	}
	out := make([]reconcile.Request, 0, len(reqs))
	for req := range reqs {
		out = append(out, req)
	}
	return out
}

// clientsOfAudiencePolicy requeues, on a ClusterGrantPolicy change (its
// spec.audiences may change who owns an audience), the clients of every
// ResourceServer.
func (r *OAuthClientReconciler) clientsOfAudiencePolicy(ctx context.Context, _ client.Object) []reconcile.Request {
	rss := &oauthv1alpha1.ResourceServerList{}
	if err := r.List(ctx, rss); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing ResourceServers failed")
		return nil
	}
	lists := make([][]reconcile.Request, 0, len(rss.Items))
	for i := range rss.Items {
		lists = append(lists, r.clientsOfResourceServer(ctx, &rss.Items[i]))
	}
	return uniqueRequests(lists...)
}
