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
	"strings"
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

const (
	longSecret  = "0123456789abcdefghijklmnopqrstuvwxyzABCD" // 40 characters
	otherSecret = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxw" // 40 characters
)

func newClient(ns, name string, grants ...oauthv1alpha1.GrantType) *oauthv1alpha1.OAuthClient {
	return &oauthv1alpha1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: oauthv1alpha1.OAuthClientSpec{
			GrantTypes:   grants,
			RedirectURIs: []oauthv1alpha1.RedirectURI{"https://app.example.com/callback"},
		},
	}
}

func clientSecretObj(ns, name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
}

// clientDoc waits for the client's snapshot entry and returns it.
func clientDoc(ctx context.Context, c *oauthv1alpha1.OAuthClient) *snapshot.Client {
	var doc snapshot.Document
	EventuallyWithOffset(1, func() error {
		var err error
		doc, err = snapshotOf(ctx, snapshot.KindClient, c.UID)
		return err
	}, timeout, interval).Should(Succeed())
	return doc.Client
}

// currentDigests returns the digests in the client's snapshot entry.
func currentDigests(ctx context.Context, c *oauthv1alpha1.OAuthClient) func(Gomega) []string {
	return func(g Gomega) []string {
		doc, err := snapshotOf(ctx, snapshot.KindClient, c.UID)
		g.Expect(err).NotTo(HaveOccurred())
		var out []string
		for _, d := range doc.Client.Secrets {
			out = append(out, d.SHA256)
		}
		return out
	}
}

