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
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/authops/authops/authserver/snapshot"
)

const (
	// LabelManagedBy marks every Secret the controllers write (the
	// authserver reads signing keys only from a Secret carrying it).
	LabelManagedBy = snapshot.LabelManagedBy
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = snapshot.ManagedBy
	// AnnotationSource names the object ("<namespace>/<name>") a snapshot
	// Secret was compiled from, so a change to the Secret requeues it.
	AnnotationSource = "oauth.authops.io/source"
	// AnnotationPolicy, on a client's snapshot Secret, names the
	// GrantPolicy the client was compiled under and the digest of that
	// policy as resolved ("<name>@<digest>", see ResolvedPolicy.Digest):
	// the GrantPolicy is served once every entry carries its digest and
	// every replica serves them (GrantPolicyReconciler.reconcileReady).
	AnnotationPolicy = "oauth.authops.io/policy"
)

// snapshotSecretName is the name of the snapshot Secret of one object.
func snapshotSecretName(kind snapshot.Kind, uid types.UID) string {
	return fmt.Sprintf("authops-%s-%s", kind, uid)
}

// snapshotStore reads and writes snapshot Secrets in the operator
// namespace. It reads through reader: the OAuthClient controller's is the
// cache of owned Secrets (ownedSecrets), the Account controller's the API
// server. A cached read may be stale, and the client documents carry
// rotation state (the previous secret's digest) that must not be lost: write
// never overwrites a version it did not read (a create fails with
// AlreadyExists, a patch carries an optimistic lock), so a stale read costs
// a retry, never a lost rotation.
type snapshotStore struct {
	client    client.Client
	reader    client.Reader
	namespace string
}

// snapshotEntry is a snapshot Secret as read: secret is nil when it does
// not exist, doc is nil when it does not exist or holds no valid document
// (it is then rewritten). write takes the entry back, so that one reconcile
// reads each snapshot Secret once.
type snapshotEntry struct {
	name   string
	secret *corev1.Secret
	doc    *snapshot.Document
	// written is the resourceVersion of the Secret after write (also
	// when write found nothing to change).
	written string
}

// read returns the named Secret and its document.
func (s snapshotStore) read(ctx context.Context, name string) (*snapshotEntry, error) {
	e := &snapshotEntry{name: name}
	secret := &corev1.Secret{}
	err := s.reader.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, secret)
	if apierrors.IsNotFound(err) {
		return e, nil
	}
	if err != nil {
		return nil, err
	}
	e.secret = secret
	if doc, err := snapshot.Decode(secret.Data[snapshot.DataKey]); err == nil {
		e.doc = &doc
	}
	return e, nil
}

// readUnlessFresh reads the named Secret, except on an object's first
// reconcile (fresh, see secretState.fresh), when it cannot exist yet.
func (s snapshotStore) readUnlessFresh(ctx context.Context, name string, fresh bool) (*snapshotEntry, error) {
	if fresh {
		return &snapshotEntry{name: name}, nil
	}
	return s.read(ctx, name)
}

// write stores doc in the entry's Secret: it creates the Secret when the
// read found none, and patches it, with an optimistic lock on the version
// read, when its content differs. It records the resourceVersion written
// in e.written: the revision every replica must serve (servedGate). A
// concurrent change makes the write fail with a conflict and the reconcile
// run again on fresh data.
func (s snapshotStore) write(ctx context.Context, e *snapshotEntry, doc snapshot.Document) error {
	return s.writeAnnotated(ctx, e, doc, nil)
}

// writeAnnotated is write, also setting the given annotations on the
// Secret; an empty value removes its annotation.
func (s snapshotStore) writeAnnotated(ctx context.Context, e *snapshotEntry, doc snapshot.Document, extra map[string]string) error {
	data, err := snapshot.Encode(doc)
	if err != nil {
		return fmt.Errorf("compiled an invalid snapshot document: %w", err)
	}
	labels := map[string]string{snapshot.LabelSnapshot: string(doc.Kind), LabelManagedBy: ManagedByValue}
	annotations := map[string]string{}
	if doc.Source.Namespace != "" {
		annotations[AnnotationSource] = doc.Source.Namespace + "/" + doc.Source.Name
	}
	for k, v := range extra {
		annotations[k] = v
	}
	// A retired entry served again.
	annotations[snapshot.AnnotationRetired] = ""
	if e.secret == nil {
		for k, v := range annotations {
			if v == "" {
				delete(annotations, k)
			}
		}
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: e.name, Labels: labels, Annotations: annotations},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{snapshot.DataKey: data},
		}
		if err := s.client.Create(ctx, secret); err != nil {
			return err
		}
		e.written = secret.ResourceVersion
		return nil
	}
	secret := e.secret
	if bytes.Equal(secret.Data[snapshot.DataKey], data) && mapsContain(secret.Labels, labels) && mapsContain(secret.Annotations, annotations) {
		e.written = secret.ResourceVersion
		return nil
	}
	patch := client.MergeFromWithOptions(secret.DeepCopy(), client.MergeFromWithOptimisticLock{})
	secret.Labels = mergeMaps(secret.Labels, labels)
	secret.Annotations = mergeMaps(secret.Annotations, annotations)
	secret.Data = map[string][]byte{snapshot.DataKey: data}
	if err := s.client.Patch(ctx, secret, patch); err != nil {
		return err
	}
	e.written = secret.ResourceVersion
	return nil
}

// retire makes the entry's Secret, if it exists, a retired entry
// (snapshot.AnnotationRetired = reason, no document, the given annotations
// set, an empty value removing one), so that it is served as absent, and
// records the revision written in e.written (empty when there was no
// Secret: nothing was served). Like write, it patches with an optimistic
// lock on the version read.
func (s snapshotStore) retire(ctx context.Context, e *snapshotEntry, reason string, extra map[string]string) error {
	e.written = ""
	if e.secret == nil {
		return nil
	}
	secret := e.secret
	annotations := map[string]string{snapshot.AnnotationRetired: reason}
	for k, v := range extra {
		annotations[k] = v
	}
	if len(secret.Data) == 0 && mapsContain(secret.Annotations, annotations) {
		e.written = secret.ResourceVersion
		return nil
	}
	patch := client.MergeFromWithOptions(secret.DeepCopy(), client.MergeFromWithOptimisticLock{})
	secret.Annotations = mergeMaps(secret.Annotations, annotations)
	secret.Data = nil
	if err := s.client.Patch(ctx, secret, patch); err != nil {
		return err
	}
	e.written = secret.ResourceVersion
	return nil
}

// remove deletes the named Secret; a missing one is fine.
func (s snapshotStore) remove(ctx context.Context, name string) error {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: name}}
	return client.IgnoreNotFound(s.client.Delete(ctx, secret))
}

// mapsContain says whether have holds every entry of want, and none of
// its keys with an empty value.
func mapsContain(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; ok != (v != "") || got != v {
			return false
		}
	}
	return true
}

// mergeMaps sets the entries of src in dst, removing those with an empty
// value.
func mergeMaps(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	for k, v := range src {
		if v == "" {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
	return dst
}

// sourceRequest is the request for the object a snapshot Secret was compiled from.
func sourceRequest(o client.Object) []reconcile.Request {
	ns, name, ok := strings.Cut(o.GetAnnotations()[AnnotationSource], "/")
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
}
