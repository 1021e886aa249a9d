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
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// policyDocOf reads the snapshot Secret of a GrantPolicy and its document.
func policyDocOf(ctx context.Context, gp *oauthv1alpha1.GrantPolicy) (*corev1.Secret, snapshot.Document, error) {
	secret := &corev1.Secret{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: policySecretName(gp.Namespace, gp.Name)}, secret); err != nil {
		return nil, snapshot.Document{}, err
	}
	doc, err := snapshot.Decode(secret.Data[snapshot.DataKey])
	return secret, doc, err
}

// policyRevisionOf is the revision of a GrantPolicy's snapshot document.
func policyRevisionOf(ctx context.Context, gp *oauthv1alpha1.GrantPolicy) int64 {
	GinkgoHelper()
	var rev int64
	Eventually(func(g Gomega) {
		secret, _, err := policyDocOf(ctx, gp)
		g.Expect(err).NotTo(HaveOccurred())
		var ok bool
		rev, ok = snapshot.ParseRevision(secret.ResourceVersion)
		g.Expect(ok).To(BeTrue())
	}, timeout, interval).Should(Succeed())
	return rev
}

var _ = Describe("A GrantPolicy's snapshot document", func() {
	It("is written for the policy, named by its clients' entries, follows its changes and goes with it", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		gp := &oauthv1alpha1.GrantPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"},
			Spec: oauthv1alpha1.GrantPolicySpec{
				AllowedGrantTypes: []oauthv1alpha1.GrantType{authCode, refresh, clientCr},
				DefaultScopes:     []oauthv1alpha1.Scope{"openid"},
			}}
		Expect(k8s.Create(ctx, gp)).To(Succeed())
		c := newClient(ns, "app", authCode, refresh, password)
		c.Spec.Scopes = []oauthv1alpha1.Scope{"openid", "orders.read"}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: gp.Name}, gp)).To(Succeed())

		By("writing the resolved policy, with the policy's identity")
		var doc snapshot.Document
		Eventually(func(g Gomega) {
			var err error
			_, doc, err = policyDocOf(ctx, gp)
			g.Expect(err).NotTo(HaveOccurred())
		}, timeout, interval).Should(Succeed())
		Expect(doc.Kind).To(Equal(snapshot.KindPolicy))
		Expect(doc.Source).To(Equal(snapshot.Source{Kind: "GrantPolicy", Namespace: ns, Name: "default", UID: string(gp.UID), Generation: gp.Generation}))
		Expect(doc.GrantPolicy.AllowedGrantTypes).To(Equal([]string{"authorization_code", "refresh_token", "client_credentials"}))
		Expect(doc.GrantPolicy.AnyScope).To(BeTrue())
		Expect(doc.GrantPolicy.DefaultScopes).To(Equal([]string{"openid"}))
		Expect(doc.GrantPolicy.Policy.Name).To(Equal("default"))
		Expect(doc.GrantPolicy.Policy.AccessTokenLifetimeSeconds).To(Equal(int64(3600)))

		By("naming it in the client's entry, which the document serves unchanged")
		cd := clientDoc(ctx, c)
		Expect(cd.PolicyUID).To(Equal(string(gp.UID)))
		Expect(cd.PolicyGeneration).To(Equal(gp.Generation))
		Expect(cd.RequestedScopes).To(Equal([]string{"openid", "orders.read"}))
		Expect(cd.Under(doc.GrantPolicy)).To(Equal(*cd))

		By("following a change of the policy")
		update(ctx, gp, func(gp *oauthv1alpha1.GrantPolicy) {
			gp.Spec.AccessTokenLifetime = &metav1.Duration{Duration: 10 * time.Minute}
			gp.Spec.AllowedScopes = []oauthv1alpha1.Scope{"openid"}
		})
		Eventually(func(g Gomega) {
			_, doc, err := policyDocOf(ctx, gp)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(doc.Source.Generation).To(Equal(gp.Generation))
			g.Expect(doc.GrantPolicy.Policy.AccessTokenLifetimeSeconds).To(Equal(int64(600)))
			g.Expect(doc.GrantPolicy.AnyScope).To(BeFalse())
			g.Expect(doc.GrantPolicy.AllowedScopes).To(Equal([]string{"openid"}))
			// The client's entry, once compiled again, is what the
			// document serves.
			cd := clientDoc(ctx, c)
			g.Expect(cd.PolicyGeneration).To(Equal(gp.Generation))
			g.Expect(cd.Under(doc.GrantPolicy)).To(Equal(*cd))
			g.Expect(cd.Scopes).To(Equal([]string{"openid"}))
		}, timeout, interval).Should(Succeed())

		By("not naming a policy under the built-in defaults")
		other := newClient(newNamespace(ctx), "builtin", authCode)
		Expect(k8s.Create(ctx, other)).To(Succeed())
		expectCondition(ctx, other, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(clientDoc(ctx, other).PolicyUID).To(BeEmpty())

		By("removing it with the policy")
		Expect(k8s.Delete(ctx, gp)).To(Succeed())
		Eventually(func() bool {
			_, _, err := policyDocOf(ctx, gp)
			return apierrors.IsNotFound(err)
		}, timeout, interval).Should(BeTrue(), "the policy's document must be removed")
		expectCondition(ctx, c, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.BuiltinDefaultsReason)
		Eventually(func() string { return clientDoc(ctx, c).PolicyUID }, timeout, interval).Should(BeEmpty())
	})

	It("is not deleted, at no API cost, for the default policy of a namespace that has none", func(ctx SpecContext) {
		// Every client naming no policy counts towards its namespace's
		// "default" (clientCountHandler): without a document to remove,
		// those reconciles must not each send a deletion (the 10,000-client
		// bench measured 0.26 Secret DELETEs per client when they did).
		ns := newNamespace(ctx)
		for i := range 3 {
			c := newClient(ns, fmt.Sprintf("app-%d", i), authCode)
			Expect(k8s.Create(ctx, c)).To(Succeed())
			expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		}
		doc := types.NamespacedName{Namespace: operatorNamespace, Name: policySecretName(ns, "default")}
		Consistently(func() int { return faults.deletions(doc) }, countDelay+time.Second, interval).Should(BeZero())

		By("deleting the document of a policy that had one")
		gp := &oauthv1alpha1.GrantPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}
		Expect(k8s.Create(ctx, gp)).To(Succeed())
		Eventually(func() error { _, _, err := policyDocOf(ctx, gp); return err }, timeout, interval).Should(Succeed())
		Expect(k8s.Delete(ctx, gp)).To(Succeed())
		Eventually(func() bool {
			_, _, err := policyDocOf(ctx, gp)
			return apierrors.IsNotFound(err)
		}, timeout, interval).Should(BeTrue(), "the policy's document must be removed")
		Expect(faults.deletions(doc)).To(BeNumerically(">=", 1))
	})

	It("of a policy that no longer exists is removed by the orphan cleaner", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		gone := &oauthv1alpha1.GrantPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gone", UID: "00000000-0000-0000-0000-000000000002", Generation: 1}}
		resolved, err := ResolvePolicy(gone.Name, BuiltinPolicy(), Ceiling{})
		Expect(err).NotTo(HaveOccurred())
		store := snapshotStore{client: k8s, reader: k8s, namespace: operatorNamespace}
		entry, err := store.read(ctx, policySecretName(ns, gone.Name))
		Expect(err).NotTo(HaveOccurred())
		Expect(store.write(ctx, entry, CompileGrantPolicy(gone, resolved))).To(Succeed())

		removed, err := (&OrphanCleaner{Client: k8s, APIReader: k8s, Namespace: operatorNamespace}).Clean(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(removed).To(BeNumerically(">=", 1))
		_, _, err = policyDocOf(ctx, gone)
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the orphaned policy document must be removed, got %v", err)
	})
})

