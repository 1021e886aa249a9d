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

package feedback_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/feedback"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store/storetest"
)

type fakeWriter struct {
	mu      sync.Mutex
	applies []applied
	events  []string
	gone    bool
}

type applied struct {
	ref snapshot.Source
	st  feedback.Status
}

func (w *fakeWriter) ApplyStatus(_ context.Context, ref snapshot.Source, st feedback.Status) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applies = append(w.applies, applied{ref, st})
	if w.gone {
		return fmt.Errorf("test: %w", feedback.ErrGone)
	}
	return nil
}

func (w *fakeWriter) Warn(_ context.Context, ref snapshot.Source, reason, msg string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, ref.Name+" "+reason+": "+msg)
	return nil
}

func (w *fakeWriter) take() ([]applied, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a, e := w.applies, w.events
	w.applies, w.events = nil, nil
	return a, e
}

var (
	web   = snapshot.Source{Kind: "OAuthClient", Namespace: "team", Name: "web", UID: "u1", Generation: 3}
	alice = snapshot.Source{Kind: "Account", Namespace: "team", Name: "alice", UID: "u2", Generation: 1}
)

func TestReason(t *testing.T) {
	for code, want := range map[oautherr.Code]string{
		oautherr.InvalidClient: oauthv1alpha1.InvalidClientReason, oautherr.InvalidGrant: oauthv1alpha1.InvalidGrantReason,
		oautherr.UnauthorizedClient: oauthv1alpha1.UnauthorizedClientReason, oautherr.InvalidScope: oauthv1alpha1.InvalidScopeReason,
		oautherr.SlowDown: oauthv1alpha1.SlowDownReason, oautherr.AuthorizationExpired: oauthv1alpha1.AuthorizationExpiredReason,
		oautherr.ExpiredToken: oauthv1alpha1.ExpiredTokenReason, oautherr.AccessDenied: oauthv1alpha1.AccessDeniedReason,
		oautherr.AccountLocked: oauthv1alpha1.AccountLockedReason, oautherr.AccountDisabled: oauthv1alpha1.AccountDisabledReason,
		oautherr.InvalidRequest: oauthv1alpha1.InvalidRequestReason, oautherr.NotSupported: oauthv1alpha1.NotSupportedReason,
		oautherr.UnsupportedGrantType: oauthv1alpha1.UnsupportedGrantTypeReason, oautherr.InvalidTarget: oauthv1alpha1.InvalidTargetReason,
		oautherr.InvalidDPoPProof: oauthv1alpha1.InvalidDPoPProofReason, oautherr.UseDPoPNonce: oauthv1alpha1.UseDPoPNonceReason,
	} {
		if got := feedback.Reason(code); got != want {
			t.Errorf("Reason(%s) = %s, want %s", code, got, want)
		}
	}
}

func TestClientErrors(t *testing.T) {
	clock := storetest.NewFakeClock()
	w := &fakeWriter{}
	r := feedback.New(feedback.Config{Writer: w, Clock: clock, MinInterval: 30 * time.Second, ErrorWindow: 5 * time.Minute})
	ctx := context.Background()
	for range 3 {
		r.ClientError(web, oautherr.InvalidClient)
	}
	r.ClientError(web, oautherr.InvalidGrant)
	r.ClientError(web, oautherr.AuthorizationPending) // not an error worth reporting
	r.Flush(ctx)
	a, ev := w.take()
	if len(a) != 1 || len(ev) != 1 {
		t.Fatalf("applies %v, events %v; want one of each", a, ev)
	}
	c := a[0].st.Conditions[0]
	if c.Type != oauthv1alpha1.AuthErrorsCondition || c.Status != metav1.ConditionTrue || c.Reason != "InvalidClient" ||
		!strings.Contains(c.Message, "invalid_client 3, invalid_grant 1") || c.ObservedGeneration != 3 {
		t.Errorf("condition = %+v", c)
	}
	if !strings.Contains(ev[0], "InvalidClient: 4 failed requests") {
		t.Errorf("event = %q", ev[0])
	}
	// More errors within MinInterval: nothing is written (rate limit), one aggregated write later.
	for range 5 {
		r.ClientError(web, oautherr.SlowDown)
		clock.Advance(time.Second)
		r.Flush(ctx)
	}
	if a, ev := w.take(); len(a)+len(ev) != 0 {
		t.Fatalf("wrote within MinInterval: %v %v", a, ev)
	}
	clock.Advance(30 * time.Second)
	r.Flush(ctx)
	a, ev = w.take()
	if len(a) != 1 || a[0].st.Conditions[0].Reason != "SlowDown" || len(ev) != 1 || !strings.Contains(ev[0], "slow_down 5") {
		t.Fatalf("after MinInterval: %+v %v", a, ev)
	}
	ltt := a[0].st.Conditions[0].LastTransitionTime
	// A quiet window: False, and the object is forgotten afterwards.
	clock.Advance(6 * time.Minute)
	r.Flush(ctx)
	a, ev = w.take()
	if len(a) != 1 || a[0].st.Conditions[0].Status != metav1.ConditionFalse || a[0].st.Conditions[0].Reason != "NoRecentErrors" || len(ev) != 0 {
		t.Fatalf("after a quiet window: %+v %v", a, ev)
	}
	if !a[0].st.Conditions[0].LastTransitionTime.After(ltt.Time) {
		t.Error("the transition to False kept the old transition time")
	}
	clock.Advance(time.Minute)
	r.Flush(ctx)
	if a, ev := w.take(); len(a)+len(ev) != 0 {
		t.Fatalf("a settled object was written again: %v %v", a, ev)
	}
}

