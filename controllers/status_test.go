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
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// TestEndReconcile: each way a reconcile of a new generation ends gives the
// kstatus conditions, observedGeneration and kstatus status documented in
// docs/user-guide.md (Conditions and kstatus).
func TestEndReconcile(t *testing.T) {
	const generation = 2
	for _, tc := range []struct {
		name        string
		out         outcome
		disabled    bool // a done outcome with Ready=False Disabled (a restriction, not an error)
		err         error
		observed    int64
		reconciling string // Reconciling's reason, "" when absent
		stalled     string // Stalled's reason, "" when absent
		kstatus     status.Status
	}{
		{"done", proceed, false, nil, generation, "", "", status.CurrentStatus},
		// Neither Reconciling nor Stalled, as documented; cli-utils reads
		// the remaining Ready=False as InProgress (its Ready fallback).
		{"done, disabled", proceed, true, nil, generation, "", "", status.InProgressStatus},
		{"waiting for a Secret", waitingFor(oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.SecretNotFoundReason, "Secret s in namespace n", "m"), false, nil,
			generation, oauthv1alpha1.SecretNotFoundReason, "", status.InProgressStatus},
		{"stalled", stalledOn("", oauthv1alpha1.NoUsableGrantReason, "m"), false, nil, generation, "", oauthv1alpha1.NoUsableGrantReason, status.FailedStatus},
		{"transient error", proceed, false, errors.New("boom"), 1, oauthv1alpha1.ProgressingReason, "", status.InProgressStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "n", Generation: generation}}
			obj.Status.ObservedGeneration = 1
			conds := &obj.Status.Conditions
			beginReconcile(conds, generation, obj.Status.ObservedGeneration)
			switch {
			case tc.out.blocked():
				tc.out.summarize(conds, generation)
			case tc.disabled:
				setCondition(conds, generation, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.DisabledReason, "disabled")
			default:
				setCondition(conds, generation, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason, "served")
			}
			err := tc.err
			if err == nil {
				_, err = tc.out.result()
			}
			endReconcile(conds, generation, &obj.Status.ObservedGeneration, err)

			if obj.Status.ObservedGeneration != tc.observed {
				t.Errorf("observedGeneration %d, want %d", obj.Status.ObservedGeneration, tc.observed)
			}
			if got := reasonOf(*conds, oauthv1alpha1.ReconcilingCondition); got != tc.reconciling {
				t.Errorf("Reconciling reason %q, want %q", got, tc.reconciling)
			}
			if got := reasonOf(*conds, oauthv1alpha1.StalledCondition); got != tc.stalled {
				t.Errorf("Stalled reason %q, want %q", got, tc.stalled)
			}
			if res, err := kstatusOf(obj); err != nil || res.Status != tc.kstatus {
				t.Errorf("kstatus %+v, %v; want %s", res, err, tc.kstatus)
			}
		})
	}
}

// reasonOf is the reason of the True condition typ, or "".
func reasonOf(conditions []metav1.Condition, typ string) string {
	if c := apimeta.FindStatusCondition(conditions, typ); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason
	}
	return ""
}

// TestStatusPatchStaleAndHeld: a first reconcile that met AlreadyExists
// (its object read before its finalizer patch) and a held NotYetServed
// write nothing; the stale one runs again shortly, without an error. A nil
// client fails the test if the patch is attempted.
func TestStatusPatchStaleAndHeld(t *testing.T) {
	exists := apierrors.NewAlreadyExists(schema.GroupResource{Resource: "secrets"}, "app-oauth-credentials")
	var misses freshMisses
	if err := misses.staleFresh(&oauthv1alpha1.OAuthClient{}, false, exists); !apierrors.IsAlreadyExists(err) || errors.As(err, new(staleReadError)) {
		t.Errorf("staleFresh(not fresh) = %v, want the AlreadyExists error itself", err)
	}
	for _, tc := range []struct {
		name string
		err  error
		hold outcome
	}{
		{"stale first reconcile", misses.staleFresh(&oauthv1alpha1.OAuthClient{}, true, exists), proceed},
		{"held NotYetServed", nil, outcome{holdStatus: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team", Generation: 1}}
			sp := newStatusPatch(obj, &obj.Status.Conditions, &obj.Status.ObservedGeneration)
			sp.holdFor(tc.hold)
			obj.Status.ClientID = "team.app"
			var c client.Client // nil: any write panics
			res, err := sp.finish(context.Background(), c, nil, ctrl.Result{RequeueAfter: time.Second}, tc.err)
			if err != nil {
				t.Fatalf("finish returned %v", err)
			}
			if tc.err != nil && res.RequeueAfter != staleRetry {
				t.Errorf("stale reconcile requeued after %v, want %v", res.RequeueAfter, staleRetry)
			}
			if tc.err == nil && res.RequeueAfter != time.Second {
				t.Errorf("held reconcile requeued after %v, want its own 1s", res.RequeueAfter)
			}
		})
	}
}
