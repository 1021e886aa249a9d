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

package rbac_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var (
	read  = []string{"get", "list", "watch"}
	write = []string{"create", "update", "patch", "delete", "deletecollection"}
	all   = append(append([]string{}, read...), write...)

	namespacedKinds = []string{"oauthclients", "grantpolicies", "accounts", "resourceservers"}
	statuses        = []string{"oauthclients/status", "grantpolicies/status", "accounts/status", "resourceservers/status"}

	everyone = []as{
		{viewUser, teamA}, {editUser, teamA}, {adminUser, teamA},
		{clusterViewUser, ""}, {clusterEditUser, ""}, {clusterAdminUser, ""},
		{nobody, teamA}, {nobody, ""},
	}
)

// expectCanI asks `kubectl auth can-i` for every verb on every resource
// (a few at a time: each is a kubectl process) and lists every answer that
// differs from want.
func expectCanI(who as, resources, verbs []string, want bool) {
	GinkgoHelper()
	type check struct{ verb, resource string }
	var checks []check
	for _, r := range resources {
		for _, v := range verbs {
			checks = append(checks, check{v, r})
		}
	}
	wrong, errs := make([]string, len(checks)), make([]error, len(checks))
	var wg sync.WaitGroup
	limit := make(chan struct{}, 4)
	for i, c := range checks {
		wg.Go(func() {
			limit <- struct{}{}
			defer func() { <-limit }()
			got, err := canI(context.Background(), who, c.verb, c.resource)
			if errs[i] = err; err == nil && got != want {
				wrong[i] = fmt.Sprintf("%s %s: %s", c.verb, c.resource, yesNo(got))
			}
		})
	}
	wg.Wait()
	Expect(errors.Join(errs...)).To(Succeed())
	wrong = slices.DeleteFunc(wrong, func(s string) bool { return s == "" })
	Expect(wrong).To(BeEmpty(), "%s: want %s for every verb, kubectl auth can-i answered:\n  %s",
		who, yesNo(want), strings.Join(wrong, "\n  "))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

var _ = Describe("The built-in roles, bound in a namespace", func() {
	DescribeTable("kubectl auth can-i",
		func(who as, resources, verbs []string, want bool) { expectCanI(who, resources, verbs, want) },
		Entry("view reads all four kinds", as{viewUser, teamA}, namespacedKinds, read, true),
		Entry("view changes none", as{viewUser, teamA}, namespacedKinds, write, false),
		Entry("view reads their status", as{viewUser, teamA}, statuses, read, true),

		Entry("edit reads all four kinds (view is part of edit)", as{editUser, teamA}, namespacedKinds, read, true),
		Entry("edit manages OAuthClients", as{editUser, teamA}, []string{"oauthclients"}, write, true),
		Entry("edit changes no GrantPolicy, Account or ResourceServer", as{editUser, teamA},
			[]string{"grantpolicies", "accounts", "resourceservers"}, write, false),

		Entry("admin manages all four kinds", as{adminUser, teamA}, namespacedKinds, all, true),

		Entry("status stays the controllers': view", as{viewUser, teamA}, statuses, []string{"update", "patch"}, false),
		Entry("status stays the controllers': edit", as{editUser, teamA}, statuses, []string{"update", "patch"}, false),
		Entry("status stays the controllers': admin", as{adminUser, teamA}, statuses, []string{"update", "patch"}, false),

		Entry("a RoleBinding reaches no other namespace: admin", as{adminUser, teamB}, namespacedKinds, all, false),
		Entry("a RoleBinding reaches no other namespace: edit", as{editUser, teamB}, namespacedKinds, all, false),
		Entry("nobody bound does nothing", as{nobody, teamA}, namespacedKinds, all, false),
	)
})

var _ = Describe("The built-in roles, bound cluster-wide", func() {
	DescribeTable("kubectl auth can-i",
		func(who as, resources, verbs []string, want bool) { expectCanI(who, resources, verbs, want) },
		// These make the ClusterGrantPolicy checks below meaningful: the
		// same bindings do reach namespaced kinds everywhere.
		Entry("cluster-wide edit manages OAuthClients in any namespace", as{clusterEditUser, teamB}, []string{"oauthclients"}, all, true),
		Entry("cluster-wide admin manages all four kinds in any namespace", as{clusterAdminUser, teamB}, namespacedKinds, all, true),
		Entry("cluster-wide view reads all four kinds in any namespace", as{clusterViewUser, teamB}, namespacedKinds, read, true),
	)
})

var _ = Describe("ClusterGrantPolicies stay with cluster administrators", func() {
	DescribeTable("kubectl auth can-i: no built-in role, however bound, reads or changes them",
		func(who as) {
			expectCanI(who, []string{"clustergrantpolicies", "clustergrantpolicies/status"}, all, false)
		},
		func() []TableEntry {
			var entries []TableEntry
			for _, who := range everyone {
				entries = append(entries, Entry(who.String(), who))
			}
			return entries
		}(),
	)
	It("are what system:masters may change (the check can say yes)", func(ctx SpecContext) {
		Expect(canI(ctx, as{}, "create", "clustergrantpolicies")).To(BeTrue())
	})
})
