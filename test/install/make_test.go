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
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/authops/authops/test/envtest"
)

// makeTarget runs `make target vars...` in the repository, as a user
// would, with the kubeconfig given (the Makefile's targets act on the
// current kubeconfig). The environment of an enclosing make (make test) is
// left out, so its flags and variables do not leak in.
func makeTarget(t *testing.T, kubeconfig, target string, vars ...string) string {
	t.Helper()
	kustomize := tool(t, "KUSTOMIZE", "kustomize-*")
	cmd := exec.Command("make", append([]string{"--no-print-directory", "-C", root, target, "KUSTOMIZE=" + kustomize}, vars...)...)
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != "MAKEFLAGS" && name != "MFLAGS" && name != "MAKELEVEL" && name != "KUBECONFIG" && name != "IMG" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if kubeconfig != "" {
		cmd.Env = append(cmd.Env, "KUBECONFIG="+kubeconfig)
	}
	begin := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s %v: %v\n%s", target, vars, err, out)
	}
	t.Logf("make %s took %.1fs", target, time.Since(begin).Seconds())
	return string(out)
}

// chartAppVersion is the chart's appVersion: the version of config/'s image.
func chartAppVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil || c.AppVersion == "" {
		t.Fatalf("Chart.yaml: no appVersion (%v)", err)
	}
	return c.AppVersion
}

var latestImage = regexp.MustCompile(`image:\s*\S+:latest\b`)

// TestBuildInstaller: make build-installer writes one file that parses,
// holds the whole install, and names the image by config/'s version tag
// (the chart's appVersion; never latest), or IMG when given; for each
// kustomize tree.
func TestBuildInstaller(t *testing.T) {
	version := chartAppVersion(t)
	for _, tc := range []struct {
		dir, img, want string
		deployments    int
	}{
		{"config/default", "", "ghcr.io/authops/authops:" + version, 2},
		{"config/overlays/postgres", "", "ghcr.io/authops/authops:" + version, 2},
		{"config/overlays/sidecar", "", "ghcr.io/authops/authops:" + version, 1},
		{"config/default", "registry.example.com/authops:1.2.3", "registry.example.com/authops:1.2.3", 2},
	} {
		t.Run(tc.dir+" "+tc.img, func(t *testing.T) {
			dist := t.TempDir()
			vars := []string{"DEPLOY_DIR=" + tc.dir, "DIST=" + dist}
			if tc.img != "" {
				vars = append(vars, "IMG="+tc.img)
			}
			makeTarget(t, "", "build-installer", vars...)
			data, err := os.ReadFile(filepath.Join(dist, "install.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if m := latestImage.Find(data); m != nil {
				t.Errorf("install.yaml names an image by latest: %s", m)
			}
			kinds := map[string]int{}
			for _, u := range decode(t, data) {
				kinds[u.GetKind()]++
				if u.GetKind() != "Deployment" {
					continue
				}
				d := convert[appsv1.Deployment](t, u)
				for _, c := range d.Spec.Template.Spec.Containers {
					if c.Image != tc.want {
						t.Errorf("Deployment %s container %s: image %s, want %s", d.Name, c.Name, c.Image, tc.want)
					}
				}
			}
			if kinds["CustomResourceDefinition"] != 5 || kinds["Deployment"] != tc.deployments || kinds["Namespace"] != 1 {
				t.Errorf("install.yaml holds %v: want 5 CRDs, %d Deployment(s), the Namespace", kinds, tc.deployments)
			}
		})
	}
}

// TestMakeDeploy runs make install, uninstall, deploy and undeploy with a
// kubeconfig of the test API server, and checks what each left there.
func TestMakeDeploy(t *testing.T) {
	assets, err := envtest.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("kubectl not found in %s: run 'make envtest-assets': %v", assets, err)
	}
	env, cfg := startAPIServer(t) // make install installs the CRDs.
	// undeploy deletes the namespace and the PVC, and kubectl waits until
	// they are gone: their finalizers need these controllers.
	cm, err := envtest.StartControllerManager(env, t.TempDir(), "namespace-controller,persistentvolumeclaim-protection-controller")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cm.Stop(); err != nil {
			t.Error(err)
		}
	})
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := helmKubeconfig(t, env)
	kc := "KUBECTL=" + kubectl
	ctx := context.Background()
	crdCount := func() int {
		out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "crd", "-o", "name").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl get crd: %v\n%s", err, out)
		}
		return strings.Count(string(out), ".oauth.authops.io")
	}

	// served waits until every authops kind can be listed, as a user would
	// before deleting again: a CRD deleted while the API server still
	// initializes its storage is finalized only on a later retry (minutes).
	served := func(after string) {
		t.Helper()
		for _, kind := range []string{"oauthclients", "grantpolicies", "clustergrantpolicies", "accounts", "resourceservers"} {
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", kind+".oauth.authops.io", "-A").CombinedOutput()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after make %s: %s not served within 30s: %v\n%s", after, kind, err, out)
				}
			}
		}
	}

	makeTarget(t, kubeconfig, "install", kc)
	if n := crdCount(); n != 5 {
		t.Fatalf("after make install: %d authops CRDs, want 5", n)
	}
	served("install")
	makeTarget(t, kubeconfig, "uninstall", kc)
	if n := crdCount(); n != 0 {
		t.Fatalf("after make uninstall: %d authops CRDs, want 0", n)
	}

	const img = "registry.example.com/authops:1.2.3"
	makeTarget(t, kubeconfig, "deploy", kc, "IMG="+img)
	for _, name := range []string{"authops-manager", "authops-authserver"} {
		d, err := kube.AppsV1().Deployments("authops-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("after make deploy: %v", err)
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != img {
			t.Errorf("after make deploy IMG=%s: Deployment %s runs %s", img, name, got)
		}
	}
	if n := crdCount(); n != 5 {
		t.Errorf("after make deploy: %d authops CRDs, want 5", n)
	}
	served("deploy")

	makeTarget(t, kubeconfig, "undeploy", kc)
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "authops-system", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after make undeploy: namespace authops-system: %v, want not found", err)
	}
	if n := crdCount(); n != 0 {
		t.Errorf("after make undeploy: %d authops CRDs, want 0", n)
	}
}
