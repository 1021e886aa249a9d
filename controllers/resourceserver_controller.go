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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// The ResourceServer controller:
//
//	resourceserver_controller.go  the reconciler, its steps
//	resourceserver_setup.go       SetupWithManager: watches and mappings
//	audience.go                   the decisions: who owns an audience, what it grants
//	oauthclient_audiences.go      what the OAuthClient controller makes of them

// ResourceServers: read, and patch to add or remove the finalizer; their
// status is patched. ClusterGrantPolicies are read (spec.audiences), and
// the labels of Namespaces (namespaceSelector grants).
// +kubebuilder:rbac:groups=oauth.authops.io,resources=resourceservers,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=oauth.authops.io,resources=resourceservers/finalizers,verbs=update
// +kubebuilder:rbac:groups=oauth.authops.io,resources=resourceservers/status,verbs=get;patch
// +kubebuilder:rbac:groups=oauth.authops.io,resources=clustergrantpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

const (
	// ResourceServerSecretSuffix names a ResourceServer's owned credentials
	// Secret: <name>-resourceserver.
	ResourceServerSecretSuffix = "-resourceserver"
	// CredentialIntrospectionEndpoint is the key of the introspection
	// endpoint URL in a ResourceServer's credentials Secret.
	CredentialIntrospectionEndpoint = "introspection_endpoint"
)

// ResourceServerReconciler decides which ResourceServer owns each audience,
// compiles the owners into snapshot Secrets with their introspection
// credentials, and counts the clients each grants.
type ResourceServerReconciler struct {
	client.Client
	// APIReader reads referenced Secrets uncached.
	APIReader client.Reader
	// Owned caches the Secrets the controllers write (see ownedSecrets).
	Owned    cache.Cache
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// Namespace is the operator namespace, where snapshot Secrets live.
	Namespace string
	// Issuer is the authorization server's URL, for the endpoint URLs.
	Issuer string
	// Served tells whether the authserver replicas serve a snapshot
	// revision (see servedGate); nil: Ready means compiled.
	Served *servedGate

	misses freshMisses
}

// Reconcile runs the steps for one ResourceServer and patches its status
// once.
func (r *ResourceServerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &oauthv1alpha1.ResourceServer{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, obj)
	}
	if !controllerutil.ContainsFinalizer(obj, Finalizer) && r.Served.compiledBefore(obj) {
		// A stale read (see servedGate.compiledBefore): nothing to do
		// until the cache has caught up.
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	}
	st := &secretState{fresh: firstReconcile(obj, obj.Status.ObservedGeneration, obj.Status.Conditions, r.Served, &r.misses)}
	if err := addFinalizer(ctx, r.Client, obj); err != nil {
		return ctrl.Result{}, err
	}

	sp := newStatusPatch(obj, &obj.Status.Conditions, &obj.Status.ObservedGeneration)
	defer func() { result, retErr = sp.finish(ctx, r.Client, r.Recorder, result, retErr) }()

	out, err := runSteps(ctx, obj, st,
		r.reconcileClaim,
		r.reconcileSecret,
		r.reconcileCredentials,
		r.reconcileSnapshot,
		r.reconcileClients,
		r.reconcileReady,
	)
	switch {
	case err != nil:
		return ctrl.Result{}, r.misses.staleFresh(obj, st.fresh, err)
	case out.blocked():
		return r.reconcileNotServed(ctx, obj, out)
	}
	sp.holdFor(out)
	return out.result()
}

// reconcileClaim decides whether the ResourceServer owns its audience (see
// AudienceOwners). Sets AudienceClaimed and status.clientID; Ready=False
// with AudienceConflict or AudienceNotPermitted (stalled: it is requeued
// when the other ResourceServer or the ClusterGrantPolicies change).
func (r *ResourceServerReconciler) reconcileClaim(ctx context.Context, obj *oauthv1alpha1.ResourceServer, _ *secretState) (outcome, error) {
	obj.Status.ClientID = ResourceServerID(obj)
	owners, cgps, err := listAudienceOwners(ctx, r.Client)
	if err != nil {
		return proceed, err
	}
	// The cache may not hold this object yet (its first reconcile): it
	// takes part in the decision as read.
	if owner := owners[obj.Spec.Audience]; owner == nil || older(obj, owner) {
		if ok, _ := audiencePermitted(cgps, obj.Namespace, obj.Spec.Audience); ok {
			owners[obj.Spec.Audience] = obj
		}
	}
	c := AudienceClaim(obj, owners, cgps)
	if c.Status != metav1.ConditionTrue {
		obj.Status.Clients = 0
		return stalledOn(c.Type, c.Reason, c.Message), nil
	}
	setCondition(&obj.Status.Conditions, obj.Generation, c.Type, c.Status, c.Reason, c.Message)
	return proceed, nil
}

// reconcileSecret finds the ResourceServer's secret (see secretSteps.find).
// Sets SecretReady; Ready=False with SecretNotFound (waiting), KeyMissing
// or WeakSecret (stalled).
func (r *ResourceServerReconciler) reconcileSecret(ctx context.Context, obj *oauthv1alpha1.ResourceServer, st *secretState) (outcome, error) {
	return r.secretSteps().find(ctx, r.secretHolder(obj), st)
}

// reconcileCredentials writes the owned credentials Secret the API mounts:
// client_id (rs/<namespace>/<name>), client_secret, the issuer and the
// introspection endpoint URL. Sets status.credentialsSecretName.
func (r *ResourceServerReconciler) reconcileCredentials(ctx context.Context, obj *oauthv1alpha1.ResourceServer, st *secretState) (outcome, error) {
	h := r.secretHolder(obj)
	issuer := strings.TrimSuffix(r.Issuer, "/")
	data := map[string][]byte{
		CredentialClientID:              []byte(ResourceServerID(obj)),
		CredentialClientSecret:          []byte(st.secret),
		CredentialIssuer:                []byte(issuer),
		CredentialIntrospectionEndpoint: []byte(issuer + "/oauth2/introspect"),
	}
	if err := r.secretSteps().writeCredentials(ctx, h, st, data); err != nil {
		return proceed, err
	}
	obj.Status.CredentialsSecretName = h.credentials
	return proceed, nil
}

