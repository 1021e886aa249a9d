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
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// ServiceAccounts are read (and watched, metadata only) for workload
// identity: a client authenticates as a ServiceAccount of its namespace.
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch

// DefaultJWKSKey is the key of authentication.jwksSecretRef without one.
const DefaultJWKSKey = "jwks.json"

// secretlessCredential is what a client with spec.authentication
// authenticates with, for its snapshot entry.
type secretlessCredential struct {
	serviceAccount *snapshot.ServiceAccount
	jwks           json.RawMessage
}

// reconcileSecretless checks the credential of a client without a secret
// (spec.authentication): the ServiceAccount exists, or the public keys are
// a valid key set. Sets SecretReady: True with ServiceAccount or
// PublicKeys; False with ServiceAccountNotFound or JWKSNotFound (waiting),
// KeyMissing or InvalidJWKS (stalled).
func (r *OAuthClientReconciler) reconcileSecretless(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (outcome, error) {
	a := obj.Spec.Authentication
	switch {
	case a.ServiceAccount != nil:
		return r.serviceAccountCredential(ctx, obj, st, a.ServiceAccount.Name)
	case a.JWKS != nil:
		raw, err := json.Marshal(a.JWKS)
		if err != nil {
			return proceed, err
		}
		return acceptJWKS(obj, st, raw, "spec.authentication.jwks"), nil
	default:
		return r.referencedJWKS(ctx, obj, st, *a.JWKSSecretRef)
	}
}

// serviceAccountCredential finds the ServiceAccount, always in the
// client's own namespace, and remembers its UID: its tokens carry it, so a
// ServiceAccount deleted and created again under the same name does not
// authenticate the client until the client is compiled again.
func (r *OAuthClientReconciler) serviceAccountCredential(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState, name string) (outcome, error) {
	sa := &corev1.ServiceAccount{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, sa)
	switch {
	case apierrors.IsNotFound(err):
		return waitingFor(oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.ServiceAccountNotFoundReason,
			fmt.Sprintf("ServiceAccount %s in namespace %s", name, obj.Namespace), fmt.Sprintf(
				"ServiceAccount %s does not exist in namespace %s; token requests get invalid_client until it is created", name, obj.Namespace)), nil
	case err != nil:
		return proceed, err
	}
	st.secretless.serviceAccount = &snapshot.ServiceAccount{Subject: snapshot.ServiceAccountSubject(obj.Namespace, name), UID: string(sa.UID)}
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ServiceAccountReason,
		fmt.Sprintf("no secret: the client authenticates with a token of ServiceAccount %s (a projected token with audience %s, sent as client_assertion)",
			name, strings.TrimSuffix(r.Issuer, "/")))
	return proceed, nil
}

// referencedJWKS reads the key set from authentication.jwksSecretRef.
func (r *OAuthClientReconciler) referencedJWKS(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState, ref oauthv1alpha1.SecretKeyReference) (outcome, error) {
	key := ref.Key
	if key == "" {
		key = DefaultJWKSKey
	}
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: ref.Name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		return waitingFor(oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.JWKSNotFoundReason,
			fmt.Sprintf("Secret %s in namespace %s", ref.Name, obj.Namespace), fmt.Sprintf(
				"Secret %s does not exist in namespace %s; token requests get invalid_client until it is created with key %s holding the client's public keys (a JWKS)",
				ref.Name, obj.Namespace, key)), nil
	case err != nil:
		return proceed, err
	}
	raw, ok := secret.Data[key]
	if !ok {
		return stalledOn(oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.KeyMissingReason, fmt.Sprintf(
			"Secret %s has no key %s; token requests get invalid_client until the key is added (or authentication.jwksSecretRef.key names the right one)",
			ref.Name, key)), nil
	}
	return acceptJWKS(obj, st, raw, fmt.Sprintf("Secret %s (key %s)", ref.Name, key)), nil
}

// acceptJWKS checks a key set (snapshot.ParseJWKS, the rules the
// authserver applies) and keeps it for the snapshot entry.
func acceptJWKS(obj *oauthv1alpha1.OAuthClient, st *clientState, raw []byte, from string) outcome {
	keys, err := snapshot.ParseJWKS(raw)
	if err != nil {
		return stalledOn(oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.InvalidJWKSReason, fmt.Sprintf(
			"the public keys in %s are refused: %v; token requests get invalid_client until they are fixed", from, err))
	}
	st.secretless.jwks = raw
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.PublicKeysReason,
		fmt.Sprintf("no secret: the client authenticates with private_key_jwt, signed by one of the %d public keys in %s", len(keys), from))
	return proceed
}

// The credentials ConfigMap of a client without a secret is written (and
// read from the manager's cache of the ConfigMaps labelled as ours).
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete

// writeCredentialsConfigMap writes the owned credentials ConfigMap of a
// client with spec.authentication: client_id and the endpoint URLs, what
// the credentials Secret of a client with a secret holds but the secret.
// On the first reconcile it is created without reading it first (see
// secretState.fresh).
func (r *OAuthClientReconciler) writeCredentialsConfigMap(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState, name string) error {
	data := map[string]string{}
	for k, v := range r.credentialsData(st) {
		data[k] = string(v)
	}
	cm := &corev1.ConfigMap{}
	var err error = apierrors.NewNotFound(corev1.Resource("configmaps"), name)
	if !st.fresh {
		err = r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, cm)
	}
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: name, Labels: map[string]string{LabelManagedBy: ManagedByValue}},
			Data:       data,
		}
		if err := controllerutil.SetControllerReference(obj, cm, r.Scheme()); err != nil {
			return err
		}
		return r.Create(ctx, cm)
	case err != nil:
		return err
	case !metav1.IsControlledBy(cm, obj):
		return fmt.Errorf("configmap %s exists and is not owned by this OAuthClient; delete or rename it so the credentials can be written", name)
	case maps.Equal(cm.Data, data) && len(cm.BinaryData) == 0:
		return nil
	}
	patch := client.MergeFromWithOptions(cm.DeepCopy(), client.MergeFromWithOptimisticLock{})
	cm.Data, cm.BinaryData = data, nil
	return r.Patch(ctx, cm, patch)
}

// removeCredentialsConfigMap deletes the owned credentials ConfigMap of a
// client that has a secret again (or never had spec.authentication: the
// cached read finds nothing).
func (r *OAuthClientReconciler) removeCredentialsConfigMap(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState, name string) error {
	if st.fresh {
		return nil
	}
	cm := &corev1.ConfigMap{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, cm); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(cm, obj) {
		return nil
	}
	return client.IgnoreNotFound(r.Delete(ctx, cm, client.Preconditions{UID: &cm.UID}))
}
