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

package buildinfo

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCollector: authops_build_info is 1 with the version and revision the
// linker stamps, and the Go version.
func TestCollector(t *testing.T) {
	version, revision = "v1.2.3", "0123abc"
	defer func() { version, revision = "", "" }()
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector())
	want := `
# HELP authops_build_info Always 1; the labels say which build runs: version, source revision and Go version.
# TYPE authops_build_info gauge
authops_build_info{goversion="` + runtime.Version() + `",revision="0123abc",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricName); err != nil {
		t.Error(err)
	}
}

// TestGetUnstamped: without -X, the version and revision are never empty.
func TestGetUnstamped(t *testing.T) {
	i := Get()
	if i.Version == "" || i.Revision == "" || i.GoVersion != runtime.Version() {
		t.Errorf("Get() = %+v", i)
	}
}
