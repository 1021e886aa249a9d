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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// Ready means served: each authserver replica publishes the snapshot
// revision it serves in a Lease (authserver/served,
// snapshot.ServedLeasePrefix + replica). An object is Ready once every live
// replica (renewTime + leaseDurationSeconds in the future) serves the
// revision of its snapshot Secret (the Secret's resourceVersion as
// written), and at least MinServedReplicas replicas are live. Revisions
// are resourceVersions compared as integers: sound for one API server and
// one resource type (Secrets), see snapshot.ParseRevision.

// replicaAck is one replica's acknowledgement as read from its Lease.
type replicaAck struct {
	name     string
	revision int64
	expires  time.Time
}

// servedCount is what the live replicas serve of one revision.
type servedCount struct {
	live, served int
	// behind names the live replicas that do not serve it yet.
	behind []string
	// recheck is how soon the first replica that is behind drops out
	// (0 when none is behind).
	recheck time.Duration
}

// countServed counts, among the replicas live at now, those serving rev.
func countServed(acks []replicaAck, now time.Time, rev int64) servedCount {
	var c servedCount
	for _, a := range acks {
		if !a.expires.After(now) {
			continue
		}
		c.live++
		if a.revision >= rev {
			c.served++
			continue
		}
		c.behind = append(c.behind, a.name)
		c.recheck = soonest(c.recheck, a.expires.Sub(now))
	}
	slices.Sort(c.behind)
	return c
}

// servedVerdict decides from a count whether the object is served (Ready)
// with min the least number of live replicas, and the message that says so.
func servedVerdict(c servedCount, min int) (ok bool, message string) {
	switch {
	case c.live == 0 && min == 0:
		return true, "compiled into the snapshot (no authserver replica acknowledges what it serves, and --min-served-replicas is 0)"
	case c.live < min:
		return false, fmt.Sprintf("served by %d of %d authserver replicas (waiting for at least %d live replicas, --min-served-replicas)", c.served, c.live, min)
	case c.served < c.live:
		return false, fmt.Sprintf("served by %d of %d authserver replicas (behind: %s)", c.served, c.live, strings.Join(c.behind, ", "))
	}
	return true, fmt.Sprintf("served by %d of %d authserver replicas", c.served, c.live)
}

// ackFromLease reads a replica's acknowledgement; ok is false when the
// Lease does not hold one.
func ackFromLease(l *coordinationv1.Lease) (replicaAck, bool) {
	rev, ok := snapshot.ParseRevision(l.Annotations[snapshot.AnnotationServedRevision])
	if !ok || l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return replicaAck{}, false
	}
	name := strings.TrimPrefix(l.Name, snapshot.ServedLeasePrefix)
	if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
		name = *l.Spec.HolderIdentity
	}
	return replicaAck{name: name, revision: rev,
		expires: l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)}, true
}

// servedLeases is a cache of the replicas' Leases in the operator namespace
// (labelled snapshot.LabelServed): the manager may read Leases only there
// (its leader-election Role), and the manager's cache is cluster-wide. The
// gates of every kind share it, and with it the record of the replicas
// already warned about (one Warning Event per replica and incident, not
// one per object and kind).
type servedLeases struct {
	cache.Cache
	warned *behindWarnings
}

// behindWarnings are the replicas a Warning Event has named as behind
// beyond the bound, each with the revision it did not serve, until it
// serves that revision.
type behindWarnings struct {
	mu       sync.Mutex
	replicas map[string]int64
}

// first records that replica does not serve rev and says whether no
// Warning Event names it yet.
func (w *behindWarnings) first(replica string, rev int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, warned := w.replicas[replica]; warned {
		return false
	}
	w.replicas[replica] = rev
	return true
}

// caughtUp forgets the replicas that now serve the revision they were
// warned about.
func (w *behindWarnings) caughtUp(acks []replicaAck) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range acks {
		if rev, warned := w.replicas[a.name]; warned && a.revision >= rev {
			delete(w.replicas, a.name)
		}
	}
}

