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
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// The secret of an object that authenticates with one, shared by the
// OAuthClient (a Confidential client's secret) and the ResourceServer (its
// introspection credentials) controllers: read from a referenced Secret, or
// generated, and written with the endpoint URLs into a credentials Secret
// the object owns.

// secretHolder is the object whose secret the steps keep, and how they
// talk about it.
type secretHolder struct {
	obj client.Object
	// kind is the object's kind, for messages.
	kind       string
	conditions *[]metav1.Condition
	// spec is the object's secret settings; nil generates the secret into
	// the credentials Secret.
	spec *oauthv1alpha1.ClientSecretSpec
	// credentials is the name of the owned credentials Secret.
	credentials string
	// requests is what gets invalid_client without a secret, such as
	// "token requests".
	requests string
}

// secretState is what the secret steps learn in one reconcile.
type secretState struct {
	// fresh marks the object's first reconcile (see firstReconcile): the
	// credentials Secret and the snapshot entry are created without reading
	// them first (a Secret left by an earlier attempt or by someone else
	// makes the create fail with AlreadyExists, and the retry, no longer
	// fresh, reads it), and no Normal Event is recorded: a new object's
	// generated secret and first Ready are in its status.
	fresh bool
	// secret is the secret ("" for a Public client), overlap how long the
	// previous one stays valid after it changed.
	secret  string
	overlap time.Duration
	// creds is the credentials Secret, read at most once per reconcile (by
	// readCredentials, for generated and writeCredentials): nil until read,
	// empty (no UID) when it does not exist.
	creds *corev1.Secret
	// revision is the snapshot Secret's resourceVersion as the snapshot
	// step wrote it: what every authserver replica must serve (servedGate).
	revision int64
}

// secretSteps reads, generates and writes secrets. owned reads the Secrets
// the controllers write (see ownedSecrets), apiReader the others.
type secretSteps struct {
	client    client.Client
	apiReader client.Reader
	owned     client.Reader
	recorder  events.EventRecorder
}

// find finds the secret: read from the referenced Secret, or generated
// (into the credentials Secret without a reference, into the referenced
// Secret with onMissing Generate). Sets SecretReady; a missing referenced
// Secret waits (SecretNotFound), a missing key (KeyMissing) or a short
// secret (WeakSecret) stalls.
func (s secretSteps) find(ctx context.Context, h secretHolder, st *secretState) (outcome, error) {
	st.overlap = DefaultRotationOverlap
	if h.spec == nil {
		return proceed, s.generated(ctx, h, st)
	}
	if o := h.spec.RotationOverlap; o != nil {
		st.overlap = o.Duration
	}
	return s.referenced(ctx, h, st)
}

// referenced reads the secret from secret.secretRef, or generates it there
// when the Secret is missing and onMissing is Generate.
func (s secretSteps) referenced(ctx context.Context, h secretHolder, st *secretState) (outcome, error) {
	ref := h.spec.SecretRef
	key := ref.Key
	if key == "" {
		key = DefaultClientSecretKey
	}
	ns := h.obj.GetNamespace()
	secret := &corev1.Secret{}
	err := s.apiReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, secret)
	switch {
	case apierrors.IsNotFound(err) && h.spec.OnMissing == oauthv1alpha1.MissingSecretGenerate:
		return proceed, s.generateReferenced(ctx, h, st, ref.Name, key)
	case apierrors.IsNotFound(err):
		return waitingFor(oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.SecretNotFoundReason, fmt.Sprintf("Secret %s in namespace %s", ref.Name, ns), fmt.Sprintf(
			"Secret %s does not exist in namespace %s; %s get invalid_client until it is created with key %s holding at least %d characters (or set secret.onMissing to Generate)",
			ref.Name, ns, h.requests, key, MinSecretLength)), nil
	case err != nil:
		return proceed, err
	}
	value, ok := secret.Data[key]
	if !ok {
		return stalledOn(oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.KeyMissingReason, fmt.Sprintf(
			"Secret %s has no key %s; %s get invalid_client until the key is added (or secret.secretRef.key names the right one)", ref.Name, key, h.requests)), nil
	}
	if len(value) < MinSecretLength {
		return stalledOn(oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.WeakSecretReason, fmt.Sprintf(
			"the client secret in Secret %s (key %s) is shorter than %d characters and is refused; %s get invalid_client until it is replaced by a longer one",
			ref.Name, key, MinSecretLength, h.requests)), nil
	}
	st.secret = string(value)
	reason, msg := oauthv1alpha1.ReferencedReason, fmt.Sprintf("the client secret is read from Secret %s (key %s)", ref.Name, key)
	if metav1.IsControlledBy(secret, h.obj) {
		reason, msg = oauthv1alpha1.GeneratedReason, generatedOnMissing(ref.Name, key)
	}
	setCondition(h.conditions, h.obj.GetGeneration(), oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, reason, msg)
	return proceed, nil
}

// generateReferenced creates the missing referenced Secret, owned by the
// object, with a generated secret under key.
func (s secretSteps) generateReferenced(ctx context.Context, h secretHolder, st *secretState, name, key string) error {
	value, err := GenerateSecret()
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.obj.GetNamespace(), Name: name, Labels: map[string]string{LabelManagedBy: ManagedByValue}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{key: []byte(value)},
	}
	if err := controllerutil.SetControllerReference(h.obj, secret, s.client.Scheme()); err != nil {
		return err
	}
	if err := s.client.Create(ctx, secret); err != nil {
		return err
	}
	if !st.fresh {
		s.recorder.Eventf(h.obj, secret, corev1.EventTypeNormal, EventSecretGenerated, "GenerateSecret",
			"generated a 256-bit client secret into Secret %s (key %s), as secret.onMissing is Generate", name, key)
	}
	st.secret = value
	setCondition(h.conditions, h.obj.GetGeneration(), oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.GeneratedReason,
		generatedOnMissing(name, key))
	return nil
}

