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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// The tenancy rules the controllers enforce (docs/security.md): a client
// ID belongs to one namespace, and the ClusterGrantPolicies cap every
// namespace's policies. ClusterGrantPolicies are cluster-scoped: each spec
// selects only its own namespaces (by label) and grants only IDs named
// after them, and deletes its ClusterGrantPolicies when it ends.

// newClusterPolicy creates a ClusterGrantPolicy for the current spec and
// deletes it when the spec ends.
func newClusterPolicy(ctx context.Context, name string, spec oauthv1alpha1.ClusterGrantPolicySpec) *oauthv1alpha1.ClusterGrantPolicy {
	GinkgoHelper()
	p := &oauthv1alpha1.ClusterGrantPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	Expect(k8s.Create(ctx, p)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, p))).To(Succeed()) })
	return p
}

// selecting is a namespaceSelector for the namespaces labelled key=ns.
func selecting(key, ns string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{key: ns}}
}

// grantsConfigMap returns the grants ConfigMap's data.
func grantsConfigMap(ctx context.Context) func(Gomega) map[string]string {
	return func(g Gomega) map[string]string {
		cm := &corev1.ConfigMap{}
		g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: ClientIDGrantsConfigMap}, cm)).To(Succeed())
		g.Expect(cm.Labels).To(HaveKeyWithValue(LabelManagedBy, ManagedByValue))
		return cm.Data
	}
}

// expectNotServedFor checks for two seconds that a client has no snapshot
// entry (it must not appear, not only be gone at some point).
func expectNotServedFor(ctx context.Context, c *oauthv1alpha1.OAuthClient) {
	GinkgoHelper()
	Consistently(func() bool {
		_, err := snapshotOf(ctx, snapshot.KindClient, c.UID)
		return apierrors.IsNotFound(err)
	}, 2*time.Second, interval).Should(BeTrue(), "the client must not be in the snapshot")
}

