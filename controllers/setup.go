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
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// Field indexes on OAuthClients and Accounts, registered by SetupIndexes.
const (
	// IndexClientID is the effective clientID, across namespaces.
	IndexClientID = "oauthclient.clientID"
	// IndexPolicyName is the GrantPolicy a client looks for: grantPolicyRef,
	// else "default".
	IndexPolicyName = "oauthclient.grantPolicy"
	// IndexSecretRef is the Secret named in spec.secret.secretRef or
	// spec.authentication.jwksSecretRef.
	IndexSecretRef = "oauthclient.secretRef"
	// IndexServiceAccount is the ServiceAccount named in
	// spec.authentication.serviceAccount.
	IndexServiceAccount = "oauthclient.serviceAccount"
	// IndexPasswordSecret is the Secret named in an Account's passwordSecretRef.
	IndexPasswordSecret = "account.passwordSecretRef"
	// IndexClientAudience is each audience an OAuthClient names
	// (spec.audiences) or is granted (status.audiences).
	IndexClientAudience = "oauthclient.audience"
	// IndexResourceServerAudience is a ResourceServer's spec.audience.
	IndexResourceServerAudience = "resourceserver.audience"
	// IndexResourceServerSecretRef is the Secret named in a
	// ResourceServer's spec.secret.secretRef.
	IndexResourceServerSecretRef = "resourceserver.secretRef"
	// IndexSnapshotPolicy, on the cache of owned Secrets, is the
	// GrantPolicy ("<namespace>/<name>") a client's snapshot entry was
	// compiled under (AnnotationPolicy).
	IndexSnapshotPolicy = "secret.snapshotPolicy"
)

// namespaceGVK is the kind of Namespaces, watched and read as metadata.
var namespaceGVK = corev1.SchemeGroupVersion.WithKind("Namespace")

// SetupIndexes registers the field indexes the reconcilers list by. Call it
// once, before the reconcilers' SetupWithManager.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	byClient := func(f func(*oauthv1alpha1.OAuthClient) []string) client.IndexerFunc {
		return func(o client.Object) []string { return f(o.(*oauthv1alpha1.OAuthClient)) }
	}
	if err := indexer.IndexField(ctx, &oauthv1alpha1.OAuthClient{}, IndexClientID, byClient(func(c *oauthv1alpha1.OAuthClient) []string {
		return []string{EffectiveClientID(c)}
	})); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &oauthv1alpha1.OAuthClient{}, IndexPolicyName, byClient(func(c *oauthv1alpha1.OAuthClient) []string {
		return []string{policyLookupName(c)}
	})); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &oauthv1alpha1.OAuthClient{}, IndexSecretRef, byClient(func(c *oauthv1alpha1.OAuthClient) []string {
		switch {
		case c.Spec.Secret != nil:
			return []string{c.Spec.Secret.SecretRef.Name}
		case c.Spec.Authentication != nil && c.Spec.Authentication.JWKSSecretRef != nil:
			return []string{c.Spec.Authentication.JWKSSecretRef.Name}
		}
		return nil
	})); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &oauthv1alpha1.OAuthClient{}, IndexServiceAccount, byClient(func(c *oauthv1alpha1.OAuthClient) []string {
		if c.Spec.Authentication == nil || c.Spec.Authentication.ServiceAccount == nil {
			return nil
		}
		return []string{c.Spec.Authentication.ServiceAccount.Name}
	})); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &oauthv1alpha1.OAuthClient{}, IndexClientAudience, byClient(func(c *oauthv1alpha1.OAuthClient) []string {
		return append(slices.Clone(c.Spec.Audiences), c.Status.Audiences...)
	})); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &oauthv1alpha1.ResourceServer{}, IndexResourceServerAudience, func(o client.Object) []string {
		return []string{o.(*oauthv1alpha1.ResourceServer).Spec.Audience}
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &oauthv1alpha1.ResourceServer{}, IndexResourceServerSecretRef, func(o client.Object) []string {
		if s := o.(*oauthv1alpha1.ResourceServer).Spec.Secret; s != nil {
			return []string{s.SecretRef.Name}
		}
		return nil
	}); err != nil {
		return err
	}
	return indexer.IndexField(ctx, &oauthv1alpha1.Account{}, IndexPasswordSecret, func(o client.Object) []string {
		return []string{o.(*oauthv1alpha1.Account).Spec.PasswordSecretRef.Name}
	})
}

