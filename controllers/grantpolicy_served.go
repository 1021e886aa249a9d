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
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// A GrantPolicy is not compiled into a snapshot entry of its own: the
// OAuthClient controller compiles it into the entry of every client it
// governs, and records on each entry's Secret which version of the policy
// (ResolvedPolicy.Digest) it used (AnnotationPolicy). So a policy is served
// once every entry compiled under it carries its current digest, and every
// live replica serves the newest of those entries. The revision found is
// remembered for the policy's generation and digest: clients created later
// wait for their own Ready, not the policy's, which does not flap back to
// NotYetServed.
//
// A change that leaves a client no usable grant retires that client's
// entry (snapshot.AnnotationRetired: kept, without a document, with the
// policy annotation), a write whose revision counts like the others.

// compileDelay groups the wake-ups of a policy whose change the clients'
// entries are taking: at most one reconcile (and status patch) per policy
// per compileDelay, however many clients it governs.
const compileDelay = 100 * time.Millisecond

// compileRecheck is how soon a policy whose change is being compiled looks
// again without an entry's event: a safety net (one List of its entries).
const compileRecheck = 5 * time.Second

// policyVersion is what a client's snapshot Secret says of its policy.
type policyVersion struct {
	namespace, name, digest string
}

// snapshotPolicy reads the policy version of a client's snapshot Secret.
func snapshotPolicy(o client.Object) (policyVersion, bool) {
	if o.GetLabels()[snapshot.LabelSnapshot] != string(snapshot.KindClient) {
		return policyVersion{}, false
	}
	ns, _, ok := strings.Cut(o.GetAnnotations()[AnnotationSource], "/")
	if !ok {
		return policyVersion{}, false
	}
	name, digest, ok := strings.Cut(o.GetAnnotations()[AnnotationPolicy], "@")
	if !ok || name == "" {
		return policyVersion{}, false
	}
	return policyVersion{namespace: ns, name: name, digest: digest}, true
}

// compiledPolicy is a policy version every client entry carries, and the
// newest revision among those entries.
type compiledPolicy struct {
	generation int64
	digest     string
	revision   int64
	// compiling: not every entry carries the digest yet.
	compiling bool
	// since is when this version was first looked at.
	since time.Time
}

// compiledPolicies remembers, per GrantPolicy, the last version looked at.
type compiledPolicies struct {
	mu sync.Mutex
	m  map[types.NamespacedName]compiledPolicy
}

func (c *compiledPolicies) get(key types.NamespacedName) (compiledPolicy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[key]
	return p, ok
}

func (c *compiledPolicies) set(key types.NamespacedName, p compiledPolicy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[types.NamespacedName]compiledPolicy{}
	}
	c.m[key] = p
}

func (c *compiledPolicies) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

// reconcileReady sets Ready for a valid policy: Reconciled once every
// client entry compiled under it carries this version and every live
// replica serves them; NotYetServed until then, saying how many entries
// carry it or how many replicas serve them.
func (r *GrantPolicyReconciler) reconcileReady(ctx context.Context, obj *oauthv1alpha1.GrantPolicy, resolved ResolvedPolicy, document int64) (outcome, error) {
	msg := readyMessage(obj, resolved)
	if r.Served == nil {
		setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason, msg)
		return proceed, nil
	}
	key := client.ObjectKeyFromObject(obj)
	digest := resolved.Digest()
	p, known := r.compiled.get(key)
	sameVersion := known && p.generation == obj.Generation && p.digest == digest
	if !sameVersion || p.compiling {
		since := r.Clock.Now()
		if sameVersion {
			since = p.since
		}
		// Compiling from before the List: an entry written meanwhile wakes
		// the policy again (compileHandler), whatever the List saw.
		r.compiled.set(key, compiledPolicy{generation: obj.Generation, digest: digest, since: since, compiling: true})
		entries := &corev1.SecretList{}
		if err := r.Owned.List(ctx, entries, client.InNamespace(r.Namespace), client.MatchingFields{IndexSnapshotPolicy: key.String()}); err != nil {
			return proceed, err
		}
		p = compiledPolicy{generation: obj.Generation, digest: digest, since: since}
		done := 0
		for i := range entries.Items {
			v, _ := snapshotPolicy(&entries.Items[i])
			if v.digest != digest {
				continue
			}
			done++
			if rev, ok := snapshot.ParseRevision(entries.Items[i].ResourceVersion); ok && rev > p.revision {
				p.revision = rev
			}
		}
		p.compiling = done < len(entries.Items)
		r.compiled.set(key, p)
		if p.compiling {
			r.Served.forget(key)
			obj.Status.ServedReplicas = ""
			setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NotYetServedReason,
				fmt.Sprintf("compiled into %d of the %d clients' snapshot entries; the OAuthClient controller is applying the change", done, len(entries.Items)))
			// The entries' changes wake the policy (compileHandler). Like
			// NotYetServed, this is not written in the first heldWait.
			if waited := r.Clock.Since(p.since); waited < heldWait {
				return outcome{requeueAfter: heldWait - waited, holdStatus: true}, nil
			}
			return outcome{requeueAfter: compileRecheck}, nil
		}
	}
	replicas, out, err := r.Served.readyWhenServed(ctx, r.Recorder, obj, &obj.Status.Conditions, max(p.revision, document), metav1.ConditionTrue, oauthv1alpha1.ReconciledReason, msg)
	obj.Status.ServedReplicas = replicas
	return out, err
}

// compileHandler queues, compileDelay later, the policy a client's
// snapshot entry was compiled under, while that policy's change is being
// compiled or the policy was not looked at yet (other entry changes
// concern the clients alone).
type compileHandler struct{ compiled *compiledPolicies }

func (h compileHandler) queue(q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
	for _, o := range objs {
		v, ok := snapshotPolicy(o)
		if !ok {
			continue
		}
		key := types.NamespacedName{Namespace: v.namespace, Name: v.name}
		if p, known := h.compiled.get(key); !known || p.compiling {
			q.AddAfter(reconcile.Request{NamespacedName: key}, compileDelay)
		}
	}
}

func (h compileHandler) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.queue(q, e.Object)
}

func (h compileHandler) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.queue(q, e.ObjectOld, e.ObjectNew)
}

func (h compileHandler) Delete(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.queue(q, e.Object)
}

func (compileHandler) Generic(context.Context, event.GenericEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}
