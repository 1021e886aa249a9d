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

package install

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestChartMetadata: Chart.yaml's Artifact Hub annotations parse and agree
// with the repository: the licence file exists, the CRD list is exactly the
// generated CRDs, and the image is the appVersion's.
func TestChartMetadata(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion  string            `json:"appVersion"`
		Home        string            `json:"home"`
		Sources     []string          `json:"sources"`
		Maintainers []map[string]any  `json:"maintainers"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if c.Home == "" || len(c.Sources) == 0 || len(c.Maintainers) == 0 {
		t.Errorf("Chart.yaml: home %q, sources %v, maintainers %v: want all three", c.Home, c.Sources, c.Maintainers)
	}
	if c.Annotations["artifacthub.io/license"] != "Apache-2.0" {
		t.Errorf("artifacthub.io/license %q, want Apache-2.0", c.Annotations["artifacthub.io/license"])
	}
	if lic, err := os.ReadFile(filepath.Join(root, "LICENSE")); err != nil || !strings.Contains(string(lic), "Apache License") {
		t.Errorf("LICENSE: not the Apache License (%v)", err)
	}
	var crds []struct{ Kind, Version, Name string }
	if err := yaml.Unmarshal([]byte(c.Annotations["artifacthub.io/crds"]), &crds); err != nil {
		t.Fatalf("artifacthub.io/crds: %v", err)
	}
	listed := map[string]bool{}
	for _, crd := range crds {
		listed[crd.Name] = true
	}
	files, _ := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		group, plural, _ := strings.Cut(name, "_")
		if !listed[plural+"."+group] {
			t.Errorf("artifacthub.io/crds does not list %s.%s", plural, group)
		}
	}
	if len(crds) != len(files) {
		t.Errorf("artifacthub.io/crds lists %d CRDs, config/crd/bases has %d", len(crds), len(files))
	}
	var images []struct{ Name, Image string }
	if err := yaml.Unmarshal([]byte(c.Annotations["artifacthub.io/images"]), &images); err != nil || len(images) != 1 ||
		images[0].Image != "ghcr.io/authops/authops:"+c.AppVersion {
		t.Errorf("artifacthub.io/images %v (%v): want ghcr.io/authops/authops:%s", images, err, c.AppVersion)
	}
	for _, key := range []string{"artifacthub.io/links", "artifacthub.io/crdsExamples"} {
		var v []map[string]any
		if err := yaml.Unmarshal([]byte(c.Annotations[key]), &v); err != nil || len(v) == 0 {
			t.Errorf("%s: %v (%v)", key, v, err)
		}
	}
}
