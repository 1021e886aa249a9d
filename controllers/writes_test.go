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
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// Unit tests of what keeps the API writes per client low (see
// docs/benchmarks.md); the envtest suites cover the behaviour end to end.

func unitScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := oauthv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStatusPatchWritesOnlyChanges: a reconcile that changes nothing sends
// no status patch and records no Event; one that changes something sends
// exactly one.
func TestStatusPatchWritesOnlyChanges(t *testing.T) {
	ctx := context.Background()
	obj := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Generation: 1}}
	patches := 0
	c := fake.NewClientBuilder().WithScheme(unitScheme(t)).WithObjects(obj).
		WithStatusSubresource(obj).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			patches++
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		}}).Build()
	rec := events.NewFakeRecorder(10)

	reconcileOnce := func(set func(*oauthv1alpha1.OAuthClient)) {
		t.Helper()
		got := &oauthv1alpha1.OAuthClient{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
			t.Fatal(err)
		}
		sp := newStatusPatch(got, &got.Status.Conditions, &got.Status.ObservedGeneration)
		set(got)
		if _, err := sp.finish(ctx, c, rec, ctrl.Result{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ready := func(o *oauthv1alpha1.OAuthClient) {
		setCondition(&o.Status.Conditions, o.Generation, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason, "served")
		o.Status.ClientID = "ns.c"
	}

	reconcileOnce(ready)
	if patches != 1 || len(rec.Events) != 0 {
		t.Fatalf("first reconcile: %d status patches and %d events, want 1 and none (a new object's first Ready is no Event)", patches, len(rec.Events))
	}
	reconcileOnce(ready)
	reconcileOnce(ready)
	if patches != 1 || len(rec.Events) != 0 {
		t.Fatalf("reconciles that change nothing sent %d more status patches and %d events, want none", patches-1, len(rec.Events))
	}
	reconcileOnce(func(o *oauthv1alpha1.OAuthClient) { ready(o); o.Status.Scopes = []oauthv1alpha1.Scope{"openid"} })
	if patches != 2 || len(rec.Events) != 0 {
		t.Fatalf("a changed status: %d status patches and %d events, want 2 and none (Ready did not change)", patches, len(rec.Events))
	}
	reconcileOnce(func(o *oauthv1alpha1.OAuthClient) {
		setCondition(&o.Status.Conditions, o.Generation, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.DisabledReason, "disabled")
	})
	reconcileOnce(ready)
	if patches != 4 || len(rec.Events) != 2 {
		t.Fatalf("Ready False then True: %d status patches and %d events, want 4 and 2", patches, len(rec.Events))
	}
	for _, want := range []string{"Warning " + oauthv1alpha1.DisabledReason, "Normal " + oauthv1alpha1.ReconciledReason} {
		if got := <-rec.Events; !strings.HasPrefix(got, want) {
			t.Errorf("event %q, want %q", got, want)
		}
	}
}

// TestRetryStale: a status patch that meets a newer version runs the
// reconcile again soon (status-only events do not requeue the client); a
// deleted object needs nothing; other errors are returned.
func TestRetryStale(t *testing.T) {
	gr := schema.GroupResource{Group: oauthv1alpha1.GroupVersion.Group, Resource: "oauthclients"}
	if res, err := retryStale(apierrors.NewConflict(gr, "c", errors.New("changed"))); err != nil || res.RequeueAfter != staleRetry {
		t.Errorf("conflict: got %+v, %v; want a requeue after %s", res, err, staleRetry)
	}
	if res, err := retryStale(apierrors.NewNotFound(gr, "c")); err != nil || res.RequeueAfter != 0 {
		t.Errorf("not found: got %+v, %v; want nothing", res, err)
	}
	boom := errors.New("boom")
	if _, err := retryStale(boom); !errors.Is(err, boom) {
		t.Errorf("other error: got %v, want it returned", err)
	}
}

// TestWrittenByController: the creation of Secrets the controller writes
// does not run a reconcile; users' Secrets do.
func TestWrittenByController(t *testing.T) {
	r := &OAuthClientReconciler{Namespace: "authops-system"}
	owned := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c-oauth-credentials",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: oauthv1alpha1.GroupVersion.String(), Kind: "OAuthClient", Name: "c", UID: "u", Controller: ptr(true)}}}}
	entry := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "authops-system", Name: "authops-client-u",
		Labels: map[string]string{snapshot.LabelSnapshot: string(snapshot.KindClient)}}}
	user := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "backend-secret"}}
	otherOwner := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "x",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "c", UID: "u", Controller: ptr(true)}}}}
	sameLabelElsewhere := entry.DeepCopy()
	sameLabelElsewhere.Namespace = "ns"
	for _, tc := range []struct {
		secret *corev1.Secret
		want   bool
	}{{owned, true}, {entry, true}, {user, false}, {otherOwner, false}, {sameLabelElsewhere, false}} {
		if got := r.writtenByController(tc.secret); got != tc.want {
			t.Errorf("%s/%s: writtenByController = %v, want %v", tc.secret.Namespace, tc.secret.Name, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// recordingQueue records AddAfter calls.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	added []reconcile.Request
	after []time.Duration
}

func (q *recordingQueue) AddAfter(r reconcile.Request, d time.Duration) {
	q.added = append(q.added, r)
	q.after = append(q.after, d)
}

// TestClientCountHandler: a client's creation, deletion or change of policy
// queues the policies it counts towards, countDelay later (a burst shares one
// recount); other changes queue nothing.
func TestClientCountHandler(t *testing.T) {
	ctx := context.Background()
	h := clientCountHandler{}
	named := func(policy string) *oauthv1alpha1.OAuthClient {
		c := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}
		if policy != "" {
			c.Spec.GrantPolicyRef = &oauthv1alpha1.LocalObjectReference{Name: policy}
		}
		return c
	}
	req := func(name string) reconcile.Request {
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: name}}
	}

	q := &recordingQueue{}
	h.Create(ctx, event.CreateEvent{Object: named("strict")}, q)
	h.Delete(ctx, event.DeleteEvent{Object: named("")}, q)
	want := []reconcile.Request{req("strict"), req("default")}
	if len(q.added) != 2 || q.added[0] != want[0] || q.added[1] != want[1] {
		t.Fatalf("create and delete queued %v, want %v", q.added, want)
	}
	for _, d := range q.after {
		if d != countDelay {
			t.Errorf("queued after %s, want %s", d, countDelay)
		}
	}

	q = &recordingQueue{}
	changed := named("strict")
	changed.Spec.DisplayName = "renamed"
	changed.Generation = 2
	h.Update(ctx, event.UpdateEvent{ObjectOld: named("strict"), ObjectNew: changed}, q)
	if len(q.added) != 0 {
		t.Fatalf("an update that keeps the policy queued %v", q.added)
	}
	h.Update(ctx, event.UpdateEvent{ObjectOld: named("strict"), ObjectNew: named("")}, q)
	if len(q.added) != 2 || q.added[0] != req("strict") || q.added[1] != req("default") {
		t.Fatalf("a change of policy queued %v, want both policies", q.added)
	}
}

