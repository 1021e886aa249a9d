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

// Package feedback reports what only the data plane sees back into the
// status of the objects users read: an Account's Locked condition and last
// login time, an OAuthClient's AuthErrors condition, and aggregated Warning
// Events. Requests record observations in memory (bounded); a loop turns
// them into at most one status write per object per MinInterval, through a
// [Writer] (server-side apply with the authserver's own field manager, see
// KubeWriter). The controllers' conditions are never touched.
package feedback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/snapshot"
)

// Status is what the authserver writes into one object's status: its own
// conditions and, for an Account, the last login time (nil: unknown, left
// as it is).
type Status struct {
	Conditions    []metav1.Condition
	LastLoginTime *time.Time
}

// ErrGone is wrapped by a Writer's error when the object no longer exists
// as the snapshot named it (deleted, or recreated with another UID): the
// Recorder then forgets it instead of retrying.
var ErrGone = errors.New("the object is gone")

// Writer writes status and Events for the authserver.
type Writer interface {
	// ApplyStatus writes the authserver's part of an object's status.
	ApplyStatus(ctx context.Context, ref snapshot.Source, st Status) error
	// Warn records a Warning Event about the object.
	Warn(ctx context.Context, ref snapshot.Source, reason, message string) error
}

// Clock is the time source (store.Clock satisfies it).
type Clock interface{ Now() time.Time }

type sysClock struct{}

func (sysClock) Now() time.Time { return time.Now() }

// Config configures a Recorder.
type Config struct {
	Writer Writer
	Clock  Clock
	Log    *slog.Logger
	// MinInterval is the least time between two writes (status or Event)
	// for one object (default 30s).
	MinInterval time.Duration
	// ErrorWindow is how far back AuthErrors counts errors; the condition
	// turns False once the window holds none (default 5m).
	ErrorWindow time.Duration
	// MaxObjects bounds the objects remembered at once (default 10000);
	// observations about further objects are dropped (and counted in the
	// log) until some are written and forgotten.
	MaxObjects int
}

const buckets = 10

// Recorder collects observations and writes them back. Its methods are safe
// for concurrent use; a nil *Recorder ignores everything.
type Recorder struct {
	cfg     Config
	mu      sync.Mutex
	objs    map[string]*object
	dropped int
}

type object struct {
	ref       snapshot.Source
	lastWrite time.Time
	// Account state.
	account     bool
	lockedUntil time.Time
	lockEvent   bool // a Locked Event is due
	lastLogin   *time.Time
	loginDirty  bool
	// Client state: error counts in time buckets of ErrorWindow/buckets.
	counts      [buckets]map[oautherr.Code]int
	bucketStart [buckets]time.Time
	unreported  map[oautherr.Code]int // since the last Event
	// What was written last, to write only changes and keep transition times.
	written *metav1.Condition
}

// New returns a Recorder.
func New(cfg Config) *Recorder {
	if cfg.Clock == nil {
		cfg.Clock = sysClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = 30 * time.Second
	}
	if cfg.ErrorWindow <= 0 {
		cfg.ErrorWindow = 5 * time.Minute
	}
	if cfg.MaxObjects <= 0 {
		cfg.MaxObjects = 10000
	}
	return &Recorder{cfg: cfg, objs: map[string]*object{}}
}

func key(ref snapshot.Source) string {
	return ref.Kind + "/" + ref.Namespace + "/" + ref.Name + "/" + ref.UID
}

// get returns the object's state, or nil when memory is full.
func (r *Recorder) get(ref snapshot.Source) *object {
	k := key(ref)
	o := r.objs[k]
	if o == nil {
		if len(r.objs) >= r.cfg.MaxObjects {
			r.dropped++
			return nil
		}
		o = &object{ref: ref}
		r.objs[k] = o
	}
	o.ref = ref // the latest generation
	return o
}

// ClientError records an error response to a client. authorization_pending
// (the normal answer while a device waits) and server errors (not the
// client's doing) are not counted.
func (r *Recorder) ClientError(ref snapshot.Source, code oautherr.Code) {
	if r == nil || ref.Name == "" || code == oautherr.AuthorizationPending || code == oautherr.ServerError {
		return
	}
	now := r.cfg.Clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.get(ref)
	if o == nil {
		return
	}
	width := r.cfg.ErrorWindow / buckets
	i := int(now.UnixNano()/int64(width)) % buckets
	start := now.Truncate(width)
	if !o.bucketStart[i].Equal(start) {
		o.bucketStart[i], o.counts[i] = start, map[oautherr.Code]int{}
	}
	o.counts[i][code]++
	if o.unreported == nil {
		o.unreported = map[oautherr.Code]int{}
	}
	o.unreported[code]++
}