// CacheOptions keeps the manager's memory independent of unrelated Secrets:
// the manager's cache holds no whole Secret (reads go to the API server or
// to ownedSecrets, see ClientOptions), only the metadata of the Secrets the
// controllers did not write (referenced client and password Secrets carry
// no label of ours, so the selector can only exclude ours), of ConfigMaps
// only those labelled as ours (the client ID grants), and managed fields
// are stripped from everything cached.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		// The Secrets the controllers write are in ownedSecrets; the
		// manager's own Secret watch (metadata only) leaves them out at the
		// API server, so each of their changes is sent and decoded once.
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: notOwned},
			// The only ConfigMap the manager reads is the one it writes
			// (ClientIDGrantsConfigMap).
			&corev1.ConfigMap{}: {Label: labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByValue})},
		},
	}
}

// notOwned selects the Secrets the controllers did not write (also those
// without the label).
var notOwned = func() labels.Selector {
	r, err := labels.NewRequirement(LabelManagedBy, selection.NotEquals, []string{ManagedByValue})
	if err != nil {
		panic(err)
	}
	return labels.NewSelector().Add(*r)
}()

// ownedSecrets is a cache of whole Secrets, only those the controllers
// write (labelled LabelManagedBy=ManagedByValue: credentials Secrets,
// generated referenced Secrets, snapshot entries). The OAuthClient
// controller reads its credentials Secret and snapshot entry from it rather
// than from the API server: a GrantPolicy change re-reconciles every client
// it governs, and with these reads cached each of them costs the API server
// one write instead of two reads and a write (docs/benchmarks.md). A stale
// read cannot lose anything: every write of those Secrets is a create
// (AlreadyExists when the cache missed one) or a patch with an optimistic
// lock on the version read (a conflict when the cache is behind), and the
// error runs the reconcile again. The controller's watch of these Secrets
// comes from this cache, so a reconcile caused by their change reads them
// at least as new as the change.
type ownedSecrets struct{ cache.Cache }

// GetCache makes the manager start and sync the cache before the
// controllers.
func (o ownedSecrets) GetCache() cache.Cache { return o.Cache }

func newOwnedSecrets(ctx context.Context, mgr ctrl.Manager) (ownedSecrets, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByValue})},
		},
	})
	if err != nil {
		return ownedSecrets{}, err
	}
	if err := c.IndexField(ctx, &corev1.Secret{}, IndexSnapshotPolicy, func(o client.Object) []string {
		if p, ok := snapshotPolicy(o); ok {
			return []string{p.namespace + "/" + p.name}
		}
		return nil
	}); err != nil {
		return ownedSecrets{}, err
	}
	if _, err := c.GetInformer(ctx, &corev1.Secret{}); err != nil {
		return ownedSecrets{}, err
	}
	o := ownedSecrets{c}
	return o, mgr.Add(o)
}

// ownedOrAPI reads the Secrets the controllers write from the cache, and a
// Secret the cache does not hold from the API server: the cache can lag
// behind a Secret this controller created a moment ago (a reconcile woken
// by a replica's acknowledgement can come first), and a create would then
// fail with AlreadyExists and run the reconcile again. A Secret that really
// does not exist costs one GET.
type ownedOrAPI struct {
	owned client.Reader
	api   client.Reader
}

func (r ownedOrAPI) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := r.owned.Get(ctx, key, obj, opts...)
	if apierrors.IsNotFound(err) && r.api != nil {
		return r.api.Get(ctx, key, obj, opts...)
	}
	return err
}

func (r ownedOrAPI) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return r.owned.List(ctx, list, opts...)
}

// ClientOptions makes every Secret read bypass the cache.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// firstReconcile says whether this is the object's first reconcile, so
// that nothing the reconcile writes can exist yet (secretState.fresh): the
// object carries no finalizer yet (the reconcile adds it), or it carries
// the one the admission policy added at creation
// (config/admission/snapshot_finalizer.yaml), its status was never written
// and this manager has not compiled it before (the first status write may
// be held back, see heldWait). A reconcile that guessed wrong (a manager
// before a restart compiled the object but wrote no status) meets
// AlreadyExists and the next one is not fresh (freshMisses).
func firstReconcile(obj client.Object, observedGeneration int64, conditions []metav1.Condition, gate *servedGate, misses *freshMisses) bool {
	if misses.take(obj) {
		return false
	}
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return true
	}
	return observedGeneration == 0 && len(conditions) == 0 && !gate.compiledBefore(obj)
}

// addFinalizer adds Finalizer to obj (a patch) when it is missing: the
// admission policy usually added it at creation.
func addFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	if controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	controllerutil.AddFinalizer(obj, Finalizer)
	return c.Patch(ctx, obj, patch)
}

// removeFinalizer removes Finalizer from obj (a patch).
func removeFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	controllerutil.RemoveFinalizer(obj, Finalizer)
	return client.IgnoreNotFound(c.Patch(ctx, obj, patch))
}

