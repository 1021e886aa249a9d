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
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// rendered is one helm template of the chart, by kind and name.
type rendered map[string]map[string]*unstructured.Unstructured

// render runs helm template with the given arguments (--set, -f...).
func render(t *testing.T, args ...string) rendered {
	t.Helper()
	helm := tool(t, "HELM", "helm-*")
	out := run(t, helm, append([]string{"template", "authops", chart, "--namespace", namespace, "--kube-version", kubeVersion}, args...)...)
	r := rendered{}
	for _, u := range decode(t, out) {
		if r[u.GetKind()] == nil {
			r[u.GetKind()] = map[string]*unstructured.Unstructured{}
		}
		r[u.GetKind()][u.GetName()] = u
	}
	return r
}

func (r rendered) deployment(t *testing.T, name string) appsv1.Deployment {
	t.Helper()
	u := r["Deployment"][name]
	if u == nil {
		t.Fatalf("no Deployment %s rendered; Deployments: %v", name, keys(r["Deployment"]))
	}
	return convert[appsv1.Deployment](t, u)
}

func container(t *testing.T, pod corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range pod.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s in %v", name, containerNames(pod))
	return corev1.Container{}
}

var ciExtras = filepath.Join(chart, "ci", "extras-values.yaml")

// TestNames: fullnameOverride names every object; nameOverride replaces
// "authops" in the names and the app.kubernetes.io/name label.
func TestNames(t *testing.T) {
	r := render(t, "--set", "fullnameOverride=sso")
	for _, name := range []string{"sso-manager", "sso-authserver"} {
		r.deployment(t, name)
	}
	if r["Service"]["sso"] == nil || r["ClusterRole"]["sso-aggregate-to-view"] == nil {
		t.Errorf("fullnameOverride=sso: want Service sso and ClusterRole sso-aggregate-to-view, got %v and %v", keys(r["Service"]), keys(r["ClusterRole"]))
	}

	r = render(t, "--set", "nameOverride=sso")
	d := r.deployment(t, "authops-sso-authserver")
	if got := d.Spec.Template.Labels["app.kubernetes.io/name"]; got != "sso" {
		t.Errorf("nameOverride=sso: pod label app.kubernetes.io/name=%q, want sso", got)
	}
	svc := convert[corev1.Service](t, r["Service"]["authops-sso"])
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("nameOverride=sso: the OAuth Service %v does not select the authserver's pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
}

// TestPodValues renders ci/extras-values.yaml (standalone) and checks each
// pod value where it belongs: extra args, env and volumes in their own
// container only, pod labels and annotations outside the selector, the
// scheduling values, a topology spread with each Deployment's own selector,
// and the security context without fixed ids (OpenShift restricted-v2).
func TestPodValues(t *testing.T) {
	r := render(t, "-f", ciExtras)
	authserver, manager := r.deployment(t, "sso-authserver"), r.deployment(t, "sso-manager")
	as := container(t, authserver.Spec.Template.Spec, "authserver")
	mc := container(t, manager.Spec.Template.Spec, "manager")
	checkExtras(t, "authserver", as, authserver.Spec.Template.Spec, "--session-lifetime=8h", "GODEBUG", "postgres-ca")
	checkExtras(t, "manager", mc, manager.Spec.Template.Spec, "--max-concurrent-reconciles=4", "GOMEMLIMIT", "")
	if slices.Contains(mc.Args, "--session-lifetime=8h") || slices.ContainsFunc(mc.Env, func(e corev1.EnvVar) bool { return e.Name == "GODEBUG" }) {
		t.Errorf("the manager container got the authserver's extraArgs or extraEnv: %v %v", mc.Args, mc.Env)
	}
	if slices.ContainsFunc(manager.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "postgres-ca" }) {
		t.Error("the manager's pods got the authserver's extraVolumes")
	}

	for _, d := range []appsv1.Deployment{authserver, manager} {
		pod := d.Spec.Template
		if pod.Labels["team"] != "identity" || pod.Annotations["example.com/owner"] != "identity" {
			t.Errorf("Deployment %s: pod labels %v, annotations %v: want podLabels and podAnnotations", d.Name, pod.Labels, pod.Annotations)
		}
		if _, ok := d.Spec.Selector.MatchLabels["team"]; ok {
			t.Errorf("Deployment %s: podLabels went into the selector (immutable): %v", d.Name, d.Spec.Selector.MatchLabels)
		}
		spec := pod.Spec
		if spec.PriorityClassName != "system-cluster-critical" {
			t.Errorf("Deployment %s: priorityClassName %q", d.Name, spec.PriorityClassName)
		}
		if len(spec.Tolerations) != 1 || spec.Tolerations[0].Key != "dedicated" {
			t.Errorf("Deployment %s: tolerations %v", d.Name, spec.Tolerations)
		}
		if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil {
			t.Errorf("Deployment %s: no node affinity", d.Name)
		}
		if len(spec.TopologySpreadConstraints) != 1 {
			t.Fatalf("Deployment %s: topologySpreadConstraints %v, want the one of the values", d.Name, spec.TopologySpreadConstraints)
		}
		tsc := spec.TopologySpreadConstraints[0]
		if tsc.TopologyKey != "topology.kubernetes.io/zone" || tsc.LabelSelector == nil ||
			!equality.Semantic.DeepEqual(tsc.LabelSelector.MatchLabels, d.Spec.Selector.MatchLabels) {
			t.Errorf("Deployment %s: topology spread %+v: want the zone, with the Deployment's own selector %v", d.Name, tsc, d.Spec.Selector.MatchLabels)
		}
		sc := spec.SecurityContext
		if sc == nil || sc.RunAsUser != nil || sc.RunAsGroup != nil || sc.FSGroup != nil {
			t.Errorf("Deployment %s: security context %+v: want no fixed runAsUser, runAsGroup or fsGroup (OpenShift assigns them)", d.Name, sc)
		} else if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("Deployment %s: security context %+v lost runAsNonRoot or the RuntimeDefault seccomp profile", d.Name, sc)
		}
	}

	// The defaults: the image's user, one replica without a spread.
	r = render(t)
	for _, name := range []string{"authops-authserver", "authops-manager"} {
		spec := r.deployment(t, name).Spec.Template.Spec
		if sc := spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.FSGroup == nil || *sc.FSGroup != 65532 {
			t.Errorf("Deployment %s: default security context %+v, want user and fsGroup 65532", name, sc)
		}
		if spec.TopologySpreadConstraints != nil || spec.PriorityClassName != "" {
			t.Errorf("Deployment %s: scheduling values without values set: %+v %q", name, spec.TopologySpreadConstraints, spec.PriorityClassName)
		}
	}

	// The sidecar shape: one pod, each container with its own extras, the
	// volumes of both.
	r = render(t, "-f", ciExtras, "--set", "authserver.mode=sidecar", "--set", "networkPolicy.enabled=false")
	d := r.deployment(t, "sso")
	checkExtras(t, "sidecar authserver", container(t, d.Spec.Template.Spec, "authserver"), d.Spec.Template.Spec, "--session-lifetime=8h", "GODEBUG", "postgres-ca")
	checkExtras(t, "sidecar manager", container(t, d.Spec.Template.Spec, "manager"), d.Spec.Template.Spec, "--max-concurrent-reconciles=4", "GOMEMLIMIT", "")
}

