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
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// TestOutcome: a blocked outcome sets its condition and Ready False with the
// same reason and message; waiting requeues after waitInterval with a
// waitError for the status patch (naming what it waits for), stalled ends
// with a terminal error; a done outcome sets nothing.
func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		name       string
		out        outcome
		conditions []string
		requeue    time.Duration
		terminal   bool
		waits      bool
	}{
		{"done", proceed, nil, 0, false, false},
		{"done with a requeue", outcome{requeueAfter: time.Minute}, nil, time.Minute, false, false},
		{"waiting", waitingFor(oauthv1alpha1.SecretReadyCondition, "R", "Secret s in namespace n", "m"), []string{oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.ReadyCondition}, waitInterval, false, true},
		{"stalled", stalledOn(oauthv1alpha1.SecretReadyCondition, "R", "m"), []string{oauthv1alpha1.SecretReadyCondition, oauthv1alpha1.ReadyCondition}, 0, true, false},
		{"stalled, only Ready", stalledOn("", "R", "m"), []string{oauthv1alpha1.ReadyCondition}, 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conds []metav1.Condition
			tc.out.summarize(&conds, 3)
			if len(conds) != len(tc.conditions) {
				t.Fatalf("set %d conditions, want %v", len(conds), tc.conditions)
			}
			for i, typ := range tc.conditions {
				c := conds[i]
				if c.Type != typ || c.Status != metav1.ConditionFalse || c.Reason != "R" || c.Message != "m" || c.ObservedGeneration != 3 {
					t.Errorf("condition %d: %+v, want %s False R m", i, c, typ)
				}
			}
			if tc.out.blocked() != (len(tc.conditions) > 0) {
				t.Errorf("blocked = %v", tc.out.blocked())
			}
			res, err := tc.out.result()
			wait := waitingOn(err)
			if res.RequeueAfter != tc.requeue || isTerminal(err) != tc.terminal || (wait != nil) != tc.waits || (err != nil) != (tc.terminal || tc.waits) {
				t.Errorf("result %+v, %v; want requeue %s, terminal %v, waiting %v", res, err, tc.requeue, tc.terminal, tc.waits)
			}
			if tc.waits && (wait.reason != "R" || !strings.HasPrefix(wait.Error(), "waiting for Secret s in namespace n to be created")) {
				t.Errorf("waitError %+v: %q, want reason R, waiting for the Secret", wait, wait)
			}
			if tc.terminal && !strings.HasSuffix(err.Error(), ": "+apimeta.FindStatusCondition(conds, oauthv1alpha1.ReadyCondition).Message) {
				t.Errorf("terminal error %q does not carry Ready's message", err)
			}
		})
	}
}

func TestSoonest(t *testing.T) {
	for _, tc := range []struct{ a, b, want time.Duration }{
		{0, 0, 0}, {0, 5, 5}, {5, 0, 5}, {3, 5, 3}, {5, 3, 3},
	} {
		if got := soonest(tc.a, tc.b); got != tc.want {
			t.Errorf("soonest(%s, %s) = %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
}
