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
	"fmt"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// beginReconcile marks a new generation Reconciling (kstatus) before any step runs.
func beginReconcile(conditions *[]metav1.Condition, generation, observed int64) {
	if generation != observed {
		apimeta.SetStatusCondition(conditions, metav1.Condition{
			Type:    oauthv1alpha1.ReconcilingCondition,
			Status:  metav1.ConditionTrue,
			Reason:  oauthv1alpha1.ProgressingReason,
			Message: fmt.Sprintf("reconciling generation %d", generation),
		})
	}
}

// isTerminal says whether err asks for no retry: the user must change something.
func isTerminal(err error) bool {
	return err != nil && errors.Is(err, reconcile.TerminalError(nil))
}

// endReconcile settles the kstatus conditions and observedGeneration from
// the outcome of a reconcile: success, waiting or a terminal error move
// observedGeneration; success removes Reconciling and Stalled; waiting for
// a watched object (a waitError) keeps Reconciling, with the waiting reason
// and what it waits for; a success whose Ready waits for the authserver
// replicas (NotYetServed) keeps Reconciling with Ready's reason and message; a terminal error removes Reconciling and sets
// Stalled with the Ready reason; a transient error keeps Reconciling, saying
// why. Ready is always present.
func endReconcile(conditions *[]metav1.Condition, generation int64, observed *int64, err error) {
	if apimeta.FindStatusCondition(*conditions, oauthv1alpha1.ReadyCondition) == nil {
		apimeta.SetStatusCondition(conditions, metav1.Condition{
			Type:    oauthv1alpha1.ReadyCondition,
			Status:  metav1.ConditionUnknown,
			Reason:  oauthv1alpha1.ProgressingReason,
			Message: "reconciling",
		})
	}
	ready := apimeta.FindStatusCondition(*conditions, oauthv1alpha1.ReadyCondition)
	switch wait := waitingOn(err); {
	case err == nil && ready.Reason == oauthv1alpha1.NotYetServedReason:
		// Compiled, not yet served by every replica: still in progress.
		*observed = generation
		apimeta.RemoveStatusCondition(conditions, oauthv1alpha1.StalledCondition)
		setCondition(conditions, generation, oauthv1alpha1.ReconcilingCondition, metav1.ConditionTrue, ready.Reason, ready.Message)
	case err == nil:
		*observed = generation
		apimeta.RemoveStatusCondition(conditions, oauthv1alpha1.ReconcilingCondition)
		apimeta.RemoveStatusCondition(conditions, oauthv1alpha1.StalledCondition)
	case wait != nil:
		*observed = generation
		apimeta.RemoveStatusCondition(conditions, oauthv1alpha1.StalledCondition)
		setCondition(conditions, generation, oauthv1alpha1.ReconcilingCondition, metav1.ConditionTrue, wait.reason, wait.Error())
	case isTerminal(err):
		*observed = generation
		apimeta.RemoveStatusCondition(conditions, oauthv1alpha1.ReconcilingCondition)
		apimeta.SetStatusCondition(conditions, metav1.Condition{
			Type:    oauthv1alpha1.StalledCondition,
			Status:  metav1.ConditionTrue,
			Reason:  ready.Reason,
			Message: ready.Message,
		})
	default:
		apimeta.RemoveStatusCondition(conditions, oauthv1alpha1.StalledCondition)
		apimeta.SetStatusCondition(conditions, metav1.Condition{
			Type:    oauthv1alpha1.ReconcilingCondition,
			Status:  metav1.ConditionTrue,
			Reason:  oauthv1alpha1.ProgressingReason,
			Message: fmt.Sprintf("retrying after an error: %v", err),
		})
	}
	for i := range *conditions {
		if (*conditions)[i].ObservedGeneration == 0 && !foreignCondition((*conditions)[i].Type) {
			(*conditions)[i].ObservedGeneration = generation
		}
	}
}

// foreignCondition says whether a condition type belongs to the
// authorization server (oauthv1alpha1.AuthServerConditions). The controllers
// never change those: the status patch is a JSON merge patch, which replaces
// the whole conditions list, so it carries them exactly as read, and the
// optimistic lock (resourceVersion) makes the patch fail with a conflict
// rather than overwrite a newer write by the authorization server. The
// conflict runs the reconcile again on the fresh object (retryStale).
func foreignCondition(typ string) bool {
	return slices.Contains(oauthv1alpha1.AuthServerConditions, typ)
}

// staleRetry is how soon a reconcile whose status patch met a newer version
// of the object runs again.
const staleRetry = 100 * time.Millisecond

// staleReadError marks a reconcile that took its object for new
// (firstReconcile) and met AlreadyExists creating what it writes: the
// object was read from the cache before the previous reconcile's finalizer
// patch reached it (a reconcile woken by a replica's acknowledgement can
// come that soon), or an earlier reconcile wrote what it writes but no
// status (a status patch that met a conflict, a manager restarted in
// between). It cannot last: the next reconcile of the object reads first
// (freshMisses).
type staleReadError struct{ error }