// GetCache makes the manager start and sync the cache before the
// controllers.
func (s servedLeases) GetCache() cache.Cache { return s.Cache }

func newServedLeases(ctx context.Context, mgr ctrl.Manager, namespace string) (servedLeases, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultTransform:  cache.TransformStripManagedFields(),
		DefaultNamespaces: map[string]cache.Config{namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&coordinationv1.Lease{}: {Label: labels.SelectorFromSet(labels.Set{snapshot.LabelServed: "true"})},
		},
	})
	if err != nil {
		return servedLeases{}, err
	}
	if _, err := c.GetInformer(ctx, &coordinationv1.Lease{}); err != nil {
		return servedLeases{}, err
	}
	s := servedLeases{Cache: c, warned: &behindWarnings{replicas: map[string]int64{}}}
	return s, mgr.Add(s)
}

// servedGate answers, for one controller, whether a revision is served, and
// remembers the objects that wait for one: a Lease change enqueues only
// those it satisfies (no object is polled), and each waiting reconcile
// requeues itself when the first replica behind would drop out.
type servedGate struct {
	leases servedLeases
	clock  clock.PassiveClock
	// min is --min-served-replicas: how many live replicas Ready needs.
	// 0 also lets an object be Ready with no replica at all (compiled, as
	// the message says).
	min int
	// bound is how long an object may wait for a live replica before the
	// replica is reported behind (--served-lag-bound): condition Served
	// False (ReplicaBehind) on the object and a Warning Event.
	bound time.Duration

	mu      sync.Mutex
	pending map[types.NamespacedName]waitingAck
}

// waitingAck is what a waiting object needs, how many replicas served it
// when its status was last computed, and since when it waits (across
// changes: an object changed again while it waits still waits since the
// first).
type waitingAck struct {
	uid      types.UID
	revision int64
	served   int
	since    time.Time
	// woken: a Lease change served the revision and woke the object; the
	// entry is kept until that reconcile has looked (check), so that it
	// still knows the object was compiled before (compiledBefore: its
	// status may not be written yet, see heldWait), and it no longer
	// counts as waiting.
	woken bool
}

func newServedGate(leases servedLeases, clk clock.PassiveClock, min int, bound time.Duration) *servedGate {
	return &servedGate{leases: leases, clock: clk, min: min, bound: bound, pending: map[types.NamespacedName]waitingAck{}}
}

// servedCheck is the answer for one object.
type servedCheck struct {
	ok      bool
	message string
	// replicas is "<serving>/<live>", empty without live replicas
	// (status.servedReplicas).
	replicas string
	// requeueAfter, when not ok, is when to look again without a Lease
	// event (a replica behind drops out, or the bound passes).
	requeueAfter time.Duration
	// behind, when not ok and the object has waited longer than the
	// bound, names the live replicas that do not serve it, and waited
	// says how long it has waited.
	behind []string
	waited time.Duration
	// first, when not ok, says the object was not waiting before.
	first bool
}