// checkExtras checks that container c has arg, the env variable env and,
// unless volume is empty, mounts volume, which the pod has.
func checkExtras(t *testing.T, what string, c corev1.Container, pod corev1.PodSpec, arg, env, volume string) {
	t.Helper()
	if len(c.Args) == 0 || c.Args[len(c.Args)-1] != arg {
		t.Errorf("%s: args %v: want %s last (extraArgs come after the chart's)", what, c.Args, arg)
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == env }) {
		t.Errorf("%s: no env %s (extraEnv)", what, env)
	}
	if volume == "" {
		return
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == volume && m.ReadOnly }) {
		t.Errorf("%s: no read-only mount of %s (extraVolumeMounts): %v", what, volume, c.VolumeMounts)
	}
	if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == volume && v.ConfigMap != nil }) {
		t.Errorf("%s: the pod has no volume %s (extraVolumes)", what, volume)
	}
}

// TestReuseValuesFromOlderChart: values without podSecurityContext (helm
// upgrade --reuse-values from a chart before it existed keeps only the old
// chart's values) fail with a message naming the fix, instead of pods
// without a security context.
func TestReuseValuesFromOlderChart(t *testing.T) {
	helm := tool(t, "HELM", "helm-*")
	out, err := exec.Command(helm, "template", "authops", chart, "--namespace", namespace, "--kube-version", kubeVersion,
		"--skip-schema-validation", "--set", "podSecurityContext=null").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--reset-then-reuse-values") {
		t.Fatalf("values without podSecurityContext: want the chart's refusal naming --reset-then-reuse-values, got %v:\n%s", err, out)
	}
	t.Logf("refused as expected: %s", strings.TrimSpace(string(out)))
}

