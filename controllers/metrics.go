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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// The manager's own metrics (docs/operations.md, "Metrics"), beside
// controller-runtime's (controller_runtime_reconcile_*, workqueue_*,
// leader_election_master_status). Every label takes its values from a
// fixed set: no namespace or name.
const (
	MetricObjects               = "authops_manager_objects"
	MetricSigningKeyAge         = "authops_manager_signing_key_age_seconds"
	MetricSigningKeyMaxAge      = "authops_manager_signing_key_max_age_seconds"
	MetricSnapshotEntries       = "authops_manager_snapshot_entries"
	MetricSnapshotBytes         = "authops_manager_snapshot_bytes"
	MetricSnapshotUnserved      = "authops_manager_snapshot_unserved_objects"
	MetricSnapshotOldestUnservd = "authops_manager_snapshot_oldest_unserved_seconds"
)

var (
	objectsDesc = prometheus.NewDesc(MetricObjects,
		"Objects by kind and Ready condition (status True, False or Unknown; reason one of the documented reasons, "+
			"None without a Ready condition, Other for anything else). Only the elected leader reports it.",
		[]string{"kind", "status", "reason"}, nil)
	keyAgeDesc = prometheus.NewDesc(MetricSigningKeyAge,
		"Seconds since the signing key that signs now was created (published). Only the elected leader reports it.", nil, nil)
	keyMaxAgeDesc = prometheus.NewDesc(MetricSigningKeyMaxAge,
		"The age a signing key reaches before its successor signs when rotation works: --signing-key-rotation-period plus "+
			"--signing-key-publish-ahead. Only the elected leader reports it.", nil, nil)
	entriesDesc = prometheus.NewDesc(MetricSnapshotEntries,
		"Snapshot entries served (Secrets holding a document, retired entries not counted) by kind. Only the elected leader reports it.",
		[]string{"kind"}, nil)
	bytesDesc = prometheus.NewDesc(MetricSnapshotBytes,
		"Bytes of the documents of the served snapshot entries by kind. Only the elected leader reports it.", []string{"kind"}, nil)
	unservedDesc = prometheus.NewDesc(MetricSnapshotUnserved,
		"Objects whose compiled change a live authserver replica does not serve yet (Ready NotYetServed). Only the elected leader reports it.",
		nil, nil)
	oldestUnservedDesc = prometheus.NewDesc(MetricSnapshotOldestUnservd,
		"How long the object waiting longest has waited for the authserver replicas to serve its change; 0 when none waits. "+
			"Only the elected leader reports it.", nil, nil)
)

// metricKinds are the kinds authops_manager_objects counts.
var metricKinds = []struct {
	kind string
	list func() client.ObjectList
}{
	{"OAuthClient", func() client.ObjectList { return &oauthv1alpha1.OAuthClientList{} }},
	{"GrantPolicy", func() client.ObjectList { return &oauthv1alpha1.GrantPolicyList{} }},
	{"ClusterGrantPolicy", func() client.ObjectList { return &oauthv1alpha1.ClusterGrantPolicyList{} }},
	{"Account", func() client.ObjectList { return &oauthv1alpha1.AccountList{} }},
	{"ResourceServer", func() client.ObjectList { return &oauthv1alpha1.ResourceServerList{} }},
}

// conditionsOf returns the conditions of an object of metricKinds.
func conditionsOf(o runtime.Object) []metav1.Condition {
	switch o := o.(type) {
	case *oauthv1alpha1.OAuthClient:
		return o.Status.Conditions
	case *oauthv1alpha1.GrantPolicy:
		return o.Status.Conditions
	case *oauthv1alpha1.ClusterGrantPolicy:
		return o.Status.Conditions
	case *oauthv1alpha1.Account:
		return o.Status.Conditions
	case *oauthv1alpha1.ResourceServer:
		return o.Status.Conditions
	}
	return nil
}

