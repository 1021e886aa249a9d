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
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// TestServedVerdict: every live replica must serve the revision, and at
// least min must be live; expired Leases do not count; the recheck is the
// end of the first Lease behind.
func TestServedVerdict(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ack := func(name string, rev int64, expiresIn time.Duration) replicaAck {
		return replicaAck{name: name, revision: rev, expires: now.Add(expiresIn)}
	}
	for _, tc := range []struct {
		name    string
		acks    []replicaAck
		min     int
		ok      bool
		message string
		recheck time.Duration
	}{
		{"no replica, min 0: compiled", nil, 0, true,
			"compiled into the snapshot (no authserver replica acknowledges what it serves, and --min-served-replicas is 0)", 0},
		{"no replica, min 1", nil, 1, false,
			"served by 0 of 0 authserver replicas (waiting for at least 1 live replicas, --min-served-replicas)", 0},
		{"only an expired replica", []replicaAck{ack("a", 10, -time.Second)}, 1, false,
			"served by 0 of 0 authserver replicas (waiting for at least 1 live replicas, --min-served-replicas)", 0},
		{"one of two", []replicaAck{ack("a", 10, 30*time.Second), ack("b", 9, 20*time.Second)}, 1, false,
			"served by 1 of 2 authserver replicas (behind: b)", 20 * time.Second},
		{"both behind, soonest end", []replicaAck{ack("b", 1, 25*time.Second), ack("a", 2, 5*time.Second)}, 0, false,
			"served by 0 of 2 authserver replicas (behind: a, b)", 5 * time.Second},
		{"two of two, one newer", []replicaAck{ack("a", 10, 30*time.Second), ack("b", 12, 30*time.Second)}, 1, true,
			"served by 2 of 2 authserver replicas", 0},
		{"behind but expired", []replicaAck{ack("a", 10, 30*time.Second), ack("b", 3, 0)}, 1, true,
			"served by 1 of 1 authserver replicas", 0},
		{"fewer live than min", []replicaAck{ack("a", 10, 30*time.Second)}, 2, false,
			"served by 1 of 1 authserver replicas (waiting for at least 2 live replicas, --min-served-replicas)", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := countServed(tc.acks, now, 10)
			ok, msg := servedVerdict(c, tc.min)
			if ok != tc.ok || msg != tc.message || c.recheck != tc.recheck {
				t.Errorf("got %v %q recheck %v, want %v %q recheck %v", ok, msg, c.recheck, tc.ok, tc.message, tc.recheck)
			}
		})
	}
}

// TestAckFromLease reads the holder, the revision and the end of a Lease.
func TestAckFromLease(t *testing.T) {
	renew := metav1.NewMicroTime(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	holder, secs := "pod-a", int32(30)
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "authops-served-pod-a",
		Annotations: map[string]string{snapshot.AnnotationServedRevision: "42"}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &renew}}
	a, ok := ackFromLease(l)
	if !ok || a.name != "pod-a" || a.revision != 42 || !a.expires.Equal(renew.Add(30*time.Second)) {
		t.Errorf("ackFromLease = %+v, %v", a, ok)
	}
	l.Annotations[snapshot.AnnotationServedRevision] = "x"
	if _, ok := ackFromLease(l); ok {
		t.Error("a Lease without a numeric revision counted")
	}
}

// writeServedLease plays an authserver replica: its Lease says it serves
// rev, renewed at renew for secs seconds. The spec deletes it at the end.
func writeServedLease(ctx SpecContext, replica string, rev int64, renew time.Time, secs int32) {
	l := &coordinationv1.Lease{}
	key := types.NamespacedName{Namespace: operatorNamespace, Name: snapshot.ServedLeasePrefix + replica}
	err := k8s.Get(ctx, key, l)
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{snapshot.LabelServed: "true", snapshot.LabelManagedBy: snapshot.ManagedBy}}}
	} else {
		Expect(err).NotTo(HaveOccurred())
	}
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[snapshot.AnnotationServedRevision] = strconv.FormatInt(rev, 10)
	rt := metav1.NewMicroTime(renew)
	l.Spec = coordinationv1.LeaseSpec{HolderIdentity: &replica, LeaseDurationSeconds: &secs, RenewTime: &rt}
	if l.ResourceVersion == "" {
		Expect(k8s.Create(ctx, l)).To(Succeed())
	} else {
		Expect(k8s.Update(ctx, l)).To(Succeed())
	}
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(k8s.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace, Name: key.Name}}))).To(Succeed())
	})
}

