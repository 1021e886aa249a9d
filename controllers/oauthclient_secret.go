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

// reconcileSecret finds the client secret of a Confidential client: read
// from the referenced Secret, or generated (into the credentials Secret
// without a reference, into the referenced Secret with onMissing Generate).
// Sets SecretReady; Ready=False with SecretNotFound (waiting), KeyMissing or
// WeakSecret (stalled).
func (r *OAuthClientReconciler) reconcileSecret(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (outcome, error) {
	if clientType(obj.Spec) == oauthv1alpha1.ClientTypePublic {
		setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.PublicClientReason,
			"a Public client has no secret: it sends only client_id, and PKCE protects its authorization codes")
		return proceed, nil
	}
	st.overlap = DefaultRotationOverlap
	if obj.Spec.Secret == nil {
		return proceed, r.generatedSecret(ctx, obj, st)
	}
	if o := obj.Spec.Secret.RotationOverlap; o != nil {
		st.overlap = o.Duration
	}
	return r.referencedSecret(ctx, obj, st)
}

// referencedSecret reads the client secret from secret.secretRef, or
// generates it there when the Secret is missing and onMissing is Generate.
func (r *OAuthClientReconciler) referencedSecret(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (outcome, error) {
	ref := obj.Spec.Secret.SecretRef
	key := ref.Key
	if key == "" {
		key = DefaultClientSecretKey
	}
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: ref.Name}, secret)
	switch {
	case apierrors.IsNotFound(err) && obj.Spec.Secret.OnMissing == oauthv1alpha1.MissingSecretGenerate:
		return proceed, r.generateReferencedSecret(ctx, obj, st, ref.Name, key)
	case apierrors.IsNotFound(err):
		return waitingFor(oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.SecretNotFoundReason, fmt.Sprintf(
			"Secret %s does not exist in namespace %s; token requests get invalid_client until it is created with key %s holding at least %d characters (or set secret.onMissing to Generate)",
			ref.Name, obj.Namespace, key, MinSecretLength)), nil
	case err != nil:
		return proceed, err
	}
	value, ok := secret.Data[key]
	if !ok {
		return stalledOn(oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.KeyMissingReason, fmt.Sprintf(
			"Secret %s has no key %s; token requests get invalid_client until the key is added (or secret.secretRef.key names the right one)", ref.Name, key)), nil
	}
	if len(value) < MinSecretLength {
		return stalledOn(oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.WeakSecretReason, fmt.Sprintf(
			"the client secret in Secret %s (key %s) is shorter than %d characters and is refused; token requests get invalid_client until it is replaced by a longer one",
			ref.Name, key, MinSecretLength)), nil
	}
	st.secret = string(value)
	reason, msg := oauthv1alpha1.ReferencedReason, fmt.Sprintf("the client secret is read from Secret %s (key %s)", ref.Name, key)
	if metav1.IsControlledBy(secret, obj) {
		reason, msg = oauthv1alpha1.GeneratedReason, generatedOnMissing(ref.Name, key)
	}
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, reason, msg)
	return proceed, nil
}

// generateReferencedSecret creates the missing referenced Secret, owned by
// the client, with a generated secret under key.
func (r *OAuthClientReconciler) generateReferencedSecret(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState, name, key string) error {
	value, err := GenerateSecret()
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: name, Labels: map[string]string{LabelManagedBy: ManagedByValue}},
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
			"generated a 256-bit client secret into Secret %s (key %s), as secret.onMissing is Generate", name, key)
	}
	st.secret = value
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.GeneratedReason,
		generatedOnMissing(name, key))
	return nil
}

// generatedOnMissing is the SecretReady message of a referenced Secret the
// controller generated.
func generatedOnMissing(name, key string) string {
	return fmt.Sprintf("the client secret was generated into Secret %s (key %s), as secret.onMissing is Generate", name, key)
}

// generatedSecret keeps the secret generated into the credentials Secret, or
// generates one when there is none yet (or it was removed); the credentials
// Secret receives it in reconcileCredentials.
func (r *OAuthClientReconciler) generatedSecret(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) error {
	creds, err := r.readCredentials(ctx, obj, st)
	if err != nil {
		return err
	}
	st.secret = string(creds.Data[CredentialClientSecret])
	if !metav1.IsControlledBy(creds, obj) || len(st.secret) < MinSecretLength {
		if st.secret, err = GenerateSecret(); err != nil {
			return err
		}
	}
	setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.GeneratedReason,
		fmt.Sprintf("the client secret was generated into Secret %s (key %s)", obj.Name+CredentialsSecretSuffix, CredentialClientSecret))
	return nil
}

// readCredentials reads the credentials Secret once per reconcile (see
// clientState.creds); a missing one is returned empty (no UID). On the first
// reconcile it is not read: it cannot exist yet (clientState.fresh).
func (r *OAuthClientReconciler) readCredentials(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (*corev1.Secret, error) {
	if st.creds != nil {
		return st.creds, nil
	}
	creds := &corev1.Secret{}
	if !st.fresh {
		err := r.ownedReader().Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name + CredentialsSecretSuffix}, creds)
		if client.IgnoreNotFound(err) != nil {
			return nil, err
		}
		if err != nil {
			creds = &corev1.Secret{}
		}
	}
	st.creds = creds
	return creds, nil
}

// reconcileCredentials writes the owned credentials Secret an application
// mounts: client_id, client_secret (Confidential clients) and the endpoint
// URLs. Sets no condition; records SecretGenerated once the Secret holds a
// secret generatedSecret made.
func (r *OAuthClientReconciler) reconcileCredentials(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (outcome, error) {
	name := obj.Name + CredentialsSecretSuffix
	data := r.credentialsData(st)
	secret, err := r.readCredentials(ctx, obj, st)
	if err != nil {
		return proceed, err
	}
	// generatedSecret keeps the secret the credentials Secret holds, so a
	// secret it does not hold yet was generated by this reconcile.
	generated := obj.Spec.Secret == nil && st.secret != "" && string(secret.Data[CredentialClientSecret]) != st.secret
	switch {
	case secret.UID == "":
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: name, Labels: map[string]string{LabelManagedBy: ManagedByValue}},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}
		if err := controllerutil.SetControllerReference(obj, secret, r.Scheme()); err != nil {
			return proceed, err
		}
		if err := r.Create(ctx, secret); err != nil {
			return proceed, err
		}
	case !metav1.IsControlledBy(secret, obj):
		return proceed, fmt.Errorf("secret %s exists and is not owned by this OAuthClient; delete or rename it so the credentials can be written", name)
	case !maps.EqualFunc(secret.Data, data, bytes.Equal):
		patch := client.MergeFromWithOptions(secret.DeepCopy(), client.MergeFromWithOptimisticLock{})
		secret.Data = data
		if err := r.Patch(ctx, secret, patch); err != nil {
			return proceed, err
		}
	}
	if generated && !st.fresh {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, EventSecretGenerated, "GenerateSecret",
			"generated a 256-bit client secret into Secret %s", name)
	}
	obj.Status.CredentialsSecretName = name
	return proceed, nil
}

// credentialsData is the content of the credentials Secret.
func (r *OAuthClientReconciler) credentialsData(st *clientState) map[string][]byte {
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
	return data
}
