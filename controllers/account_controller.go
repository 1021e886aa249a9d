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

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

const (
	// DefaultPasswordKey is the key of passwordSecretRef without one.
	DefaultPasswordKey = "password"
	// BcryptCost is the bcrypt cost of stored password hashes.
	BcryptCost = 10
)

// AccountReconciler compiles Accounts into snapshot Secrets holding a bcrypt
// hash of the password, never the password.
type AccountReconciler struct {
	client.Client
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Namespace is the operator namespace, where snapshot Secrets live.
	Namespace string
	// Owned, when set, is the cache of the Secrets the controllers write
	// (ownedSecrets): the snapshot entries are watched through it, since
	// the manager's metadata watch leaves them out.
	Owned cache.Cache
	// Served tells whether the authserver replicas serve a snapshot
	// revision (see servedGate); nil: Ready means compiled.
	Served *servedGate
}

// accountState carries the password from step to step.
type accountState struct {
	password string
}

// Reconcile compiles one Account and patches its status once.
func (r *AccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &oauthv1alpha1.Account{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.DeletionTimestamp.IsZero() {
		r.Served.forget(req.NamespacedName)
		if err := r.snapshots().remove(ctx, snapshotSecretName(snapshot.KindAccount, obj.UID)); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, removeFinalizer(ctx, r.Client, obj)
	}
	if err := addFinalizer(ctx, r.Client, obj); err != nil {
		return ctrl.Result{}, err
	}

	sp := newStatusPatch(obj, &obj.Status.Conditions, &obj.Status.ObservedGeneration)
	defer func() { result, retErr = sp.finish(ctx, r.Client, r.Recorder, result, retErr) }()

	st := &accountState{}
	password, err := r.reconcilePassword(ctx, obj, st)
	if err != nil {
		return ctrl.Result{}, err
	}
	// An account whose password cannot be used stays in the snapshot
	// without one (see reconcilePassword).
	password.summarize(&obj.Status.Conditions, obj.Generation)
	rev, err := r.reconcileSnapshot(ctx, obj, st)
	if err != nil {
		return ctrl.Result{}, err
	}
	if password.blocked() {
		r.Served.notWaiting(obj, &obj.Status.Conditions)
		obj.Status.ServedReplicas = ""
		return password.result()
	}
	ready, err := r.reconcileReady(ctx, obj, rev)
	if err != nil {
		return ctrl.Result{}, err
	}
	sp.holdFor(ready)
	return ready.result()
}

// reconcilePassword reads the password Secret. Sets PasswordReady; a
// problem is an outcome that sets PasswordReady and Ready False:
// PasswordSecretNotFound (waiting for the Secret) or PasswordEmpty
// (stalled). Either way the account stays in the snapshot without a
// password, so logins fail like a wrong password.
func (r *AccountReconciler) reconcilePassword(ctx context.Context, obj *oauthv1alpha1.Account, st *accountState) (outcome, error) {
	ref := obj.Spec.PasswordSecretRef
	key := ref.Key
	if key == "" {
		key = DefaultPasswordKey
	}
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: ref.Name}, secret)
	if apierrors.IsNotFound(err) {
		return waitingFor(oauthv1alpha1.PasswordReadyCondition, oauthv1alpha1.PasswordSecretNotFoundReason, fmt.Sprintf("Secret %s in namespace %s", ref.Name, obj.Namespace), fmt.Sprintf(
			"Secret %s does not exist in namespace %s; logins as %s fail until it is created with key %s", ref.Name, obj.Namespace, obj.Spec.Username, key)), nil
	}
	if err != nil {
		return proceed, err
	}
	st.password = string(secret.Data[key])
	if st.password == "" {
		return stalledOn(oauthv1alpha1.PasswordReadyCondition, oauthv1alpha1.PasswordEmptyReason, fmt.Sprintf(
			"Secret %s has no key %s, or it is empty; logins as %s fail until a password is set there", ref.Name, key, obj.Spec.Username)), nil
	}
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.PasswordReadyCondition, metav1.ConditionTrue, oauthv1alpha1.PasswordSetReason,
		fmt.Sprintf("the password is read from Secret %s (key %s); only its bcrypt hash is stored", ref.Name, key))
	return proceed, nil
}

