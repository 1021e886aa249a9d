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
	"os/exec"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	ctrlenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
)

// shape is what a render must be (docs/install.md, "Pod shapes").
type shape struct {
	// standalone: the authserver runs in its own Deployment, without a
	// manager container; else in the manager's pods (sidecar).
	standalone bool
	// replicas of the authserver.
	replicas int32
	// persistent: the SQLite store is on a PersistentVolumeClaim (false:
	// PostgreSQL, or SQLite in an emptyDir by explicit choice).
	persistent bool
}

// checkShape checks a render's pod shape and the properties that come with
// it:
//   - the OAuth Service selects exactly the pods that run the authserver;
//     in the standalone shape those pods run nothing else, so only the
//     authserver's readiness decides their Service membership;
//   - every pod mounts a projected, expiring token of its own service
//     account, except the sidecar authserver container, whose token Secret
//     is the documented exception; no token Secret in the standalone shape;
//   - SQLite on a PersistentVolumeClaim where the shape says so, and then
//     the Recreate strategy (one pod on the ReadWriteOnce volume at a time);
//   - a PodDisruptionBudget exactly when there are several authserver
//     replicas, selecting the authserver's pods.
func checkShape(t *testing.T, objs []*unstructured.Unstructured, want shape) {
	t.Helper()
	var deploys []appsv1.Deployment
	var services []corev1.Service
	var pdbs []policyv1.PodDisruptionBudget
	tokenSecrets := 0
	for _, u := range objs {
		switch u.GetKind() {
		case "Deployment":
			deploys = append(deploys, convert[appsv1.Deployment](t, u))
		case "Service":
			services = append(services, convert[corev1.Service](t, u))
		case "PodDisruptionBudget":
			pdbs = append(pdbs, convert[policyv1.PodDisruptionBudget](t, u))
		case "Secret":
			if convert[corev1.Secret](t, u).Type == corev1.SecretTypeServiceAccountToken {
				tokenSecrets++
			}
		}
	}
	var oauth *corev1.Service
	for i, svc := range services {
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.StrVal == "oauth" {
				oauth = &services[i]
			}
		}
	}
	if oauth == nil {
		t.Fatal("no Service targets the oauth port")
	}
	var authserver *appsv1.Deployment
	for i, d := range deploys {
		pod := d.Spec.Template
		runs := containerNames(pod.Spec)
		serves := runs["authserver"]
		if selected := labels.SelectorFromSet(oauth.Spec.Selector).Matches(labels.Set(pod.Labels)); selected != serves {
			t.Errorf("Deployment %s (containers %v): selected by the OAuth Service %s: %v, runs the authserver: %v", d.Name, keysOf(runs), oauth.Name, selected, serves)
		}
		if serves {
			authserver = &deploys[i]
		}
		for _, c := range pod.Spec.Containers {
			checkToken(t, d.Name, pod.Spec, c, want.standalone)
		}
	}
	if authserver == nil {
		t.Fatal("no Deployment runs the authserver")
	}
	pod := authserver.Spec.Template.Spec
	if got := containerNames(pod); got["manager"] == want.standalone {
		t.Errorf("Deployment %s runs %v: want the %s shape", authserver.Name, keysOf(got), map[bool]string{true: "standalone", false: "sidecar"}[want.standalone])
	}
	if r := authserver.Spec.Replicas; r == nil || *r != want.replicas {
		t.Errorf("Deployment %s: replicas %v, want %d", authserver.Name, r, want.replicas)
	}
	if want.standalone && tokenSecrets != 0 {
		t.Errorf("the standalone shape renders %d long-lived service account token Secret(s)", tokenSecrets)
	}
	var state *corev1.Volume
	for i, v := range pod.Volumes {
		if v.Name == "state" {
			state = &pod.Volumes[i]
		}
	}
	switch {
	case want.persistent && (state == nil || state.PersistentVolumeClaim == nil):
		t.Errorf("Deployment %s: the SQLite store is not on a PersistentVolumeClaim: %+v", authserver.Name, state)
	case !want.persistent && state != nil && state.PersistentVolumeClaim != nil:
		t.Errorf("Deployment %s: a PersistentVolumeClaim where none is expected", authserver.Name)
	}
	if state != nil && authserver.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("Deployment %s holds the SQLite store but rolls out with %q, not Recreate", authserver.Name, authserver.Spec.Strategy.Type)
	}
	if state == nil {
		if ru := authserver.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
			t.Errorf("Deployment %s: a rollout may take a Ready replica away before its replacement is Ready: %+v", authserver.Name, authserver.Spec.Strategy)
		}
	}
	switch {
	case want.replicas > 1 && len(pdbs) != 1:
		t.Errorf("%d replicas: want one PodDisruptionBudget, got %d", want.replicas, len(pdbs))
	case want.replicas <= 1 && len(pdbs) != 0:
		t.Errorf("one replica: a PodDisruptionBudget protects nothing, got %d", len(pdbs))
	}
	for _, pdb := range pdbs {
		sel := labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels)
		for _, d := range deploys {
			if got, w := sel.Matches(labels.Set(d.Spec.Template.Labels)), d.Name == authserver.Name; got != w {
				t.Errorf("PodDisruptionBudget %s selects Deployment %s: %v, want %v", pdb.Name, d.Name, got, w)
			}
		}
	}
}

