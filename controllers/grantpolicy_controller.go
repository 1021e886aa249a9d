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
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
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

// GrantPolicyReconciler validates GrantPolicies, says what the
// ClusterGrantPolicies cap of each, and counts the clients each governs. The clients themselves are requeued by the OAuthClient
// controller's watch on GrantPolicies, through IndexPolicyName.
type GrantPolicyReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Namespace is the operator namespace, where snapshot Secrets live.
	Namespace string
	// Owned is the cache of the Secrets the controllers write (indexed by
	// IndexSnapshotPolicy): the clients' snapshot entries say which
	// version of their policy they were compiled under. Nil (with Served):
	// Ready means valid.
	Owned cache.Cache
	// APIReader reads a snapshot Secret the Owned cache does not hold yet.
	APIReader client.Reader
	// Served tells whether the authserver replicas serve a snapshot
	// revision (see servedGate); nil: Ready means valid.
	Served *servedGate
	// Clock defaults to the real clock.
	Clock clock.PassiveClock

	compiled compiledPolicies
	// documents are the policies whose snapshot document this manager
	// wrote (or tried to), by namespace/name (see removeDocument).
	documents sync.Map
}

// Reconcile validates one GrantPolicy and patches its status once.
func (r *GrantPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &oauthv1alpha1.GrantPolicy{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.Served.forget(req.NamespacedName)
			r.compiled.forget(req.NamespacedName)
			// Its clients fall back to what their entries say, and are
			// compiled again without it (PolicyNotFound, or the
			// built-in defaults for "default").
			return ctrl.Result{}, r.removeDocument(ctx, req.NamespacedName)
		}
		return ctrl.Result{}, err
	}
	sp := newStatusPatch(obj, &obj.Status.Conditions, &obj.Status.ObservedGeneration)
	defer func() { result, retErr = sp.finish(ctx, r.Client, r.Recorder, result, retErr) }()
	if err := r.reconcileClients(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}
	ceiling, err := ceilingOf(ctx, r.Client, obj.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	resolved, out := r.reconcileValidation(obj, ceiling)
	if out.blocked() {
		// Its clients are not served (InvalidSpec) whatever the document
		// says; without one, nothing stale stays loaded.
		if err := r.removeDocument(ctx, req.NamespacedName); err != nil {
			return ctrl.Result{}, err
		}
		r.Served.notWaiting(obj, &obj.Status.Conditions)
		r.compiled.forget(req.NamespacedName)
		obj.Status.ServedReplicas = ""
		out.summarize(&obj.Status.Conditions, obj.Generation)
		return out.result()
	}
	revision, err := r.reconcileDocument(ctx, obj, resolved)
	if err != nil {
		return ctrl.Result{}, err
	}
	out, err = r.reconcileReady(ctx, obj, resolved, revision)
	if err != nil {
		return ctrl.Result{}, err
	}
	sp.holdFor(out)
	return out.result()
}

// reconcileDocument writes the policy's snapshot document
// (CompileGrantPolicy), which serves a change to every client compiled
// under the policy at once, and returns the revision written.
func (r *GrantPolicyReconciler) reconcileDocument(ctx context.Context, obj *oauthv1alpha1.GrantPolicy, resolved ResolvedPolicy) (int64, error) {
	if r.Owned == nil {
		return 0, nil
	}
	store := r.snapshots()
	entry, err := store.read(ctx, policySecretName(obj.Namespace, obj.Name))
	if err != nil {
		return 0, err
	}
	r.documents.Store(client.ObjectKeyFromObject(obj), true)
	if err := store.write(ctx, entry, CompileGrantPolicy(obj, resolved)); err != nil {
		return 0, err
	}
	rev, _ := snapshot.ParseRevision(entry.written)
	return rev, nil
}