// TestNetworkPolicy: off by default; on, the authserver's pods accept the
// OAuth port from the values' peers and the metrics port from metricsFrom
// only, and the manager's pods may connect to the API server's addresses
// and the DNS only. In the sidecar shape one policy covers the shared pod.
func TestNetworkPolicy(t *testing.T) {
	if np := render(t)["NetworkPolicy"]; len(np) != 0 {
		t.Fatalf("default values render NetworkPolicies %v", keys(np))
	}
	r := render(t, "-f", ciExtras)
	authserver, manager := r.deployment(t, "sso-authserver"), r.deployment(t, "sso-manager")
	if len(r["NetworkPolicy"]) != 2 {
		t.Fatalf("NetworkPolicies %v, want sso-authserver and sso-manager", keys(r["NetworkPolicy"]))
	}
	asp := convert[networkingv1.NetworkPolicy](t, r["NetworkPolicy"]["sso-authserver"])
	mp := convert[networkingv1.NetworkPolicy](t, r["NetworkPolicy"]["sso-manager"])
	checkSelects(t, asp, authserver, manager)
	checkSelects(t, mp, manager, authserver)

	// The authserver: ingress only, OAuth from ingress-nginx, its metrics
	// from monitoring; egress not restricted (its PostgreSQL).
	if !equality.Semantic.DeepEqual(asp.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("authserver policy types %v, want [Ingress]", asp.Spec.PolicyTypes)
	}
	wantIngress := map[string]string{"oauth": "ingress-nginx", "authserver-mx": "monitoring"}
	checkIngress(t, "authserver", asp.Spec.Ingress, wantIngress)

	// The manager: its metrics from monitoring; egress to the API server
	// and DNS, nothing else.
	if !equality.Semantic.DeepEqual(mp.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("manager policy types %v, want [Ingress Egress]", mp.Spec.PolicyTypes)
	}
	checkIngress(t, "manager", mp.Spec.Ingress, map[string]string{"metrics": "monitoring"})
	checkManagerEgress(t, "manager", mp.Spec.Egress)

	// The sidecar shape: the shared pod gets the union, egress restricted.
	// On PostgreSQL without an egress rule for the database the authserver
	// would be cut off from its store: the chart refuses, and takes the
	// rule in extraEgress.
	helm := tool(t, "HELM", "helm-*")
	sidecar := []string{"-f", ciExtras, "--set", "authserver.mode=sidecar"}
	out, err := exec.Command(helm, append([]string{"template", "authops", chart, "--namespace", namespace, "--kube-version", kubeVersion}, sidecar...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "networkPolicy.manager.extraEgress") {
		t.Errorf("sidecar shape on PostgreSQL with a NetworkPolicy and no egress to the database: want the chart's refusal, got %v:\n%s", err, out)
	}
	r = render(t, append(sidecar, "--set-json", `networkPolicy.manager.extraEgress=[{"to":[{"ipBlock":{"cidr":"192.0.2.20/32"}}],"ports":[{"port":5432}]}]`)...)
	if len(r["NetworkPolicy"]) != 1 || r["NetworkPolicy"]["sso-authserver"] == nil {
		t.Fatalf("sidecar: NetworkPolicies %v, want sso-authserver only", keys(r["NetworkPolicy"]))
	}
	sp := convert[networkingv1.NetworkPolicy](t, r["NetworkPolicy"]["sso-authserver"])
	checkSelects(t, sp, r.deployment(t, "sso"))
	if !slices.Contains(sp.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("sidecar: policy types %v: the manager's egress is not restricted", sp.Spec.PolicyTypes)
	}
	checkIngress(t, "sidecar", sp.Spec.Ingress, map[string]string{"oauth": "ingress-nginx", "authserver-mx": "monitoring", "metrics": "monitoring"})
	if len(sp.Spec.Egress) != 3 || len(sp.Spec.Egress[2].To) != 1 || sp.Spec.Egress[2].To[0].IPBlock == nil || sp.Spec.Egress[2].To[0].IPBlock.CIDR != "192.0.2.20/32" {
		t.Fatalf("sidecar: egress %+v: want the API server, DNS and the extraEgress rule to 192.0.2.20/32", sp.Spec.Egress)
	}
	checkManagerEgress(t, "sidecar", sp.Spec.Egress[:2])
}

// checkSelects checks that the policy selects the pods of in and none of out.
func checkSelects(t *testing.T, np networkingv1.NetworkPolicy, in appsv1.Deployment, out ...appsv1.Deployment) {
	t.Helper()
	sel := labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels)
	if !sel.Matches(labels.Set(in.Spec.Template.Labels)) {
		t.Errorf("NetworkPolicy %s does not select Deployment %s's pods", np.Name, in.Name)
	}
	for _, d := range out {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("NetworkPolicy %s selects Deployment %s's pods too", np.Name, d.Name)
		}
	}
}

// checkIngress checks that the rules open exactly the named ports, each to
// the namespace named, by kubernetes.io/metadata.name.
func checkIngress(t *testing.T, what string, rules []networkingv1.NetworkPolicyIngressRule, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, r := range rules {
		if len(r.From) != 1 || r.From[0].NamespaceSelector == nil {
			t.Errorf("%s: ingress rule %+v: want one namespace peer (no rule open to every source here)", what, r)
			continue
		}
		for _, p := range r.Ports {
			got[p.Port.String()] = r.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
		}
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("%s: ingress port → namespace %v, want %v", what, got, want)
	}
}

