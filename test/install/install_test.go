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

// Package install checks the install manifests: the Helm chart (lint, the
// schema's rejections) and every object rendered by helm template and
// kustomize build, applied with server-side dry-run to the source-built API
// server, so each is valid for its Kubernetes version.
package install

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	ctrlenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/authops/authops/test/envtest"
)

const (
	namespace = "authops-system"
	// kubeVersion is the test API server's: the chart is rendered for it
	// (bin/helm assumes 1.37 anyway, see the Makefile).
	kubeVersion = "v1.37.2"
	// mapAPI is what helm template must be told the cluster serves for the
	// chart to render the MutatingAdmissionPolicy (GA in 1.36; helm's
	// built-in capabilities predate it): a real 1.37 cluster says so.
	mapAPI = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"
)

var (
	root  = envtest.RepoRoot()
	chart = filepath.Join(root, "charts", "authops")
)

// TestHelmLint runs helm lint with the default values and each CI values file.
func TestHelmLint(t *testing.T) {
	helm := tool(t, "HELM", "helm-*")
	for _, values := range append([]string{""}, ciValues(t)...) {
		args := []string{"lint", "--strict", "--kube-version", kubeVersion, chart}
		if values != "" {
			args = append(args, "-f", values)
		}
		run(t, helm, args...)
	}
}

// TestSchemaRejects shows values.schema.json refusing impossible values with
// its message, and accepting their fixed versions.
func TestSchemaRejects(t *testing.T) {
	helm := tool(t, "HELM", "helm-*")
	for _, tc := range []struct {
		name string
		set  []string
		want string // in the error; empty: must render
	}{
		{"several replicas on SQLite", []string{"replicas=3"}, "/replicas"},
		{"several replicas on PostgreSQL", []string{"replicas=3", "store.type=postgres", "store.postgres.existingSecret=db"}, ""},
		{"issuer without a scheme", []string{"issuer=auth.example.com"}, "issuer"},
		{"issuer with a trailing slash", []string{"issuer=https://auth.example.com/"}, "issuer"},
		{"issuer with a query", []string{"issuer=https://auth.example.com?x=1"}, "issuer"},
		{"http issuer off loopback", []string{"issuer=http://auth.example.com"}, "issuer"},
		{"http issuer on loopback", []string{"issuer=http://127.0.0.1:8443"}, ""},
		{"issuer with a path", []string{"issuer=https://example.com/auth"}, ""},
		{"postgres without its Secret", []string{"store.type=postgres"}, "existingSecret"},
		{"an unknown store", []string{"store.type=mysql"}, "store"},
		{"two TLS sources", []string{"tls.existingSecret=x", "tls.certManager.enabled=true", "tls.certManager.issuerRef.name=ca"}, "tls"},
		{"cert-manager without an issuer", []string{"tls.certManager.enabled=true"}, "issuerRef"},
		{"an Ingress without a host", []string{"ingress.enabled=true", "ingress.host="}, "host"},
		{"an unknown error profile", []string{"defaultErrorProfile=Strict"}, "defaultErrorProfile"},
		{"a trusted proxy that is not a CIDR", []string{"trustedProxies={ingress-nginx}"}, "trustedProxies"},
		{"trusted proxies", []string{"trustedProxies={10.244.0.0/16,fd00::/8}", "forwardedHeader=Forwarded"}, ""},
		{"an unknown forwarded header", []string{"forwardedHeader=X-Real-IP"}, "forwardedHeader"},
		{"aggregated roles set to a string", []string{"rbac.aggregateToDefaultRoles=maybe"}, "aggregateToDefaultRoles"},
		{"aggregated roles off", []string{"rbac.aggregateToDefaultRoles=false"}, ""},
		{"an unknown pod shape", []string{"authserver.mode=daemonset"}, "mode"},
		{"the sidecar shape", []string{"authserver.mode=sidecar"}, ""},
		{"the sidecar shape with several replicas on SQLite", []string{"authserver.mode=sidecar", "replicas=2"}, "/replicas"},
		{"no manager", []string{"manager.replicas=0"}, "replicas"},
		{"a lease duration that is not a duration", []string{"manager.leaderElection.leaseDuration=long"}, "leaseDuration"},
		{"leader election timing", []string{"manager.leaderElection.leaseDuration=60s", "manager.leaderElection.renewDeadline=40s"}, ""},
		{"SQLite in an emptyDir", []string{"store.sqlite.persistence.enabled=false"}, ""},
		{"SQLite on an existing claim", []string{"store.sqlite.persistence.existingClaim=data"}, ""},
		// Unknown keys: a typo fails with its name instead of being ignored.
		{"a typo at the top level", []string{"replica=3"}, "additional properties 'replica' not allowed"},
		{"a typo in store", []string{"store.sqllite.persistence.enabled=false"}, "additional properties 'sqllite' not allowed"},
		{"a typo in persistence", []string{"store.sqlite.persistence.enable=false"}, "additional properties 'enable' not allowed"},
		{"a typo in manager", []string{"manager.replica=2"}, "additional properties 'replica' not allowed"},
		{"a typo in tls", []string{"tls.existingSecrets=x"}, "additional properties 'existingSecrets' not allowed"},
		{"a typo in ingress", []string{"ingress.hosts=auth.example.com"}, "additional properties 'hosts' not allowed"},
		{"a typo in crds", []string{"crds.keepp=false"}, "additional properties 'keepp' not allowed"},
		{"a typo in networkPolicy", []string{"networkPolicy.enable=true"}, "additional properties 'enable' not allowed"},
		{"a subchart's global values", []string{"global.imageRegistry=registry.example.com"}, ""},
		{"CRDs off and not kept", []string{"crds.enabled=false", "crds.keep=false"}, ""},
		{"a name override that is not a DNS label", []string{"nameOverride=Auth_Ops"}, "nameOverride"},
		{"extraArgs that is not a list of strings", []string{"authserver.extraArgs=--x"}, "extraArgs"},
		{"an HTTPRoute without a Gateway", []string{"httpRoute.enabled=true"}, "parentRefs"},
		{"an HTTPRoute", []string{"httpRoute.enabled=true", "httpRoute.parentRefs[0].name=public"}, ""},
		{"a NetworkPolicy without the API server's addresses", []string{"networkPolicy.enabled=true"}, "apiServerCIDRs"},
		{"a NetworkPolicy with an API server address that is not a CIDR", []string{"networkPolicy.enabled=true", "networkPolicy.manager.apiServerCIDRs={kubernetes.default}"}, "apiServerCIDRs"},
		{"a NetworkPolicy", []string{"networkPolicy.enabled=true", "networkPolicy.manager.apiServerCIDRs={192.0.2.10/32}"}, ""},
		{"OpenShift's assigned user", []string{"podSecurityContext.runAsUser=null", "podSecurityContext.runAsGroup=null", "podSecurityContext.fsGroup=null"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", "authops", chart, "--namespace", namespace, "--kube-version", kubeVersion}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			out, err := exec.Command(helm, args...).CombinedOutput()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("helm template %v: want success, got %v:\n%s", tc.set, err, out)
			case tc.want != "" && err == nil:
				t.Fatalf("helm template %v: want a schema rejection, it rendered", tc.set)
			case tc.want != "" && (!strings.Contains(string(out), "values don't meet the specifications of the schema") || !strings.Contains(string(out), tc.want)):
				t.Fatalf("helm template %v: want the schema's rejection naming %q, got:\n%s", tc.set, tc.want, out)
			}
			if tc.want != "" {
				t.Logf("rejected as expected:\n%s", strings.TrimSpace(string(out)))
			}
		})
	}
}