// generatedOnMissing is the SecretReady message of a referenced Secret the
// controller generated.
func generatedOnMissing(name, key string) string {
	return fmt.Sprintf("the client secret was generated into Secret %s (key %s), as secret.onMissing is Generate", name, key)
}

// generated keeps the secret generated into the credentials Secret, or
// generates one when there is none yet (or it was removed); the credentials
// Secret receives it in writeCredentials.
func (s secretSteps) generated(ctx context.Context, h secretHolder, st *secretState) error {
	creds, err := s.readCredentials(ctx, h, st)
	if err != nil {
		return err
	}
	st.secret = string(creds.Data[CredentialClientSecret])
	if !metav1.IsControlledBy(creds, h.obj) || len(st.secret) < MinSecretLength {
		if st.secret, err = GenerateSecret(); err != nil {
			return err
		}
	}
	setCondition(h.conditions, h.obj.GetGeneration(), oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.GeneratedReason,
		fmt.Sprintf("the client secret was generated into Secret %s (key %s)", h.credentials, CredentialClientSecret))
	return nil
}

// readCredentials reads the credentials Secret once per reconcile (see
// secretState.creds); a missing one is returned empty (no UID). On the
// first reconcile it is not read: it cannot exist yet (secretState.fresh).
func (s secretSteps) readCredentials(ctx context.Context, h secretHolder, st *secretState) (*corev1.Secret, error) {
	if st.creds != nil {
		return st.creds, nil
	}
	creds := &corev1.Secret{}
	if !st.fresh {
		err := s.owned.Get(ctx, types.NamespacedName{Namespace: h.obj.GetNamespace(), Name: h.credentials}, creds)
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

// writeCredentials writes data into the owned credentials Secret, creating
// it when missing. Records SecretGenerated once the Secret holds a secret
// generated made.
func (s secretSteps) writeCredentials(ctx context.Context, h secretHolder, st *secretState, data map[string][]byte) error {
	secret, err := s.readCredentials(ctx, h, st)
	if err != nil {
		return err
	}
	// generated keeps the secret the credentials Secret holds, so a secret
	// it does not hold yet was generated by this reconcile.
	generated := h.spec == nil && st.secret != "" && string(secret.Data[CredentialClientSecret]) != st.secret
	switch {
	case secret.UID == "":
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: h.obj.GetNamespace(), Name: h.credentials, Labels: map[string]string{LabelManagedBy: ManagedByValue}},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}
		if err := controllerutil.SetControllerReference(h.obj, secret, s.client.Scheme()); err != nil {
			return err
		}
		if err := s.client.Create(ctx, secret); err != nil {
			return err
		}
	case !metav1.IsControlledBy(secret, h.obj):
		return fmt.Errorf("secret %s exists and is not owned by this %s; delete or rename it so the credentials can be written",
			h.credentials, h.kind)
	case !maps.EqualFunc(secret.Data, data, bytes.Equal):
		patch := client.MergeFromWithOptions(secret.DeepCopy(), client.MergeFromWithOptimisticLock{})
		secret.Data = data
		if err := s.client.Patch(ctx, secret, patch); err != nil {
			return err
		}
	}
	if generated && !st.fresh {
		s.recorder.Eventf(h.obj, nil, corev1.EventTypeNormal, EventSecretGenerated, "GenerateSecret",
			"generated a 256-bit client secret into Secret %s", h.credentials)
	}
	return nil
}

// removeCredentials deletes the owned credentials Secret, if there is one
// (a client that now authenticates without a secret). A Secret of that name
// the holder does not control is left alone.
func (s secretSteps) removeCredentials(ctx context.Context, h secretHolder, st *secretState) error {
	secret, err := s.readCredentials(ctx, h, st)
	if err != nil || secret.UID == "" || !metav1.IsControlledBy(secret, h.obj) {
		return err
	}
	err = s.client.Delete(ctx, secret, client.Preconditions{UID: &secret.UID})
	if client.IgnoreNotFound(err) != nil {
		return err
	}
	st.creds = &corev1.Secret{}
	return nil
}

// rotation is what the secret found in a reconcile does to the digests in
// the snapshot entry.
type rotation struct {
	// digests are the valid ones: the current secret's, and the previous
	// ones until the end of their overlap.
	digests []snapshot.SecretDigest
	// last is when the last previous secret stops working (nil with a
	// single secret); requeueAfter when the first does, plus a second.
	last         *time.Time
	requeueAfter time.Duration
	// rotated says the secret changed in this reconcile.
	rotated bool
}

// rotate computes the rotation from the digests of the previous document
// (see RotateDigests). Without a secret (a Public client) there are none.
func rotate(old []snapshot.SecretDigest, st *secretState, now time.Time) rotation {
	if st.secret == "" {
		return rotation{}
	}
	var r rotation
	r.digests, r.rotated = RotateDigests(old, Digest(st.secret), now, st.overlap)
	var next *time.Time
	r.last, next = previousValidUntil(r.digests)
	if next != nil {
		r.requeueAfter = next.Sub(now) + time.Second
	}
	return r
}

// record records SecretRotated when the secret changed.
func (r rotation) record(rec events.EventRecorder, obj client.Object, what string) {
	if !r.rotated {
		return
	}
	note := fmt.Sprintf("the %s changed; the previous one stopped working at once (rotationOverlap is 0s)", what)
	if r.last != nil {
		note = fmt.Sprintf("the %s changed; the previous one stays valid until %s", what, r.last.Format(time.RFC3339))
	}
	rec.Eventf(obj, nil, corev1.EventTypeNormal, EventSecretRotated, "RotateSecret", note)
}
