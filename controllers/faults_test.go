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
	"context"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// faults makes chosen API requests of the manager's client fail, as an API
// server that is briefly unavailable would. The suite's own client (k8s) is
// not affected.
var faults = &faultInjector{deletes: map[types.NamespacedName]bool{}, deleted: map[types.NamespacedName]int{}}

type faultInjector struct {
	mu sync.Mutex
	// deleted counts the manager's deletions of each Secret (sent, whether
	// or not the Secret existed).
	deleted map[types.NamespacedName]int
	// deletes maps a Secret to whether the fault was hit: the first
	// deletion or patch (a retirement, see snapshotStore.retire) of an
	// armed Secret fails, later ones go through.
	deletes map[types.NamespacedName]bool
}

// failDeleteOnce makes the next deletion or patch of the Secret fail.
func (f *faultInjector) failDeleteOnce(key types.NamespacedName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes[key] = false
}

// hit says whether the armed deletion of the Secret failed.
func (f *faultInjector) hit(key types.NamespacedName) func() bool {
	return func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.deletes[key]
	}
}

// take reports whether a deletion of obj must fail now, and records it.
func (f *faultInjector) take(obj client.Object) bool {
	if _, ok := obj.(*corev1.Secret); !ok {
		return false
	}
	key := client.ObjectKeyFromObject(obj)
	f.mu.Lock()
	defer f.mu.Unlock()
	hit, armed := f.deletes[key]
	if !armed || hit {
		return false
	}
	f.deletes[key] = true
	return true
}

// faultyClient is the manager's client with faults injected.
type faultyClient struct{ client.Client }

func newFaultyClient(cfg *rest.Config, opts client.Options) (client.Client, error) {
	c, err := client.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	return faultyClient{c}, nil
}

func (c faultyClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if faults.take(obj) {
		return apierrors.NewServiceUnavailable("injected fault: the patch of " + client.ObjectKeyFromObject(obj).String() + " fails once")
	}
	return c.Client.Patch(ctx, obj, patch, opts...)
}

// deletions is how many deletions of the Secret the manager sent.
func (f *faultInjector) deletions(key types.NamespacedName) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deleted[key]
}

func (c faultyClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		faults.mu.Lock()
		faults.deleted[client.ObjectKeyFromObject(obj)]++
		faults.mu.Unlock()
	}
	if faults.take(obj) {
		return apierrors.NewServiceUnavailable("injected fault: the deletion of " + client.ObjectKeyFromObject(obj).String() + " fails once")
	}
	return c.Client.Delete(ctx, obj, opts...)
}

var _ = Describe("An OAuthClient that may no longer be served", func() {
	It("leaves the snapshot even when the first removal of its entry fails", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "app", authCode)
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		clientDoc(ctx, c)
		expectSettled(ctx, c)

		By("making the write of its snapshot entry fail once, then allowing none of its grant types")
		entry := types.NamespacedName{Namespace: operatorNamespace, Name: snapshotSecretName(snapshot.KindClient, c.UID)}
		faults.failDeleteOnce(entry)
		Expect(k8s.Create(ctx, &oauthv1alpha1.GrantPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"},
			Spec: oauthv1alpha1.GrantPolicySpec{
				AllowedGrantTypes:   []oauthv1alpha1.GrantType{clientCr},
				AllowedScopes:       []oauthv1alpha1.Scope{"openid"},
				AccessTokenLifetime: &metav1.Duration{Duration: 15 * time.Minute},
				ErrorProfile:        oauthv1alpha1.ErrorProfileRFC,
			},
		})).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NoUsableGrantReason)
		Eventually(faults.hit(entry), timeout, interval).Should(BeTrue(), "the injected fault must be hit")

		By("retrying the write: a client whose status says it is not served must not stay served")
		// Its entry has no usable grant, which the authserver serves as
		// absent.
		expectServedAsAbsent(ctx, c.UID)
		expectCondition(ctx, c, oauthv1alpha1.StalledCondition, metav1.ConditionTrue, oauthv1alpha1.NoUsableGrantReason)
		expectSettled(ctx, c)

		By("allowing a grant again, then making the retirement of its entry fail once and naming a policy that does not exist")
		update(ctx, &oauthv1alpha1.GrantPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}, func(gp *oauthv1alpha1.GrantPolicy) {
			gp.Spec.AllowedGrantTypes = []oauthv1alpha1.GrantType{authCode}
		})
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectSettled(ctx, c)
		faults.failDeleteOnce(entry)
		update(ctx, c, func(c *oauthv1alpha1.OAuthClient) {
			c.Spec.GrantPolicyRef = &oauthv1alpha1.LocalObjectReference{Name: "missing"}
		})
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.PolicyNotFoundReason)
		Eventually(faults.hit(entry), timeout, interval).Should(BeTrue(), "the injected fault must be hit")

		By("retrying the retirement (PolicyNotFound waits for the policy: Reconciling stays True)")
		expectNotServed(ctx, snapshot.KindClient, c.UID)
	})
})
