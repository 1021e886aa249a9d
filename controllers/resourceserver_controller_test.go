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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// newResourceServer is a ResourceServer in ns for audience with two
// scopes, granting grants.
func newResourceServer(ns, name, audience string, grants ...oauthv1alpha1.ResourceServerGrant) *oauthv1alpha1.ResourceServer {
	return &oauthv1alpha1.ResourceServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: oauthv1alpha1.ResourceServerSpec{
			Audience: audience,
			Scopes:   []oauthv1alpha1.Scope{"payments.read", "payments.write"},
			Clients:  grants,
		},
	}
}

// grantClient grants one client, by name, some scopes.
func grantClient(ns, name string, scopes ...oauthv1alpha1.Scope) oauthv1alpha1.ResourceServerGrant {
	return oauthv1alpha1.ResourceServerGrant{ClientRefs: []oauthv1alpha1.ClientReference{{Namespace: ns, Name: name}}, Scopes: scopes}
}

// audienceOf is a unique audience for a test: objects of earlier tests stay
// (the test API server deletes no namespace contents).
func audienceOf(ns string) string { return "https://payments." + ns + ".example/" }

// clientResources returns the audiences and resources of a client's
// snapshot entry.
func clientResources(ctx context.Context, c *oauthv1alpha1.OAuthClient) func(Gomega) ([]string, []snapshot.Resource) {
	return func(g Gomega) ([]string, []snapshot.Resource) {
		doc, err := snapshotOf(ctx, snapshot.KindClient, c.UID)
		g.Expect(err).NotTo(HaveOccurred())
		return doc.Client.Audiences, doc.Client.Resources
	}
}