// TestUnderAgreesWithCompile: a client compiled under one policy and
// served under another's document (snapshot.Client.Under, what the
// authserver does) is the client compiled under that other policy, for
// random clients and policies.
func TestUnderAgreesWithCompile(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 12))
	grants := []oauthv1alpha1.GrantType{authCode, refresh, clientCr, device, password}
	scopes := []oauthv1alpha1.Scope{"openid", "profile", "orders.read", "orders.write"}
	someGrants := func() []oauthv1alpha1.GrantType { return randomSubset(rng, grants) }
	someScopes := func() []oauthv1alpha1.Scope { return randomSubset(rng, scopes) }
	randomPolicy := func(name string) (*oauthv1alpha1.GrantPolicy, ResolvedPolicy, bool) {
		spec := oauthv1alpha1.GrantPolicySpec{AllowedGrantTypes: someGrants()}
		if spec.AllowedGrantTypes == nil {
			spec.AllowedGrantTypes = []oauthv1alpha1.GrantType{}
		}
		if rng.IntN(3) > 0 {
			spec.AllowedScopes = someScopes()
			if spec.AllowedScopes == nil {
				spec.AllowedScopes = []oauthv1alpha1.Scope{}
			}
		}
		for _, s := range someScopes() {
			if spec.AllowedScopes == nil || containsScope(spec.AllowedScopes, s) {
				spec.DefaultScopes = append(spec.DefaultScopes, s)
			}
		}
		spec.RefreshTokenRotation = []oauthv1alpha1.RefreshTokenRotation{oauthv1alpha1.RefreshTokenRotate, oauthv1alpha1.RefreshTokenReuse}[rng.IntN(2)]
		spec.AccessTokenLifetime = &metav1.Duration{Duration: time.Duration(1+rng.IntN(60)) * time.Minute}
		spec.PKCE = []oauthv1alpha1.PKCEMode{oauthv1alpha1.PKCERequired, oauthv1alpha1.PKCEOptional}[rng.IntN(2)]
		resolved, err := ResolvePolicy(name, spec, Ceiling{})
		gp := &oauthv1alpha1.GrantPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, UID: "uid-" + types.UID(name), Generation: int64(1 + rng.IntN(5))}, Spec: spec}
		return gp, resolved, err == nil
	}
	compile := func(c *oauthv1alpha1.OAuthClient, gp *oauthv1alpha1.GrantPolicy, resolved ResolvedPolicy) snapshot.Client {
		access := ComputeAccess(c.Spec, gp.Name, resolved.Spec, resolved.Cuts)
		doc := CompileClient(ClientInput{Client: c, ClientID: "team.app", Policy: resolved.Compiled, Access: access,
			PolicyIdentity: policyIdentity{uid: gp.UID, generation: gp.Generation},
			Digests:        []snapshot.SecretDigest{{SHA256: "00"}}})
		return *doc.Client
	}
	checked := 0
	for range 2000 {
		c := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "app", UID: "client-uid"},
			Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: someGrants(), Scopes: someScopes()}}
		if rng.IntN(2) == 0 {
			c.Spec.Type = oauthv1alpha1.ClientTypePublic
		}
		before, resolvedBefore, ok1 := randomPolicy("p")
		after, resolvedAfter, ok2 := randomPolicy("p")
		if !ok1 || !ok2 {
			continue
		}
		// The same policy object, changed: the document of the change
		// serves the client compiled before it as compiling after it would.
		after.UID, after.Generation = before.UID, before.Generation+1
		compiledBefore := compile(c, before, resolvedBefore)
		compiledAfter := compile(c, after, resolvedAfter)
		served := compiledBefore.Under(CompileGrantPolicy(after, resolvedAfter).GrantPolicy)
		compiledAfter.PolicyGeneration = compiledBefore.PolicyGeneration // Under keeps the entry's
		if diff := cmp.Diff(compiledAfter, served); diff != "" {
			t.Fatalf("client %+v\npolicy before %+v\npolicy after %+v\nUnder differs from compiling: %s", c.Spec, before.Spec, after.Spec, diff)
		}
		// And Usable agrees with the controller's NoUsableGrant.
		access := ComputeAccess(c.Spec, after.Name, resolvedAfter.Spec, resolvedAfter.Cuts)
		if served.Usable() != access.Usable {
			t.Fatalf("client %+v under %+v: Usable %v, the controller says %v", c.Spec, after.Spec, served.Usable(), access.Usable)
		}
		checked++
	}
	if checked < 1000 {
		t.Fatalf("only %d of 2000 random cases were valid policies", checked)
	}
}

// randomSubset is a random subset of all in a random order (nil when
// empty).
func randomSubset[T any](rng *rand.Rand, all []T) []T {
	var out []T
	for _, v := range all {
		if rng.IntN(2) == 0 {
			out = append(out, v)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func containsScope(list []oauthv1alpha1.Scope, s oauthv1alpha1.Scope) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
