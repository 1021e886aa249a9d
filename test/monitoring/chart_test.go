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

package monitoring

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// helmBin is $HELM (make test sets it), else bin/helm-*.
func helmBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HELM"); p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join("../..", p)
		}
		return p
	}
	matches, _ := filepath.Glob("../../bin/helm-*")
	if len(matches) == 0 {
		t.Fatal("helm not found in bin/: run 'make helm' (or 'make test', which installs it)")
	}
	return matches[len(matches)-1]
}

// render renders one template of the chart with the given --set values;
// an empty result means the template rendered nothing.
func render(t *testing.T, template string, set ...string) []byte {
	t.Helper()
	args := []string{"template", "r", "../../charts/authops", "--namespace", "authops-system", "--show-only", template}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(helmBin(t), args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && strings.Contains(stderr.String(), "could not find template") {
		return nil // rendered nothing
	}
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestChartMonitoring: both objects are off by default; on, the
// PrometheusRule carries exactly the rule groups promtool checks and the
// dashboard ConfigMap exactly the dashboard, with the sidecar's label and
// the labels and annotations of the values.
func TestChartMonitoring(t *testing.T) {
	if out := render(t, "templates/prometheusrule.yaml"); len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("PrometheusRule rendered by default:\n%s", out)
	}
	if out := render(t, "templates/grafana-dashboard.yaml"); len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("dashboard rendered by default:\n%s", out)
	}

	var rule struct {
		Kind     string
		Metadata struct {
			Namespace   string
			Labels      map[string]string
			Annotations map[string]string
		}
		Spec map[string]any
	}
	if err := yaml.Unmarshal(render(t, "templates/prometheusrule.yaml", "prometheusRule.enabled=true",
		"prometheusRule.labels.release=kube-prometheus-stack"), &rule); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var groups map[string]any
	if err := yaml.Unmarshal(file, &groups); err != nil {
		t.Fatal(err)
	}
	if rule.Kind != "PrometheusRule" || rule.Metadata.Namespace != "authops-system" || rule.Metadata.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("PrometheusRule: %+v", rule.Metadata)
	}
	if !reflect.DeepEqual(rule.Spec, groups) {
		t.Error("the PrometheusRule's spec differs from files/prometheus-rules.yaml")
	}

	var cm struct {
		Metadata struct {
			Namespace   string
			Labels      map[string]string
			Annotations map[string]string
		}
		Data map[string]string
	}
	if err := yaml.Unmarshal(render(t, "templates/grafana-dashboard.yaml", "grafanaDashboard.enabled=true",
		"grafanaDashboard.namespace=monitoring", "grafanaDashboard.annotations.grafana_folder=authops"), &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Metadata.Namespace != "monitoring" || cm.Metadata.Labels["grafana_dashboard"] != "1" || cm.Metadata.Annotations["grafana_folder"] != "authops" {
		t.Errorf("dashboard ConfigMap: %+v", cm.Metadata)
	}
	dash, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(dash, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(cm.Data["authops.json"]), &got); err != nil {
		t.Fatalf("the ConfigMap's authops.json is not JSON: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("the ConfigMap's authops.json differs from files/grafana-dashboard.json")
	}
}