// checkToken checks the API credentials of container c: a projected,
// expiring token of the pod's service account; in the sidecar shape the
// authserver container's is its service account's token Secret (a pod has
// one service account, the manager's).
func checkToken(t *testing.T, deploy string, pod corev1.PodSpec, c corev1.Container, standalone bool) {
	t.Helper()
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("Deployment %s: automountServiceAccountToken is not false (each container mounts its own token)", deploy)
	}
	var mount string
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount" {
			mount = m.Name
		}
	}
	for _, v := range pod.Volumes {
		if v.Name != mount {
			continue
		}
		if c.Name == "authserver" && !standalone {
			if v.Secret == nil {
				t.Errorf("Deployment %s: the sidecar authserver's token is not its token Secret", deploy)
			}
			return
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if sat := src.ServiceAccountToken; sat != nil && sat.ExpirationSeconds != nil && *sat.ExpirationSeconds < 3607 {
					if want := map[string]string{"manager": "manager", "authserver": "authserver"}[c.Name]; !strings.HasSuffix(pod.ServiceAccountName, want) {
						t.Errorf("Deployment %s: container %s runs as service account %s", deploy, c.Name, pod.ServiceAccountName)
					}
					return
				}
			}
		}
		t.Errorf("Deployment %s: container %s's token volume %s is not a projected token that expires within an hour (3607s and more: the API server may extend 3607 to a year)", deploy, c.Name, v.Name)
		return
	}
	t.Errorf("Deployment %s: container %s mounts no service account token", deploy, c.Name)
}

// checkNotes installs the chart with helm --dry-run=server: NOTES warn
// loudly when the SQLite store is an emptyDir, and only then.
func checkNotes(t *testing.T, env *ctrlenvtest.Environment, helm string) {
	path := helmKubeconfig(t, env)
	notes := func(set ...string) string {
		// crds.enabled=false: the API server has the CRDs already (envtest
		// installed them, without a release's ownership), and helm would
		// refuse to adopt them.
		args := []string{"install", "authops", chart, "--namespace", namespace, "--create-namespace", "--dry-run=server", "--kubeconfig", path, "--set", "crds.enabled=false"}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		out, err := exec.Command(helm, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, out)
		}
		_, n, _ := strings.Cut(string(out), "NOTES:")
		return n
	}
	const warning = "WARNING: store.sqlite.persistence.enabled=false"
	if n := notes(); strings.Contains(n, warning) || !strings.Contains(n, "on PVC authops-state") {
		t.Errorf("default values: NOTES should name the PVC and not warn:\n%s", n)
	}
	if n := notes("store.sqlite.persistence.enabled=false"); !strings.Contains(n, warning) {
		t.Errorf("SQLite in an emptyDir: NOTES do not warn:\n%s", n)
	}
	if n := notes("authserver.mode=sidecar"); !strings.Contains(n, "Sidecar shape: a restart of the manager container") {
		t.Errorf("sidecar shape: NOTES do not say what a manager restart does:\n%s", n)
	}
}

func containerNames(pod corev1.PodSpec) map[string]bool {
	names := map[string]bool{}
	for _, c := range pod.Containers {
		names[c.Name] = true
	}
	return names
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func convert[T any](t *testing.T, u *unstructured.Unstructured) T {
	t.Helper()
	var out T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &out); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}
