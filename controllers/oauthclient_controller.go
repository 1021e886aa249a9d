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
	"time"

	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// The OAuthClient controller, one file per concern:
//
//	oauthclient_controller.go  the reconciler, its state and Reconcile
//	oauthclient_setup.go       SetupWithManager: watches, predicates, mappings
//	oauthclient_access.go      the clientID claim and the GrantPolicy
//	oauthclient_audiences.go   the audiences ResourceServers grant
//	oauthclient_secret.go      the client secret and the credentials Secret
//	oauthclient_snapshot.go    the snapshot entry
//	oauthclient_status.go      Ready, and a client that cannot be served
//	served.go                  whether the authserver replicas serve it (shared)
//	oauthclient_delete.go      deletion and the finalizer
//	outcome.go                 what a step returns (shared with the other controllers)

const (
	// Finalizer lets the controllers remove an object's snapshot entry, which
	// lives in another namespace, before the object goes away.
	Finalizer = "oauth.authops.io/snapshot"
	// CredentialsSecretSuffix names the owned credentials Secret: <client name>-oauth-credentials.
	CredentialsSecretSuffix = "-oauth-credentials"
	// DefaultClientSecretKey is the key of secret.secretRef without one.
	DefaultClientSecretKey = "client_secret"
	// DefaultRotationOverlap applies when a client names no rotationOverlap
	// (a generated secret that was deleted, for instance).
	DefaultRotationOverlap = 24 * time.Hour
)

// OAuthClientReconciler compiles OAuthClients into snapshot Secrets: it
// resolves the GrantPolicy, finds or generates the client secret, writes the
// credentials Secret and the effective client, and explains in conditions
// what requests will get.
type OAuthClientReconciler struct {
	client.Client
	// APIReader reads the other Secrets (referenced ones) uncached: the
	// manager's cache holds only their metadata.
	APIReader client.Reader
	// Owned caches the Secrets the controllers write (see ownedSecrets):
	// they are read and watched through it. Required.
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

// clientState is what one reconcile learned, passed from step to step.
// Whether a step lets the next ones run is its outcome, not a field here.
type clientState struct {
	// secretState: fresh (the object's first reconcile), the secret and
	// its rotation overlap, the credentials Secret as read.
	secretState

	clientID   string
	policyName string
	// policyIdentity is the version of the GrantPolicy policyName, zero
	// under the built-in defaults.
	policyIdentity policyIdentity
	policy         snapshot.Policy
	// unusable is the NoUsableGrant outcome of a client its policy leaves
	// no usable grant: its entry is written, then reconcileReady stops.
	unusable outcome
	// policyDigest identifies the resolved policy (ResolvedPolicy.Digest).
	policyDigest string
	access       EffectiveAccess
	audiences    AudienceAccess
	// secretless is the credential of a client with spec.authentication.
	secretless secretlessCredential
}

// The steps of an OAuthClient's reconcile (see runSteps) take the client
// and its clientState. An error is transient (the reconcile is retried); a
// blocked outcome (waiting, stalled) stops the steps and takes the client
// out of the snapshot.

// Reconcile runs the steps for one OAuthClient and patches its status once.
func (r *OAuthClientReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &oauthv1alpha1.OAuthClient{}
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
	st := &clientState{secretState: secretState{
		fresh: firstReconcile(obj, obj.Status.ObservedGeneration, obj.Status.Conditions, r.Served, &r.misses)}}
	if err := addFinalizer(ctx, r.Client, obj); err != nil {
		return ctrl.Result{}, err
	}

	sp := newStatusPatch(obj, &obj.Status.Conditions, &obj.Status.ObservedGeneration)
	defer func() { result, retErr = sp.finish(ctx, r.Client, r.Recorder, result, retErr) }()

	out, err := runSteps(ctx, obj, st,
		r.reconcileClientID,
		r.reconcilePolicy,
		r.reconcileAudiences,
		r.reconcileSecret,
		r.reconcileCredentials,
		r.reconcileSnapshot,
		r.reconcileReady,
	)
	switch {
	case err != nil:
		return ctrl.Result{}, r.misses.staleFresh(obj, st.fresh, err)
	case out.blocked():
		return r.reconcileNotServed(ctx, obj, st, out)
	}
	sp.holdFor(out)
	return out.result()
}
