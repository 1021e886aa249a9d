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

// Package served publishes what an authserver replica serves: one
// coordination.k8s.io/v1 Lease per replica in the operator namespace
// (snapshot.ServedLeasePrefix + replica), renewed periodically, whose
// annotation snapshot.AnnotationServedRevision holds the snapshot revision
// the replica's registry serves. The manager reads these Leases to set
// Ready only once every live replica serves a change.
//
// API writes per replica: one per rebuild at most (bursts of rebuilds are
// coalesced into one write per Debounce), plus one renewal per Renew
// interval without changes. They do not depend on the number of clients.
package served

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/authops/authops/authserver/snapshot"
)

// Defaults of Publisher.
const (
	DefaultLeaseDuration = 30 * time.Second
	DefaultRenew         = 10 * time.Second
	DefaultDebounce      = 100 * time.Millisecond
)

// Publisher keeps one replica's Lease. Served records a new revision; Run
// writes it.
type Publisher struct {
	Client    kubernetes.Interface
	Namespace string
	// Replica names the replica (the pod): the Lease is
	// snapshot.ServedLeasePrefix + Replica and its holderIdentity.
	Replica string
	Log     *slog.Logger
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// LeaseDuration is leaseDurationSeconds (default 30s): a replica
	// that has not renewed for that long counts as gone.
	LeaseDuration time.Duration
	// Renew is the renewal interval without changes (default 10s).
	Renew time.Duration
	// Debounce is the least time between two writes of a new revision
	// (default 100ms): the first change after a quiet period is written
	// at once, a burst is coalesced.
	Debounce time.Duration

	mu      sync.Mutex
	rev     int64
	changed chan struct{}
	once    sync.Once

	lease *coordinationv1.Lease // the last Lease written or read
	// Writes counts the Lease writes (create, update), for tests and
	// metrics.
	writes int
}

// Name is the Lease name of a replica.
func Name(replica string) string { return snapshot.ServedLeasePrefix + replica }

func (p *Publisher) init() {
	p.once.Do(func() {
		p.changed = make(chan struct{}, 1)
		if p.Clock == nil {
			p.Clock = clock.RealClock{}
		}
		if p.LeaseDuration <= 0 {
			p.LeaseDuration = DefaultLeaseDuration
		}
		if p.Renew <= 0 {
			p.Renew = DefaultRenew
		}
		if p.Debounce <= 0 {
			p.Debounce = DefaultDebounce
		}
		if p.Log == nil {
			p.Log = slog.Default()
		}
	})
}

// Served records that the registry now serves revision rev (the loader's
// Served hook). It never blocks.
func (p *Publisher) Served(rev int64) {
	p.init()
	p.mu.Lock()
	newer := rev > p.rev
	if newer {
		p.rev = rev
	}
	p.mu.Unlock()
	if newer {
		select {
		case p.changed <- struct{}{}:
		default:
		}
	}
}

// Writes returns how many Lease writes Run has made.
func (p *Publisher) Writes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writes
}

// Run writes the Lease when the revision changes (debounced) and renews it
// every Renew, until ctx ends. A failed write is logged and retried at the
// next change or renewal.
func (p *Publisher) Run(ctx context.Context) {
	p.init()
	published := int64(-1)
	var last time.Time
	renew := p.Clock.NewTicker(p.Renew)
	defer renew.Stop()
	for {
		renewal := false
		select {
		case <-ctx.Done():
			return
		case <-renew.C():
			renewal = true
		case <-p.changed:
			if wait := p.Debounce - p.Clock.Since(last); !last.IsZero() && wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-p.Clock.After(wait):
				}
			}
		}
		p.mu.Lock()
		rev := p.rev
		p.mu.Unlock()
		if rev == 0 || (!renewal && rev == published) {
			// Nothing loaded yet (a replica that serves nothing
			// acknowledges nothing), or a wake-up for a revision a
			// write after it already carried.
			continue
		}
		if err := p.write(ctx, rev); err != nil {
			p.Log.Error("writing the served Lease failed", "lease", Name(p.Replica), "revision", rev, "error", err)
			continue
		}
		if rev != published {
			p.Log.Debug("served revision published", "lease", Name(p.Replica), "revision", rev)
		}
		published, last = rev, p.Clock.Now()
	}
}

// write creates or updates the Lease with rev and a new renewTime. An
// update is optimistically locked on the last Lease seen; a conflict or a
// missing Lease reads it again once.
func (p *Publisher) write(ctx context.Context, rev int64) error {
	leases := p.Client.CoordinationV1().Leases(p.Namespace)
	for attempt := 0; ; attempt++ {
		if p.lease == nil {
			l, err := leases.Get(ctx, Name(p.Replica), metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				p.count()
				created, err := leases.Create(ctx, p.desired(nil, rev), metav1.CreateOptions{})
				if err != nil {
					if apierrors.IsAlreadyExists(err) && attempt == 0 {
						continue
					}
					return err
				}
				p.lease = created
				return nil
			case err != nil:
				return err
			}
			p.lease = l
		}
		p.count()
		updated, err := leases.Update(ctx, p.desired(p.lease, rev), metav1.UpdateOptions{})
		if err != nil {
			p.lease = nil
			if (apierrors.IsConflict(err) || apierrors.IsNotFound(err)) && attempt == 0 {
				continue
			}
			return err
		}
		p.lease = updated
		return nil
	}
}

func (p *Publisher) count() {
	p.mu.Lock()
	p.writes++
	p.mu.Unlock()
}

// desired is the Lease to write: old (nil to create) with the holder,
// duration, renewTime, labels and revision set.
func (p *Publisher) desired(old *coordinationv1.Lease, rev int64) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: Name(p.Replica), Namespace: p.Namespace}}
	if old != nil {
		l = old.DeepCopy()
	}
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	l.Labels[snapshot.LabelManagedBy] = snapshot.ManagedBy
	l.Labels[snapshot.LabelServed] = "true"
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[snapshot.AnnotationServedRevision] = strconv.FormatInt(rev, 10)
	holder := p.Replica
	secs := int32(p.LeaseDuration / time.Second)
	now := metav1.NewMicroTime(p.Clock.Now())
	l.Spec.HolderIdentity = &holder
	l.Spec.LeaseDurationSeconds = &secs
	l.Spec.RenewTime = &now
	if l.Spec.AcquireTime == nil {
		l.Spec.AcquireTime = &now
	}
	return l
}
