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
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

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
	// waitInterval is how often a client that waits on something it cannot
	// watch looks again; watches normally act much sooner.
	waitInterval = 5 * time.Minute
)

// Event reasons beyond the Ready reasons.
const (
	// EventSecretGenerated: the controller generated a client secret.
	EventSecretGenerated = "SecretGenerated"
	// EventSecretRotated: the client secret changed; the previous one stays
	// valid for the overlap window.
	EventSecretRotated = "SecretRotated"
)

// Keys of the credentials Secret.
const (
	CredentialClientID                    = "client_id"
	CredentialClientSecret                = "client_secret"
	CredentialIssuer                      = "issuer"
	CredentialAuthorizationEndpoint       = "authorization_endpoint"
	CredentialTokenEndpoint               = "token_endpoint"
	CredentialDeviceAuthorizationEndpoint = "device_authorization_endpoint"
	CredentialJWKSURI                     = "jwks_uri"
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
}

// clientState carries what one reconcile learned from step to step.
type clientState struct {
	clientID   string
	policyName string
	policy     snapshot.Policy
	access     EffectiveAccess
	secret     string
	overlap    time.Duration
	// creds is the credentials Secret as read by generatedSecret (empty:
	// not found), so that reconcileCredentials does not read it again.
	creds     *corev1.Secret
	credsRead bool
	// fresh marks the object's first reconcile (it had no finalizer): the
	// credentials Secret and the snapshot entry are created without reading
	// them first (a Secret left by an earlier attempt or by someone else
	// makes the create fail with AlreadyExists, and the retry, no longer
	// fresh, reads it), and no Normal Event is recorded: a new client's
	// generated secret and first Ready are in its status.
	fresh bool
	// generated says generatedSecret made a new secret for the credentials
	// Secret (recorded as an Event once written, unless fresh).
	generated bool
	// blocked stops the remaining steps and removes the snapshot entry:
	// the client must not be served as it is.
	blocked bool
	result  ctrl.Result
}

type clientStep func(context.Context, *oauthv1alpha1.OAuthClient, *clientState) error

// Reconcile runs the steps for one OAuthClient and patches its status once.
func (r *OAuthClientReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &oauthv1alpha1.OAuthClient{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, obj)
	}
	// The reconcile that adds the finalizer is the object's first: nothing
	// it would write can exist yet (see clientState.fresh).
	st := &clientState{fresh: !controllerutil.ContainsFinalizer(obj, Finalizer)}
	if err := addFinalizer(ctx, r.Client, obj); err != nil {
		return ctrl.Result{}, err
	}

	sp := newStatusPatch(obj, &obj.Status.Conditions, &obj.Status.ObservedGeneration)
	defer func() { result, retErr = sp.finish(ctx, r.Client, r.Recorder, result, retErr) }()

	for _, step := range []clientStep{
		r.reconcileClientID,
		r.reconcilePolicy,
		r.reconcileSecret,
		r.reconcileCredentials,
		r.reconcileSnapshot,
	} {
		err := step(ctx, obj, st)
		if st.blocked {
			obj.Status.PreviousSecretValidUntil = nil
			if rmErr := r.snapshots().remove(ctx, snapshotSecretName(snapshot.KindClient, obj.UID)); rmErr != nil && !isTerminal(err) {
				return ctrl.Result{}, errors.Join(err, rmErr)
			}
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		if st.blocked {
			return st.result, nil
		}
	}
	return st.result, nil
}

// reconcileDelete removes the snapshot entry and the Secrets the client
// owns (garbage collection would too; doing it here makes it immediate),
// then the finalizer.
func (r *OAuthClientReconciler) reconcileDelete(ctx context.Context, obj *oauthv1alpha1.OAuthClient) error {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	if err := r.snapshots().remove(ctx, snapshotSecretName(snapshot.KindClient, obj.UID)); err != nil {
		return err
	}
	names := []string{obj.Name + CredentialsSecretSuffix}
	if obj.Spec.Secret != nil {
		names = append(names, obj.Spec.Secret.SecretRef.Name)
	}
	for _, name := range names {
		secret := &corev1.Secret{}
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, secret)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if metav1.IsControlledBy(secret, obj) {
			if err := client.IgnoreNotFound(r.Delete(ctx, secret)); err != nil {
				return err
			}
		}
	}
	patch := client.MergeFrom(obj.DeepCopy())
	controllerutil.RemoveFinalizer(obj, Finalizer)
	return client.IgnoreNotFound(r.Patch(ctx, obj, patch))
}