// freshMisses remembers the objects whose reconcile met a staleReadError,
// so that their next reconcile is not taken for the first
// (firstReconcile): with the admission policy's finalizer and no status
// yet, nothing else would tell it. The zero value is ready to use; an
// entry lives from the miss to the next reconcile.
type freshMisses struct {
	mu sync.Mutex
	m  map[types.NamespacedName]types.UID
}

// staleFresh wraps err as a staleReadError, and remembers obj, when a
// reconcile that took its object for new (fresh) met AlreadyExists
// creating what it writes.
func (f *freshMisses) staleFresh(obj client.Object, fresh bool, err error) error {
	if !fresh || !apierrors.IsAlreadyExists(err) {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[types.NamespacedName]types.UID{}
	}
	f.m[client.ObjectKeyFromObject(obj)] = obj.GetUID()
	return staleReadError{err}
}

// take says whether a reconcile of obj (the same UID) missed, and forgets it.
func (f *freshMisses) take(obj client.Object) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := client.ObjectKeyFromObject(obj)
	uid, ok := f.m[key]
	delete(f.m, key)
	return ok && uid == obj.GetUID()
}

// retryStale handles the error of a status patch made from a stale read: a
// conflict runs the reconcile again shortly on the fresh object (the
// OAuthClient controller ignores status-only watch events, so the event of
// the newer write may never come); a deleted object needs nothing more.
func retryStale(err error) (ctrl.Result, error) {
	switch {
	case apierrors.IsConflict(err):
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	case apierrors.IsNotFound(err):
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, err
}

// setCondition sets one condition for the given generation.
func setCondition(conditions *[]metav1.Condition, generation int64, typ string, status metav1.ConditionStatus, reason, message string) {
	apimeta.SetStatusCondition(conditions, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: generation,
	})
}

// readyState is the Ready condition's status and reason, to notice changes.
type readyState struct {
	status metav1.ConditionStatus
	reason string
}

func currentReady(conditions []metav1.Condition) readyState {
	if c := apimeta.FindStatusCondition(conditions, oauthv1alpha1.ReadyCondition); c != nil {
		return readyState{status: c.Status, reason: c.Reason}
	}
	return readyState{}
}

// statusPatch is a reconcile's one status write, Cluster API's patch helper
// reduced to status: it remembers the object as read and marks a new
// generation Reconciling; finish settles the kstatus conditions and
// observedGeneration, patches status with an optimistic lock and records a
// change of Ready as an Event. Use it as
//
//	sp := newStatusPatch(obj, &obj.Status.Conditions, &obj.Status.ObservedGeneration)
//	defer func() { result, retErr = sp.finish(ctx, r.Client, r.Recorder, result, retErr) }()
type statusPatch struct {
	obj        client.Object
	base       client.Object
	conditions *[]metav1.Condition
	observed   *int64
	before     readyState
	// hold skips the write of a reconcile that ends without an error (see
	// holdFor).
	hold bool
}

// holdFor holds the status write when a done outcome asks for it
// (outcome.holdStatus).
func (sp *statusPatch) holdFor(out outcome) {
	sp.hold = !out.blocked() && out.holdStatus
}

func newStatusPatch(obj client.Object, conditions *[]metav1.Condition, observed *int64) *statusPatch {
	sp := &statusPatch{
		obj:        obj,
		base:       obj.DeepCopyObject().(client.Object),
		conditions: conditions,
		observed:   observed,
		before:     currentReady(*conditions),
	}
	beginReconcile(conditions, obj.GetGeneration(), *observed)
	return sp
}

// changed says whether the object differs from what was read (a deep
// comparison: cheaper than computing the merge patch twice).
func (sp *statusPatch) changed() bool {
	return !equality.Semantic.DeepEqual(sp.base, sp.obj)
}

// finish writes the status for a reconcile that returned (result, err) and
// returns what Reconcile should return: a waitError is settled here and not
// returned (the result holds the requeue). Nothing is written when the
// status did not change; a patch that meets a newer version runs the
// reconcile again shortly (retryStale).
func (sp *statusPatch) finish(ctx context.Context, c client.Client, rec events.EventRecorder, result ctrl.Result, err error) (ctrl.Result, error) {
	if errors.As(err, new(staleReadError)) {
		// Nothing to report: the same reconcile, on a fresh read, shortly.
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	}
	endReconcile(sp.conditions, sp.obj.GetGeneration(), sp.observed, err)
	if waitingOn(err) != nil {
		err = nil
	}
	if !sp.changed() || (sp.hold && err == nil) {
		// Nothing to write: a reconcile that changed nothing costs the API
		// server no request (see docs/benchmarks.md, API writes per client).
		return result, err
	}
	if patchErr := c.Status().Patch(ctx, sp.obj, client.MergeFromWithOptions(sp.base, client.MergeFromWithOptimisticLock{})); patchErr != nil {
		return retryStale(patchErr)
	}
	recordReadyChange(rec, sp.obj, *sp.conditions, sp.before)
	return result, err
}
