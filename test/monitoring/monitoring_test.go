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

// Package monitoring checks the chart's monitoring files against the
// binaries: the Prometheus rules (promtool check rules and promtool test
// rules), and that every metric the rules and the Grafana dashboard query
// is one the authserver or the manager registers, and that every alert has
// its runbook in docs/operations.md.
package monitoring

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store/storetest"
	"github.com/authops/authops/controllers"
	"github.com/authops/authops/internal/buildinfo"
)

const (
	rulesFile     = "../../charts/authops/files/prometheus-rules.yaml"
	rulesTestFile = "testdata/prometheus-rules.test.yaml"
	dashboardFile = "../../charts/authops/files/grafana-dashboard.json"
	operationsDoc = "../../docs/operations.md"
)

// promtool finds promtool (Debian's prometheus package); without it the
// test fails when AUTHOPS_REQUIRE_PROMTOOL=1 (CI) and is skipped loudly
// otherwise.
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	msg := "promtool is not installed (apt-get install prometheus): the alert rules were not checked"
	if os.Getenv("AUTHOPS_REQUIRE_PROMTOOL") == "1" {
		t.Fatal(msg + " and AUTHOPS_REQUIRE_PROMTOOL=1 requires it")
	}
	fmt.Fprintln(os.Stderr, "SKIP: "+msg)
	t.Skip(msg)
	return ""
}

// TestPromtool: the rules are valid (promtool check rules) and each alert
// tested fires on the series that mean trouble and stays quiet otherwise
// (promtool test rules).
func TestPromtool(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

// registered says which metric names the binaries register: the
// authserver's registry as cmd/authserver builds it, and the manager's
// (controller-runtime's registry with the controllers' metrics).
type registered []prometheus.Registerer

// has says whether a registry holds a metric called name: registering a
// gauge of that name with another label fails exactly then.
func (r registered) has(name string) bool {
	for _, reg := range r {
		probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe", ConstLabels: prometheus.Labels{"authops_probe": "1"}})
		if err := reg.Register(probe); err != nil {
			return true
		}
		reg.Unregister(probe)
	}
	return false
}

// describeOnly is a collector of descriptors only.
type describeOnly func(chan<- *prometheus.Desc)

func (d describeOnly) Describe(ch chan<- *prometheus.Desc) { d(ch) }
func (describeOnly) Collect(chan<- prometheus.Metric)      {}

func binaries(t *testing.T) registered {
	t.Helper()
	as := prometheus.NewRegistry()
	as.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.Collector())
	holder := registry.NewHolder()
	st := storetest.NewMemoryStore(t, nil)
	authserver.RegisterSnapshotMetrics(as, holder)
	authserver.RegisterStoreMetrics(as, st)
	srv, err := authserver.New(authserver.Config{Issuer: "http://127.0.0.1", Registry: holder, Store: st, Metrics: authserver.NewMetrics(as)})
	if err != nil {
		t.Fatal(err)
	}
	authserver.RegisterLimiterMetrics(as, srv)

	mgr := prometheus.NewRegistry()
	mgr.MustRegister(describeOnly(controllers.DescribeMetrics), buildinfo.Collector())
	return registered{as, mgr, ctrlmetrics.Registry}
}

// builtin are the series Prometheus itself writes for every target.
var builtin = []string{"up"}

// selectorName finds the metric names of a PromQL expression written with
// a label selector (name{...}) or a range (name[5m]), and in
// label_values(name, label).
var selectorName = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)[{[]|label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// bareName finds identifiers followed by a space, an operator or the end:
// a metric written without a selector (which selectorName would miss).
var bareName = regexp.MustCompile(`(?:^|[\s(])(authops_[a-zA-Z0-9_:]*|controller_runtime_[a-zA-Z0-9_:]*)(?:[\s)]|$)`)

func metricNames(expr string) []string {
	var out []string
	for _, m := range selectorName.FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1]+m[2])
	}
	for _, m := range bareName.FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1])
	}
	return out
}

// checkNames fails for each name no binary registers.
func checkNames(t *testing.T, reg registered, where, expr string) {
	t.Helper()
	names := metricNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: no metric in %q", where, expr)
	}
	for _, n := range names {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suffix); ok && reg.has(b) {
				base = b
			}
		}
		if !slices.Contains(builtin, base) && !reg.has(base) {
			t.Errorf("%s: %s is not a metric of the authserver or the manager (%q)", where, n, expr)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// TestRulesQueryRealMetrics: every alert queries metrics the binaries
// export, has a severity, a summary, and a runbook in docs/operations.md
// at the anchor its runbook_url names.
func TestRulesQueryRealMetrics(t *testing.T) {
	reg := binaries(t)
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(data, &rf); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			alerts++
			checkNames(t, reg, r.Alert, r.Expr)
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: no summary or description", r.Alert)
			}
			want := "https://github.com/authops/authops/blob/main/docs/operations.md#" + strings.ToLower(r.Alert)
			if r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !regexp.MustCompile(`(?m)^### ` + r.Alert + `$`).Match(doc) {
				t.Errorf("%s: docs/operations.md has no runbook heading %q", r.Alert, "### "+r.Alert)
			}
		}
	}
	if alerts < 6 {
		t.Errorf("%d alerts, want at least the six of issue 19", alerts)
	}
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		GridPos *struct {
			H, W, X, Y int
		} `json:"gridPos"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
	} `json:"panels"`
}

// TestDashboard: the dashboard is valid JSON of the shape Grafana imports
// (title, uid, a data source variable, panels with unique ids, positions in
// the 24-column grid), and each of its queries asks for metrics the
// binaries export.
func TestDashboard(t *testing.T) {
	reg := binaries(t)
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", filepath.Base(dashboardFile), err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q", d.Title, d.UID)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if q, ok := v.Query.(map[string]any); ok {
			checkNames(t, reg, "variable "+v.Name, fmt.Sprint(q["query"]))
		}
	}
	if !vars["datasource"] || !vars["namespace"] {
		t.Errorf("variables %v, want datasource and namespace", vars)
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("%s: id missing or not unique", where)
		}
		ids[p.ID] = true
		if p.Title == "" || p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("%s: title or position missing or outside the grid", where)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: the data source is not the variable ${datasource}", where)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		for _, q := range p.Targets {
			queries++
			if q.RefID == "" {
				t.Errorf("%s: a query has no refId", where)
			}
			if !strings.Contains(q.Expr, `namespace=~"$namespace"`) {
				t.Errorf("%s: %q does not follow the namespace variable", where, q.Expr)
			}
			checkNames(t, reg, where, q.Expr)
		}
	}
	t.Logf("%d panels, %d queries checked", len(d.Panels), queries)
}

// TestMetricNamesFound: the name extraction the checks above rely on.
func TestMetricNamesFound(t *testing.T) {
	got := metricNames(`sum by (le) (rate(a_bucket{x="1"}[5m])) / authops_x > b{} and label_values(c, namespace) or increase(d[1m])`)
	if want := []string{"a_bucket", "b", "c", "d", "authops_x"}; !slices.Equal(got, want) {
		t.Errorf("metricNames = %v, want %v", got, want)
	}
	if registered([]prometheus.Registerer{prometheus.NewRegistry()}).has("authops_made_up") {
		t.Error("an empty registry has a metric")
	}
}