// checkManagerEgress checks the manager's egress: the API server's CIDR of
// ci/extras-values.yaml on its ports, and DNS; nothing else.
func checkManagerEgress(t *testing.T, what string, rules []networkingv1.NetworkPolicyEgressRule) {
	t.Helper()
	if len(rules) != 2 {
		t.Fatalf("%s: %d egress rules, want 2 (API server, DNS): %+v", what, len(rules), rules)
	}
	api, dns := rules[0], rules[1]
	if len(api.To) != 1 || api.To[0].IPBlock == nil || api.To[0].IPBlock.CIDR != "192.0.2.10/32" || len(api.To[0].IPBlock.Except) != 0 {
		t.Errorf("%s: first egress rule %+v: want only the API server's 192.0.2.10/32", what, api.To)
	}
	var ports []string
	for _, p := range api.Ports {
		ports = append(ports, p.Port.String())
	}
	if !equality.Semantic.DeepEqual(ports, []string{"443", "6443"}) {
		t.Errorf("%s: API server ports %v, want [443 6443]", what, ports)
	}
	if len(dns.To) != 1 || dns.To[0].PodSelector == nil || dns.To[0].PodSelector.MatchLabels["k8s-app"] != "kube-dns" || len(dns.Ports) != 2 || dns.Ports[0].Port.IntValue() != 53 {
		t.Errorf("%s: second egress rule %+v: want the cluster DNS on port 53", what, dns)
	}
}

// TestHTTPRoute: off by default; on, it attaches to the values' Gateway and
// routes the issuer's host to the OAuth Service's port.
func TestHTTPRoute(t *testing.T) {
	if hr := render(t)["HTTPRoute"]; len(hr) != 0 {
		t.Fatalf("default values render HTTPRoutes %v", keys(hr))
	}
	for _, tc := range []struct {
		name string
		args []string
		host string
		port int64
	}{
		{"the issuer's host, plain HTTP", []string{"-f", ciExtras}, "sso.example.com", 80},
		{"given hostnames, TLS at the authserver", []string{"-f", ciExtras, "--set", "httpRoute.hostnames={login.example.com}", "--set", "tls.existingSecret=tls"}, "login.example.com", 443},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := render(t, tc.args...)["HTTPRoute"]["sso"]
			if u == nil {
				t.Fatal("no HTTPRoute sso")
			}
			parents, _, _ := unstructured.NestedSlice(u.Object, "spec", "parentRefs")
			want := []any{map[string]any{"name": "public", "namespace": "gateway-system", "sectionName": "https"}}
			if !equality.Semantic.DeepEqual(parents, want) {
				t.Errorf("parentRefs %v, want %v", parents, want)
			}
			hosts, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "hostnames")
			if !equality.Semantic.DeepEqual(hosts, []string{tc.host}) {
				t.Errorf("hostnames %v, want [%s]", hosts, tc.host)
			}
			rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
			if len(rules) != 1 {
				t.Fatalf("rules %v, want one", rules)
			}
			backends, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "backendRefs")
			if len(backends) != 1 {
				t.Fatalf("backendRefs %v, want one", backends)
			}
			b := backends[0].(map[string]any)
			if b["name"] != "sso" || fmt.Sprint(b["port"]) != fmt.Sprint(tc.port) {
				t.Errorf("backend %v, want the OAuth Service sso:%d", b, tc.port)
			}
		})
	}
}

// TestCRDTemplates: the CRDs are templates, kept on uninstall by default;
// crds.keep=false drops the policy, crds.enabled=false the CRDs.
func TestCRDTemplates(t *testing.T) {
	crds := render(t)["CustomResourceDefinition"]
	if len(crds) != 5 {
		t.Fatalf("%d CRDs rendered, want 5: %v", len(crds), keys(crds))
	}
	for name, u := range crds {
		if u.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s: no helm.sh/resource-policy: keep", name)
		}
		if u.GetLabels()["app.kubernetes.io/instance"] != "authops" {
			t.Errorf("CRD %s: labels %v, want the release's", name, u.GetLabels())
		}
	}
	for name, u := range render(t, "--set", "crds.keep=false")["CustomResourceDefinition"] {
		if _, ok := u.GetAnnotations()["helm.sh/resource-policy"]; ok {
			t.Errorf("crds.keep=false: CRD %s still has the keep policy", name)
		}
	}
	if crds := render(t, "--set", "crds.enabled=false")["CustomResourceDefinition"]; len(crds) != 0 {
		t.Errorf("crds.enabled=false renders CRDs %v", keys(crds))
	}
}