// reconcileClientID claims the effective clientID among all namespaces: the
// oldest client using it keeps it. Sets ClientIDAvailable; on a conflict
// Ready=False with ClientIDConflict, and the client is Stalled (it is
// requeued when the other client goes away).
func (r *OAuthClientReconciler) reconcileClientID(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) error {
	st.clientID = EffectiveClientID(obj)
	obj.Status.ClientID = st.clientID
	list := &oauthv1alpha1.OAuthClientList{}
	if err := r.List(ctx, list, client.MatchingFields{IndexClientID: st.clientID}); err != nil {
		return err
	}
	owner := ClientIDOwner(append(list.Items, *obj))
	if owner != nil && owner.UID != obj.UID {
		msg := fmt.Sprintf("clientID %s is already used by OAuthClient %s/%s, which is older; this client is not served. Delete one of them, or recreate this one with another spec.clientID",
			st.clientID, owner.Namespace, owner.Name)
		setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.ClientIDAvailableCondition, metav1.ConditionFalse, oauthv1alpha1.ClientIDConflictReason, msg)
		setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.ClientIDConflictReason, msg)
		st.blocked = true
		return reconcile.TerminalError(errors.New(msg))
	}
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.ClientIDAvailableCondition, metav1.ConditionTrue, oauthv1alpha1.ClaimedReason,
		fmt.Sprintf("clientID %s belongs to this client", st.clientID))
	return nil
}

// reconcilePolicy resolves the GrantPolicy (grantPolicyRef, else the
// namespace's "default", else the built-in defaults) and intersects the
// client's grant types and scopes with it. Sets PolicyResolved,
// GrantTypesAllowed and ScopesAllowed; Ready=False with PolicyNotFound
// (waiting for the policy), InvalidSpec or NoUsableGrant (stalled).
func (r *OAuthClientReconciler) reconcilePolicy(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) error {
	gen := obj.Generation
	name := policyLookupName(obj)
	policy := &oauthv1alpha1.GrantPolicy{}
	err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, policy)
	var spec oauthv1alpha1.GrantPolicySpec
	switch {
	case apierrors.IsNotFound(err) && obj.Spec.GrantPolicyRef != nil:
		msg := fmt.Sprintf("GrantPolicy %s does not exist in namespace %s; the client is not served (requests get invalid_client) until it is created or grantPolicyRef names another policy", name, obj.Namespace)
		setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionFalse, oauthv1alpha1.PolicyNotFoundReason, msg)
		setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.PolicyNotFoundReason, msg)
		obj.Status.GrantPolicy = ""
		st.blocked = true
		st.result = ctrl.Result{RequeueAfter: waitInterval}
		return nil
	case apierrors.IsNotFound(err):
		spec = BuiltinPolicy()
		setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.BuiltinDefaultsReason,
			fmt.Sprintf("no grantPolicyRef and no GrantPolicy named default in namespace %s: the built-in default policy applies", obj.Namespace))
	case err != nil:
		return err
	default:
		spec = policy.Spec
		st.policyName = name
		setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.PolicyFoundReason,
			fmt.Sprintf("GrantPolicy %s governs the client", name))
	}
	obj.Status.GrantPolicy = st.policyName

	compiled, err := CompilePolicy(st.policyName, spec)
	if err != nil {
		msg := fmt.Sprintf("%s cannot be applied: %v", policyDescription(st.policyName), err)
		setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.InvalidSpecReason, msg)
		st.blocked = true
		return reconcile.TerminalError(errors.New(msg))
	}
	st.policy = compiled
	st.access = ComputeAccess(obj.Spec, st.policyName, spec)
	for _, c := range []metav1.Condition{st.access.GrantTypesAllowed, st.access.ScopesAllowed} {
		setCondition(&obj.Status.Conditions, gen, c.Type, c.Status, c.Reason, c.Message)
	}
	obj.Status.GrantTypes = st.access.GrantTypes
	obj.Status.Scopes = st.access.Scopes
	if !st.access.Usable {
		msg := fmt.Sprintf("no grant type the client can use is left under %s: %s. Allow one in the policy, or change spec.grantTypes",
			policyDescription(st.policyName), strings.Join(st.access.Restrictions, "; "))
		setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NoUsableGrantReason, msg)
		st.blocked = true
		return reconcile.TerminalError(errors.New(msg))
	}
	return nil
}

