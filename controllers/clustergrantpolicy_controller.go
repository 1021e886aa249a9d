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
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// ClusterGrantPolicies are only read; their status is patched. Namespaces
// are read (metadata: their labels pick the ceiling).
// +kubebuilder:rbac:groups=oauth.authops.io,resources=clustergrantpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=oauth.authops.io,resources=clustergrantpolicies/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// ClusterGrantPolicyReconciler reports, for each ClusterGrantPolicy, what
// it does: how many namespaces its ceiling selects, how many policies it
// caps, and whether its clientIDs grants are in force. The ceiling and the
// grants themselves are applied where policies and client IDs are resolved
// (the GrantPolicy and OAuthClient controllers, which watch
// ClusterGrantPolicies too).
type ClusterGrantPolicyReconciler struct {
	client.Client
	Recorder events.EventRecorder
}

// Reconcile reports on one ClusterGrantPolicy and patches its status once.
func (r *ClusterGrantPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &oauthv1alpha1.ClusterGrantPolicy{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	sp := newStatusPatch(obj, &obj.Status.Conditions, &obj.Status.ObservedGeneration)
	defer func() { result, retErr = sp.finish(ctx, r.Client, r.Recorder, result, retErr) }()
	all := &oauthv1alpha1.ClusterGrantPolicyList{}
	if err := r.List(ctx, all); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.reconcileCeiling(ctx, obj, all.Items); err != nil {
		return ctrl.Result{}, err
	}
	out := r.reconcileGrants(obj, all.Items)
	if !out.blocked() {
		out = r.reconcileSelector(obj)
	}
	if !out.blocked() {
		setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason,
			fmt.Sprintf("the ceiling selects %d %s and caps %d %s",
				obj.Status.Namespaces, plural(int(obj.Status.Namespaces), "namespace", "namespaces"),
				obj.Status.CappedPolicies, plural(int(obj.Status.CappedPolicies), "policy", "policies")))
	}
	out.summarize(&obj.Status.Conditions, obj.Generation)
	return out.result()
}

// reconcileCeiling counts the namespaces the ceiling selects into
// status.namespaces, and into status.cappedPolicies the GrantPolicies of
// those namespaces it cuts something from, and the namespaces whose
// clients use the built-in defaults (no GrantPolicy "default") when it
// cuts something from those. A cut counts for the ClusterGrantPolicy it
// names: the most restrictive one.
func (r *ClusterGrantPolicyReconciler) reconcileCeiling(ctx context.Context, obj *oauthv1alpha1.ClusterGrantPolicy, all []oauthv1alpha1.ClusterGrantPolicy) error {
	namespaces := &metav1.PartialObjectMetadataList{}
	namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := r.List(ctx, namespaces); err != nil {
		return err
	}
	policies := &oauthv1alpha1.GrantPolicyList{}
	if err := r.List(ctx, policies); err != nil {
		return err
	}
	onDefaults := &oauthv1alpha1.OAuthClientList{}
	if err := r.List(ctx, onDefaults, client.MatchingFields{IndexPolicyName: "default"}); err != nil {
		return err
	}
	byNamespace := map[string][]oauthv1alpha1.GrantPolicySpec{}
	hasDefault := map[string]bool{}
	for _, p := range policies.Items {
		byNamespace[p.Namespace] = append(byNamespace[p.Namespace], p.Spec)
		hasDefault[p.Namespace] = hasDefault[p.Namespace] || p.Name == "default"
	}
	usesBuiltin := map[string]bool{}
	for _, c := range onDefaults.Items {
		usesBuiltin[c.Namespace] = !hasDefault[c.Namespace]
	}

	var selected, capped int32
	for _, ns := range namespaces.Items {
		if !Selects(obj, ns.Labels) {
			continue
		}
		selected++
		ceiling := CeilingFor(ns.Labels, all)
		specs := byNamespace[ns.Name]
		if usesBuiltin[ns.Name] {
			specs = append(specs, BuiltinPolicy())
		}
		for _, spec := range specs {
			if _, cuts := ceiling.Cap(spec); slices.Contains(cuts.Policies(), obj.Name) {
				capped++
			}
		}
	}
	obj.Status.Namespaces, obj.Status.CappedPolicies = selected, capped
	return nil
}

// reconcileGrants checks the clientIDs grants against every other
// ClusterGrantPolicy's. Sets ClientIDsGranted: True (Granted), or False
// with ClientIDGrantConflict naming each overlap (stalled: the overlapping
// grants are in force for neither namespace until one is removed).
func (r *ClusterGrantPolicyReconciler) reconcileGrants(obj *oauthv1alpha1.ClusterGrantPolicy, all []oauthv1alpha1.ClusterGrantPolicy) outcome {
	if conflicts := IndexClientIDGrants(all).Conflicts(obj.Name); len(conflicts) > 0 {
		return stalledOn(oauthv1alpha1.ClientIDsGrantedCondition, oauthv1alpha1.ClientIDGrantConflictReason, fmt.Sprintf(
			"%s; an ID or prefix granted to two namespaces is granted to neither: clients using it are served only in the namespace its "+
				"name starts with. Remove one of the grants. The ceiling applies", strings.Join(conflicts, "; ")))
	}
	msg := "the policy grants no client IDs"
	if n := len(obj.Spec.ClientIDs); n > 0 {
		msg = fmt.Sprintf("every clientIDs grant is in force (%d %s)", n, plural(n, "namespace", "namespaces"))
	}
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.ClientIDsGrantedCondition, metav1.ConditionTrue, oauthv1alpha1.GrantedReason, msg)
	return proceed
}