// metricReasons are the reason label's values: the documented reasons
// (api/v1alpha1/conditions.go; TestMetricReasonsComplete keeps the list
// whole). Anything else is counted as "Other", so that the label stays
// bounded whatever a status holds.
var metricReasons = func() map[string]bool {
	m := map[string]bool{}
	for _, r := range []string{
		oauthv1alpha1.AccessDeniedReason, oauthv1alpha1.AccountDisabledReason, oauthv1alpha1.AccountLockedReason,
		oauthv1alpha1.AllowedReason, oauthv1alpha1.AudienceConflictReason, oauthv1alpha1.AudienceNotGrantedReason,
		oauthv1alpha1.AudienceNotPermittedReason, oauthv1alpha1.AuthorizationExpiredReason, oauthv1alpha1.BuiltinDefaultsReason,
		oauthv1alpha1.CappedByClusterPolicyReason, oauthv1alpha1.ClaimedReason, oauthv1alpha1.ClientIDConflictReason,
		oauthv1alpha1.ClientIDGrantConflictReason, oauthv1alpha1.ClientIDNotPermittedReason, oauthv1alpha1.ClientIDPermittedReason,
		oauthv1alpha1.DisabledReason, oauthv1alpha1.ExpiredTokenReason, oauthv1alpha1.GeneratedReason, oauthv1alpha1.GrantedReason,
		oauthv1alpha1.InvalidClientReason, oauthv1alpha1.InvalidDPoPProofReason, oauthv1alpha1.InvalidGrantReason, oauthv1alpha1.InvalidJWKSReason,
		oauthv1alpha1.InvalidRequestReason, oauthv1alpha1.InvalidScopeReason, oauthv1alpha1.InvalidSpecReason,
		oauthv1alpha1.InvalidTargetReason, oauthv1alpha1.JWKSNotFoundReason, oauthv1alpha1.KeyMissingReason,
		oauthv1alpha1.NoRecentErrorsReason, oauthv1alpha1.NoUsableGrantReason, oauthv1alpha1.NotLockedReason,
		oauthv1alpha1.NotSupportedReason, oauthv1alpha1.NotYetServedReason, oauthv1alpha1.PasswordEmptyReason,
		oauthv1alpha1.PasswordSecretNotFoundReason, oauthv1alpha1.PasswordSetReason, oauthv1alpha1.PolicyFoundReason,
		oauthv1alpha1.PolicyNotFoundReason, oauthv1alpha1.ProgressingReason, oauthv1alpha1.PublicClientReason,
		oauthv1alpha1.PublicClientRotatesReason, oauthv1alpha1.PublicKeysReason, oauthv1alpha1.ReconciledReason,
		oauthv1alpha1.ReferencedReason, oauthv1alpha1.ReplicaBehindReason, oauthv1alpha1.SecretNotFoundReason,
		oauthv1alpha1.ServiceAccountNotFoundReason, oauthv1alpha1.ServiceAccountReason, oauthv1alpha1.SlowDownReason,
		oauthv1alpha1.TooManyFailedLoginsReason, oauthv1alpha1.UnauthorizedClientReason, oauthv1alpha1.UnsupportedGrantTypeReason, oauthv1alpha1.UseDPoPNonceReason,
		oauthv1alpha1.WeakSecretReason, oauthv1alpha1.WithinCeilingReason,
	} {
		m[r] = true
	}
	return m
}()

// readyLabels are the status and reason labels of an object's Ready
// condition.
func readyLabels(conditions []metav1.Condition) (status, reason string) {
	ready := apimeta.FindStatusCondition(conditions, oauthv1alpha1.ReadyCondition)
	switch {
	case ready == nil:
		return string(metav1.ConditionUnknown), "None"
	case !metricReasons[ready.Reason]:
		reason = "Other"
	default:
		reason = ready.Reason
	}
	status = string(ready.Status)
	if ready.Status != metav1.ConditionTrue && ready.Status != metav1.ConditionFalse {
		status = string(metav1.ConditionUnknown)
	}
	return status, reason
}

// signingKeyAge is how long ago the key signing at now was created
// (published); when none signs (the rotation is stuck), the newest key that
// began signing before now. ok is false without such a key.
func signingKeyAge(keys snapshot.KeySet, now time.Time) (time.Duration, bool) {
	var current *snapshot.Key
	for i := range keys.Keys {
		k := &keys.Keys[i]
		if k.SignFrom.After(now) {
			continue
		}
		if current == nil || k.SignFrom.After(current.SignFrom) {
			current = k
		}
	}
	if current == nil {
		return 0, false
	}
	return now.Sub(current.PublishFrom), true
}

// snapshotKinds are the kind label's values of the snapshot metrics.
var snapshotKinds = []snapshot.Kind{snapshot.KindClient, snapshot.KindAccount, snapshot.KindKeySet, snapshot.KindResourceServer, snapshot.KindPolicy}

// stateCollector computes the manager's metrics at scrape time from its
// caches. It reports only on the elected leader: the other replicas' caches
// hold no informer for the custom resources (their controllers do not
// run), and one series per metric keeps sums across replicas right.
type stateCollector struct {
	objects   client.Reader // the manager's cache
	owned     client.Reader // ownedSecrets
	namespace string
	clock     clock.PassiveClock
	keys      KeyRotationConfig
	elected   <-chan struct{}
	gates     []*servedGate
}