// policyLookupName is the GrantPolicy a client looks for: its
// grantPolicyRef, else "default".
func policyLookupName(obj *oauthv1alpha1.OAuthClient) string {
	if obj.Spec.GrantPolicyRef != nil {
		return obj.Spec.GrantPolicyRef.Name
	}
	return "default"
}

// reconcileSecret finds the client secret of a Confidential client: read
// from the referenced Secret, or generated (into the credentials Secret
// without a reference, into the referenced Secret with onMissing Generate).
// Sets SecretReady; Ready=False with SecretNotFound (waiting), KeyMissing or
// WeakSecret (stalled).
func (r *OAuthClientReconciler) reconcileSecret(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) error {
	gen := obj.Generation
	if clientType(obj.Spec) == oauthv1alpha1.ClientTypePublic {
		setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.PublicClientReason,
			"a Public client has no secret: it sends only client_id, and PKCE protects its authorization codes")
		return nil
	}
	st.overlap = DefaultRotationOverlap
	if obj.Spec.Secret == nil {
		return r.generatedSecret(ctx, obj, st)
	}
	if o := obj.Spec.Secret.RotationOverlap; o != nil {
		st.overlap = o.Duration
	}
	ref := obj.Spec.Secret.SecretRef
	key := ref.Key
	if key == "" {
		key = DefaultClientSecretKey
	}
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: ref.Name}, secret)
	switch {
	case apierrors.IsNotFound(err) && obj.Spec.Secret.OnMissing == oauthv1alpha1.MissingSecretGenerate:
		value, err := GenerateSecret()
		if err != nil {
			return err
		}
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: ref.Name, Labels: map[string]string{LabelManagedBy: ManagedByValue}},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{key: []byte(value)},
		}
		if err := controllerutil.SetControllerReference(obj, secret, r.Scheme()); err != nil {
			return err
		}
		if err := r.Create(ctx, secret); err != nil {
			return err
		}
		if !st.fresh {
			r.Recorder.Eventf(obj, secret, corev1.EventTypeNormal, EventSecretGenerated, "GenerateSecret",
				"generated a 256-bit client secret into Secret %s (key %s), as secret.onMissing is Generate", ref.Name, key)
		}
		st.secret = value
		setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.GeneratedReason,
			fmt.Sprintf("the client secret was generated into Secret %s (key %s), as secret.onMissing is Generate", ref.Name, key))
		return nil
	case apierrors.IsNotFound(err):
		msg := fmt.Sprintf("Secret %s does not exist in namespace %s; token requests get invalid_client until it is created with key %s holding at least %d characters (or set secret.onMissing to Generate)",
			ref.Name, obj.Namespace, key, MinSecretLength)
		return r.secretProblem(obj, st, oauthv1alpha1.SecretNotFoundReason, msg, false)
	case err != nil:
		return err
	}
	value, ok := secret.Data[key]
	if !ok {
		msg := fmt.Sprintf("Secret %s has no key %s; token requests get invalid_client until the key is added (or secret.secretRef.key names the right one)", ref.Name, key)
		return r.secretProblem(obj, st, oauthv1alpha1.KeyMissingReason, msg, true)
	}
	if len(value) < MinSecretLength {
		msg := fmt.Sprintf("the client secret in Secret %s (key %s) is shorter than %d characters and is refused; token requests get invalid_client until it is replaced by a longer one",
			ref.Name, key, MinSecretLength)
		return r.secretProblem(obj, st, oauthv1alpha1.WeakSecretReason, msg, true)
	}
	st.secret = string(value)
	reason, msg := oauthv1alpha1.ReferencedReason, fmt.Sprintf("the client secret is read from Secret %s (key %s)", ref.Name, key)
	if metav1.IsControlledBy(secret, obj) {
		reason, msg = oauthv1alpha1.GeneratedReason, fmt.Sprintf("the client secret was generated into Secret %s (key %s), as secret.onMissing is Generate", ref.Name, key)
	}
	setCondition(&obj.Status.Conditions, gen, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, reason, msg)
	return nil
}