var _ = Describe("OAuthClient", func() {
	It("generates a secret, writes credentials and the snapshot, and cleans up on deletion", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "webapp", authCode, refresh)
		c.Spec.Scopes = []oauthv1alpha1.Scope{"openid"}
		Expect(k8s.Create(ctx, c)).To(Succeed())

		ready := expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(ready.Message).To(ContainSubstring("client_id " + ns + ".webapp is served with grant types authorization_code, refresh_token under the built-in default policy"))
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.GeneratedReason)
		expectCondition(ctx, c, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.BuiltinDefaultsReason)
		expectCondition(ctx, c, oauthv1alpha1.GrantTypesAllowedCondition, metav1.ConditionTrue, oauthv1alpha1.AllowedReason)
		expectCondition(ctx, c, oauthv1alpha1.ScopesAllowedCondition, metav1.ConditionTrue, oauthv1alpha1.AllowedReason)
		expectCondition(ctx, c, oauthv1alpha1.ClientIDAvailableCondition, metav1.ConditionTrue, oauthv1alpha1.ClaimedReason)
		expectSettled(ctx, c)
		expectNoCondition(ctx, c, oauthv1alpha1.StalledCondition)
		Expect(c.Status.ClientID).To(Equal(ns + ".webapp"))
		Expect(c.Status.CredentialsSecretName).To(Equal("webapp-oauth-credentials"))
		Expect(c.Status.GrantTypes).To(Equal([]oauthv1alpha1.GrantType{authCode, refresh}))
		Expect(c.Finalizers).To(ContainElement(Finalizer))

		creds := &corev1.Secret{}
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "webapp-oauth-credentials"}, creds)).To(Succeed())
		Expect(metav1.IsControlledBy(creds, c)).To(BeTrue(), "the credentials Secret must be owned by the client")
		secret := string(creds.Data["client_secret"])
		Expect(len(secret)).To(BeNumerically(">=", 43))
		Expect(secret).To(MatchRegexp(`^[A-Za-z0-9._~-]+$`))
		Expect(creds.Data).To(HaveKeyWithValue("client_id", []byte(ns+".webapp")))
		Expect(creds.Data).To(HaveKeyWithValue("issuer", []byte(testIssuer)))
		Expect(creds.Data).To(HaveKeyWithValue("authorization_endpoint", []byte(testIssuer+"/oauth2/authorize")))
		Expect(creds.Data).To(HaveKeyWithValue("token_endpoint", []byte(testIssuer+"/oauth2/token")))
		Expect(creds.Data).To(HaveKeyWithValue("device_authorization_endpoint", []byte(testIssuer+"/oauth2/device_authorization")))
		Expect(creds.Data).To(HaveKeyWithValue("jwks_uri", []byte(testIssuer+"/oauth2/jwks")))
		Expect(creds.Data).To(HaveKeyWithValue("pushed_authorization_request_endpoint", []byte(testIssuer+"/oauth2/par")))

		doc := clientDoc(ctx, c)
		Expect(doc.ID).To(Equal(ns + ".webapp"))
		Expect(doc.Secrets).To(HaveLen(1))
		Expect(doc.Secrets[0].SHA256).To(Equal(Digest(secret)))
		Expect(doc.GrantTypes).To(Equal([]string{"authorization_code", "refresh_token"}))
		Expect(doc.Policy.PKCE).To(Equal("Required"))
		By("recording no Normal Event for a new client's generated secret and first Ready (its status says so)")
		expectNoEvent(ctx, "OAuthClient", c, corev1.EventTypeNormal)

		By("keeping the generated secret on later reconciles")
		update(ctx, c, func(c *oauthv1alpha1.OAuthClient) { c.Spec.DisplayName = "Web" })
		expectSettled(ctx, c)
		Consistently(secretData(ctx, ns, "webapp-oauth-credentials", "client_secret"), time.Second, interval).Should(Equal(secret))

		By("generating a new secret, with an Event, when the credentials Secret is deleted")
		Expect(k8s.Delete(ctx, creds)).To(Succeed())
		Eventually(func(g Gomega) {
			regenerated := secretData(ctx, ns, "webapp-oauth-credentials", "client_secret")(g)
			g.Expect(len(regenerated)).To(BeNumerically(">=", 43))
			g.Expect(regenerated).NotTo(Equal(secret))
		}, timeout, interval).Should(Succeed())
		expectEvent(ctx, "OAuthClient", c, corev1.EventTypeNormal, EventSecretGenerated)
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(creds), creds)).To(Succeed())

		By("deleting the client")
		Expect(k8s.Delete(ctx, c)).To(Succeed())
		expectNoSnapshot(ctx, snapshot.KindClient, c.UID)
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(creds), &corev1.Secret{}))
		}, timeout, interval).Should(BeTrue(), "the credentials Secret must be deleted")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(c), &oauthv1alpha1.OAuthClient{}))
		}, timeout, interval).Should(BeTrue(), "the finalizer must be removed")
	})

	It("compiles a client that arrives with the finalizer, as the admission policy adds it, as a new one and writes only its status", func(ctx SpecContext) {
		// config/admission/snapshot_finalizer.yaml adds the finalizer at
		// creation (test/admission); this suite runs no admission policy,
		// so the client is created with it.
		ns := newNamespace(ctx)
		c := newClient(ns, "admitted", clientCr)
		c.Finalizers = []string{Finalizer}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		Expect(c.ManagedFields).To(HaveLen(1))
		creator := c.ManagedFields[0].Manager

		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.GeneratedReason)
		expectSettled(ctx, c)
		By("writing the status only: outside it, the creator alone manages fields")
		for _, m := range c.ManagedFields {
			if m.Subresource == "" {
				Expect(m.Manager).To(Equal(creator), "the manager wrote the object itself")
			}
		}
		By("taking it for the client's first reconcile: no Normal Event for its generated secret and first Ready")
		expectNoEvent(ctx, "OAuthClient", c, corev1.EventTypeNormal)
		Expect(secretData(ctx, ns, "admitted-oauth-credentials", "client_secret")(Default)).To(HaveLen(43))

		By("removing its snapshot entry on deletion")
		Expect(k8s.Delete(ctx, c)).To(Succeed())
		expectNoSnapshot(ctx, snapshot.KindClient, c.UID)
	})

	It("waits for a missing GrantPolicy, follows its changes, and stalls when no grant is left", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "app", authCode, refresh, password)
		c.Spec.Scopes = []oauthv1alpha1.Scope{"openid", "admin"}
		c.Spec.GrantPolicyRef = &oauthv1alpha1.LocalObjectReference{Name: "strict"}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		second := newClient(ns, "second", authCode, password)
		second.Spec.GrantPolicyRef = &oauthv1alpha1.LocalObjectReference{Name: "strict"}
		Expect(k8s.Create(ctx, second)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionFalse, oauthv1alpha1.PolicyNotFoundReason)
		ready := expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.PolicyNotFoundReason)
		Expect(ready.Message).To(ContainSubstring("GrantPolicy strict does not exist"))
		expectEvent(ctx, "OAuthClient", c, corev1.EventTypeWarning, oauthv1alpha1.PolicyNotFoundReason)
		expectNotServed(ctx, snapshot.KindClient, c.UID)

		By("creating the policy")
		gp := &oauthv1alpha1.GrantPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "strict"},
			Spec: oauthv1alpha1.GrantPolicySpec{
				AllowedGrantTypes:   []oauthv1alpha1.GrantType{authCode, refresh},
				AllowedScopes:       []oauthv1alpha1.Scope{"openid"},
				AccessTokenLifetime: &metav1.Duration{Duration: 15 * time.Minute},
				ErrorProfile:        oauthv1alpha1.ErrorProfileRFC,
			},
		}
		Expect(k8s.Create(ctx, gp)).To(Succeed())
		ready = expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(ready.Message).To(ContainSubstring("restricted: grant type password is not allowed by GrantPolicy strict; token requests with it get unauthorized_client"))
		expectCondition(ctx, c, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.PolicyFoundReason)
		grants := expectCondition(ctx, c, oauthv1alpha1.GrantTypesAllowedCondition, metav1.ConditionFalse, oauthv1alpha1.UnauthorizedClientReason)
		Expect(grants.Message).To(Equal("grant type password is not allowed by GrantPolicy strict; token requests with it get unauthorized_client"))
		scopes := expectCondition(ctx, c, oauthv1alpha1.ScopesAllowedCondition, metav1.ConditionFalse, oauthv1alpha1.InvalidScopeReason)
		Expect(scopes.Message).To(Equal("scope admin is not allowed by GrantPolicy strict; requests for it get invalid_scope"))
		doc := clientDoc(ctx, c)
		Expect(doc.GrantTypes).To(Equal([]string{"authorization_code", "refresh_token"}))
		Expect(doc.RequestedGrantTypes).To(ContainElement("password"))
		Expect(doc.Scopes).To(Equal([]string{"openid"}))
		Expect(doc.Policy.Name).To(Equal("strict"))
		Expect(doc.Policy.AccessTokenLifetimeSeconds).To(Equal(int64(900)))
		Expect(doc.Policy.ErrorProfile).To(Equal("RFC"))
		Expect(c.Status.GrantPolicy).To(Equal("strict"))
		Eventually(func(g Gomega) int32 {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(gp), gp)).To(Succeed())
			return gp.Status.Clients
		}, timeout, interval).Should(Equal(int32(2)))
		expectCondition(ctx, gp, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectCondition(ctx, second, oauthv1alpha1.GrantTypesAllowedCondition, metav1.ConditionFalse, oauthv1alpha1.UnauthorizedClientReason)

		By("allowing everything the client asks for")
		update(ctx, gp, func(gp *oauthv1alpha1.GrantPolicy) {
			gp.Spec.AllowedGrantTypes = append(gp.Spec.AllowedGrantTypes, password)
			gp.Spec.AllowedScopes = append(gp.Spec.AllowedScopes, "admin")
		})
		expectCondition(ctx, c, oauthv1alpha1.GrantTypesAllowedCondition, metav1.ConditionTrue, oauthv1alpha1.AllowedReason)
		expectCondition(ctx, c, oauthv1alpha1.ScopesAllowedCondition, metav1.ConditionTrue, oauthv1alpha1.AllowedReason)
		Eventually(func(g Gomega) []string {
			doc, err := snapshotOf(ctx, snapshot.KindClient, c.UID)
			g.Expect(err).NotTo(HaveOccurred())
			return append(doc.Client.GrantTypes, doc.Client.Scopes...)
		}, timeout, interval).Should(ConsistOf("authorization_code", "refresh_token", "password", "openid", "admin"))
		expectCondition(ctx, second, oauthv1alpha1.GrantTypesAllowedCondition, metav1.ConditionTrue, oauthv1alpha1.AllowedReason)
		Eventually(func(g Gomega) []string {
			doc, err := snapshotOf(ctx, snapshot.KindClient, second.UID)
			g.Expect(err).NotTo(HaveOccurred())
			return doc.Client.GrantTypes
		}, timeout, interval).Should(Equal([]string{"authorization_code", "password"}))

		By("allowing none of its grant types")
		update(ctx, gp, func(gp *oauthv1alpha1.GrantPolicy) {
			gp.Spec.AllowedGrantTypes = []oauthv1alpha1.GrantType{clientCr}
		})
		ready = expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NoUsableGrantReason)
		Expect(ready.Message).To(ContainSubstring("grant types authorization_code, refresh_token, password are not allowed by GrantPolicy strict"))
		expectCondition(ctx, c, oauthv1alpha1.StalledCondition, metav1.ConditionTrue, oauthv1alpha1.NoUsableGrantReason)
		expectServedAsAbsent(ctx, c.UID)
		expectCondition(ctx, second, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.NoUsableGrantReason)
		expectServedAsAbsent(ctx, second.UID)
		expectSettled(ctx, c)

		By("allowing them again")
		update(ctx, gp, func(gp *oauthv1alpha1.GrantPolicy) {
			gp.Spec.AllowedGrantTypes = []oauthv1alpha1.GrantType{authCode}
		})
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectNoCondition(ctx, c, oauthv1alpha1.StalledCondition)
		Expect(clientDoc(ctx, c).GrantTypes).To(Equal([]string{"authorization_code"}))

		By("deleting the policy")
		Expect(k8s.Delete(ctx, gp)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.PolicyNotFoundReason)
		expectNotServed(ctx, snapshot.KindClient, c.UID)
	})

	It("uses the namespace's default GrantPolicy, whose CRD defaults equal the built-in ones", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "app", authCode)
		other := newClient(ns, "other", authCode)
		other.Spec.GrantPolicyRef = &oauthv1alpha1.LocalObjectReference{Name: "elsewhere"}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		Expect(k8s.Create(ctx, other)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.BuiltinDefaultsReason)
		builtin := clientDoc(ctx, c).Policy

		gp := &oauthv1alpha1.GrantPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}
		Expect(k8s.Create(ctx, gp)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.PolicyFoundReason)
		Eventually(func(g Gomega) snapshot.Policy {
			doc, err := snapshotOf(ctx, snapshot.KindClient, c.UID)
			g.Expect(err).NotTo(HaveOccurred())
			return doc.Client.Policy
		}, timeout, interval).Should(Equal(withName(builtin, "default")), "an empty GrantPolicy must equal the built-in defaults")
		Expect(c.Status.GrantPolicy).To(Equal("default"))
		Eventually(func(g Gomega) int32 {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(gp), gp)).To(Succeed())
			return gp.Status.Clients
		}, timeout, interval).Should(Equal(int32(1)), "the client naming another policy is not counted")
		expectCondition(ctx, other, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionFalse, oauthv1alpha1.PolicyNotFoundReason)

		Expect(k8s.Delete(ctx, gp)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.PolicyResolvedCondition, metav1.ConditionTrue, oauthv1alpha1.BuiltinDefaultsReason)
	})

	It("compiles a ServiceAccount client without a secret: waits for the ServiceAccount, follows its UID, and drops a former secret", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "worker", clientCr)
		c.Spec.RedirectURIs = nil
		Expect(k8s.Create(ctx, c)).To(Succeed())
		Eventually(currentDigests(ctx, c), timeout, interval).Should(HaveLen(1), "first a client with a generated secret")

		By("switching to workload identity before the ServiceAccount exists")
		update(ctx, c, func(c *oauthv1alpha1.OAuthClient) {
			c.Spec.Authentication = &oauthv1alpha1.ClientAuthenticationSpec{ServiceAccount: &oauthv1alpha1.LocalObjectReference{Name: "robot"}}
		})
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionFalse, oauthv1alpha1.ServiceAccountNotFoundReason)
		expectCondition(ctx, c, oauthv1alpha1.ReconcilingCondition, metav1.ConditionTrue, oauthv1alpha1.ServiceAccountNotFoundReason)
		Eventually(func() error { _, err := snapshotOf(ctx, snapshot.KindClient, c.UID); return err }, timeout, interval).
			ShouldNot(Succeed(), "a client whose ServiceAccount is missing is not served")

		By("creating it: the watch wakes the client")
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "robot"}}
		Expect(k8s.Create(ctx, sa)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ServiceAccountReason)
		doc := clientDoc(ctx, c)
		Expect(doc.Secrets).To(BeEmpty(), "the former secret must stop working")
		Expect(doc.TokenEndpointAuthMethod).To(Equal(snapshot.AuthServiceAccountToken))
		Expect(*doc.ServiceAccount).To(Equal(snapshot.ServiceAccount{Subject: "system:serviceaccount:" + ns + ":robot", UID: string(sa.UID)}))

		By("no Secret of the client is left: its credentials are in a ConfigMap")
		Eventually(func() error {
			return k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "worker-oauth-credentials"}, &corev1.Secret{})
		}, timeout, interval).Should(Satisfy(apierrors.IsNotFound), "the credentials Secret with the former secret is deleted")
		Eventually(configMapData(ctx, ns, "worker-oauth-credentials", "client_id"), timeout, interval).Should(Equal(ns + ".worker"))
		Expect(configMapData(ctx, ns, "worker-oauth-credentials", "token_endpoint")(Default)).To(HaveSuffix("/oauth2/token"))
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
			g.Expect(c.Status.CredentialsConfigMapName).To(Equal("worker-oauth-credentials"))
			g.Expect(c.Status.CredentialsSecretName).To(BeEmpty())
		}, timeout, interval).Should(Succeed())
		secrets := &corev1.SecretList{}
		Expect(k8s.List(ctx, secrets, client.InNamespace(ns))).To(Succeed())
		for _, s := range secrets.Items {
			Expect(metav1.IsControlledBy(&s, c)).To(BeFalse(), "Secret %s is the client's", s.Name)
		}

		By("a ConfigMap changed by hand is written again")
		cm := &corev1.ConfigMap{}
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "worker-oauth-credentials"}, cm)).To(Succeed())
		cm.Data["client_id"] = "someone-else"
		Expect(k8s.Update(ctx, cm)).To(Succeed())
		Eventually(configMapData(ctx, ns, "worker-oauth-credentials", "client_id"), timeout, interval).Should(Equal(ns + ".worker"))

		By("back to a generated secret: the Secret again, the ConfigMap deleted")
		update(ctx, c, func(c *oauthv1alpha1.OAuthClient) { c.Spec.Authentication = nil })
		Eventually(secretData(ctx, ns, "worker-oauth-credentials", "client_secret"), timeout, interval).ShouldNot(BeEmpty())
		Eventually(func() error {
			return k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "worker-oauth-credentials"}, &corev1.ConfigMap{})
		}, timeout, interval).Should(Satisfy(apierrors.IsNotFound))
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
			g.Expect(c.Status.CredentialsSecretName).To(Equal("worker-oauth-credentials"))
			g.Expect(c.Status.CredentialsConfigMapName).To(BeEmpty())
		}, timeout, interval).Should(Succeed())
	})

	It("refuses public keys that hold a private key (InvalidJWKS) and waits for a missing key Secret (JWKSNotFound)", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "signer", clientCr)
		c.Spec.RedirectURIs = nil
		c.Spec.TokenEndpointAuthMethod = oauthv1alpha1.AuthMethodPrivateKeyJWT
		c.Spec.Authentication = &oauthv1alpha1.ClientAuthenticationSpec{JWKSSecretRef: &oauthv1alpha1.SecretKeyReference{Name: "signer-keys"}}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionFalse, oauthv1alpha1.JWKSNotFoundReason)

		By("a key set with a private key")
		private := `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}`
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "signer-keys"}, Data: map[string][]byte{DefaultJWKSKey: []byte(private)}}
		Expect(k8s.Create(ctx, s)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionFalse, oauthv1alpha1.InvalidJWKSReason)
		expectCondition(ctx, c, oauthv1alpha1.StalledCondition, metav1.ConditionTrue, oauthv1alpha1.InvalidJWKSReason)

		By("the public part only")
		public := strings.Replace(private, `,"d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"`, "", 1)
		update(ctx, s, func(s *corev1.Secret) { s.Data = map[string][]byte{DefaultJWKSKey: []byte(public)} })
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.PublicKeysReason)
		Expect(string(clientDoc(ctx, c).JWKS)).To(Equal(public))
	})

	It("reads a referenced secret: missing, weak, without its key, then valid, and rotates it with an overlap", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "backend", clientCr)
		c.Spec.RedirectURIs = nil
		c.Spec.Secret = &oauthv1alpha1.ClientSecretSpec{
			SecretRef:       oauthv1alpha1.SecretKeyReference{Name: "backend-secret"},
			RotationOverlap: &metav1.Duration{Duration: 4 * time.Second},
		}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionFalse, oauthv1alpha1.SecretNotFoundReason)
		ready := expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.SecretNotFoundReason)
		Expect(ready.Message).To(ContainSubstring("Secret backend-secret does not exist"))
		expectNoCondition(ctx, c, oauthv1alpha1.StalledCondition)
		expectNotServed(ctx, snapshot.KindClient, c.UID)

		By("creating it with a weak secret")
		s := clientSecretObj(ns, "backend-secret", map[string]string{"client_secret": "tiny-s3cret"})
		Expect(k8s.Create(ctx, s)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionFalse, oauthv1alpha1.WeakSecretReason)
		expectCondition(ctx, c, oauthv1alpha1.StalledCondition, metav1.ConditionTrue, oauthv1alpha1.WeakSecretReason)
		ready = expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.WeakSecretReason)
		Expect(ready.Message).NotTo(ContainSubstring("tiny-s3cret"), "a condition must never show the secret")

		By("moving it to another key")
		update(ctx, s, func(s *corev1.Secret) { s.Data = map[string][]byte{"other": []byte(longSecret)} })
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionFalse, oauthv1alpha1.KeyMissingReason)
		expectCondition(ctx, c, oauthv1alpha1.StalledCondition, metav1.ConditionTrue, oauthv1alpha1.KeyMissingReason)

		By("fixing it")
		update(ctx, s, func(s *corev1.Secret) { s.Data = map[string][]byte{"client_secret": []byte(longSecret)} })
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReferencedReason)
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectNoCondition(ctx, c, oauthv1alpha1.StalledCondition)
		Eventually(currentDigests(ctx, c), timeout, interval).Should(Equal([]string{Digest(longSecret)}))
		Eventually(secretData(ctx, ns, "backend-oauth-credentials", "client_secret"), timeout, interval).Should(Equal(longSecret))

		By("rotating it: both secrets are valid until the overlap ends")
		update(ctx, s, func(s *corev1.Secret) { s.Data = map[string][]byte{"client_secret": []byte(otherSecret)} })
		Eventually(currentDigests(ctx, c), timeout, interval).Should(Equal([]string{Digest(otherSecret), Digest(longSecret)}))
		doc := clientDoc(ctx, c)
		Expect(doc.Secrets[0].NotAfter).To(BeNil())
		Expect(doc.Secrets[1].NotAfter).NotTo(BeNil())
		Eventually(func(g Gomega) *metav1.Time {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
			return c.Status.PreviousSecretValidUntil
		}, timeout, interval).ShouldNot(BeNil())
		Expect(c.Status.PreviousSecretValidUntil.Time.Equal(*doc.Secrets[1].NotAfter)).To(BeTrue())
		Expect(secretData(ctx, ns, "backend-oauth-credentials", "client_secret")(Default)).To(Equal(otherSecret))
		expectEvent(ctx, "OAuthClient", c, corev1.EventTypeNormal, EventSecretRotated)

		By("ending the overlap")
		Eventually(currentDigests(ctx, c), 15*time.Second, interval).Should(Equal([]string{Digest(otherSecret)}))
		Eventually(func(g Gomega) *metav1.Time {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
			return c.Status.PreviousSecretValidUntil
		}, timeout, interval).Should(BeNil())

		By("deleting the referenced Secret")
		Expect(k8s.Delete(ctx, s)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.SecretNotFoundReason)
		expectNotServed(ctx, snapshot.KindClient, c.UID)
	})

	It("generates a missing referenced secret when asked to", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "backend", clientCr)
		c.Spec.RedirectURIs = nil
		c.Spec.Secret = &oauthv1alpha1.ClientSecretSpec{
			SecretRef: oauthv1alpha1.SecretKeyReference{Name: "generated", Key: "secret"},
			OnMissing: oauthv1alpha1.MissingSecretGenerate,
		}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.GeneratedReason)
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		generated := secretData(ctx, ns, "generated", "secret")(Default)
		Expect(len(generated)).To(BeNumerically(">=", 43))
		Eventually(currentDigests(ctx, c), timeout, interval).Should(Equal([]string{Digest(generated)}))

		By("generating it again, with an Event, when it is deleted")
		Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "generated"}})).To(Succeed())
		Eventually(func(g Gomega) {
			again := secretData(ctx, ns, "generated", "secret")(g)
			g.Expect(len(again)).To(BeNumerically(">=", 43))
			g.Expect(again).NotTo(Equal(generated))
		}, timeout, interval).Should(Succeed())
		expectEvent(ctx, "OAuthClient", c, corev1.EventTypeNormal, EventSecretGenerated)
	})

	It("gives a clientID to the oldest client and the other one when it goes away", func(ctx SpecContext) {
		// Only clients of the namespace owning the ID compete for it
		// (tenancy_test.go: an ID never passes to another namespace).
		nsA := newNamespace(ctx)
		nsB := nsA
		a := newClient(nsA, "a", authCode)
		a.Spec.ClientID = nsA + ".shared"
		Expect(k8s.Create(ctx, a)).To(Succeed())
		expectCondition(ctx, a, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		time.Sleep(1100 * time.Millisecond) // creationTimestamp has a one-second resolution

		b := newClient(nsB, "b", authCode)
		b.Spec.ClientID = a.Spec.ClientID
		Expect(k8s.Create(ctx, b)).To(Succeed())
		expectCondition(ctx, b, oauthv1alpha1.ClientIDAvailableCondition, metav1.ConditionFalse, oauthv1alpha1.ClientIDConflictReason)
		ready := expectCondition(ctx, b, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.ClientIDConflictReason)
		Expect(ready.Message).To(ContainSubstring("already used by OAuthClient " + nsA + "/a"))
		expectCondition(ctx, b, oauthv1alpha1.StalledCondition, metav1.ConditionTrue, oauthv1alpha1.ClientIDConflictReason)
		expectNotServed(ctx, snapshot.KindClient, b.UID)
		Consistently(conditionOf(ctx, a, oauthv1alpha1.ReadyCondition), time.Second, interval).Should(HaveField("Reason", oauthv1alpha1.ReconciledReason))

		Expect(k8s.Delete(ctx, a)).To(Succeed())
		expectCondition(ctx, b, oauthv1alpha1.ClientIDAvailableCondition, metav1.ConditionTrue, oauthv1alpha1.ClaimedReason)
		expectCondition(ctx, b, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectNoCondition(ctx, b, oauthv1alpha1.StalledCondition)
		Expect(clientDoc(ctx, b).ID).To(Equal(a.Spec.ClientID))
	})

	It("serves a Public client without a secret, and a disabled client with invalid_client", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "cli", device, refresh)
		c.Spec.RedirectURIs = nil
		c.Spec.Type = oauthv1alpha1.ClientTypePublic
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectCondition(ctx, c, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.PublicClientReason)
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		doc := clientDoc(ctx, c)
		Expect(doc.Secrets).To(BeEmpty())
		Expect(doc.TokenEndpointAuthMethod).To(Equal("none"))
		Expect(secretData(ctx, ns, "cli-oauth-credentials", "client_secret")(Default)).To(BeEmpty())
		Expect(secretData(ctx, ns, "cli-oauth-credentials", "client_id")(Default)).To(Equal(ns + ".cli"))

		update(ctx, c, func(c *oauthv1alpha1.OAuthClient) { c.Spec.Disabled = true })
		ready := expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.DisabledReason)
		Expect(ready.Message).To(ContainSubstring("invalid_client"))
		Eventually(func(g Gomega) bool {
			doc, err := snapshotOf(ctx, snapshot.KindClient, c.UID)
			g.Expect(err).NotTo(HaveOccurred())
			return doc.Client.Disabled
		}, timeout, interval).Should(BeTrue())
		expectEvent(ctx, "OAuthClient", c, corev1.EventTypeWarning, oauthv1alpha1.DisabledReason)

		update(ctx, c, func(c *oauthv1alpha1.OAuthClient) { c.Spec.Disabled = false })
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectEvent(ctx, "OAuthClient", c, corev1.EventTypeNormal, oauthv1alpha1.ReconciledReason)
	})

	It("compiles Rotate for a Public client under a Reuse policy and says so", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		Expect(k8s.Create(ctx, &oauthv1alpha1.GrantPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"},
			Spec: oauthv1alpha1.GrantPolicySpec{RefreshTokenRotation: oauthv1alpha1.RefreshTokenReuse}})).To(Succeed())
		public := newClient(ns, "spa", authCode, refresh)
		public.Spec.Type = oauthv1alpha1.ClientTypePublic
		confidential := newClient(ns, "web", authCode, refresh)
		Expect(k8s.Create(ctx, public)).To(Succeed())
		Expect(k8s.Create(ctx, confidential)).To(Succeed())

		cond := expectCondition(ctx, public, oauthv1alpha1.RefreshTokenRotationAllowedCondition, metav1.ConditionFalse,
			oauthv1alpha1.PublicClientRotatesReason)
		Expect(cond.Message).To(ContainSubstring("Reuse"))
		ready := expectCondition(ctx, public, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		Expect(ready.Message).To(ContainSubstring("rotate"))
		Expect(clientDoc(ctx, public).Policy.RefreshTokenRotation).To(Equal(snapshot.RotationRotate))

		expectCondition(ctx, confidential, oauthv1alpha1.RefreshTokenRotationAllowedCondition, metav1.ConditionTrue,
			oauthv1alpha1.AllowedReason)
		Expect(clientDoc(ctx, confidential).Policy.RefreshTokenRotation).To(Equal(snapshot.RotationReuse))
	})
})

func withName(p snapshot.Policy, name string) snapshot.Policy {
	p.Name = name
	return p
}