// recordReadyChange emits an Event when Ready's status or reason changed:
// Normal when it became True, Warning otherwise, with the Ready reason. A new
// object's first Ready=True is not an Event: its status says so, and at
// thousands of objects those Events would be a third of the API writes
// (docs/benchmarks.md). A first Ready that is not True is a Warning.
// Waiting for the authserver replicas (NotYetServed) is a step of every
// change, not a failure: neither it nor its end is an Event (the status
// says so; a replica that stays behind is another matter).
func recordReadyChange(rec events.EventRecorder, obj runtime.Object, conditions []metav1.Condition, before readyState) {
	after := currentReady(conditions)
	if after == before || (before == readyState{} && after.status == metav1.ConditionTrue) ||
		after.reason == oauthv1alpha1.NotYetServedReason ||
		(before.reason == oauthv1alpha1.NotYetServedReason && after.status == metav1.ConditionTrue) {
		return
	}
	ready := apimeta.FindStatusCondition(conditions, oauthv1alpha1.ReadyCondition)
	eventType := corev1.EventTypeWarning
	if ready.Status == metav1.ConditionTrue {
		eventType = corev1.EventTypeNormal
	}
	rec.Eventf(obj, nil, eventType, ready.Reason, "Reconcile", "%s", ready.Message)
}

// Options configure the control plane.
type Options struct {
	// Namespace is the operator namespace, where the snapshot is written.
	Namespace string
	// Issuer is the authorization server's URL.
	Issuer string
	// KeyRotation configures the signing keys; NewKey defaults to NewES256Key.
	KeyRotation KeyRotationConfig
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// MinServedReplicas is how many live authserver replicas must serve
	// a change before Ready (--min-served-replicas). Every live replica
	// must serve it in any case; 0 also lets an object be Ready when no
	// replica acknowledges anything (Ready means compiled, as its message
	// says): suites without an authserver.
	MinServedReplicas int
	// ServedLagBound is how long an object may wait for a live replica
	// to serve it before the replica is reported behind
	// (--served-lag-bound): condition Served False and a Warning Event. 0
	// disables the report.
	ServedLagBound time.Duration
	// Metrics is where the manager's metrics (metrics.go) are registered;
	// nil is controller-runtime's registry, served on the manager's
	// metrics endpoint.
	Metrics prometheus.Registerer
}

// Setup registers the indexes, the reconcilers (one per kind, and the
// client ID grants ConfigMap), the signing key rotator, the start-up
// orphan cleanup and the manager's metrics with mgr.
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.KeyRotation.NewKey == nil {
		opts.KeyRotation.NewKey = NewES256Key
	}
	if opts.KeyRotation.MaxTokenLifetime == 0 {
		opts.KeyRotation.MaxTokenLifetime = MaxTokenLifetime
	}
	if err := opts.KeyRotation.Validate(); err != nil {
		return err
	}
	if err := SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	owned, err := newOwnedSecrets(ctx, mgr)
	if err != nil {
		return err
	}
	leases, err := newServedLeases(ctx, mgr, opts.Namespace)
	if err != nil {
		return err
	}
	recorder := mgr.GetEventRecorder("authops-manager")
	// One gate per kind (each remembers its own waiting objects and wakes
	// its own controller), all on the same Leases.
	var gates []*servedGate
	gate := func() *servedGate {
		g := newServedGate(leases, opts.Clock, opts.MinServedReplicas, opts.ServedLagBound)
		gates = append(gates, g)
		return g
	}
	if err := (&OAuthClientReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder,
		Clock: opts.Clock, Namespace: opts.Namespace, Issuer: opts.Issuer, Owned: owned,
		Served: gate(),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&GrantPolicyReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, Clock: opts.Clock, Namespace: opts.Namespace, Owned: owned, Served: gate(),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&ResourceServerReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder,
		Clock: opts.Clock, Namespace: opts.Namespace, Issuer: opts.Issuer, Owned: owned, Served: gate(),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&ClusterGrantPolicyReconciler{Client: mgr.GetClient(), Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&ClientIDGrantsReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Namespace: opts.Namespace}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&AccountReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, Namespace: opts.Namespace, Owned: owned, Served: gate(),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	rotator := &KeyRotator{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: opts.Clock, Namespace: opts.Namespace, Config: opts.KeyRotation,
		served: leases.servedBy(opts.MinServedReplicas, opts.Clock), wake: make(chan struct{}, 1),
	}
	if err := rotator.watch(ctx, owned, leases); err != nil {
		return err
	}
	if err := mgr.Add(rotator); err != nil {
		return err
	}
	if err := mgr.Add(&OrphanCleaner{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Namespace: opts.Namespace}); err != nil {
		return err
	}
	return registerMetrics(opts.Metrics, &stateCollector{objects: mgr.GetCache(), owned: owned, namespace: opts.Namespace,
		clock: opts.Clock, keys: opts.KeyRotation, elected: mgr.Elected(), gates: gates})
}