// Unit level: the test plays the authserver replicas by writing their
// Leases (the end-to-end proof with real replicas is in test/e2e).
var _ = Describe("Ready means served", Serial, func() {
	writeLease := writeServedLease
	entryOf := func(ctx SpecContext, kind snapshot.Kind, obj client.Object) *corev1.Secret {
		s := &corev1.Secret{}
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: snapshotSecretName(kind, obj.GetUID())}, s)).To(Succeed())
		return s
	}
	revisionOfKind := func(ctx SpecContext, kind snapshot.Kind, obj client.Object) int64 {
		n, ok := snapshot.ParseRevision(entryOf(ctx, kind, obj).ResourceVersion)
		Expect(ok).To(BeTrue())
		return n
	}
	revisionOf := func(ctx SpecContext, c *oauthv1alpha1.OAuthClient) int64 {
		return revisionOfKind(ctx, snapshot.KindClient, c)
	}

	It("waits until every live replica serves the client's revision, and drops a replica whose Lease ends", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		writeLease(ctx, "replica-a", 1, time.Now(), 60)
		c := newClient(ns, "served", authCode)
		Expect(k8s.Create(ctx, c)).To(Succeed())

		ready := expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NotYetServedReason)
		Expect(ready.Message).To(Equal("served by 0 of 1 authserver replicas (behind: replica-a)"))
		Expect(c.Status.ServedReplicas).To(Equal("0/1"))
		rec := expectCondition(ctx, c, oauthv1alpha1.ReconcilingCondition, metav1.ConditionTrue, oauthv1alpha1.NotYetServedReason)
		Expect(rec.Message).To(Equal(ready.Message))

		// The replica catches up: its Lease change wakes the client.
		rev := revisionOf(ctx, c)
		writeLease(ctx, "replica-a", rev, time.Now(), 60)
		ready = expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(ready.Message).To(HaveSuffix("; served by 1 of 1 authserver replicas"))
		Expect(c.Status.ServedReplicas).To(Equal("1/1"))
		expectNoCondition(ctx, c, oauthv1alpha1.ReconcilingCondition)

		// A change with a second replica behind, whose Lease ends in 3s
		// (it stopped renewing): served by 1 of 2 until it drops out.
		writeLease(ctx, "replica-b", rev, time.Now().Add(-27*time.Second), 30)
		update(ctx, c, func(c *oauthv1alpha1.OAuthClient) { c.Spec.Scopes = []oauthv1alpha1.Scope{"openid"} })
		Eventually(func(g Gomega) { g.Expect(revisionOf(ctx, c)).To(BeNumerically(">", rev)) }, timeout, interval).Should(Succeed())
		rev2 := revisionOf(ctx, c)
		writeLease(ctx, "replica-a", rev2, time.Now(), 60)
		Eventually(func(g Gomega) string { return conditionOf(ctx, c, oauthv1alpha1.ReadyCondition)(g).Message }, timeout, 20*time.Millisecond).
			Should(Equal("served by 1 of 2 authserver replicas (behind: replica-b)"))
		ready = expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(ready.Message).To(HaveSuffix("; served by 1 of 1 authserver replicas"))
	})
	It("makes a client that arrives with the finalizer and is served within heldWait Ready, taking it for new once", func(ctx SpecContext) {
		// The admission policy adds the finalizer at creation; the replica
		// serves the entry at once, so the first NotYetServed is held and
		// never written: the status is still empty when the replica's Lease
		// change wakes the client. That reconcile must not take the client
		// for new again (it would meet its own Secrets: AlreadyExists).
		ns := newNamespace(ctx)
		writeLease(ctx, "replica-a", 1, time.Now(), 60)
		refused := refusedSecretCreates(ctx)
		c := newClient(ns, "admitted", authCode)
		c.Finalizers = []string{Finalizer}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		var rev int64
		Eventually(func(g Gomega) {
			s := &corev1.Secret{}
			g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: snapshotSecretName(snapshot.KindClient, c.UID)}, s)).To(Succeed())
			rev, _ = snapshot.ParseRevision(s.ResourceVersion)
		}, timeout, 10*time.Millisecond).Should(Succeed())
		writeLease(ctx, "replica-a", rev, time.Now(), 60)

		ready := expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(ready.Message).To(HaveSuffix("; served by 1 of 1 authserver replicas"))
		expectNoEvent(ctx, "OAuthClient", c, corev1.EventTypeNormal)
		Expect(refusedSecretCreates(ctx)).To(Equal(refused), "a Secret create was refused (AlreadyExists): a later reconcile took the client for new")
	})
	It("holds an Account and a ResourceServer back until every live replica serves them", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		writeLease(ctx, "replica-a", 1, time.Now(), 60)
		Expect(k8s.Create(ctx, clientSecretObj(ns, "alice-password", map[string]string{"password": "correct horse"}))).To(Succeed())
		a := newAccount(ns, "alice")
		Expect(k8s.Create(ctx, a)).To(Succeed())
		rs := newResourceServer(ns, "payments", audienceOf(ns))
		Expect(k8s.Create(ctx, rs)).To(Succeed())

		for _, o := range []struct {
			obj  client.Object
			kind snapshot.Kind
		}{{a, snapshot.KindAccount}, {rs, snapshot.KindResourceServer}} {
			ready := expectCondition(ctx, o.obj, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NotYetServedReason)
			Expect(ready.Message).To(Equal("served by 0 of 1 authserver replicas (behind: replica-a)"))
			expectCondition(ctx, o.obj, oauthv1alpha1.ReconcilingCondition, metav1.ConditionTrue, oauthv1alpha1.NotYetServedReason)
		}
		Expect(a.Status.ServedReplicas).To(Equal("0/1"))
		Expect(rs.Status.ServedReplicas).To(Equal("0/1"))

		writeLease(ctx, "replica-a", max(revisionOfKind(ctx, snapshot.KindAccount, a), revisionOfKind(ctx, snapshot.KindResourceServer, rs)), time.Now(), 60)
		for _, obj := range []client.Object{a, rs} {
			ready := expectCondition(ctx, obj, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
			Expect(ready.Message).To(HaveSuffix("; served by 1 of 1 authserver replicas"))
			expectNoCondition(ctx, obj, oauthv1alpha1.ReconcilingCondition)
		}
		Expect(a.Status.ServedReplicas).To(Equal("1/1"))
		Expect(rs.Status.ServedReplicas).To(Equal("1/1"))

		// Disabling an account is a change to serve too: Disabled once served.
		update(ctx, a, func(a *oauthv1alpha1.Account) { a.Spec.Disabled = true })
		expectCondition(ctx, a, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NotYetServedReason)
		writeLease(ctx, "replica-a", revisionOfKind(ctx, snapshot.KindAccount, a), time.Now(), 60)
		ready := expectCondition(ctx, a, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.DisabledReason)
		Expect(ready.Message).To(HaveSuffix("; served by 1 of 1 authserver replicas"))
	})

	It("holds a GrantPolicy change back until its clients are compiled with it and every live replica serves them", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		gp := &oauthv1alpha1.GrantPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "toggled"},
			Spec: oauthv1alpha1.GrantPolicySpec{AllowedGrantTypes: []oauthv1alpha1.GrantType{authCode, oauthv1alpha1.GrantTypeClientCredentials}}}
		Expect(k8s.Create(ctx, gp)).To(Succeed())
		var clients []*oauthv1alpha1.OAuthClient
		for i := range 3 {
			c := newClient(ns, fmt.Sprintf("app-%d", i), authCode, oauthv1alpha1.GrantTypeClientCredentials)
			c.Spec.GrantPolicyRef = &oauthv1alpha1.LocalObjectReference{Name: gp.Name}
			Expect(k8s.Create(ctx, c)).To(Succeed())
			clients = append(clients, c)
		}
		// A client the change leaves no grant: its entry is written
		// without one, and must be served too.
		ccOnly := newClient(ns, "cc-only", oauthv1alpha1.GrantTypeClientCredentials)
		ccOnly.Spec.GrantPolicyRef = &oauthv1alpha1.LocalObjectReference{Name: gp.Name}
		Expect(k8s.Create(ctx, ccOnly)).To(Succeed())
		clients = append(clients, ccOnly)
		// One replica, serving everything written so far.
		newest := func() int64 {
			var n int64
			for _, c := range clients {
				Eventually(func(g Gomega) { g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed()) }).Should(Succeed())
				n = max(n, revisionOf(ctx, c))
			}
			return max(n, policyRevisionOf(ctx, gp))
		}
		Eventually(func(g Gomega) {
			for _, c := range clients {
				g.Expect(conditionOf(ctx, c, oauthv1alpha1.PolicyResolvedCondition)(g).Reason).To(Equal(oauthv1alpha1.PolicyFoundReason))
			}
		}, timeout, interval).Should(Succeed())
		writeLease(ctx, "replica-a", newest(), time.Now(), 60)
		Eventually(func(g Gomega) string { return conditionOf(ctx, gp, oauthv1alpha1.ReadyCondition)(g).Message }, timeout, interval).
			Should(Equal("the policy is valid and governs 4 clients; served by 1 of 1 authserver replicas"))
		ready := expectCondition(ctx, gp, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(gp.Status.ServedReplicas).To(Equal("1/1"))
		before := entryOf(ctx, snapshot.KindClient, clients[0]).Annotations[AnnotationPolicy]
		Expect(before).To(HavePrefix("toggled@"))

		// The change removes client_credentials: every client entry is
		// compiled again with the policy's new digest, then the replica
		// must serve the newest of them.
		update(ctx, gp, func(gp *oauthv1alpha1.GrantPolicy) {
			gp.Spec.AllowedGrantTypes = []oauthv1alpha1.GrantType{authCode}
		})
		ready = expectCondition(ctx, gp, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NotYetServedReason)
		expectCondition(ctx, gp, oauthv1alpha1.ReconcilingCondition, metav1.ConditionTrue, oauthv1alpha1.NotYetServedReason)
		Eventually(func(g Gomega) string { return conditionOf(ctx, gp, oauthv1alpha1.ReadyCondition)(g).Message }, timeout, 20*time.Millisecond).
			Should(Equal("served by 0 of 1 authserver replicas (behind: replica-a)"))
		for _, c := range clients {
			after := entryOf(ctx, snapshot.KindClient, c).Annotations[AnnotationPolicy]
			Expect(after).To(HavePrefix("toggled@"))
			Expect(after).NotTo(Equal(before))
		}
		expectCondition(ctx, ccOnly, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NoUsableGrantReason)
		expectServedAsAbsent(ctx, ccOnly.UID)
		// The entry left without a usable grant is the newest one: serving
		// every other one is not enough.
		var others int64
		for _, c := range clients[:3] {
			others = max(others, revisionOf(ctx, c))
		}
		if revisionOf(ctx, ccOnly) > others {
			writeLease(ctx, "replica-a", others, time.Now(), 60)
			Consistently(func(g Gomega) string { return conditionOf(ctx, gp, oauthv1alpha1.ReadyCondition)(g).Reason }, "500ms", 50*time.Millisecond).
				Should(Equal(oauthv1alpha1.NotYetServedReason))
		}
		// Serving one client's new entry is not enough.
		writeLease(ctx, "replica-a", revisionOf(ctx, clients[0])-1, time.Now(), 60)
		Consistently(func(g Gomega) string { return conditionOf(ctx, gp, oauthv1alpha1.ReadyCondition)(g).Reason }, "500ms", 50*time.Millisecond).
			Should(Equal(oauthv1alpha1.NotYetServedReason))
		writeLease(ctx, "replica-a", newest(), time.Now(), 60)
		ready = expectCondition(ctx, gp, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(ready.Message).To(HaveSuffix("; served by 1 of 1 authserver replicas"))

		// A new client under the policy waits for its own Ready; the
		// policy, already served, stays Ready.
		c := newClient(ns, "late", authCode)
		c.Spec.GrantPolicyRef = &oauthv1alpha1.LocalObjectReference{Name: gp.Name}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NotYetServedReason)
		Consistently(func(g Gomega) string { return conditionOf(ctx, gp, oauthv1alpha1.ReadyCondition)(g).Reason }, "3s", 100*time.Millisecond).
			Should(Equal(oauthv1alpha1.ReconciledReason))
	})

	It("names a live replica that stays behind beyond the bound, with a Warning Event, until it catches up", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		writeLease(ctx, "replica-slow", 1, time.Now(), 60)
		c := newClient(ns, "waits", authCode)
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NotYetServedReason)
		expectNoCondition(ctx, c, oauthv1alpha1.ServedCondition)

		// The suite's bound is 2 s: past it, without any Lease event.
		served := expectCondition(ctx, c, oauthv1alpha1.ServedCondition, metav1.ConditionFalse, oauthv1alpha1.ReplicaBehindReason)
		Expect(served.Message).To(MatchRegexp(`^authserver replica replica-slow has not served this change for \d+s \(snapshot revision \d+\); Ready waits`))
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NotYetServedReason)
		expectEvent(ctx, "OAuthClient", c, corev1.EventTypeWarning, oauthv1alpha1.ReplicaBehindReason)

		writeLease(ctx, "replica-slow", revisionOf(ctx, c), time.Now(), 60)
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectNoCondition(ctx, c, oauthv1alpha1.ServedCondition)
	})
})

// refusedSecretCreates is how many Secret creates the API server refused
// with 409 (AlreadyExists) so far (its apiserver_request_total).
func refusedSecretCreates(ctx SpecContext) int {
	cs, err := kubernetes.NewForConfig(restCfg)
	Expect(err).NotTo(HaveOccurred())
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	Expect(err).NotTo(HaveOccurred())
	n := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "apiserver_request_total{") && strings.Contains(line, `code="409"`) &&
			strings.Contains(line, `resource="secrets"`) && strings.Contains(line, `verb="POST"`) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			Expect(err).NotTo(HaveOccurred())
			n += int(v)
		}
	}
	return n
}