// TestSQLiteReplicasFail: with the schema skipped (helm
// --skip-schema-validation), the templates still refuse several replicas on
// SQLite, with a message that says why and what to do.
func TestSQLiteReplicasFail(t *testing.T) {
	helm := tool(t, "HELM", "helm-*")
	for _, shape := range []string{"standalone", "sidecar"} {
		out, err := exec.Command(helm, "template", "authops", chart, "--namespace", namespace, "--kube-version", kubeVersion,
			"--skip-schema-validation", "--set", "replicas=2", "--set", "authserver.mode="+shape).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "replicas=2 with store.type sqlite") || !strings.Contains(string(out), "store.type postgres") {
			t.Errorf("%s: replicas=2 on SQLite without the schema: want the chart's refusal, got %v:\n%s", shape, err, out)
		}
	}
}

// TestManifestsDryRun renders the chart (default values and each CI values
// file) and the kustomize trees, and applies every object with server-side
// dry-run to the source-built API server.
func TestManifestsDryRun(t *testing.T) {
	helm := tool(t, "HELM", "helm-*")
	kustomize := tool(t, "KUSTOMIZE", "kustomize-*")

	renders := map[string][]byte{
		"helm template (default values)": run(t, helm, "template", "authops", chart, "--namespace", namespace, "--kube-version", kubeVersion,
			"--api-versions", mapAPI),
		"kustomize build config/default":           run(t, kustomize, "build", filepath.Join(root, "config", "default")),
		"kustomize build config/overlays/postgres": run(t, kustomize, "build", filepath.Join(root, "config", "overlays", "postgres")),
		"kustomize build config/overlays/sidecar":  run(t, kustomize, "build", filepath.Join(root, "config", "overlays", "sidecar")),
	}
	// The pod shape each render must have (see checkShape).
	shapes := map[string]shape{
		"helm template (default values)":           {standalone: true, replicas: 1, persistent: true},
		"kustomize build config/default":           {standalone: true, replicas: 1, persistent: true},
		"kustomize build config/overlays/postgres": {standalone: true, replicas: 3},
		"kustomize build config/overlays/sidecar":  {replicas: 1, persistent: true},
		"helm template -f postgres-ha-values.yaml": {standalone: true, replicas: 3},
		"helm template -f sqlite-pvc-values.yaml":  {standalone: true, replicas: 1, persistent: true},
		"helm template -f sidecar-values.yaml":     {replicas: 1},
		"helm template -f extras-values.yaml":      {standalone: true, replicas: 2},
	}
	for _, values := range ciValues(t) {
		renders["helm template -f "+filepath.Base(values)] = run(t, helm, "template", "authops", chart, "--namespace", namespace, "--kube-version", kubeVersion,
			"--api-versions", mapAPI, "-f", values)
	}

	env, cfg := startAPIServer(t, filepath.Join(root, "config", "crd", "bases"), filepath.Join("testdata", "thirdparty-crds.yaml"))
	a := newApplier(t, cfg)
	t.Run("helm install NOTES", func(t *testing.T) { checkNotes(t, env, helm) })

	// The check can fail: an object the API server refuses is reported.
	broken := decode(t, []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"broken","namespace":"authops-system"},
		"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i","securityContext":{"runAsNonRoot":"yes"}}]}}}}`))
	if err := a.dryRun(broken[0]); err == nil {
		t.Fatal("a Deployment with an invalid field passed the dry-run: the check cannot fail")
	}

	for name, data := range renders {
		t.Run(name, func(t *testing.T) {
			objs := decode(t, data)
			kinds := map[string]int{}
			for _, u := range objs {
				kinds[u.GetKind()]++
				if err := a.dryRun(u); err != nil {
					t.Errorf("%s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
				}
			}
			for _, want := range []string{"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "Role", "Deployment", "Service",
				"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"} {
				if kinds[want] == 0 {
					t.Errorf("renders no %s", want)
				}
			}
			want, ok := shapes[name]
			if !ok {
				t.Fatalf("no expected shape for %q: add it to shapes", name)
			}
			checkShape(t, objs, want)
			t.Logf("%d objects valid (server-side dry-run): %v", len(objs), kinds)
		})
	}
}

// TestAggregatedRoles checks that the chart's ClusterRoles aggregated into
// the built-in view, edit and admin roles are config/rbac's (which test/rbac
// checks with kube-controller-manager and kubectl auth can-i): the same
// rules and the same aggregation labels; and that the value turns them off.
func TestAggregatedRoles(t *testing.T) {
	helm := tool(t, "HELM", "helm-*")
	render := func(set ...string) map[string]*unstructured.Unstructured {
		args := []string{"template", "authops", chart, "--namespace", namespace, "--kube-version", kubeVersion}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		return aggregatedRoles(decode(t, run(t, helm, args...)))
	}

	chartRoles := render()
	for _, role := range []string{"view", "edit", "admin"} {
		data, err := os.ReadFile(filepath.Join(root, "config", "rbac", "aggregate_to_"+role+"_role.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		want := decode(t, data)[0]
		got := chartRoles["authops-aggregate-to-"+role]
		if got == nil {
			t.Errorf("the chart renders no ClusterRole authops-aggregate-to-%s; it renders %v", role, keys(chartRoles))
			continue
		}
		if !equality.Semantic.DeepEqual(got.Object["rules"], want.Object["rules"]) {
			t.Errorf("authops-aggregate-to-%s: the chart's rules differ from config/rbac's (run 'make chart'):\nchart:  %v\nconfig: %v", role, got.Object["rules"], want.Object["rules"])
		}
		if g, w := aggregationLabels(got), aggregationLabels(want); !equality.Semantic.DeepEqual(g, w) || len(w) == 0 {
			t.Errorf("authops-aggregate-to-%s: aggregation labels %v, config/rbac has %v", role, g, w)
		}
	}
	if len(chartRoles) != 3 {
		t.Errorf("the chart renders %d aggregated ClusterRoles, want 3: %v", len(chartRoles), keys(chartRoles))
	}
	if off := render("rbac.aggregateToDefaultRoles=false"); len(off) != 0 {
		t.Errorf("rbac.aggregateToDefaultRoles=false still renders %v", keys(off))
	}
}

const aggregateLabelPrefix = "rbac.authorization.k8s.io/aggregate-to-"

// aggregatedRoles returns the ClusterRoles with an aggregation label, by name.
func aggregatedRoles(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	roles := map[string]*unstructured.Unstructured{}
	for _, u := range objs {
		if u.GetKind() == "ClusterRole" && len(aggregationLabels(u)) > 0 {
			roles[u.GetName()] = u
		}
	}
	return roles
}

func aggregationLabels(u *unstructured.Unstructured) map[string]string {
	l := map[string]string{}
	for k, v := range u.GetLabels() {
		if strings.HasPrefix(k, aggregateLabelPrefix) {
			l[k] = v
		}
	}
	return l
}

func keys(m map[string]*unstructured.Unstructured) []string {
	var names []string
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// startAPIServer starts the test API server with the CRDs of crdPaths
// (none: an API server without CRDs) and stops it when the test ends.
func startAPIServer(t *testing.T, crdPaths ...string) (*ctrlenvtest.Environment, *rest.Config) {
	t.Helper()
	env, err := envtest.New()
	if err != nil {
		t.Fatal(err)
	}
	env.CRDDirectoryPaths = crdPaths
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	return env, cfg
}

// applier applies objects with server-side dry-run; Namespaces are created
// for real (namespaced objects cannot be dry-run into a missing namespace).
type applier struct {
	t       *testing.T
	dyn     dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
	kube    kubernetes.Interface
	timeout time.Duration
}

func newApplier(t *testing.T, cfg *rest.Config) *applier {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{t: t, dyn: dyn, kube: kube, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), timeout: 30 * time.Second}
}

func (a *applier) dryRun(u *unstructured.Unstructured) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	gvk := u.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		a.mapper.Reset()
		mapping, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if u.GetNamespace() == "" {
			return errors.New("namespaced object without a namespace")
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: u.GetNamespace()}}
		if _, err := a.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		ri = a.dyn.Resource(mapping.Resource).Namespace(u.GetNamespace())
	}
	if gvk.Kind == "Namespace" {
		if _, err := ri.Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		return nil
	}
	_, err = ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "authops-install-test", Force: true, DryRun: []string{metav1.DryRunAll}})
	return err
}

// decode splits a multi-document YAML stream into objects.
func decode(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding the rendered YAML: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	if len(objs) == 0 {
		t.Fatal("nothing rendered")
	}
	return objs
}

// ciValues returns the chart's CI values files.
func ciValues(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(chart, "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no values files in %s/ci: %v", chart, err)
	}
	return files
}

// tool finds a pinned tool: $env (the Makefile sets it), else bin/<glob>.
// A missing tool fails the test, naming the make target.
func tool(t *testing.T, env, glob string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		return p
	}
	matches, _ := filepath.Glob(filepath.Join(root, "bin", glob))
	if len(matches) == 0 {
		t.Fatalf("%s not found in bin/: run 'make %s' (or 'make test', which installs it)", glob, strings.ToLower(env))
	}
	return matches[len(matches)-1]
}

// run runs a command and returns its standard output, failing the test on error.
func run(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("%s %s: %s", filepath.Base(bin), strings.Join(args, " "), s)
	}
	return out
}

// TestSnapshotFinalizerPolicyNeeds136: the chart renders the
// MutatingAdmissionPolicy only for a cluster that serves it (GA in
// Kubernetes 1.36; the chart's kubeVersion allows 1.30), so an install on
// an older cluster does not fail on an unknown kind; the manager then adds
// the finalizer itself.
func TestSnapshotFinalizerPolicyNeeds136(t *testing.T) {
	helm := tool(t, "HELM", "helm-*")
	count := func(args ...string) int {
		out := run(t, helm, append([]string{"template", "authops", chart, "--namespace", namespace}, args...)...)
		n := 0
		for _, u := range decode(t, out) {
			if strings.HasPrefix(u.GetKind(), "MutatingAdmissionPolicy") {
				n++
			}
		}
		return n
	}
	if n := count("--kube-version", "v1.35.0"); n != 0 {
		t.Errorf("a 1.35 cluster without the API: %d MutatingAdmissionPolicy objects rendered, want none", n)
	}
	if n := count("--kube-version", kubeVersion, "--api-versions", mapAPI); n != 2 {
		t.Errorf("a cluster serving %s: %d MutatingAdmissionPolicy objects rendered, want the policy and its binding", mapAPI, n)
	}
}