// removeDocument deletes the snapshot document of the policy
// namespace/name, if there is one: one this manager wrote, or one the
// cache of owned Secrets holds. Most requests for a policy that does not
// exist are for the "default" of a namespace without one (its clients'
// counts, clientCountHandler), which never had a document: they cost no
// API call. A document the cache had not seen yet, of a policy deleted
// while another manager ran, is left to the start-up orphan sweep.
func (r *GrantPolicyReconciler) removeDocument(ctx context.Context, key types.NamespacedName) error {
	if r.Owned == nil {
		return nil
	}
	name := policySecretName(key.Namespace, key.Name)
	if _, wrote := r.documents.Load(key); !wrote {
		err := r.Owned.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: name}, &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	if err := r.snapshots().remove(ctx, name); err != nil {
		return err
	}
	r.documents.Delete(key)
	return nil
}

// snapshots reads the policy's snapshot Secret from the cache of owned
// Secrets (the API server when the cache does not hold it yet).
func (r *GrantPolicyReconciler) snapshots() snapshotStore {
	return snapshotStore{client: r.Client, reader: ownedOrAPI{owned: r.Owned, api: r.APIReader}, namespace: r.Namespace}
}

// reconcileClients counts the OAuthClients the policy governs (for
// "default": also those naming no policy) into status.clients.
func (r *GrantPolicyReconciler) reconcileClients(ctx context.Context, obj *oauthv1alpha1.GrantPolicy) error {
	list := &oauthv1alpha1.OAuthClientList{}
	if err := r.List(ctx, list, client.InNamespace(obj.Namespace), client.MatchingFields{IndexPolicyName: obj.Name}); err != nil {
		return err
	}
	obj.Status.Clients = int32(len(list.Items))
	return nil
}

// reconcileValidation checks what apply-time validation cannot, and caps
// the policy by the ceiling of the ClusterGrantPolicies selecting its
// namespace. Sets WithinClusterPolicy (WithinCeiling, or
// CappedByClusterPolicy listing each cut); a policy that cannot be applied
// is InvalidSpec (stalled).
func (r *GrantPolicyReconciler) reconcileValidation(obj *oauthv1alpha1.GrantPolicy, ceiling Ceiling) (ResolvedPolicy, outcome) {
	resolved, err := ResolvePolicy(obj.Name, obj.Spec, ceiling)
	if err != nil {
		return resolved, stalledOn("", oauthv1alpha1.InvalidSpecReason, fmt.Sprintf(
			"the policy cannot be applied: %v; its %d clients are not served until it is fixed", err, obj.Status.Clients))
	}
	within := withinClusterPolicy(ceiling, resolved.Cuts)
	setCondition(&obj.Status.Conditions, obj.Generation, within.Type, within.Status, within.Reason, within.Message)
	return resolved, proceed
}

// readyMessage says what a valid policy governs.
func readyMessage(obj *oauthv1alpha1.GrantPolicy, resolved ResolvedPolicy) string {
	msg := fmt.Sprintf("the policy is valid and governs %d %s", obj.Status.Clients, plural(int(obj.Status.Clients), "client", "clients"))
	if len(resolved.Cuts) > 0 {
		msg += fmt.Sprintf("; capped by ClusterGrantPolicy %s (see WithinClusterPolicy)", strings.Join(resolved.Cuts.Policies(), ", "))
	}
	return msg
}

// withinClusterPolicy is the WithinClusterPolicy condition of a policy the
// ceiling cut cuts from.
func withinClusterPolicy(ceiling Ceiling, cuts Cuts) metav1.Condition {
	if len(cuts) > 0 {
		return metav1.Condition{Type: oauthv1alpha1.WithinClusterPolicyCondition, Status: metav1.ConditionFalse,
			Reason: oauthv1alpha1.CappedByClusterPolicyReason, Message: cuts.String() + "; the clients get the capped values"}
	}
	msg := "no ClusterGrantPolicy selects the namespace"
	if len(ceiling.Policies) > 0 {
		msg = fmt.Sprintf("the policy is within ClusterGrantPolicy %s", strings.Join(ceiling.Policies, ", "))
	}
	return metav1.Condition{Type: oauthv1alpha1.WithinClusterPolicyCondition, Status: metav1.ConditionTrue,
		Reason: oauthv1alpha1.WithinCeilingReason, Message: msg}
}