// registerMetrics registers the collector with reg (controller-runtime's
// registry when nil). Another manager in the same process (tests) replaces
// the previous one's collector.
func registerMetrics(reg prometheus.Registerer, c *stateCollector) error {
	if reg == nil {
		reg = ctrlmetrics.Registry
	}
	err := reg.Register(c)
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		reg.Unregister(are.ExistingCollector)
		err = reg.Register(c)
	}
	return err
}

// DescribeMetrics sends the descriptors of the manager's own metrics (the
// dashboard's test checks its queries against them).
func DescribeMetrics(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{objectsDesc, keyAgeDesc, keyMaxAgeDesc, entriesDesc, bytesDesc, unservedDesc, oldestUnservedDesc} {
		ch <- d
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { DescribeMetrics(ch) }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-c.elected:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := ctrl.Log.WithName("metrics")
	now := c.clock.Now()
	if err := c.collectObjects(ctx, ch); err != nil {
		log.Error(err, "Counting the objects failed")
	}
	if err := c.collectSnapshot(ctx, ch, now); err != nil {
		log.Error(err, "Reading the snapshot Secrets failed")
	}
	ch <- prometheus.MustNewConstMetric(keyMaxAgeDesc, prometheus.GaugeValue, (c.keys.RotationPeriod + c.keys.PublishAhead).Seconds())
	waiting, oldest := 0, time.Duration(0)
	for _, g := range c.gates {
		n, o := g.waiting(now)
		waiting, oldest = waiting+n, max(oldest, o)
	}
	ch <- prometheus.MustNewConstMetric(unservedDesc, prometheus.GaugeValue, float64(waiting))
	ch <- prometheus.MustNewConstMetric(oldestUnservedDesc, prometheus.GaugeValue, oldest.Seconds())
}

// collectObjects counts every kind by Ready status and reason.
func (c *stateCollector) collectObjects(ctx context.Context, ch chan<- prometheus.Metric) error {
	var errs []error
	for _, k := range metricKinds {
		list := k.list()
		if err := c.objects.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			errs = append(errs, err)
			continue
		}
		counts := map[[2]string]int{}
		if err := apimeta.EachListItem(list, func(o runtime.Object) error {
			s, r := readyLabels(conditionsOf(o))
			counts[[2]string{s, r}]++
			return nil
		}); err != nil {
			errs = append(errs, err)
			continue
		}
		for l, n := range counts {
			ch <- prometheus.MustNewConstMetric(objectsDesc, prometheus.GaugeValue, float64(n), k.kind, l[0], l[1])
		}
	}
	return errors.Join(errs...)
}

// collectSnapshot reports the snapshot's entries and bytes by kind and the
// signing key's age, from the Secrets the controllers wrote.
func (c *stateCollector) collectSnapshot(ctx context.Context, ch chan<- prometheus.Metric, now time.Time) error {
	secrets := &corev1.SecretList{}
	if err := c.owned.List(ctx, secrets, client.InNamespace(c.namespace), client.HasLabels{snapshot.LabelSnapshot},
		client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	entries, size := map[snapshot.Kind]int{}, map[snapshot.Kind]int{}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		data := s.Data[snapshot.DataKey]
		if len(data) == 0 {
			continue // retired
		}
		kind := snapshot.Kind(s.Labels[snapshot.LabelSnapshot])
		entries[kind]++
		size[kind] += len(data)
		if kind == snapshot.KindKeySet && s.Name == snapshot.KeySetSecretName {
			if doc, err := snapshot.Decode(data); err == nil && doc.KeySet != nil {
				if age, ok := signingKeyAge(*doc.KeySet, now); ok {
					ch <- prometheus.MustNewConstMetric(keyAgeDesc, prometheus.GaugeValue, age.Seconds())
				}
			}
		}
	}
	for _, k := range snapshotKinds {
		ch <- prometheus.MustNewConstMetric(entriesDesc, prometheus.GaugeValue, float64(entries[k]), string(k))
		ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.GaugeValue, float64(size[k]), string(k))
	}
	return nil
}

// waiting says how many objects wait for the replicas to serve their
// change, and how long the one waiting longest has waited.
func (g *servedGate) waiting(now time.Time) (n int, oldest time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, w := range g.pending {
		if !w.woken {
			n++
			oldest = max(oldest, now.Sub(w.since))
		}
	}
	return n, oldest
}
