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

// Package rbac checks the ClusterRoles that config/rbac aggregates into
// Kubernetes' built-in view, edit and admin roles, with `kubectl auth can-i`
// against the source-built API server (RBAC authorization) and the
// clusterrole-aggregation controller of a source-built kube-controller-
// manager (envtest runs no controllers, so without it the built-in roles
// stay empty).
package rbac_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	testenv "github.com/authops/authops/test/envtest"
	"github.com/authops/authops/test/stack"
)

var (
	api *stack.APIServer // its kubeconfig's user is in system:masters, so it may impersonate
	k8s client.Client
)

func TestAggregatedRoles(t *testing.T) {
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	reporterConfig.Verbose = true
	reporterConfig.NoColor = true
	RunSpecs(t, "RBAC for application teams: aggregated ClusterRoles", suiteConfig, reporterConfig)
}

var _ = BeforeSuite(func(ctx SpecContext) {
	// Both binaries are checked first, so a missing one says which make
	// target builds it before anything starts.
	_, err := testenv.ControllerManagerPath()
	Expect(err).NotTo(HaveOccurred(), "the aggregation needs kube-controller-manager: it is built, never skipped")
	_, err = stack.Kubectl()
	Expect(err).NotTo(HaveOccurred())

	dir := GinkgoT().TempDir()
	// envtest's kube-apiserver authorizes with RBAC.
	api, err = stack.StartAPIServer(ctx, stack.APIServerOptions{Dir: dir, Namespaces: []string{teamA, teamB}})
	Expect(err).NotTo(HaveOccurred(), "the test API server must be built, never skipped")
	DeferCleanup(func() { Expect(api.Stop()).To(Succeed()) })
	k8s = api.Client

	roles, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "rbac", "aggregate_to_*_role.yaml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(roles).To(HaveLen(3), "config/rbac holds aggregate_to_{view,edit,admin}_role.yaml")
	for _, f := range roles {
		out, err := api.Kubectl(ctx, "apply", "--server-side", "-f", f)
		Expect(err).NotTo(HaveOccurred(), out)
	}
	bindTeams(ctx)

	// The check can fail: before the aggregation, the built-in roles grant
	// nothing on authops kinds.
	Expect(canI(ctx, as{user: editUser, ns: teamA}, "create", "oauthclients")).To(BeFalse(),
		"edit may create oauthclients before any aggregation: the check below cannot tell what the aggregation adds")

	cm, err := testenv.StartControllerManager(api.Env, dir, "clusterrole-aggregation-controller")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(cm.Stop()).To(Succeed()) })
	Eventually(func(g Gomega) {
		exited, err := cm.Exited()
		g.Expect(exited).To(BeFalse(), "kube-controller-manager exited (%v); its log: %s", err, cm.Log)
		g.Expect(aggregationSettled(ctx)).To(Succeed())
	}).WithContext(ctx).WithTimeout(90*time.Second).WithPolling(time.Second).Should(Succeed(),
		"the clusterrole-aggregation controller did not settle; its log: %s", cm.Log)
	for _, name := range []string{"view", "edit", "admin"} {
		role := &rbacv1.ClusterRole{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, role)).To(Succeed())
		GinkgoWriter.Printf("ClusterRole %s aggregated %d rules\n", name, len(role.Rules))
	}
}, NodeTimeout(5*time.Minute))

// aggregationSettled returns nil once every ClusterRole with an
// aggregationRule holds every rule of the ClusterRoles it selects: the
// controller's fixed point, chains included (view is selected by edit, edit
// by admin). It needs the built-in rules too, so it never holds before the
// controller ran.
func aggregationSettled(ctx context.Context) error {
	var list rbacv1.ClusterRoleList
	if err := k8s.List(ctx, &list); err != nil {
		return err
	}
	for _, agg := range list.Items {
		if agg.AggregationRule == nil {
			continue
		}
		if len(agg.Rules) == 0 {
			return fmt.Errorf("ClusterRole %s has no rules yet", agg.Name)
		}
		for _, sel := range agg.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				return err
			}
			for _, part := range list.Items {
				if part.Name == agg.Name || !s.Matches(labels.Set(part.Labels)) {
					continue
				}
				for _, r := range part.Rules {
					if !hasRule(agg.Rules, r) {
						return fmt.Errorf("ClusterRole %s lacks rule %v of %s", agg.Name, r, part.Name)
					}
				}
			}
		}
	}
	return nil
}

func hasRule(rules []rbacv1.PolicyRule, r rbacv1.PolicyRule) bool {
	for _, x := range rules {
		if equality.Semantic.DeepEqual(x, r) {
			return true
		}
	}
	return false
}

// The namespaces and the users bound in them.
const (
	teamA = "team-a"
	teamB = "team-b"

	viewUser  = "alice-view"
	editUser  = "bob-edit"
	adminUser = "carol-admin"
	// Bound cluster-wide with a ClusterRoleBinding to view, edit, admin.
	clusterViewUser  = "dan-cluster-view"
	clusterEditUser  = "erin-cluster-edit"
	clusterAdminUser = "frank-cluster-admin"
	// Bound to nothing.
	nobody = "mallory"
)

// bindTeams creates RoleBindings in team-a from the
// built-in ClusterRoles view, edit and admin, and ClusterRoleBindings to
// the same roles.
func bindTeams(ctx context.Context) {
	GinkgoHelper()
	for role, user := range map[string]string{"view": viewUser, "edit": editUser, "admin": adminUser} {
		Expect(k8s.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: teamA},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		})).To(Succeed())
	}
	for role, user := range map[string]string{"view": clusterViewUser, "edit": clusterEditUser, "admin": clusterAdminUser} {
		Expect(k8s.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: user},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		})).To(Succeed())
	}
}

// as is who asks (user "" is the administrator itself) and where (ns ""
// is cluster scope).
type as struct{ user, ns string }

func (a as) String() string {
	if a.user == "" {
		a.user = "the administrator (system:masters)"
	}
	if a.ns == "" {
		return a.user + " (cluster scope)"
	}
	return a.user + " in " + a.ns
}

// canI runs `kubectl auth can-i verb resource.oauth.authops.io` as the
// user (impersonated by the administrator, with no groups). resource may
// end in /subresource. An answer that is neither yes nor no is an error.
func canI(ctx context.Context, who as, verb, resource string) (bool, error) {
	res, sub, _ := strings.Cut(resource, "/")
	args := []string{"auth", "can-i", verb, res + ".oauth.authops.io"}
	if who.user != "" {
		args = append(args, "--as="+who.user)
	}
	if sub != "" {
		args = append(args, "--subresource="+sub)
	}
	if who.ns != "" {
		args = append(args, "--namespace="+who.ns)
	}
	// can-i exits 1 for "no": the answer is its output.
	out, err := api.Kubectl(ctx, args...)
	switch answer := strings.TrimSpace(out); {
	case answer == "yes":
		return true, nil
	case strings.HasPrefix(answer, "no"):
		return false, nil
	default:
		return false, fmt.Errorf("kubectl %s: neither yes nor no: %q (%v)", strings.Join(args, " "), out, err)
	}
}
