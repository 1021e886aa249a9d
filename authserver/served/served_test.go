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

package served_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/authops/authops/authserver/served"
	"github.com/authops/authops/authserver/snapshot"
)

// TestPublisher: the first revision creates the Lease at once, a burst of
// revisions is one write after the debounce, and without changes the Lease
// is renewed every Renew: one write per change at most, plus renewals.
func TestPublisher(t *testing.T) {
	g := NewWithT(t)
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(start)
	cs := fake.NewClientset()
	p := &served.Publisher{Client: cs, Namespace: "authops-system", Replica: "pod-a", Clock: clk,
		LeaseDuration: 30 * time.Second, Renew: 10 * time.Second, Debounce: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	get := func() (rev string, renew time.Time) {
		l, err := cs.CoordinationV1().Leases("authops-system").Get(ctx, "authops-served-pod-a", metav1.GetOptions{})
		if err != nil {
			return "", time.Time{}
		}
		return l.Annotations[snapshot.AnnotationServedRevision], l.Spec.RenewTime.Time
	}

	p.Served(5)
	g.Eventually(func() string { r, _ := get(); return r }).Should(Equal("5"))
	l, err := cs.CoordinationV1().Leases("authops-system").Get(ctx, "authops-served-pod-a", metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*l.Spec.HolderIdentity).To(Equal("pod-a"))
	g.Expect(*l.Spec.LeaseDurationSeconds).To(BeEquivalentTo(30))
	g.Expect(l.Labels).To(HaveKeyWithValue(snapshot.LabelManagedBy, snapshot.ManagedBy))
	g.Expect(l.Labels).To(HaveKeyWithValue(snapshot.LabelServed, "true"))
	g.Expect(p.Writes()).To(Equal(1))

	// A burst right after the write: one write, after the debounce.
	p.Served(6)
	g.Eventually(clk.HasWaiters).Should(BeTrue())
	p.Served(7)
	p.Served(7) // not newer: no wake-up
	p.Served(3) // older: ignored
	g.Consistently(func() string { r, _ := get(); return r }, "50ms").Should(Equal("5"))
	clk.Step(100 * time.Millisecond)
	g.Eventually(func() string { r, _ := get(); return r }).Should(Equal("7"))
	g.Consistently(p.Writes, "50ms").Should(Equal(2))

	// Without changes: one renewal per Renew interval, same revision.
	clk.Step(10 * time.Second)
	g.Eventually(p.Writes).Should(Equal(3))
	rev, renew := get()
	g.Expect(rev).To(Equal("7"))
	g.Expect(renew).To(BeTemporally("==", start.Add(10100*time.Millisecond)))
}

// TestPublisherNothingServed: a replica that has loaded nothing writes no
// Lease (it acknowledges nothing).
func TestPublisherNothingServed(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Now())
	cs := fake.NewClientset()
	p := &served.Publisher{Client: cs, Namespace: "ns", Replica: "r", Clock: clk}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	g.Eventually(clk.HasWaiters).Should(BeTrue())
	clk.Step(served.DefaultRenew)
	g.Consistently(p.Writes, "50ms").Should(Equal(0))
	cancel()
	<-done
}