// AccountLocked records that an account is locked until the given time.
func (r *Recorder) AccountLocked(ref snapshot.Source, until time.Time) {
	if r == nil || ref.Name == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.get(ref)
	if o == nil {
		return
	}
	o.account = true
	if until.After(o.lockedUntil) {
		o.lockedUntil = until
		o.lockEvent = true
	}
}

// LoginSucceeded records a successful login of an account.
func (r *Recorder) LoginSucceeded(ref snapshot.Source, at time.Time) {
	if r == nil || ref.Name == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.get(ref)
	if o == nil {
		return
	}
	o.account = true
	t := at.UTC().Truncate(time.Second)
	o.lastLogin, o.loginDirty = &t, true
}

// Run flushes every tick (MinInterval/10, at most 1s) until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	tick := min(r.cfg.MinInterval/10, time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Flush(ctx)
		}
	}
}

// write is one pending write, prepared under the lock and sent outside it.
type write struct {
	o      *object
	status *Status
	cond   *metav1.Condition
	event  [2]string // reason, message
}

// Flush writes what is due: for each object not written within
// MinInterval, its condition when it changed (and the login time), and a
// Warning Event when there is something new to warn about. Objects with
// nothing left to say are forgotten.
func (r *Recorder) Flush(ctx context.Context) {
	for _, w := range r.due(r.cfg.Clock.Now()) {
		r.send(ctx, w)
	}
}

// due prepares, under the lock, the writes due at now, and forgets the
// objects with nothing left to say.
func (r *Recorder) due(now time.Time) []write {
	var due []write
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dropped > 0 {
		r.cfg.Log.Warn("feedback: too many objects to track, observations dropped", "dropped", r.dropped, "max", r.cfg.MaxObjects)
		r.dropped = 0
	}
	for k, o := range r.objs {
		if !o.lastWrite.IsZero() && now.Sub(o.lastWrite) < r.cfg.MinInterval {
			continue
		}
		w, cond := r.pending(o, now)
		if w.status == nil && w.event[0] == "" {
			// Nothing to say: forget settled objects.
			if cond.Status == metav1.ConditionFalse && o.written != nil && !o.loginDirty {
				delete(r.objs, k)
			}
			continue
		}
		o.lastWrite = now
		due = append(due, w)
	}
	return due
}

// pending returns what o has to say at now: its condition, written (with
// the login time) when it changed or the login time did, and a Warning
// Event when there is something new to warn about. The caller holds the
// lock.
func (r *Recorder) pending(o *object, now time.Time) (write, metav1.Condition) {
	w := write{o: o}
	var cond metav1.Condition
	if o.account {
		cond = r.lockedCondition(o, now)
		if o.lockEvent && o.lockedUntil.After(now) {
			w.event = [2]string{oauthv1alpha1.TooManyFailedLoginsReason, cond.Message}
		}
	} else {
		cond = r.errorsCondition(o, now)
		if len(o.unreported) > 0 {
			w.event = [2]string{cond.Reason, fmt.Sprintf("%d failed requests since the last report: %s",
				total(o.unreported), countText(o.unreported))}
		}
	}
	changed := o.written == nil || o.written.Status != cond.Status || o.written.Reason != cond.Reason || o.written.Message != cond.Message
	if changed || o.loginDirty {
		cond.LastTransitionTime = metav1.NewTime(now.UTC().Truncate(time.Second))
		if o.written != nil && o.written.Status == cond.Status {
			cond.LastTransitionTime = o.written.LastTransitionTime
		}
		c := cond
		w.cond = &c
		st := &Status{Conditions: []metav1.Condition{c}}
		if o.loginDirty {
			st.LastLoginTime = o.lastLogin
		}
		w.status = st
	}
	return w, cond
}