// check says whether rev is served; when it is not, key is remembered
// until a Lease change serves it.
func (g *servedGate) check(ctx context.Context, obj client.Object, rev int64) (servedCheck, error) {
	key := client.ObjectKeyFromObject(obj)
	// Under the lock from reading the Leases to remembering the object: a
	// Lease change is either read here or, once the object is remembered,
	// handled by nowServed (the cache holds a change before its event is
	// handled), never missed between the two.
	g.mu.Lock()
	defer g.mu.Unlock()
	acks, err := g.acks(ctx)
	if err != nil {
		return servedCheck{}, err
	}
	now := g.clock.Now()
	c := countServed(acks, now, rev)
	g.leases.warned.caughtUp(acks)
	ok, msg := servedVerdict(c, g.min)
	replicas := ""
	if c.live > 0 {
		replicas = fmt.Sprintf("%d/%d", c.served, c.live)
	}
	if ok {
		delete(g.pending, key)
		return servedCheck{ok: true, message: msg, replicas: replicas}, nil
	}
	since := now
	w, waiting := g.pending[key]
	waiting = waiting && !w.woken
	if waiting {
		since = w.since
	}
	g.pending[key] = waitingAck{uid: obj.GetUID(), revision: rev, served: c.served, since: since}
	// A little after the end of the first Lease behind, so that it has
	// ended when looked at; without one (too few replicas live), a Lease
	// event wakes the object and waitInterval is the safety net. An object
	// a live replica keeps waiting is looked at again when the bound
	// passes, to report that replica.
	after := waitInterval
	if c.recheck > 0 {
		after = c.recheck + time.Second
	}
	out := servedCheck{message: msg, replicas: replicas, first: !waiting}
	waited := now.Sub(since)
	switch {
	case g.bound <= 0 || len(c.behind) == 0:
	case waited >= g.bound:
		out.behind, out.waited = c.behind, waited
	default:
		after = min(after, g.bound-waited+100*time.Millisecond)
	}
	out.requeueAfter = after
	return out, nil
}

// heldWait is how long an object that starts waiting for the replicas
// goes without NotYetServed being written: the replicas usually serve a
// change well within it, and the Lease change that says so then leads to a
// single status write (Ready) instead of two (docs/benchmarks.md, API
// writes per client). Meanwhile a new generation is in progress for
// Kubernetes clients (observedGeneration is behind: kstatus InProgress,
// kubectl wait waits); a change that is not a new generation (a rotated
// Secret, a policy change recompiling its clients) leaves the previous
// Ready in place that long. A GrantPolicy's own Ready says when a policy
// change is served.
const heldWait = time.Second

// readyWhenServed sets Ready for an object compiled at revision rev: as
// given (status, reason: True Reconciled, or False Disabled) with msg and
// how many replicas serve it, or, while a live
// replica does not serve rev, False with NotYetServed (kstatus
// InProgress: see endReconcile) and an outcome that looks again. When the
// object starts waiting, the outcome holds the status write for up to
// heldWait (outcome.holdStatus). Once the
// object has waited longer than the bound for a live replica, condition
// Served is False (ReplicaBehind) naming the replicas behind, and a
// Warning Event says so (once per replica until it catches up); Served is
// removed otherwise. A nil gate means Ready means compiled. It returns
// status.servedReplicas.
func (g *servedGate) readyWhenServed(ctx context.Context, rec events.EventRecorder, obj client.Object, conditions *[]metav1.Condition,
	rev int64, status metav1.ConditionStatus, reason, msg string) (string, outcome, error) {
	gen := obj.GetGeneration()
	if g == nil {
		setCondition(conditions, gen, oauthv1alpha1.ReadyCondition, status, reason, msg)
		return "", proceed, nil
	}
	served, err := g.check(ctx, obj, rev)
	if err != nil {
		return "", proceed, err
	}
	if len(served.behind) == 0 {
		apimeta.RemoveStatusCondition(conditions, oauthv1alpha1.ServedCondition)
	} else {
		behind := fmt.Sprintf("authserver %s %s %s not served this change for %s", plural(len(served.behind), "replica", "replicas"),
			strings.Join(served.behind, ", "), plural(len(served.behind), "has", "have"), served.waited.Round(time.Second))
		setCondition(conditions, gen, oauthv1alpha1.ServedCondition, metav1.ConditionFalse, oauthv1alpha1.ReplicaBehindReason, behind+
			" (snapshot revision "+strconv.FormatInt(rev, 10)+"); Ready waits until it does, or until its Lease ends. See docs/operations.md")
		for _, r := range served.behind {
			if g.leases.warned.first(r, rev) {
				rec.Eventf(obj, nil, corev1.EventTypeWarning, oauthv1alpha1.ReplicaBehindReason, "Serve",
					"authserver replica %s has not served snapshot revision %d for %s", r, rev, served.waited.Round(time.Second))
			}
		}
	}
	if !served.ok {
		setCondition(conditions, gen, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NotYetServedReason, served.message)
		if served.first {
			return served.replicas, outcome{requeueAfter: min(served.requeueAfter, heldWait), holdStatus: true}, nil
		}
		return served.replicas, outcome{requeueAfter: served.requeueAfter}, nil
	}
	setCondition(conditions, gen, oauthv1alpha1.ReadyCondition, status, reason, msg+"; "+served.message)
	return served.replicas, proceed, nil
}