// secretProblem reports a client secret that cannot be used: waiting for it
// (the Secret is watched) or, when stall is set, stalled until the user fixes it.
func (r *OAuthClientReconciler) secretProblem(obj *oauthv1alpha1.OAuthClient, st *clientState, reason, msg string, stall bool) error {
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.SecretReadyCondition, metav1.ConditionFalse, reason, msg)
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, reason, msg)
	st.blocked = true
	if stall {
		return reconcile.TerminalError(errors.New(msg))
	}
	st.result = ctrl.Result{RequeueAfter: waitInterval}
	return nil
}

// generatedSecret keeps the secret generated into the credentials Secret, or
// generates one when there is none yet (or it was removed).
func (r *OAuthClientReconciler) generatedSecret(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) error {
	name := obj.Name + CredentialsSecretSuffix
	creds, err := r.readCredentials(ctx, obj, st)
	if err != nil {
		return err
	}
	st.secret = string(creds.Data[CredentialClientSecret])
	if !metav1.IsControlledBy(creds, obj) || len(st.secret) < MinSecretLength {
		if st.secret, err = GenerateSecret(); err != nil {
			return err
		}
		// The Event is recorded once the credentials Secret holds it.
		st.generated = true
	}
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.GeneratedReason,
		fmt.Sprintf("the client secret was generated into Secret %s (key %s)", name, CredentialClientSecret))
	return nil
}

// readCredentials reads the credentials Secret once per reconcile; a
// missing one is returned empty (no UID).
func (r *OAuthClientReconciler) readCredentials(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (*corev1.Secret, error) {
	if !st.credsRead && st.fresh {
		st.creds, st.credsRead = &corev1.Secret{}, true
	}
	if !st.credsRead {
		creds := &corev1.Secret{}
		err := r.ownedReader().Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name + CredentialsSecretSuffix}, creds)
		if client.IgnoreNotFound(err) != nil {
			return nil, err
		}
		if err != nil {
			creds = &corev1.Secret{}
		}
		st.creds, st.credsRead = creds, true
	}
	return st.creds, nil
}

// reconcileCredentials writes the owned credentials Secret an application
// mounts: client_id, client_secret (Confidential clients) and the endpoint
// URLs. Sets no condition.
func (r *OAuthClientReconciler) reconcileCredentials(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) error {
	name := obj.Name + CredentialsSecretSuffix
	issuer := strings.TrimSuffix(r.Issuer, "/")
	data := map[string][]byte{
		CredentialClientID:                    []byte(st.clientID),
		CredentialIssuer:                      []byte(issuer),
		CredentialAuthorizationEndpoint:       []byte(issuer + "/oauth2/authorize"),
		CredentialTokenEndpoint:               []byte(issuer + "/oauth2/token"),
		CredentialDeviceAuthorizationEndpoint: []byte(issuer + "/oauth2/device_authorization"),
		CredentialJWKSURI:                     []byte(issuer + "/oauth2/jwks"),
	}
	if st.secret != "" {
		data[CredentialClientSecret] = []byte(st.secret)
	}
	secret, err := r.readCredentials(ctx, obj, st)
	switch {
	case err != nil:
		return err
	case secret.UID == "":
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: name, Labels: map[string]string{LabelManagedBy: ManagedByValue}},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}
		if err := controllerutil.SetControllerReference(obj, secret, r.Scheme()); err != nil {
			return err
		}
		if err := r.Create(ctx, secret); err != nil {
			return err
		}
	case !metav1.IsControlledBy(secret, obj):
		return fmt.Errorf("secret %s exists and is not owned by this OAuthClient; delete or rename it so the credentials can be written", name)
	case !maps.EqualFunc(secret.Data, data, bytes.Equal):
		patch := client.MergeFromWithOptions(secret.DeepCopy(), client.MergeFromWithOptimisticLock{})
		secret.Data = data
		if err := r.Patch(ctx, secret, patch); err != nil {
			return err
		}
	}
	if st.generated && !st.fresh {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, EventSecretGenerated, "GenerateSecret",
			"generated a 256-bit client secret into Secret %s", name)
	}
	obj.Status.CredentialsSecretName = name
	return nil
}

