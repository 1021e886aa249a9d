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
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryReasonIsDocumented fails when a condition reason of the API has
// no entry in the user guide's Conditions section.
func TestEveryReasonIsDocumented(t *testing.T) {
	api, err := os.ReadFile(filepath.Join("..", "api", "v1alpha1", "conditions.go"))
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile(filepath.Join("..", "docs", "user-guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, conditions, ok := strings.Cut(string(guide), "## Conditions")
	if !ok {
		t.Fatal("docs/user-guide.md has no Conditions section")
	}
	reasons := regexp.MustCompile(`(?m)^\s*\w+Reason = "(\w+)"`).FindAllStringSubmatch(string(api), -1)
	if len(reasons) < 10 {
		t.Fatalf("found only %d reasons in conditions.go", len(reasons))
	}
	for _, r := range reasons {
		if !strings.Contains(conditions, "`"+r[1]+"`") {
			t.Errorf("reason %s is not documented in docs/user-guide.md#conditions", r[1])
		}
	}
}