// compiledBefore says whether an earlier reconcile of obj (the same UID)
// compiled it and waits for the replicas: an object read without its
// finalizer is then a stale read from the cache, not a new object (a
// replica's acknowledgement can wake the next reconcile before the cache
// holds the finalizer patch of the previous one). A nil gate knows nothing.
func (g *servedGate) compiledBefore(obj client.Object) bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	w, ok := g.pending[client.ObjectKeyFromObject(obj)]
	return ok && w.uid == obj.GetUID()
}

// notWaiting ends the wait of an object that is not to be served as it is
// (not served at all, or disabled): it is forgotten, and condition Served
// removed.
func (g *servedGate) notWaiting(obj client.Object, conditions *[]metav1.Condition) {
	apimeta.RemoveStatusCondition(conditions, oauthv1alpha1.ServedCondition)
	g.forget(client.ObjectKeyFromObject(obj))
}

// forget drops an object that no longer waits (deleted, or not served at
// all). A nil gate has nothing to forget.
func (g *servedGate) forget(key types.NamespacedName) {
	if g == nil {
		return
	}
	g.mu.Lock()
	delete(g.pending, key)
	g.mu.Unlock()
}

func (g *servedGate) acks(ctx context.Context) ([]replicaAck, error) { return g.leases.acks(ctx) }

// acks reads every replica's acknowledgement from the cached Leases.
func (s servedLeases) acks(ctx context.Context) ([]replicaAck, error) {
	list := &coordinationv1.LeaseList{}
	if err := s.List(ctx, list); err != nil {
		return nil, err
	}
	acks := make([]replicaAck, 0, len(list.Items))
	for i := range list.Items {
		if a, ok := ackFromLease(&list.Items[i]); ok {
			acks = append(acks, a)
		}
	}
	return acks, nil
}

// servedBy says, from the cached Leases, whether every live replica serves
// rev, with at least min replicas live (servedVerdict).
func (s servedLeases) servedBy(min int, clk clock.PassiveClock) func(context.Context, int64) (bool, error) {
	return func(ctx context.Context, rev int64) (bool, error) {
		acks, err := s.acks(ctx)
		if err != nil {
			return false, err
		}
		ok, _ := servedVerdict(countServed(acks, clk.Now(), rev), min)
		return ok, nil
	}
}

// nowServed maps a Lease change to the waiting objects it satisfies (and
// marks them woken: check forgets them) or that more replicas serve now (their status
// says how many: "served by 1 of 2").
func (g *servedGate) nowServed(ctx context.Context, _ client.Object) []reconcile.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	acks, err := g.acks(ctx)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing the served Leases failed")
		return nil
	}
	now := g.clock.Now()
	var reqs []reconcile.Request
	for key, w := range g.pending {
		if w.woken {
			continue
		}
		c := countServed(acks, now, w.revision)
		if ok, _ := servedVerdict(c, g.min); ok {
			reqs = append(reqs, reconcile.Request{NamespacedName: key})
			w.woken = true
			g.pending[key] = w
		} else if c.served > w.served {
			reqs = append(reqs, reconcile.Request{NamespacedName: key})
			w.served = c.served
			g.pending[key] = w
		}
	}
	return reqs
}

// source is the watch that wakes the waiting objects.
func (g *servedGate) source() source.Source {
	return source.Kind(g.leases.Cache, client.Object(&coordinationv1.Lease{}), handler.EnqueueRequestsFromMapFunc(g.nowServed))
}