// reconcileSnapshot writes the effective client into its snapshot Secret,
// keeping the previous secret's digest valid until the rotation overlap
// ends. Sets Ready (Reconciled, or Disabled) and
// status.previousSecretValidUntil, and requeues when a previous secret expires.
func (r *OAuthClientReconciler) reconcileSnapshot(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) error {
	name := snapshotSecretName(snapshot.KindClient, obj.UID)
	entry := &snapshotEntry{name: name}
	if !st.fresh {
		var err error
		if entry, err = r.snapshots().read(ctx, name); err != nil {
			return err
		}
	}
	existing := entry.doc
	now := r.Clock.Now()
	var digests []snapshot.SecretDigest
	rotated := false
	if st.secret != "" {
		var old []snapshot.SecretDigest
		if existing != nil && existing.Client != nil {
			old = existing.Client.Secrets
		}
		digests, rotated = RotateDigests(old, Digest(st.secret), now, st.overlap)
	}
	doc := CompileClient(ClientInput{Client: obj, ClientID: st.clientID, Policy: st.policy, Access: st.access, Digests: digests})
	if err := r.snapshots().write(ctx, entry, doc); err != nil {
		return err
	}

	last, next := previousValidUntil(digests)
	obj.Status.PreviousSecretValidUntil = nil
	if last != nil {
		obj.Status.PreviousSecretValidUntil = &metav1.Time{Time: *last}
		st.result.RequeueAfter = next.Sub(now) + time.Second
	}
	if rotated {
		note := "the client secret changed; the previous one stopped working at once (rotationOverlap is 0s)"
		if last != nil {
			note = fmt.Sprintf("the client secret changed; the previous one stays valid until %s", last.Format(time.RFC3339))
		}
		r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, EventSecretRotated, "RotateSecret", note)
	}

	if obj.Spec.Disabled {
		setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.DisabledReason,
			"the client is disabled (spec.disabled): every request from it gets invalid_client")
		return nil
	}
	grants := make([]string, 0, len(st.access.GrantTypes))
	for _, g := range st.access.GrantTypes {
		grants = append(grants, string(g))
	}
	msg := fmt.Sprintf("client_id %s is served with grant types %s under %s", st.clientID, strings.Join(grants, ", "), policyDescription(st.policyName))
	if len(st.access.Restrictions) > 0 {
		msg += "; restricted: " + strings.Join(st.access.Restrictions, "; ")
	}
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason, msg)
	return nil
}

func (r *OAuthClientReconciler) snapshots() snapshotStore {
	return snapshotStore{client: r.Client, reader: r.ownedReader(), namespace: r.Namespace}
}

// ownedReader reads the Secrets the controller writes.
func (r *OAuthClientReconciler) ownedReader() client.Reader { return r.Owned }

// SetupWithManager watches OAuthClients, the GrantPolicies they use (spec
// changes only), and Secrets: the metadata of referenced Secrets, and
// through Owned the credentials Secrets and snapshot entries. Needs
// SetupIndexes first.
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
	notOwnCreate := predicate.Funcs{CreateFunc: func(e event.CreateEvent) bool { return !r.writtenByController(e.Object) }}
	// The Secrets the controller writes are watched through the cache they
	// are read from; the metadata watch covers the others (referenced
	// Secrets: CacheOptions leaves ours out of it at the API server, the
	// predicate makes sure).
	notLabelled := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetLabels()[LabelManagedBy] != ManagedByValue })
	return ctrl.NewControllerManagedBy(mgr).
		For(&oauthv1alpha1.OAuthClient{}, generation).
		Named("oauthclient").
		Watches(&oauthv1alpha1.OAuthClient{}, handler.EnqueueRequestsFromMapFunc(r.clientsSharingID), generation).
		Watches(&oauthv1alpha1.GrantPolicy{}, handler.EnqueueRequestsFromMapFunc(r.clientsOfPolicy), generation).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.clientsOfSecret), builder.OnlyMetadata, builder.WithPredicates(notLabelled)).
		WatchesRawSource(source.Kind(r.Owned, client.Object(&corev1.Secret{}), handler.EnqueueRequestsFromMapFunc(r.clientsOfSecret), notOwnCreate)).
		Complete(r)
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
	owner := metav1.GetControllerOf(o)
	if owner != nil && owner.Kind == "OAuthClient" && strings.HasPrefix(owner.APIVersion, oauthv1alpha1.GroupVersion.Group+"/") {
		return owner
	}
	return nil
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

// listRequests lists the OAuthClients of a namespace with an index value.
func listRequests(ctx context.Context, c client.Client, namespace, index, value string) []reconcile.Request {
	list := &oauthv1alpha1.OAuthClientList{}
	if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{index: value}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing clients by index failed", "index", index)
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, item := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&item)})
	}
	return reqs
}