// reconcileSnapshot writes the account into its snapshot Secret, hashing the
// password only when the stored hash no longer matches it, and returns the
// revision written. Sets no condition.
func (r *AccountReconciler) reconcileSnapshot(ctx context.Context, obj *oauthv1alpha1.Account, st *accountState) (int64, error) {
	name := snapshotSecretName(snapshot.KindAccount, obj.UID)
	entry, err := r.snapshots().read(ctx, name)
	if err != nil {
		return 0, err
	}
	hash, err := passwordHash(entry.doc, st.password)
	if err != nil {
		return 0, err
	}
	doc := snapshot.Document{
		Kind: snapshot.KindAccount,
		Source: snapshot.Source{
			Kind: "Account", Namespace: obj.Namespace, Name: obj.Name, UID: string(obj.UID), Generation: obj.Generation,
		},
		Account: &snapshot.Account{
			Subject:        obj.Namespace + "/" + obj.Name,
			Namespace:      obj.Namespace,
			Username:       obj.Spec.Username,
			PasswordBcrypt: hash,
			Disabled:       obj.Spec.Disabled,
			Email:          obj.Spec.Email,
			Groups:         obj.Spec.Groups,
			DisplayName:    obj.Spec.DisplayName,
			DisabledCount:  disabledCount(entry.doc, obj.Spec.Disabled),
		},
	}
	if err := r.snapshots().write(ctx, entry, doc); err != nil {
		return 0, err
	}
	rev, _ := snapshot.ParseRevision(entry.written)
	return rev, nil
}

// disabledCount is the account's DisabledCount for the snapshot: the stored
// one, plus one when the account goes from enabled (in the stored
// document) to disabled. The server binds sessions and refresh tokens to
// it, so re-enabling the account does not bring them back.
func disabledCount(existing *snapshot.Document, disabled bool) int64 {
	if existing == nil || existing.Account == nil {
		return 0
	}
	n := existing.Account.DisabledCount
	if disabled && !existing.Account.Disabled {
		n++
	}
	return n
}

// passwordHash is the bcrypt hash of password for the snapshot: the stored
// one while it matches, else a new one; "" without a password.
func passwordHash(existing *snapshot.Document, password string) (string, error) {
	if password == "" {
		return "", nil
	}
	if existing != nil && existing.Account != nil && existing.Account.PasswordBcrypt != "" &&
		bcrypt.CompareHashAndPassword([]byte(existing.Account.PasswordBcrypt), []byte(password)) == nil {
		return existing.Account.PasswordBcrypt, nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hashing the password: %w", err)
	}
	return string(h), nil
}

// reconcileReady sets Ready for an account whose password is usable, once
// every authserver replica serves revision rev: Reconciled, or Disabled;
// NotYetServed until then (see servedGate.readyWhenServed).
func (r *AccountReconciler) reconcileReady(ctx context.Context, obj *oauthv1alpha1.Account, rev int64) (outcome, error) {
	status, reason := metav1.ConditionTrue, oauthv1alpha1.ReconciledReason
	msg := fmt.Sprintf("%s can log in to the clients of namespace %s", obj.Spec.Username, obj.Namespace)
	if obj.Spec.Disabled {
		status, reason = metav1.ConditionFalse, oauthv1alpha1.DisabledReason
		msg = fmt.Sprintf("the account is disabled (spec.disabled): logins as %s get account_disabled", obj.Spec.Username)
	}
	replicas, out, err := r.Served.readyWhenServed(ctx, r.Recorder, obj, &obj.Status.Conditions, rev, status, reason, msg)
	obj.Status.ServedReplicas = replicas
	return out, err
}

func (r *AccountReconciler) snapshots() snapshotStore {
	return snapshotStore{client: r.Client, reader: r.APIReader, namespace: r.Namespace}
}

// SetupWithManager watches Accounts and Secrets: the metadata of password
// Secrets (through IndexPasswordSecret) and, through ownedSecrets when set,
// snapshot entries. Needs SetupIndexes first.
func (r *AccountReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		For(&oauthv1alpha1.Account{}).
		Named("account").
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.accountsOfSecret), builder.OnlyMetadata)
	if r.Owned != nil {
		b = b.WatchesRawSource(source.Kind(r.Owned, client.Object(&corev1.Secret{}), handler.EnqueueRequestsFromMapFunc(r.accountsOfSecret)))
	}
	if r.Served != nil {
		// The replicas' Leases wake the accounts waiting to be served.
		b = b.WatchesRawSource(r.Served.source())
	}
	return b.Complete(r)
}

// accountsOfSecret maps a password Secret to the Accounts using it, and a
// snapshot entry to the Account it was compiled from.
func (r *AccountReconciler) accountsOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	if o.GetNamespace() == r.Namespace && o.GetLabels()[snapshot.LabelSnapshot] == string(snapshot.KindAccount) {
		return sourceRequest(o)
	}
	list := &oauthv1alpha1.AccountList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{IndexPasswordSecret: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing accounts by password Secret failed")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, item := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&item)})
	}
	return reqs
}