// reconcileSnapshot writes the ResourceServer's snapshot document, keeping
// the previous secret's digest valid until the rotation overlap ends.
// Records SecretRotated when the secret changed and asks for a requeue when
// a previous secret expires.
func (r *ResourceServerReconciler) reconcileSnapshot(ctx context.Context, obj *oauthv1alpha1.ResourceServer, st *secretState) (outcome, error) {
	entry, err := r.snapshots().readUnlessFresh(ctx, snapshotSecretName(snapshot.KindResourceServer, obj.UID), st.fresh)
	if err != nil {
		return proceed, err
	}
	var old []snapshot.SecretDigest
	if entry.doc != nil && entry.doc.ResourceServer != nil {
		old = entry.doc.ResourceServer.Secrets
	}
	rot := rotate(old, st, r.Clock.Now())
	if err := r.snapshots().write(ctx, entry, CompileResourceServer(obj, rot.digests)); err != nil {
		return proceed, err
	}
	st.revision, _ = snapshot.ParseRevision(entry.written)
	rot.record(r.Recorder, obj, "ResourceServer secret")
	out := proceed
	out.requeueAfter = rot.requeueAfter
	return out, nil
}

// reconcileClients counts the OAuthClients the ResourceServer grants into
// status.clients.
func (r *ResourceServerReconciler) reconcileClients(ctx context.Context, obj *oauthv1alpha1.ResourceServer, _ *secretState) (outcome, error) {
	keys, err := grantedClients(ctx, r.Client, obj)
	if err != nil {
		return proceed, err
	}
	obj.Status.Clients = int32(len(keys))
	return proceed, nil
}

// reconcileReady sets Ready=True (Reconciled), saying what is served, once
// every authserver replica serves it; NotYetServed until then (see
// servedGate.readyWhenServed). The clients it grants wait for their own
// documents to be served.
func (r *ResourceServerReconciler) reconcileReady(ctx context.Context, obj *oauthv1alpha1.ResourceServer, st *secretState) (outcome, error) {
	msg := fmt.Sprintf("audience %s is served to %d granted %s; the API introspects tokens as %s with the credentials in Secret %s",
		obj.Spec.Audience, obj.Status.Clients, plural(int(obj.Status.Clients), "client", "clients"), obj.Status.ClientID, obj.Status.CredentialsSecretName)
	replicas, out, err := r.Served.readyWhenServed(ctx, r.Recorder, obj, &obj.Status.Conditions, st.revision, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason, msg)
	obj.Status.ServedReplicas = replicas
	return out, err
}

// reconcileNotServed ends the reconcile of a ResourceServer a step blocked:
// it sets the conditions the outcome names and removes the snapshot entry,
// so that it is not served and grants nothing (a failed removal is retried,
// see the OAuthClient's).
func (r *ResourceServerReconciler) reconcileNotServed(ctx context.Context, obj *oauthv1alpha1.ResourceServer, out outcome) (ctrl.Result, error) {
	out.summarize(&obj.Status.Conditions, obj.Generation)
	obj.Status.ServedReplicas = ""
	r.Served.notWaiting(obj, &obj.Status.Conditions)
	if err := r.snapshots().remove(ctx, snapshotSecretName(snapshot.KindResourceServer, obj.UID)); err != nil {
		return ctrl.Result{}, err
	}
	return out.result()
}

// reconcileDelete removes the snapshot entry and the Secrets the
// ResourceServer owns, then the finalizer. The clients it granted lose the
// audience: it owns nothing from the moment it is being deleted.
func (r *ResourceServerReconciler) reconcileDelete(ctx context.Context, obj *oauthv1alpha1.ResourceServer) error {
	names := []string{obj.Name + ResourceServerSecretSuffix}
	if obj.Spec.Secret != nil {
		names = append(names, obj.Spec.Secret.SecretRef.Name)
	}
	r.Served.forget(client.ObjectKeyFromObject(obj))
	c := cleanup{client: r.Client, apiReader: r.APIReader, snapshots: r.snapshots()}
	return c.run(ctx, obj, snapshotSecretName(snapshot.KindResourceServer, obj.UID), names)
}

// secretHolder describes the ResourceServer to the secret steps.
func (r *ResourceServerReconciler) secretHolder(obj *oauthv1alpha1.ResourceServer) secretHolder {
	return secretHolder{obj: obj, kind: "ResourceServer", conditions: &obj.Status.Conditions, spec: obj.Spec.Secret,
		credentials: obj.Name + ResourceServerSecretSuffix, requests: "introspection requests"}
}

func (r *ResourceServerReconciler) secretSteps() secretSteps {
	return secretSteps{client: r.Client, apiReader: r.APIReader, owned: ownedOrAPI{owned: r.Owned, api: r.APIReader}, recorder: r.Recorder}
}

func (r *ResourceServerReconciler) snapshots() snapshotStore {
	return snapshotStore{client: r.Client, reader: ownedOrAPI{owned: r.Owned, api: r.APIReader}, namespace: r.Namespace}
}

// ResourceServerID is the user name a ResourceServer authenticates with at
// the introspection endpoint: rs/<namespace>/<name>.
func ResourceServerID(rs *oauthv1alpha1.ResourceServer) string {
	return "rs/" + rs.Namespace + "/" + rs.Name
}