// reconcileSelector checks the namespaceSelector, which apply-time
// validation does not parse. Sets Ready: InvalidSpec (stalled) when it
// cannot be parsed; the ceiling then applies to every namespace (Selects).
func (r *ClusterGrantPolicyReconciler) reconcileSelector(obj *oauthv1alpha1.ClusterGrantPolicy) outcome {
	if obj.Spec.NamespaceSelector == nil {
		return proceed
	}
	if _, err := metav1.LabelSelectorAsSelector(obj.Spec.NamespaceSelector); err != nil {
		return stalledOn("", oauthv1alpha1.InvalidSpecReason, fmt.Sprintf(
			"namespaceSelector cannot be used: %v; until it is fixed the ceiling applies to every namespace", err))
	}
	return proceed
}

// SetupWithManager watches ClusterGrantPolicies and what their status
// counts: every ClusterGrantPolicy is looked at again when any of them,
// a namespace, a GrantPolicy or an OAuthClient's policy changes (the last
// two grouped, countDelay later). Needs SetupIndexes first.
func (r *ClusterGrantPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	now := allClusterPolicies{Client: r.Client}
	later := allClusterPolicies{Client: r.Client, delay: countDelay}
	clientPolicy := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		before, okOld := e.ObjectOld.(*oauthv1alpha1.OAuthClient)
		after, okNew := e.ObjectNew.(*oauthv1alpha1.OAuthClient)
		return !okOld || !okNew || policyLookupName(before) != policyLookupName(after)
	}}
	return ctrl.NewControllerManagedBy(mgr).
		For(&oauthv1alpha1.ClusterGrantPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("clustergrantpolicy").
		Watches(&oauthv1alpha1.ClusterGrantPolicy{}, now, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Namespace{}, now, builder.OnlyMetadata, builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Watches(&oauthv1alpha1.GrantPolicy{}, later, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&oauthv1alpha1.OAuthClient{}, later, builder.WithPredicates(clientPolicy)).
		Complete(r)
}

// allClusterPolicies queues every ClusterGrantPolicy, delay later (the
// queue holds a key once, so a burst of events shares one reconcile).
type allClusterPolicies struct {
	client.Client
	delay time.Duration
}

func (h allClusterPolicies) queue(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	list := &oauthv1alpha1.ClusterGrantPolicyList{}
	if err := h.List(ctx, list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing ClusterGrantPolicies failed")
		return
	}
	for _, p := range list.Items {
		req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)}
		if h.delay > 0 {
			q.AddAfter(req, h.delay)
		} else {
			q.Add(req)
		}
	}
}

func (h allClusterPolicies) Create(ctx context.Context, _ event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.queue(ctx, q)
}

func (h allClusterPolicies) Update(ctx context.Context, _ event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.queue(ctx, q)
}

func (h allClusterPolicies) Delete(ctx context.Context, _ event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.queue(ctx, q)
}

func (allClusterPolicies) Generic(context.Context, event.GenericEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

// clusterPolicies lists every ClusterGrantPolicy.
func clusterPolicies(ctx context.Context, c client.Reader) ([]oauthv1alpha1.ClusterGrantPolicy, error) {
	list := &oauthv1alpha1.ClusterGrantPolicyList{}
	if err := c.List(ctx, list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// ceilingOf is the merged ceiling of the ClusterGrantPolicies selecting a
// namespace.
func ceilingOf(ctx context.Context, c client.Reader, namespace string) (Ceiling, error) {
	policies, err := clusterPolicies(ctx, c)
	if err != nil || len(policies) == 0 {
		return Ceiling{}, err
	}
	nsLabels, err := namespaceLabels(ctx, c, namespace)
	if err != nil {
		return Ceiling{}, err
	}
	return CeilingFor(nsLabels, policies), nil
}

// selectsNamespace returns a function saying whether p's ceiling applies to
// a namespace, reading each namespace's labels once. A namespace whose
// labels cannot be read counts as selected (its objects are reconciled
// once more rather than missed).
func selectsNamespace(ctx context.Context, c client.Reader, p *oauthv1alpha1.ClusterGrantPolicy) func(string) bool {
	memo := map[string]bool{}
	return func(ns string) bool {
		if v, ok := memo[ns]; ok {
			return v
		}
		nsLabels, err := namespaceLabels(ctx, c, ns)
		memo[ns] = err != nil || Selects(p, nsLabels)
		return memo[ns]
	}
}

// labelsChanged lets through only the updates of an object that change
// its labels (a namespace's labels pick the ClusterGrantPolicies that
// apply to it; a new namespace has nothing to re-reconcile yet).
var labelsChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
	},
}