var _ = Describe("ClusterGrantPolicy ceiling", func() {
	It("caps a namespace's GrantPolicy and its clients, says what and by which ClusterGrantPolicy, and lifts it again", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		gp := &oauthv1alpha1.GrantPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}, Spec: oauthv1alpha1.GrantPolicySpec{
			AllowedGrantTypes:   []oauthv1alpha1.GrantType{authCode, refresh, clientCr, password},
			AccessTokenLifetime: &metav1.Duration{Duration: 24 * time.Hour},
			PKCE:                oauthv1alpha1.PKCEOptional,
			ErrorProfile:        oauthv1alpha1.ErrorProfileExtended,
		}}
		Expect(k8s.Create(ctx, gp)).To(Succeed())
		c := newClient(ns, "backend", clientCr, password)
		Expect(k8s.Create(ctx, c)).To(Succeed())
		within := expectCondition(ctx, gp, oauthv1alpha1.WithinClusterPolicyCondition, metav1.ConditionTrue, oauthv1alpha1.WithinCeilingReason)
		Expect(within.Message).To(Equal("no ClusterGrantPolicy selects the namespace"))
		expectCondition(ctx, c, oauthv1alpha1.GrantTypesAllowedCondition, metav1.ConditionTrue, oauthv1alpha1.AllowedReason)

		By("creating a ClusterGrantPolicy for namespaces labelled as this one is not yet")
		name := "ceiling-" + ns
		cgp := newClusterPolicy(ctx, name, oauthv1alpha1.ClusterGrantPolicySpec{
			NamespaceSelector:      selecting("authops.test/ceiling", ns),
			AllowedGrantTypes:      []oauthv1alpha1.GrantType{authCode, refresh, clientCr, device},
			MaxAccessTokenLifetime: &metav1.Duration{Duration: time.Hour},
			PKCE:                   oauthv1alpha1.PKCERequired,
			AllowedErrorProfiles:   []oauthv1alpha1.ErrorProfile{oauthv1alpha1.ErrorProfileRFC},
		})
		ready := expectCondition(ctx, cgp, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(ready.Message).To(Equal("the ceiling selects 0 namespaces and caps 0 policies"))
		expectCondition(ctx, cgp, oauthv1alpha1.ClientIDsGrantedCondition, metav1.ConditionTrue, oauthv1alpha1.GrantedReason)
		Consistently(conditionOf(ctx, gp, oauthv1alpha1.WithinClusterPolicyCondition), time.Second, interval).Should(HaveField("Reason", oauthv1alpha1.WithinCeilingReason))

		By("labelling the namespace: the ceiling applies")
		update(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, func(n *corev1.Namespace) {
			n.Labels["authops.test/ceiling"] = ns
		})
		capped := expectCondition(ctx, gp, oauthv1alpha1.WithinClusterPolicyCondition, metav1.ConditionFalse, oauthv1alpha1.CappedByClusterPolicyReason)
		Expect(capped.Message).To(Equal("allowedGrantTypes: password removed by ClusterGrantPolicy " + name +
			"; accessTokenLifetime 24h capped to 1h by ClusterGrantPolicy " + name +
			"; pkce Optional changed to Required by ClusterGrantPolicy " + name +
			"; errorProfile Extended changed to RFC by ClusterGrantPolicy " + name +
			"; the clients get the capped values"))
		gpReady := expectCondition(ctx, gp, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(gpReady.Message).To(ContainSubstring("capped by ClusterGrantPolicy " + name))

		grants := expectCondition(ctx, c, oauthv1alpha1.GrantTypesAllowedCondition, metav1.ConditionFalse, oauthv1alpha1.UnauthorizedClientReason)
		Expect(grants.Message).To(Equal("grant type password is not allowed by ClusterGrantPolicy " + name + "; token requests with it get unauthorized_client"))
		clientReady := expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(clientReady.Message).To(ContainSubstring("restricted: grant type password is not allowed by ClusterGrantPolicy " + name))
		resolved := expectCondition(ctx, c, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.PolicyFoundReason)
		Expect(resolved.Message).To(ContainSubstring("capped by a ClusterGrantPolicy: allowedGrantTypes: password removed by ClusterGrantPolicy " + name))
		Eventually(func(g Gomega) {
			doc, err := snapshotOf(ctx, snapshot.KindClient, c.UID)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(doc.Client.GrantTypes).To(Equal([]string{"client_credentials"}))
			g.Expect(doc.Client.Policy.AccessTokenLifetimeSeconds).To(Equal(int64(3600)))
			g.Expect(doc.Client.Policy.PKCE).To(Equal(snapshot.PKCERequired))
			g.Expect(doc.Client.Policy.ErrorProfile).To(Equal(snapshot.ErrorProfileRFC))
		}, timeout, interval).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cgp), cgp)).To(Succeed())
			g.Expect(cgp.Status.Namespaces).To(Equal(int32(1)))
			g.Expect(cgp.Status.CappedPolicies).To(Equal(int32(1)))
			g.Expect(cgp.Status.ObservedGeneration).To(Equal(cgp.Generation))
		}, timeout, interval).Should(Succeed())

		By("loosening the ClusterGrantPolicy: only what it still cuts is listed")
		update(ctx, cgp, func(p *oauthv1alpha1.ClusterGrantPolicy) {
			p.Spec.AllowedGrantTypes, p.Spec.PKCE, p.Spec.AllowedErrorProfiles = nil, "", nil
		})
		Eventually(conditionOf(ctx, gp, oauthv1alpha1.WithinClusterPolicyCondition), timeout, interval).Should(HaveField("Message",
			"accessTokenLifetime 24h capped to 1h by ClusterGrantPolicy "+name+"; the clients get the capped values"))
		expectCondition(ctx, c, oauthv1alpha1.GrantTypesAllowedCondition, metav1.ConditionTrue, oauthv1alpha1.AllowedReason)
		Eventually(func(g Gomega) []string {
			doc, err := snapshotOf(ctx, snapshot.KindClient, c.UID)
			g.Expect(err).NotTo(HaveOccurred())
			return doc.Client.GrantTypes
		}, timeout, interval).Should(Equal([]string{"client_credentials", "password"}))

		By("deleting it: the policy is within the ceiling again")
		Expect(k8s.Delete(ctx, cgp)).To(Succeed())
		expectCondition(ctx, gp, oauthv1alpha1.WithinClusterPolicyCondition, metav1.ConditionTrue, oauthv1alpha1.WithinCeilingReason)
		Eventually(func(g Gomega) int64 {
			doc, err := snapshotOf(ctx, snapshot.KindClient, c.UID)
			g.Expect(err).NotTo(HaveOccurred())
			return doc.Client.Policy.AccessTokenLifetimeSeconds
		}, timeout, interval).Should(Equal(int64(86400)))
	})

	It("caps the built-in defaults of a namespace without GrantPolicy", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		name := "defaults-" + ns
		cgp := newClusterPolicy(ctx, name, oauthv1alpha1.ClusterGrantPolicySpec{
			NamespaceSelector:      selecting(corev1.LabelMetadataName, ns),
			AllowedGrantTypes:      []oauthv1alpha1.GrantType{clientCr},
			MaxAccessTokenLifetime: &metav1.Duration{Duration: 5 * time.Minute},
		})
		c := newClient(ns, "app", authCode, clientCr)
		Expect(k8s.Create(ctx, c)).To(Succeed())
		grants := expectCondition(ctx, c, oauthv1alpha1.GrantTypesAllowedCondition, metav1.ConditionFalse, oauthv1alpha1.UnauthorizedClientReason)
		Expect(grants.Message).To(Equal("grant type authorization_code is not allowed by ClusterGrantPolicy " + name + "; token requests with it get unauthorized_client"))
		Expect(clientDoc(ctx, c).Policy.AccessTokenLifetimeSeconds).To(Equal(int64(300)))
		Eventually(func(g Gomega) int32 {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cgp), cgp)).To(Succeed())
			return cgp.Status.CappedPolicies
		}, timeout, interval).Should(Equal(int32(1)), "the namespace on the built-in defaults counts as one capped policy")
	})
})

