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

package plugin

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
	testenv "github.com/authops/authops/test/envtest"
)

// The plugin against the source-built API server, with the objects the
// manager and the replicas would write created by the test (the whole
// stack runs the plugin in test/e2e, TestKubectlPlugin).

// kubeconfig writes a kubeconfig for cfg whose context's namespace is ns.
func kubeconfig(t *testing.T, cfg *rest.Config, ns string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: ns}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlugin(t *testing.T) {
	ctx := context.Background()
	cfg, _ := testenv.StartClientset(t, DefaultOperatorNamespace, "apps")
	path := kubeconfig(t, cfg, "apps")
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Run(ctx, append([]string{"--kubeconfig", path}, args...), &out)
		return out.String(), err
	}
	o := options{kubeconfig: path}
	c, ns, err := o.connect()
	if err != nil || ns != "apps" {
		t.Fatalf("connect: namespace %q, %v", ns, err)
	}
	create := func(obj client.Object) {
		t.Helper()
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("status", func(t *testing.T) {
		var revs []int64
		for _, name := range []string{"authops-client-1", "authops-client-2"} {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: DefaultOperatorNamespace, Name: name,
				Labels: map[string]string{snapshot.LabelSnapshot: string(snapshot.KindClient)}}}
			create(s)
			rev, _ := snapshot.ParseRevision(s.ResourceVersion)
			revs = append(revs, rev)
		}
		lease := func(replica string, rev int64, renew time.Time) {
			secs := int32(30)
			rt := metav1.NewMicroTime(renew)
			create(&coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Namespace: DefaultOperatorNamespace, Name: snapshot.ServedLeasePrefix + replica,
					Labels:      map[string]string{snapshot.LabelServed: "true"},
					Annotations: map[string]string{snapshot.AnnotationServedRevision: strconv.FormatInt(rev, 10)}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &replica, LeaseDurationSeconds: &secs, RenewTime: &rt},
			})
		}
		lease("pod-a", revs[1], time.Now())
		lease("pod-b", revs[0], time.Now())
		lease("pod-c", revs[0], time.Now().Add(-time.Minute))
		// One client served, one waiting for the replicas.
		for name, reason := range map[string]string{"served": oauthv1alpha1.ReconciledReason, "waiting": oauthv1alpha1.NotYetServedReason} {
			cl := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name},
				Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{oauthv1alpha1.GrantTypeClientCredentials}}}
			create(cl)
			status := metav1.ConditionFalse
			if reason == oauthv1alpha1.ReconciledReason {
				status = metav1.ConditionTrue
			}
			cl.Status.Conditions = []metav1.Condition{{Type: oauthv1alpha1.ReadyCondition, Status: status, Reason: reason, Message: "m", LastTransitionTime: metav1.Now()}}
			if err := c.Status().Update(ctx, cl); err != nil {
				t.Fatal(err)
			}
		}
		out, err := run("status")
		t.Logf("kubectl authops status:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`(?m)^pod-a\s+` + strconv.FormatInt(revs[1], 10) + `\s+0\s+\S+ ago\s+yes$`,
			`(?m)^pod-b\s+` + strconv.FormatInt(revs[0], 10) + `\s+1 entry\s+\S+ ago\s+yes$`,
			`(?m)^pod-c\s+` + strconv.FormatInt(revs[0], 10) + `\s+1 entry\s+1m\d+s ago\s+no$`,
			`(?m)^2 of 3 replicas live; newest snapshot revision ` + strconv.FormatInt(revs[1], 10) + ` \(2 entries\)$`,
			`(?m)^OAuthClient\s+1\s+1\s+0$`,
		} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("no line matching %s", want)
			}
		}
	})

	t.Run("explain a client whose GrantPolicy does not exist", func(t *testing.T) {
		create(&oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "orphan"},
			Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{oauthv1alpha1.GrantTypeClientCredentials},
				Scopes: []oauthv1alpha1.Scope{"read"}, GrantPolicyRef: &oauthv1alpha1.LocalObjectReference{Name: "missing"}}})
		out, err := run("explain", "orphan") // the context's namespace
		t.Logf("kubectl authops explain orphan:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "Every request gets invalid_client: GrantPolicy missing of grantPolicyRef does not exist in namespace apps") ||
			!regexp.MustCompile(`(?m)^client_credentials\s+invalid_client: `).MatchString(out) {
			t.Errorf("explain does not say that every request gets invalid_client")
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		for args, want := range map[string]string{
			"":                "no command",
			"explain":         "explain takes one argument",
			"token a b":       "token takes one argument",
			"frobnicate":      `unknown command "frobnicate"`,
			"explain nothere": `OAuthClient apps/nothere: oauthclients.oauth.authops.io "nothere" not found`,
		} {
			if _, err := run(strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("kubectl authops %s: %v, want %q", args, err, want)
			}
		}
		if _, err := run("--context", "nope", "status"); err == nil || !strings.Contains(err.Error(), `context "nope" does not exist`) {
			t.Errorf("--context nope: %v", err)
		}
	})
}