// TestSnapshotWriteFromStaleRead: the snapshot entry is read from a cache
// (ownedSecrets), so a write from a stale read must fail rather than
// overwrite a newer version: a patch carries the version read (conflict),
// a create of an entry the cache did not have yet fails with AlreadyExists.
func TestSnapshotWriteFromStaleRead(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().WithScheme(unitScheme(t)).Build()
	store := snapshotStore{client: c, reader: c, namespace: "authops-system"}
	policy, err := CompilePolicy("", BuiltinPolicy())
	if err != nil {
		t.Fatal(err)
	}
	doc := func(id string) snapshot.Document {
		return CompileClient(ClientInput{
			Client:   &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "u"}},
			ClientID: id, Policy: policy,
		})
	}

	absent, err := store.read(ctx, "authops-client-u")
	if err != nil || absent.secret != nil {
		t.Fatalf("read of a missing entry: %+v, %v", absent, err)
	}
	if err := store.write(ctx, absent, doc("first")); err != nil {
		t.Fatal(err)
	}
	if err := store.write(ctx, absent, doc("second")); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("a create from a stale read (the entry exists now): got %v, want AlreadyExists", err)
	}

	stale, err := store.read(ctx, "authops-client-u")
	if err != nil || stale.doc == nil || stale.doc.Client.ID != "first" {
		t.Fatalf("read: %+v, %v", stale, err)
	}
	fresh, _ := store.read(ctx, "authops-client-u")
	if err := store.write(ctx, fresh, doc("newer")); err != nil {
		t.Fatal(err)
	}
	if err := store.write(ctx, stale, doc("older")); !apierrors.IsConflict(err) {
		t.Fatalf("a patch from a stale read: got %v, want a conflict", err)
	}
	now, _ := store.read(ctx, "authops-client-u")
	if now.doc.Client.ID != "newer" {
		t.Fatalf("the newer document was overwritten: %q", now.doc.Client.ID)
	}
}
