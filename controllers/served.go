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
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

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
// (its leader-election Role), and the manager's cache is cluster-wide.
type servedLeases struct{ cache.Cache }

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
	s := servedLeases{c}
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

	mu      sync.Mutex
	pending map[types.NamespacedName]waitingAck
}

// waitingAck is what a waiting object needs, and how many replicas served
// it when its status was last computed.
type waitingAck struct {
	revision int64
	served   int
}

func newServedGate(leases servedLeases, clk clock.PassiveClock, min int) *servedGate {
	return &servedGate{leases: leases, clock: clk, min: min, pending: map[types.NamespacedName]waitingAck{}}
}

// servedCheck is the answer for one object.
type servedCheck struct {
	ok      bool
	message string
	// replicas is "<serving>/<live>", empty without live replicas
	// (status.servedReplicas).
	replicas string
	// requeueAfter, when not ok, is when to look again without a Lease
	// event (a replica behind drops out).
	requeueAfter time.Duration
}

// check says whether rev is served; when it is not, key is remembered
// until a Lease change serves it.
func (g *servedGate) check(ctx context.Context, key types.NamespacedName, rev int64) (servedCheck, error) {
	acks, err := g.acks(ctx)
	if err != nil {
		return servedCheck{}, err
	}
	c := countServed(acks, g.clock.Now(), rev)
	ok, msg := servedVerdict(c, g.min)
	replicas := ""
	if c.live > 0 {
		replicas = fmt.Sprintf("%d/%d", c.served, c.live)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if ok {
		delete(g.pending, key)
		return servedCheck{ok: true, message: msg, replicas: replicas}, nil
	}
	g.pending[key] = waitingAck{revision: rev, served: c.served}
	// A little after the end of the first Lease behind, so that it has
	// ended when looked at; without one (too few replicas live), a Lease
	// event wakes the object and waitInterval is the safety net.
	after := waitInterval
	if c.recheck > 0 {
		after = c.recheck + time.Second
	}
	return servedCheck{message: msg, replicas: replicas, requeueAfter: after}, nil
}

// forget drops an object that no longer waits (deleted, or not served at all).
func (g *servedGate) forget(key types.NamespacedName) {
	g.mu.Lock()
	delete(g.pending, key)
	g.mu.Unlock()
}

func (g *servedGate) acks(ctx context.Context) ([]replicaAck, error) {
	list := &coordinationv1.LeaseList{}
	if err := g.leases.List(ctx, list); err != nil {
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

// nowServed maps a Lease change to the waiting objects it satisfies (and
// stops remembering them) or that more replicas serve now (their status
// says how many: "served by 1 of 2").
func (g *servedGate) nowServed(ctx context.Context, _ client.Object) []reconcile.Request {
	acks, err := g.acks(ctx)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing the served Leases failed")
		return nil
	}
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	var reqs []reconcile.Request
	for key, w := range g.pending {
		c := countServed(acks, now, w.revision)
		if ok, _ := servedVerdict(c, g.min); ok {
			reqs = append(reqs, reconcile.Request{NamespacedName: key})
			delete(g.pending, key)
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