// countDelay groups the recounts of a policy's clients: a burst of client
// creations (a namespace applied at once, thousands of clients) writes
// status.clients about once per countDelay per policy rather than once per
// client.
const countDelay = 2 * time.Second

// SetupWithManager watches GrantPolicies, the OAuthClients that use them
// (to keep status.clients current), ClusterGrantPolicies (spec changes)
// and the labels of namespaces. Needs SetupIndexes first.
func (r *GrantPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	generation := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	b := ctrl.NewControllerManagedBy(mgr).
		For(&oauthv1alpha1.GrantPolicy{}, generation).
		Named("grantpolicy").
		Watches(&oauthv1alpha1.OAuthClient{}, clientCountHandler{}).
		Watches(&oauthv1alpha1.ClusterGrantPolicy{}, handler.EnqueueRequestsFromMapFunc(r.policiesOfClusterPolicy), generation).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.policiesOfNamespace), builder.OnlyMetadata, builder.WithPredicates(labelsChanged))
	if r.Served != nil {
		// The clients' snapshot entries wake a policy whose version is
		// being compiled into them, the replicas' Leases one waiting to be
		// served.
		b = b.WatchesRawSource(source.Kind(r.Owned, client.Object(&corev1.Secret{}), compileHandler{&r.compiled})).
			WatchesRawSource(r.Served.source())
	}
	return b.Complete(r)
}

// policiesOfClusterPolicy requeues the GrantPolicies of the namespaces a
// ClusterGrantPolicy (in the version of the event: before and after a
// change, or deleted) selects.
func (r *GrantPolicyReconciler) policiesOfClusterPolicy(ctx context.Context, o client.Object) []reconcile.Request {
	changed, ok := o.(*oauthv1alpha1.ClusterGrantPolicy)
	if !ok {
		return nil
	}
	list := &oauthv1alpha1.GrantPolicyList{}
	if err := r.List(ctx, list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing GrantPolicies failed")
		return nil
	}
	selected := selectsNamespace(ctx, r.Client, changed)
	var reqs []reconcile.Request
	for i := range list.Items {
		if selected(list.Items[i].Namespace) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// policiesOfNamespace requeues the GrantPolicies of a namespace whose
// labels changed.
func (r *GrantPolicyReconciler) policiesOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	list := &oauthv1alpha1.GrantPolicyList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetName())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing GrantPolicies failed")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// clientCountHandler queues, countDelay later, the policy a client counts
// towards when the client appears, goes away or names another policy. The
// queue holds a key once, so the clients of a burst share one recount.
type clientCountHandler struct{}

func (clientCountHandler) policyOf(o client.Object) (reconcile.Request, bool) {
	c, ok := o.(*oauthv1alpha1.OAuthClient)
	if !ok {
		return reconcile.Request{}, false
	}
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: policyLookupName(c)}}, true
}

func (h clientCountHandler) queue(q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
	for _, o := range objs {
		if req, ok := h.policyOf(o); ok {
			q.AddAfter(req, countDelay)
		}
	}
}

func (h clientCountHandler) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.queue(q, e.Object)
}

func (h clientCountHandler) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	before, okOld := h.policyOf(e.ObjectOld)
	after, okNew := h.policyOf(e.ObjectNew)
	if okOld && okNew && before == after {
		return
	}
	h.queue(q, e.ObjectOld, e.ObjectNew)
}

func (h clientCountHandler) Delete(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.queue(q, e.Object)
}

func (clientCountHandler) Generic(context.Context, event.GenericEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}