var _ = Describe("client_id ownership", func() {
	It("does not serve a client whose clientID has another namespace's prefix (squatting)", func(ctx SpecContext) {
		victim, mallory := newNamespace(ctx), newNamespace(ctx)
		squat := newClient(mallory, "reports", clientCr)
		squat.Spec.ClientID = victim + ".reports"
		Expect(k8s.Create(ctx, squat)).To(Succeed())

		allowed := expectCondition(ctx, squat, oauthv1alpha1.ClientIDAllowedCondition, metav1.ConditionFalse, oauthv1alpha1.ClientIDNotPermittedReason)
		Expect(allowed.Message).To(Equal(`clientID ` + victim + `.reports must start with "` + mallory + `." or be granted to namespace ` + mallory +
			` by a ClusterGrantPolicy (spec.clientIDs); remove spec.clientID to use the default ` + mallory + `.reports. The client is not served`))
		ready := expectCondition(ctx, squat, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.ClientIDNotPermittedReason)
		Expect(ready.Message).To(Equal(allowed.Message))
		expectCondition(ctx, squat, oauthv1alpha1.StalledCondition, metav1.ConditionTrue, oauthv1alpha1.ClientIDNotPermittedReason)
		expectNotServedFor(ctx, squat)
		expectEvent(ctx, "OAuthClient", squat, corev1.EventTypeWarning, oauthv1alpha1.ClientIDNotPermittedReason)
	})

	It("never passes a client_id to an older client of another namespace when its owner is deleted and recreated", func(ctx SpecContext) {
		victim, mallory := newNamespace(ctx), newNamespace(ctx)
		squat := newClient(mallory, "reports", clientCr)
		squat.Spec.ClientID = victim + ".reports"
		Expect(k8s.Create(ctx, squat)).To(Succeed())
		expectCondition(ctx, squat, oauthv1alpha1.ClientIDAllowedCondition, metav1.ConditionFalse, oauthv1alpha1.ClientIDNotPermittedReason)
		time.Sleep(1100 * time.Millisecond) // creationTimestamp has a one-second resolution: the squatter is older

		owner := newClient(victim, "reports", clientCr)
		Expect(k8s.Create(ctx, owner)).To(Succeed())
		expectCondition(ctx, owner, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectCondition(ctx, owner, oauthv1alpha1.ClientIDAllowedCondition, metav1.ConditionTrue, oauthv1alpha1.ClientIDPermittedReason)
		expectCondition(ctx, owner, oauthv1alpha1.ClientIDAvailableCondition, metav1.ConditionTrue, oauthv1alpha1.ClaimedReason)
		Expect(clientDoc(ctx, owner).ID).To(Equal(victim + ".reports"))

		By("deleting the owner (a GitOps sync)")
		Expect(k8s.Delete(ctx, owner)).To(Succeed())
		expectNoSnapshot(ctx, snapshot.KindClient, owner.UID)
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(owner), &oauthv1alpha1.OAuthClient{}))
		}, timeout, interval).Should(BeTrue())
		expectNotServedFor(ctx, squat)
		Expect(conditionOf(ctx, squat, oauthv1alpha1.ClientIDAllowedCondition)(Default).Reason).To(Equal(oauthv1alpha1.ClientIDNotPermittedReason))

		By("recreating it: the new object gets the ID, the squatter still not")
		again := newClient(victim, "reports", clientCr)
		Expect(k8s.Create(ctx, again)).To(Succeed())
		expectCondition(ctx, again, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(clientDoc(ctx, again).ID).To(Equal(victim + ".reports"))
		expectNotServedFor(ctx, squat)
	})

	It("serves an ID a ClusterGrantPolicy grants, writes the grants ConfigMap, and grants an overlapping ID to neither namespace", func(ctx SpecContext) {
		ns, other := newNamespace(ctx), newNamespace(ctx)
		id := "billing-" + ns
		c := newClient(ns, "billing", clientCr)
		c.Spec.ClientID = id
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.ClientIDAllowedCondition, metav1.ConditionFalse, oauthv1alpha1.ClientIDNotPermittedReason)

		By("granting the ID to the namespace")
		grant := newClusterPolicy(ctx, "grant-"+ns, oauthv1alpha1.ClusterGrantPolicySpec{
			NamespaceSelector: selecting(corev1.LabelMetadataName, ns),
			ClientIDs:         []oauthv1alpha1.ClientIDGrant{{Namespace: ns, IDs: []string{id}}},
		})
		allowed := expectCondition(ctx, c, oauthv1alpha1.ClientIDAllowedCondition, metav1.ConditionTrue, oauthv1alpha1.ClientIDPermittedReason)
		Expect(allowed.Message).To(Equal("clientID " + id + " is granted to namespace " + ns + " by a ClusterGrantPolicy"))
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectNoCondition(ctx, c, oauthv1alpha1.StalledCondition)
		Expect(clientDoc(ctx, c).ID).To(Equal(id))
		Eventually(grantsConfigMap(ctx), timeout, interval).Should(HaveKeyWithValue(ns, id))
		expectCondition(ctx, grant, oauthv1alpha1.ClientIDsGrantedCondition, metav1.ConditionTrue, oauthv1alpha1.GrantedReason)

		By("granting an overlapping prefix to another namespace")
		rival := newClusterPolicy(ctx, "rival-"+other, oauthv1alpha1.ClusterGrantPolicySpec{
			NamespaceSelector: selecting(corev1.LabelMetadataName, other),
			ClientIDs:         []oauthv1alpha1.ClientIDGrant{{Namespace: other, Prefixes: []string{"billing-" + ns[:len(ns)-2]}}},
		})
		overlap := "clientID " + id + " granted to namespace " + ns + " by ClusterGrantPolicy grant-" + ns +
			" overlaps clientID prefix billing-" + ns[:len(ns)-2] + " granted to namespace " + other + " by ClusterGrantPolicy rival-" + other
		for _, p := range []*oauthv1alpha1.ClusterGrantPolicy{grant, rival} {
			cond := expectCondition(ctx, p, oauthv1alpha1.ClientIDsGrantedCondition, metav1.ConditionFalse, oauthv1alpha1.ClientIDGrantConflictReason)
			Expect(cond.Message).To(HavePrefix(overlap + "; "))
			expectCondition(ctx, p, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.ClientIDGrantConflictReason)
			expectCondition(ctx, p, oauthv1alpha1.StalledCondition, metav1.ConditionTrue, oauthv1alpha1.ClientIDGrantConflictReason)
		}
		expectCondition(ctx, c, oauthv1alpha1.ClientIDAllowedCondition, metav1.ConditionFalse, oauthv1alpha1.ClientIDNotPermittedReason)
		expectNotServed(ctx, snapshot.KindClient, c.UID)
		Eventually(grantsConfigMap(ctx), timeout, interval).ShouldNot(Or(HaveKey(ns), HaveKey(other)))

		By("removing the rival grant")
		Expect(k8s.Delete(ctx, rival)).To(Succeed())
		expectCondition(ctx, grant, oauthv1alpha1.ClientIDsGrantedCondition, metav1.ConditionTrue, oauthv1alpha1.GrantedReason)
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)

		By("writing the ConfigMap again when it is deleted")
		Expect(k8s.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: ClientIDGrantsConfigMap}})).To(Succeed())
		Eventually(grantsConfigMap(ctx), timeout, interval).Should(HaveKeyWithValue(ns, id))
	})
})
