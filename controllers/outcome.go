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
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// waitInterval is how soon an object that waits for something (a
// GrantPolicy, a referenced client or password Secret) is reconciled again
// without an event. What it waits for is watched, so the watch normally acts
// much sooner; the requeue is a safety net for an event the watch missed.
const waitInterval = 5 * time.Minute

// verdict is what a reconcile step concluded.
type verdict int

const (
	// done: the step did its part; the next one runs.
	done verdict = iota
	// waiting: something the object needs does not exist yet; it is
	// watched, and looked at again after waitInterval at the latest.
	waiting
	// stalled: a configuration the user must fix; nothing is retried
	// until the object or what it refers to changes.
	stalled
)

// outcome is what a reconcile step found. A step returns an error
// separately, for a transient problem: the reconcile is then retried with
// backoff and the outcome is ignored.
type outcome struct {
	verdict verdict
	// condition is the condition a waiting or stalled outcome is about
	// (SecretReady, PolicyResolved, ...); empty when only Ready tells it.
	condition string
	reason    string
	message   string
	// waitsFor, for a waiting outcome, names the object waited for
	// ("Secret app in namespace team-a"), for Reconciling's message.
	waitsFor string
	// requeueAfter, for a done outcome, asks to look again that much later
	// even if nothing changes (0: not needed).
	requeueAfter time.Duration
	// holdStatus, for a done outcome, asks not to write the status this
	// time (see servedGate.readyWhenServed): the object's stored status
	// already says it is in progress.
	holdStatus bool
}

// proceed is the outcome of a step that did its part.
var proceed = outcome{}

// waitingFor says the step waits for object (a watched object, "Secret app
// in namespace team-a") that does not exist yet: condition (when not empty)
// and Ready are set False with reason and message, and the object stays
// Reconciling with reason until it exists (kstatus InProgress, see
// endReconcile).
func waitingFor(condition, reason, object, message string) outcome {
	return outcome{verdict: waiting, condition: condition, reason: reason, message: message, waitsFor: object}
}

// stalledOn says the user must fix something: condition (when not empty)
// and Ready are set False with reason and message, and the reconcile ends
// with a terminal error (kstatus Stalled, see endReconcile).
func stalledOn(condition, reason, message string) outcome {
	return outcome{verdict: stalled, condition: condition, reason: reason, message: message}
}

// blocked says the remaining steps must not run.
func (o outcome) blocked() bool { return o.verdict != done }

// summarize sets the conditions of a waiting or stalled outcome: its
// condition and Ready, both False with the same reason and message. A done
// outcome sets nothing: the step set its conditions itself.
func (o outcome) summarize(conditions *[]metav1.Condition, generation int64) {
	if !o.blocked() {
		return
	}
	if o.condition != "" {
		setCondition(conditions, generation, o.condition, metav1.ConditionFalse, o.reason, o.message)
	}
	setCondition(conditions, generation, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, o.reason, o.message)
}

// result is what Reconcile returns for the outcome: a waiting one looks
// again after waitInterval and carries a waitError to the status patch
// (which sets Reconciling from it and never returns it), a stalled one ends
// with a terminal error carrying its message, a done one requeues after
// requeueAfter.
func (o outcome) result() (ctrl.Result, error) {
	switch o.verdict {
	case waiting:
		return ctrl.Result{RequeueAfter: waitInterval}, &waitError{reason: o.reason, object: o.waitsFor}
	case stalled:
		return ctrl.Result{}, reconcile.TerminalError(errors.New(o.message))
	}
	return ctrl.Result{RequeueAfter: o.requeueAfter}, nil
}

// waitError tells the status patch that the reconcile ended waiting for
// object, as a terminal error tells it that the reconcile stalled:
// endReconcile sets Reconciling with reason, and statusPatch.finish returns
// the requeue without the error (waiting is not a failure: no backoff, no
// error log).
type waitError struct {
	reason string
	object string
}

func (e *waitError) Error() string {
	return fmt.Sprintf("waiting for %s to be created (watched; looked at again every %s at the latest)", e.object, waitInterval)
}

// waitingOn is the waitError err carries, or nil.
func waitingOn(err error) *waitError {
	var w *waitError
	if errors.As(err, &w) {
		return w
	}
	return nil
}

// runSteps runs the steps of a reconcile in order until one returns an
// error or a blocked outcome, which it returns; otherwise it returns a done
// outcome asking for the soonest requeue any step asked for.
func runSteps[O, S any](ctx context.Context, obj O, st S, steps ...func(context.Context, O, S) (outcome, error)) (outcome, error) {
	out := proceed
	for _, step := range steps {
		o, err := step(ctx, obj, st)
		if err != nil || o.blocked() {
			return o, err
		}
		out.requeueAfter = soonest(out.requeueAfter, o.requeueAfter)
		out.holdStatus = out.holdStatus || o.holdStatus
	}
	return out, nil
}

// soonest is the earlier of two requeue delays, 0 meaning none.
func soonest(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}