// send makes one write, outside the lock, and records what was written. A
// status that fails to be written is tried again at the next flush after
// MinInterval; an object gone from the API server is forgotten.
func (r *Recorder) send(ctx context.Context, w write) {
	ref := w.o.ref
	if w.status != nil {
		if err := r.cfg.Writer.ApplyStatus(ctx, ref, *w.status); err != nil {
			if errors.Is(err, ErrGone) {
				r.mu.Lock()
				delete(r.objs, key(ref))
				r.mu.Unlock()
				r.cfg.Log.Info("feedback: object gone, forgotten", "kind", ref.Kind, "namespace", ref.Namespace, "name", ref.Name, "error", err)
				return
			}
			r.cfg.Log.Error("feedback: writing status failed", "kind", ref.Kind, "namespace", ref.Namespace, "name", ref.Name, "error", err)
			return // retried at the next flush after MinInterval
		}
	}
	if w.event[0] != "" {
		if err := r.cfg.Writer.Warn(ctx, ref, w.event[0], w.event[1]); err != nil {
			r.cfg.Log.Error("feedback: recording an event failed", "kind", ref.Kind, "namespace", ref.Namespace, "name", ref.Name, "error", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if w.cond != nil {
		w.o.written = w.cond
		if w.status.LastLoginTime != nil {
			w.o.loginDirty = false
		}
	}
	if w.event[0] != "" {
		w.o.lockEvent = false
		w.o.unreported = nil
	}
}

func (r *Recorder) lockedCondition(o *object, now time.Time) metav1.Condition {
	if o.lockedUntil.After(now) {
		return metav1.Condition{Type: oauthv1alpha1.LockedCondition, Status: metav1.ConditionTrue,
			Reason: oauthv1alpha1.TooManyFailedLoginsReason, ObservedGeneration: o.ref.Generation,
			Message: fmt.Sprintf("locked after too many failed logins until %s: logins get account_locked until then",
				o.lockedUntil.UTC().Format(time.RFC3339))}
	}
	msg := "logins are not blocked"
	if !o.lockedUntil.IsZero() {
		msg = fmt.Sprintf("the lock ended at %s; logins are not blocked", o.lockedUntil.UTC().Format(time.RFC3339))
	}
	return metav1.Condition{Type: oauthv1alpha1.LockedCondition, Status: metav1.ConditionFalse,
		Reason: oauthv1alpha1.NotLockedReason, Message: msg, ObservedGeneration: o.ref.Generation}
}

func (r *Recorder) errorsCondition(o *object, now time.Time) metav1.Condition {
	counts := map[oautherr.Code]int{}
	for i := range buckets {
		if o.counts[i] != nil && now.Sub(o.bucketStart[i]) < r.cfg.ErrorWindow {
			for c, n := range o.counts[i] {
				counts[c] += n
			}
		}
	}
	if len(counts) == 0 {
		return metav1.Condition{Type: oauthv1alpha1.AuthErrorsCondition, Status: metav1.ConditionFalse,
			Reason: oauthv1alpha1.NoRecentErrorsReason, ObservedGeneration: o.ref.Generation,
			Message: fmt.Sprintf("no failed requests in the last %s", r.cfg.ErrorWindow)}
	}
	return metav1.Condition{Type: oauthv1alpha1.AuthErrorsCondition, Status: metav1.ConditionTrue,
		Reason: Reason(top(counts)), ObservedGeneration: o.ref.Generation,
		Message: fmt.Sprintf("%d failed requests in the last %s: %s", total(counts), r.cfg.ErrorWindow, countText(counts))}
}

// Reason turns an error code into a condition reason: invalid_client →
// InvalidClient.
func Reason(c oautherr.Code) string {
	var b strings.Builder
	for _, part := range strings.Split(string(c), "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// top is the most frequent code (ties: alphabetical).
func top(counts map[oautherr.Code]int) oautherr.Code {
	var best oautherr.Code
	for c, n := range counts {
		if n > counts[best] || (n == counts[best] && (best == "" || c < best)) {
			best = c
		}
	}
	return best
}

func total(counts map[oautherr.Code]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// countText lists the counts, most frequent first: "invalid_client 3, invalid_grant 1".
func countText(counts map[oautherr.Code]int) string {
	codes := make([]oautherr.Code, 0, len(counts))
	for c := range counts {
		codes = append(codes, c)
	}
	slices.SortFunc(codes, func(a, b oautherr.Code) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(string(a), string(b))
	})
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s %d", c, counts[c])
	}
	return strings.Join(parts, ", ")
}
