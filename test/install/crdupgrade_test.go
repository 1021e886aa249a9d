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
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	ctrlenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
)

var (
	crdGVR     = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	accountGVR = schema.GroupVersionResource{Group: "oauth.authops.io", Version: "v1alpha1", Resource: "accounts"}
)

const accountsCRD = "accounts.oauth.authops.io"

// TestCRDUpgrade runs the chart's CRD life cycle with helm against the
// test API server (after checking that helm install refuses a typo in the
// values):
//  1. a release of the chart as it was before the CRDs were templates
//     (crds/, which Helm installs once, without ownership);
//  2. helm upgrade to this chart refuses to adopt those CRDs, and
//     --take-ownership (docs/install.md, "Upgrading") adopts them;
//  3. a field the CRDs do not have is pruned; helm upgrade to a chart whose
//     Account CRD adds it, and the field is served (stored and returned);
//  4. helm uninstall keeps the CRDs and the Accounts (crds.keep, default);
//  5. a release with crds.keep=false deletes them on uninstall.
func TestCRDUpgrade(t *testing.T) {
	helm := tool(t, "HELM", "helm-*")
	env, cfg := startAPIServer(t) // Helm installs the CRDs.
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := helmKubeconfig(t, env)
	helmDo := func(args ...string) (string, error) {
		out, err := exec.Command(helm, append(args, "--namespace", namespace, "--kubeconfig", kubeconfig)...).CombinedOutput()
		return string(out), err
	}
	mustHelm := func(args ...string) {
		t.Helper()
		if out, err := helmDo(args...); err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	dir := t.TempDir()
	old, current, next := filepath.Join(dir, "old"), filepath.Join(dir, "current"), filepath.Join(dir, "next")
	oldChart(t, old)
	copyChart(t, current)
	nextChart(t, next)

	// A typo in the values fails helm install itself, with its name.
	out, err := helmDo("install", "authops", current, "--create-namespace", "--set", "store.sqllite.persistence.enabled=false")
	if err == nil || !strings.Contains(out, "additional properties 'sqllite' not allowed") {
		t.Fatalf("helm install with a typo in the values: want the schema's refusal naming it, got %v:\n%s", err, out)
	}
	t.Logf("helm install with a typo, as expected: %s", strings.TrimSpace(out))

	// 1. The chart with crds/.
	mustHelm("install", "authops", old, "--create-namespace")
	crd := getCRD(t, dyn, accountsCRD)
	if crd.GetLabels()["app.kubernetes.io/managed-by"] == "Helm" {
		t.Fatalf("the crds/ folder's CRD has release labels %v: the first step does not stand for the old chart", crd.GetLabels())
	}

	// 2. Helm does not adopt objects it did not create, unless told to.
	out, err = helmDo("upgrade", "authops", current)
	if err == nil || !strings.Contains(out, "cannot be imported into the current release") {
		t.Fatalf("helm upgrade from the crds/ chart: want the refusal to adopt the CRDs, got %v:\n%s", err, out)
	}
	t.Logf("helm upgrade without --take-ownership, as expected: %s", strings.TrimSpace(out))
	mustHelm("upgrade", "authops", current, "--take-ownership")
	crd = getCRD(t, dyn, accountsCRD)
	if crd.GetAnnotations()["meta.helm.sh/release-name"] != "authops" || crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Fatalf("after --take-ownership the CRD's annotations are %v: want the release's and the keep policy", crd.GetAnnotations())
	}

	// 3. The field of the next chart is pruned today...
	accounts := dyn.Resource(accountGVR).Namespace("default")
	acc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "oauth.authops.io/v1alpha1", "kind": "Account",
		"metadata": map[string]any{"name": "alice"},
		"spec":     map[string]any{"username": "alice", "passwordSecretRef": map[string]any{"name": "alice-password"}, "nickname": "Al"},
	}}
	got, err := accounts.Create(context.Background(), acc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedString(got.Object, "spec", "nickname"); found {
		t.Fatal("spec.nickname was stored before the upgrade that adds it: the test cannot tell an upgraded CRD")
	}
	// ...and served after helm upgrade to it.
	mustHelm("upgrade", "authops", next)
	served := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !served; time.Sleep(200 * time.Millisecond) {
		got, err = accounts.Get(context.Background(), "alice", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedField(got.Object, "Al", "spec", "nickname")
		if got, err = accounts.Update(context.Background(), got, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
		if err == nil {
			_, served, _ = unstructured.NestedString(got.Object, "spec", "nickname")
		}
	}
	if !served {
		t.Fatal("after helm upgrade to a chart whose Account CRD adds spec.nickname, the API server still prunes it: the CRD was not upgraded")
	}
	if v := getCRD(t, dyn, accountsCRD).GetLabels()["helm.sh/chart"]; v != "authops-0.1.1-next" {
		t.Errorf("the CRD's helm.sh/chart label is %q after the upgrade, want authops-0.1.1-next", v)
	}

	// 4. helm uninstall keeps the CRDs and what they hold.
	mustHelm("uninstall", "authops", "--wait")
	getCRD(t, dyn, accountsCRD)
	if _, err := accounts.Get(context.Background(), "alice", metav1.GetOptions{}); err != nil {
		t.Fatalf("after helm uninstall (crds.keep true) the Account is gone: %v", err)
	}

	// 5. crds.keep=false: uninstall deletes them. The kept CRDs carry this
	// release's ownership, so a release of the same name adopts them.
	// The Account arrived with the manager's finalizer (the chart's
	// admission policy authops-snapshot-finalizer); no manager runs here to
	// remove it when the CRD's deletion deletes the Account, so the test
	// takes it off, or the CRD would wait for it for ever.
	got, err = accounts.Get(context.Background(), "alice", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got.GetFinalizers(), "oauth.authops.io/snapshot") {
		t.Errorf("the Account's finalizers are %v: the chart's admission policy did not add oauth.authops.io/snapshot", got.GetFinalizers())
	}
	got.SetFinalizers(nil)
	if _, err := accounts.Update(context.Background(), got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	mustHelm("install", "authops", next, "--set", "crds.keep=false")
	mustHelm("uninstall", "authops", "--wait")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := dyn.Resource(crdGVR).Get(context.Background(), accountsCRD, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("helm uninstall with crds.keep=false: CRD %s still there after 30s (%v)", accountsCRD, err)
		}
	}
}

func getCRD(t *testing.T, dyn dynamic.Interface, name string) *unstructured.Unstructured {
	t.Helper()
	crd, err := dyn.Resource(crdGVR).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("CRD %s: %v", name, err)
	}
	return crd
}

// helmKubeconfig writes a kubeconfig of a system:masters user of env.
func helmKubeconfig(t *testing.T, env *ctrlenvtest.Environment) string {
	t.Helper()
	user, err := env.AddUser(ctrlenvtest.User{Name: "helm", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// copyChart copies the chart to dir.
func copyChart(t *testing.T, dir string) {
	t.Helper()
	if err := os.CopyFS(dir, os.DirFS(chart)); err != nil {
		t.Fatal(err)
	}
}

// oldChart writes the chart as it was before its CRDs were templates: the
// generated CRDs in crds/, none in templates/.
func oldChart(t *testing.T, dir string) {
	t.Helper()
	copyChart(t, dir)
	if err := os.RemoveAll(filepath.Join(dir, "templates", "crds")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "crds"), os.DirFS(filepath.Join(root, "config", "crd", "bases"))); err != nil {
		t.Fatal(err)
	}
}

// nextChart writes the next version of the chart: version 0.1.1-next, and
// the Account CRD with one more optional field, spec.nickname.
func nextChart(t *testing.T, dir string) {
	t.Helper()
	copyChart(t, dir)
	edit(t, filepath.Join(dir, "Chart.yaml"), "\nversion: 0.1.0\n", "\nversion: 0.1.1-next\n")
	// displayName is the first field of the Account's spec; nickname goes
	// beside it.
	const anchor = "\n              displayName:\n"
	edit(t, filepath.Join(dir, "templates", "crds", "oauth.authops.io_accounts.yaml"), anchor,
		"\n              nickname:\n                description: nickname is the field the next chart adds.\n                type: string"+anchor)
}

// edit replaces the one occurrence of old in the file with new.
func edit(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want once", path, old, n)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
