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

package authserver

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
)

// Metrics are the server's Prometheus metrics. Every label has a bounded set
// of values: endpoint names, known grant types (else "other"), error codes
// of the table (else "other").
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	lockouts *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authops_authserver_requests_total",
			Help: "Requests by endpoint, grant type (token endpoint only) and error code (empty on success).",
		}, []string{"endpoint", "grant_type", "error"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authops_authserver_request_duration_seconds",
			Help:    "Request latency by endpoint.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"endpoint"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authops_authserver_account_lockouts_total",
			Help: "Lockouts begun after too many failed logins (the GrantPolicy's lockout), by whether the username names an account (known) or not (unknown).",
		}, []string{"account"}),
	}
	// Both series exist from the start, so that rate() sees the first lockout.
	m.lockouts.WithLabelValues("known")
	m.lockouts.WithLabelValues("unknown")
	reg.MustRegister(m.requests, m.duration, m.lockouts)
	return m
}

// lockout counts a lockout that begins; known says whether the username
// names an account. A nil m counts nothing.
func (m *Metrics) lockout(known bool) {
	if m == nil {
		return
	}
	label := "unknown"
	if known {
		label = "known"
	}
	m.lockouts.WithLabelValues(label).Inc()
}

// RegisterStoreMetrics registers authops_authserver_store_up: 1 when the
// store answers a ping at scrape time (within 2 seconds), else 0 (the
// readiness probe asks the same question).
func RegisterStoreMetrics(reg prometheus.Registerer, st interface{ Ping(context.Context) error }) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "authops_authserver_store_up",
		Help: "1 when the runtime state store answers a ping at scrape time (2s timeout), else 0."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if st.Ping(ctx) != nil {
			return 0
		}
		return 1
	}))
}

func (m *Metrics) observe(endpoint, grantType string, code oautherr.Code, d time.Duration) {
	if grantType != "" && grantType != "other" && !slices.Contains(snapshot.GrantTypes, grantType) {
		grantType = "other"
	}
	errLabel := string(code)
	if _, ok := oautherr.Lookup(code); code != "" && !ok {
		errLabel = "other"
	}
	m.requests.WithLabelValues(endpoint, grantType, errLabel).Inc()
	m.duration.WithLabelValues(endpoint).Observe(d.Seconds())
}

// RegisterSnapshotMetrics exports the state of the current snapshot, read at
// scrape time: documents loaded and skipped, and whether the first full sync
// is done.
func RegisterSnapshotMetrics(reg prometheus.Registerer, holder *registry.Holder) {
	builds := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "authops_authserver_registry_build_seconds",
		Help:    "Time to bring the registry up to date after snapshot changes and swap it in (one rebuild, Kubernetes loader).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)})
	holder.OnBuild(func(d time.Duration) { builds.Observe(d.Seconds()) })
	docs := func(skipped bool) func() float64 {
		return func() float64 {
			r := holder.Current()
			if skipped {
				return float64(r.Skipped)
			}
			return float64(r.Documents)
		}
	}
	reg.MustRegister(builds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "authops_authserver_snapshot_documents",
			Help: "Documents in the current snapshot.", ConstLabels: prometheus.Labels{"state": "loaded"}}, docs(false)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "authops_authserver_snapshot_documents",
			Help: "Documents in the current snapshot.", ConstLabels: prometheus.Labels{"state": "skipped"}}, docs(true)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "authops_authserver_snapshot_ready",
			Help: "1 once the first full snapshot sync is done."}, func() float64 {
			if holder.Ready() {
				return 1
			}
			return 0
		}),
	)
}
