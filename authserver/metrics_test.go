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

package authserver_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/store/storetest"
)

// TestMetrics: requests are counted by endpoint, grant type and error
// code, and unknown grant types collapse into "other".
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, func(c *authserver.Config) { c.Metrics = authserver.NewMetrics(reg) })
	send := func(body string) {
		readAll(t, f.send(t, authserver.PathToken, tokenCase{body: body}))
	}
	send("grant_type=client_credentials&client_id=cc&client_secret=" + ccSecret)
	send("grant_type=client_credentials&client_id=cc&client_secret=wrong")
	for i := range 3 {
		send("grant_type=urn:made:up:" + strings.Repeat("x", i) + "&client_id=cc&client_secret=" + ccSecret)
	}
	want := `
# HELP authops_authserver_requests_total Requests by endpoint, grant type (token endpoint only) and error code (empty on success).
# TYPE authops_authserver_requests_total counter
authops_authserver_requests_total{endpoint="token",error="",grant_type="client_credentials"} 1
authops_authserver_requests_total{endpoint="token",error="invalid_client",grant_type="client_credentials"} 1
authops_authserver_requests_total{endpoint="token",error="unsupported_grant_type",grant_type="other"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "authops_authserver_requests_total"); err != nil {
		t.Error(err)
	}
	authserver.RegisterSnapshotMetrics(reg, f.holder)
	snap := `
# HELP authops_authserver_snapshot_documents Documents in the current snapshot.
# TYPE authops_authserver_snapshot_documents gauge
authops_authserver_snapshot_documents{state="loaded"} 16
authops_authserver_snapshot_documents{state="skipped"} 0
# HELP authops_authserver_snapshot_ready 1 once the first full snapshot sync is done.
# TYPE authops_authserver_snapshot_ready gauge
authops_authserver_snapshot_ready 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(snap), "authops_authserver_snapshot_documents", "authops_authserver_snapshot_ready"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "authops_authserver_request_duration_seconds"); n != 1 {
		t.Errorf("duration series = %d", n)
	}
}

// TestLockoutMetrics: a lockout is counted once, when it begins (not for
// each attempt it refuses), by whether the username names an account.
func TestLockoutMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, func(c *authserver.Config) { c.Metrics = authserver.NewMetrics(reg) })
	try := func(user string) {
		readAll(t, f.send(t, authserver.PathToken, tokenCase{body: "grant_type=password&username=" + user + "&password=nope",
			basicUser: "pw", basicPass: pwSecret}))
	}
	want := func(known, unknown int) {
		t.Helper()
		exp := fmt.Sprintf(`
# HELP authops_authserver_account_lockouts_total Lockouts begun after too many failed logins (the GrantPolicy's lockout), by whether the username names an account (known) or not (unknown).
# TYPE authops_authserver_account_lockouts_total counter
authops_authserver_account_lockouts_total{account="known"} %d
authops_authserver_account_lockouts_total{account="unknown"} %d
`, known, unknown)
		if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "authops_authserver_account_lockouts_total"); err != nil {
			t.Error(err)
		}
	}
	want(0, 0)
	for range 2 {
		try("alice")
	}
	want(0, 0)
	try("alice") // the third failure locks (the fixture's policy)
	want(1, 0)
	try("alice") // refused while locked: the same lockout
	want(1, 0)
	for range 4 {
		try("nobody")
	}
	want(1, 1)
}

// TestStoreUpMetric: 1 while the store answers, 0 once it does not.
func TestStoreUpMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := storetest.NewMemoryStore(t, nil)
	authserver.RegisterStoreMetrics(reg, st)
	up := func() string {
		families, err := reg.Gather()
		if err != nil || len(families) != 1 || len(families[0].GetMetric()) != 1 {
			t.Fatalf("gather: %v %v", families, err)
		}
		return fmt.Sprint(families[0].GetMetric()[0].GetGauge().GetValue())
	}
	if v := up(); v != "1" {
		t.Errorf("store_up with the store open = %s", v)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if v := up(); v != "0" {
		t.Errorf("store_up with the store closed = %s", v)
	}
}