var _ = Describe("ResourceServer", func() {
	It("audience spoofing: a client naming another team's audience does not get it", func(ctx SpecContext) {
		victimNS, malloryNS := newNamespace(ctx), newNamespace(ctx)
		aud := audienceOf(victimNS)
		evil := newClient(malloryNS, "evil", clientCr)
		evil.Spec.Scopes = []oauthv1alpha1.Scope{"payments.write"}
		evil.Spec.Audiences = []string{aud}
		Expect(k8s.Create(ctx, evil)).To(Succeed())

		By("no ResourceServer claims the audience")
		granted := expectCondition(ctx, evil, oauthv1alpha1.AudiencesGrantedCondition, metav1.ConditionFalse, oauthv1alpha1.AudienceNotGrantedReason)
		Expect(granted.Message).To(Equal("audience " + aud + " is not granted to this client: no ResourceServer claims it; " +
			"tokens do not carry it and requests with resource=" + aud + " get invalid_target"))
		ready := expectCondition(ctx, evil, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(ready.Message).To(ContainSubstring("restricted: audience " + aud + " is not granted to this client"))
		Eventually(func(g Gomega) {
			auds, resources := clientResources(ctx, evil)(g)
			g.Expect(auds).To(BeEmpty())
			g.Expect(resources).To(BeEmpty())
		}, timeout, interval).Should(Succeed())
		Expect(evil.Status.Audiences).To(BeEmpty())

		By("the victim's ResourceServer owns the audience and grants only its own client")
		rs := newResourceServer(victimNS, "payments", aud, grantClient("", "checkout", "payments.write"))
		Expect(k8s.Create(ctx, rs)).To(Succeed())
		expectCondition(ctx, rs, oauthv1alpha1.AudienceClaimedCondition, metav1.ConditionTrue, oauthv1alpha1.ClaimedReason)
		Eventually(func(g Gomega) string {
			return conditionOf(ctx, evil, oauthv1alpha1.AudiencesGrantedCondition)(g).Message
		}, timeout, interval).Should(ContainSubstring("ResourceServer " + victimNS + "/payments does not grant it to this client"))
		Consistently(func(g Gomega) []snapshot.Resource {
			_, resources := clientResources(ctx, evil)(g)
			return resources
		}, "1s", interval).Should(BeEmpty())
	})

	It("grants its audience to the clients it names, with their scopes, and stops when deleted", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		aud := audienceOf(ns)
		c := newClient(ns, "checkout", clientCr)
		c.Spec.Audiences = []string{aud}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.AudiencesGrantedCondition, metav1.ConditionFalse, oauthv1alpha1.AudienceNotGrantedReason)

		rs := newResourceServer(ns, "payments", aud, grantClient("", "checkout", "payments.write"))
		Expect(k8s.Create(ctx, rs)).To(Succeed())

		By("the ResourceServer is Ready, with its credentials and snapshot document")
		expectCondition(ctx, rs, oauthv1alpha1.AudienceClaimedCondition, metav1.ConditionTrue, oauthv1alpha1.ClaimedReason)
		expectCondition(ctx, rs, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.GeneratedReason)
		expectCondition(ctx, rs, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Eventually(func(g Gomega) int32 {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(rs), rs)).To(Succeed())
			return rs.Status.Clients
		}, timeout, interval).Should(BeEquivalentTo(1))
		Expect(rs.Status.ClientID).To(Equal("rs/" + ns + "/payments"))
		Expect(rs.Status.CredentialsSecretName).To(Equal("payments-resourceserver"))
		creds := &corev1.Secret{}
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "payments-resourceserver"}, creds)).To(Succeed())
		Expect(metav1.IsControlledBy(creds, rs)).To(BeTrue())
		Expect(creds.Data).To(HaveKeyWithValue("client_id", []byte("rs/"+ns+"/payments")))
		Expect(creds.Data).To(HaveKeyWithValue("introspection_endpoint", []byte(testIssuer+"/oauth2/introspect")))
		secret := string(creds.Data["client_secret"])
		Expect(len(secret)).To(BeNumerically(">=", MinSecretLength))
		var doc snapshot.Document
		Eventually(func() error {
			var err error
			doc, err = snapshotOf(ctx, snapshot.KindResourceServer, rs.UID)
			return err
		}, timeout, interval).Should(Succeed())
		Expect(doc.ResourceServer.ID).To(Equal("rs/" + ns + "/payments"))
		Expect(doc.ResourceServer.Audience).To(Equal(aud))
		Expect(doc.ResourceServer.Scopes).To(Equal([]string{"payments.read", "payments.write"}))
		Expect(doc.ResourceServer.Secrets).To(ConsistOf(snapshot.SecretDigest{SHA256: Digest(secret)}))

		By("the client gets the audience, with the granted scope and the other withheld")
		expectCondition(ctx, c, oauthv1alpha1.AudiencesGrantedCondition, metav1.ConditionTrue, oauthv1alpha1.GrantedReason)
		Eventually(func(g Gomega) {
			auds, resources := clientResources(ctx, c)(g)
			g.Expect(auds).To(Equal([]string{aud}))
			g.Expect(resources).To(Equal([]snapshot.Resource{{Audience: aud, Scopes: []string{"payments.write"}, WithheldScopes: []string{"payments.read"}}}))
		}, timeout, interval).Should(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
		Expect(c.Status.Audiences).To(Equal([]string{aud}))

		By("deleting the ResourceServer takes the grant away and removes what it owned")
		Expect(k8s.Delete(ctx, rs)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.AudiencesGrantedCondition, metav1.ConditionFalse, oauthv1alpha1.AudienceNotGrantedReason)
		Eventually(func(g Gomega) {
			auds, resources := clientResources(ctx, c)(g)
			g.Expect(auds).To(BeEmpty())
			g.Expect(resources).To(BeEmpty())
		}, timeout, interval).Should(Succeed())
		expectNoSnapshot(ctx, snapshot.KindResourceServer, rs.UID)
		Eventually(func() bool {
			return k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "payments-resourceserver"}, &corev1.Secret{}) != nil
		}, timeout, interval).Should(BeTrue(), "the credentials Secret must be deleted")
	})

	It("grants by namespaceSelector, following the namespace's labels", func(ctx SpecContext) {
		apiNS, appNS := newNamespace(ctx), newNamespace(ctx)
		aud := audienceOf(apiNS)
		c := newClient(appNS, "shop", clientCr)
		c.Spec.Audiences = []string{aud}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		rs := newResourceServer(apiNS, "payments", aud, oauthv1alpha1.ResourceServerGrant{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"payments-" + apiNS: "yes"}},
			Scopes:            []oauthv1alpha1.Scope{"payments.read"},
		})
		Expect(k8s.Create(ctx, rs)).To(Succeed())
		expectCondition(ctx, rs, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectCondition(ctx, c, oauthv1alpha1.AudiencesGrantedCondition, metav1.ConditionFalse, oauthv1alpha1.AudienceNotGrantedReason)

		By("labelling the client's namespace grants it the audience")
		update(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS}}, func(n *corev1.Namespace) {
			n.Labels = map[string]string{"payments-" + apiNS: "yes"}
		})
		expectCondition(ctx, c, oauthv1alpha1.AudiencesGrantedCondition, metav1.ConditionTrue, oauthv1alpha1.GrantedReason)
		Eventually(func(g Gomega) []snapshot.Resource {
			_, resources := clientResources(ctx, c)(g)
			return resources
		}, timeout, interval).Should(Equal([]snapshot.Resource{{Audience: aud, Scopes: []string{"payments.read"}, WithheldScopes: []string{"payments.write"}}}))
		Eventually(func(g Gomega) int32 {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(rs), rs)).To(Succeed())
			return rs.Status.Clients
		}, timeout, interval).Should(BeEquivalentTo(1))
	})

	It("gives an audience to the oldest claimant: the younger gets AudienceConflict until the owner goes", func(ctx SpecContext) {
		victimNS, malloryNS := newNamespace(ctx), newNamespace(ctx)
		aud := audienceOf(victimNS)
		owner := newResourceServer(victimNS, "payments", aud, grantClient("", "checkout"))
		Expect(k8s.Create(ctx, owner)).To(Succeed())
		expectCondition(ctx, owner, oauthv1alpha1.AudienceClaimedCondition, metav1.ConditionTrue, oauthv1alpha1.ClaimedReason)
		time.Sleep(1100 * time.Millisecond) // creationTimestamp has a one-second resolution

		evil := newClient(malloryNS, "evil", clientCr)
		evil.Spec.Audiences = []string{aud}
		Expect(k8s.Create(ctx, evil)).To(Succeed())
		squatter := newResourceServer(malloryNS, "payments", aud, grantClient("", "evil", "payments.write"))
		Expect(k8s.Create(ctx, squatter)).To(Succeed())

		conflict := expectCondition(ctx, squatter, oauthv1alpha1.AudienceClaimedCondition, metav1.ConditionFalse, oauthv1alpha1.AudienceConflictReason)
		Expect(conflict.Message).To(ContainSubstring("audience " + aud + " is already claimed by ResourceServer " + victimNS + "/payments, which is older"))
		expectCondition(ctx, squatter, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.AudienceConflictReason)
		expectCondition(ctx, squatter, oauthv1alpha1.StalledCondition, metav1.ConditionTrue, oauthv1alpha1.AudienceConflictReason)
		expectNoSnapshot(ctx, snapshot.KindResourceServer, squatter.UID)
		granted := expectCondition(ctx, evil, oauthv1alpha1.AudiencesGrantedCondition, metav1.ConditionFalse, oauthv1alpha1.AudienceNotGrantedReason)
		Expect(granted.Message).To(ContainSubstring("ResourceServer " + victimNS + "/payments does not grant it"))

		By("once the owner is deleted, the next claimant owns the audience")
		Expect(k8s.Delete(ctx, owner)).To(Succeed())
		expectCondition(ctx, squatter, oauthv1alpha1.AudienceClaimedCondition, metav1.ConditionTrue, oauthv1alpha1.ClaimedReason)
		expectCondition(ctx, evil, oauthv1alpha1.AudiencesGrantedCondition, metav1.ConditionTrue, oauthv1alpha1.GrantedReason)
	})

	It("lets a ClusterGrantPolicy restrict which namespaces may claim which audiences", func(ctx SpecContext) {
		victimNS, malloryNS := newNamespace(ctx), newNamespace(ctx)
		aud := audienceOf(victimNS)
		cgp := &oauthv1alpha1.ClusterGrantPolicy{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "audiences-"},
			Spec: oauthv1alpha1.ClusterGrantPolicySpec{Audiences: []oauthv1alpha1.AudienceGrant{
				{Namespace: victimNS, Prefixes: []string{"https://payments." + victimNS + "."}},
			}},
		}
		Expect(k8s.Create(ctx, cgp)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, cgp))).To(Succeed()) })

		By("mallory's ResourceServer, even the older one, may not claim victim's audience")
		evil := newClient(malloryNS, "evil", clientCr)
		evil.Spec.Audiences = []string{aud}
		Expect(k8s.Create(ctx, evil)).To(Succeed())
		squatter := newResourceServer(malloryNS, "payments", aud, grantClient("", "evil", "payments.write"))
		Expect(k8s.Create(ctx, squatter)).To(Succeed())
		denied := expectCondition(ctx, squatter, oauthv1alpha1.AudienceClaimedCondition, metav1.ConditionFalse, oauthv1alpha1.AudienceNotPermittedReason)
		Expect(denied.Message).To(ContainSubstring("no ClusterGrantPolicy lets namespace " + malloryNS + " claim audience " + aud))
		expectCondition(ctx, squatter, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.AudienceNotPermittedReason)
		expectNoSnapshot(ctx, snapshot.KindResourceServer, squatter.UID)
		expectCondition(ctx, evil, oauthv1alpha1.AudiencesGrantedCondition, metav1.ConditionFalse, oauthv1alpha1.AudienceNotGrantedReason)

		By("victim's ResourceServer, younger, owns it")
		rs := newResourceServer(victimNS, "payments", aud)
		Expect(k8s.Create(ctx, rs)).To(Succeed())
		expectCondition(ctx, rs, oauthv1alpha1.AudienceClaimedCondition, metav1.ConditionTrue, oauthv1alpha1.ClaimedReason)
		expectCondition(ctx, rs, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
	})

	It("has its orphaned snapshot entries removed by the orphan sweep, and live ones kept", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		live := newResourceServer(ns, "live", audienceOf(ns))
		Expect(k8s.Create(ctx, live)).To(Succeed())
		expectCondition(ctx, live, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)

		gone := newResourceServer(ns, "gone", audienceOf(ns)+"gone")
		gone.UID = "00000000-0000-0000-0000-0000000000r5"
		store := snapshotStore{client: k8s, reader: k8s, namespace: operatorNamespace}
		entry, err := store.read(ctx, snapshotSecretName(snapshot.KindResourceServer, gone.UID))
		Expect(err).NotTo(HaveOccurred())
		Expect(store.write(ctx, entry, CompileResourceServer(gone, []snapshot.SecretDigest{{SHA256: Digest(longSecret)}}))).To(Succeed())

		removed, err := (&OrphanCleaner{Client: k8s, APIReader: k8s, Namespace: operatorNamespace}).Clean(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(removed).To(BeNumerically(">=", 1))
		_, err = snapshotOf(ctx, snapshot.KindResourceServer, gone.UID)
		Expect(err).To(HaveOccurred(), "the orphaned entry must be removed")
		_, err = snapshotOf(ctx, snapshot.KindResourceServer, live.UID)
		Expect(err).NotTo(HaveOccurred(), "a live ResourceServer's entry must be kept")
	})
})