func TestAccountLockAndLogin(t *testing.T) {
	clock := storetest.NewFakeClock()
	w := &fakeWriter{}
	r := feedback.New(feedback.Config{Writer: w, Clock: clock})
	ctx := context.Background()
	until := clock.Now().Add(2 * time.Minute)
	r.AccountLocked(alice, until)
	r.Flush(ctx)
	a, ev := w.take()
	if len(a) != 1 || a[0].st.Conditions[0].Status != metav1.ConditionTrue || a[0].st.Conditions[0].Reason != "TooManyFailedLogins" ||
		!strings.Contains(a[0].st.Conditions[0].Message, until.UTC().Format(time.RFC3339)) || a[0].st.LastLoginTime != nil {
		t.Fatalf("lock: %+v", a)
	}
	if len(ev) != 1 || !strings.Contains(ev[0], "TooManyFailedLogins") {
		t.Fatalf("lock events: %v", ev)
	}
	r.AccountLocked(alice, until) // reported again while locked: nothing new
	clock.Advance(time.Minute)
	r.Flush(ctx)
	if a, ev := w.take(); len(a)+len(ev) != 0 {
		t.Fatalf("unchanged lock written again: %v %v", a, ev)
	}
	clock.Advance(90 * time.Second)
	r.LoginSucceeded(alice, clock.Now())
	r.Flush(ctx)
	a, _ = w.take()
	if len(a) != 1 || a[0].st.Conditions[0].Status != metav1.ConditionFalse || a[0].st.Conditions[0].Reason != "NotLocked" ||
		a[0].st.LastLoginTime == nil || !a[0].st.LastLoginTime.Equal(clock.Now().UTC().Truncate(time.Second)) {
		t.Fatalf("after unlock and login: %+v", a)
	}
}

func TestBoundedMemory(t *testing.T) {
	w := &fakeWriter{}
	r := feedback.New(feedback.Config{Writer: w, Clock: storetest.NewFakeClock(), MaxObjects: 2})
	for _, n := range []string{"a", "b", "c", "d"} {
		r.ClientError(snapshot.Source{Kind: "OAuthClient", Namespace: "ns", Name: n, UID: n}, oautherr.InvalidClient)
	}
	r.Flush(context.Background())
	if a, _ := w.take(); len(a) != 2 {
		t.Fatalf("wrote %d objects, want the 2 remembered", len(a))
	}
	var nilRecorder *feedback.Recorder
	nilRecorder.ClientError(web, oautherr.InvalidClient) // must not panic
}

// TestGoneObjectsAreForgotten: an object the writer reports gone (deleted,
// or recreated with another UID) is dropped, not retried.
func TestGoneObjectsAreForgotten(t *testing.T) {
	clock := storetest.NewFakeClock()
	w := &fakeWriter{gone: true}
	r := feedback.New(feedback.Config{Writer: w, Clock: clock})
	r.ClientError(web, oautherr.InvalidClient)
	r.Flush(context.Background())
	clock.Advance(time.Hour)
	r.Flush(context.Background())
	if a, ev := w.take(); len(a) != 1 || len(ev) != 0 {
		t.Fatalf("applies %v, events %v: want one attempt and no event", a, ev)
	}
}
