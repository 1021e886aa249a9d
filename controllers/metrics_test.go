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
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// suiteMetrics is where the suite's manager registers its metrics.
var suiteMetrics = prometheus.NewRegistry()

// gauge returns the value of the series of name with the given labels
// (all of them), and whether it exists.
func gauge(families []*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			if len(have) != len(labels) {
				continue
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

var _ = Describe("Manager metrics", func() {
	It("count objects by kind and Ready reason, and report the snapshot and the signing key", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "metered", authCode)
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		clientDoc(ctx, c)

		Eventually(func(g Gomega) {
			families, err := suiteMetrics.Gather()
			g.Expect(err).NotTo(HaveOccurred())
			n, ok := gauge(families, MetricObjects, map[string]string{"kind": "OAuthClient", "status": "True", "reason": oauthv1alpha1.ReconciledReason})
			g.Expect(ok).To(BeTrue(), "no OAuthClient series with Ready True Reconciled")
			g.Expect(n).To(BeNumerically(">=", 1))
			n, ok = gauge(families, MetricSnapshotEntries, map[string]string{"kind": string(snapshot.KindClient)})
			g.Expect(ok && n >= 1).To(BeTrue(), "snapshot entries of clients: %v", n)
			n, _ = gauge(families, MetricSnapshotBytes, map[string]string{"kind": string(snapshot.KindClient)})
			g.Expect(n).To(BeNumerically(">", 100))
			n, _ = gauge(families, MetricSnapshotEntries, map[string]string{"kind": string(snapshot.KindKeySet)})
			g.Expect(n).To(Equal(1.0))
			// The suite rotates every hour and publishes 10 minutes ahead.
			n, ok = gauge(families, MetricSigningKeyAge, map[string]string{})
			g.Expect(ok).To(BeTrue(), "no signing key age")
			g.Expect(n).To(And(BeNumerically(">=", 0), BeNumerically("<", (70*time.Minute).Seconds())))
			n, _ = gauge(families, MetricSigningKeyMaxAge, map[string]string{})
			g.Expect(n).To(Equal((70 * time.Minute).Seconds()))
			_, ok = gauge(families, MetricSnapshotOldestUnservd, map[string]string{})
			g.Expect(ok).To(BeTrue())
			// Bounded labels: kind, status and reason only.
			for _, f := range families {
				for _, m := range f.GetMetric() {
					for _, l := range m.GetLabel() {
						g.Expect(l.GetName()).To(BeElementOf("kind", "status", "reason"), "metric %s", f.GetName())
					}
				}
			}
		}, timeout, interval).Should(Succeed())
	})
})

func TestReadyLabels(t *testing.T) {
	ready := func(s metav1.ConditionStatus, reason string) []metav1.Condition {
		return []metav1.Condition{{Type: oauthv1alpha1.ReadyCondition, Status: s, Reason: reason}}
	}
	for _, tc := range []struct {
		conds          []metav1.Condition
		status, reason string
	}{
		{nil, "Unknown", "None"},
		{ready(metav1.ConditionTrue, oauthv1alpha1.ReconciledReason), "True", "Reconciled"},
		{ready(metav1.ConditionFalse, oauthv1alpha1.SecretNotFoundReason), "False", "SecretNotFound"},
		// A reason outside the documented set (a status written by hand)
		// cannot grow the label's values.
		{ready(metav1.ConditionFalse, "team-a/web broke"), "False", "Other"},
		{ready("Maybe", oauthv1alpha1.ProgressingReason), "Unknown", "Progressing"},
	} {
		if s, r := readyLabels(tc.conds); s != tc.status || r != tc.reason {
			t.Errorf("%v: %s/%s, want %s/%s", tc.conds, s, r, tc.status, tc.reason)
		}
	}
}

// TestMetricReasonsComplete: every reason constant of the API is a value
// of the reason label (else its objects are counted as Other).
func TestMetricReasonsComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../api/v1alpha1/conditions.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasSuffix(name.Name, "Reason") || i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok {
				continue
			}
			n++
			if v := strings.Trim(lit.Value, `"`); !metricReasons[v] {
				t.Errorf("%s (%q) is missing from metricReasons (controllers/metrics.go)", name.Name, v)
			}
		}
		return true
	})
	if n < 10 {
		t.Fatalf("found %d reason constants: the parse is wrong", n)
	}
}

func TestSigningKeyAge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := func(publish, sign, until time.Duration) snapshot.Key {
		return snapshot.Key{PublishFrom: t0.Add(publish), SignFrom: t0.Add(sign), SignUntil: t0.Add(until), PublishUntil: t0.Add(until + 24*time.Hour)}
	}
	first, second := key(0, 0, 10*time.Hour), key(9*time.Hour, 10*time.Hour, 20*time.Hour)
	for _, tc := range []struct {
		name string
		keys []snapshot.Key
		at   time.Duration
		age  time.Duration
		ok   bool
	}{
		{"no keys", nil, 0, 0, false},
		{"the first key", []snapshot.Key{first}, 3 * time.Hour, 3 * time.Hour, true},
		{"the successor is published but does not sign yet", []snapshot.Key{first, second}, 9*time.Hour + 30*time.Minute, 9*time.Hour + 30*time.Minute, true},
		{"the successor signs", []snapshot.Key{first, second}, 11 * time.Hour, 2 * time.Hour, true},
		{"rotation stuck: the last key's signing time is over", []snapshot.Key{first}, 15 * time.Hour, 15 * time.Hour, true},
	} {
		age, ok := signingKeyAge(snapshot.KeySet{Keys: tc.keys}, t0.Add(tc.at))
		if age != tc.age || ok != tc.ok {
			t.Errorf("%s: %v %v, want %v %v", tc.name, age, ok, tc.age, tc.ok)
		}
	}
}

// TestMetricsOnlyOnTheLeader: a replica not elected reports nothing, so
// that sums across replicas count every object once.
func TestMetricsOnlyOnTheLeader(t *testing.T) {
	c := &stateCollector{elected: make(chan struct{})}
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("a replica not elected reports %d series", n)
	}
}
