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
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// accountDoc returns the account's snapshot entry.
func accountDoc(ctx context.Context, a *oauthv1alpha1.Account) func(Gomega) *snapshot.Account {
	return func(g Gomega) *snapshot.Account {
		doc, err := snapshotOf(ctx, snapshot.KindAccount, a.UID)
		g.Expect(err).NotTo(HaveOccurred())
		return doc.Account
	}
}

// newAccount is an Account with the user name name and its password in
// Secret <name>-password.
func newAccount(ns, name string) *oauthv1alpha1.Account {
	return &oauthv1alpha1.Account{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: oauthv1alpha1.AccountSpec{
			Username:          name,
			PasswordSecretRef: oauthv1alpha1.SecretKeyReference{Name: name + "-password"},
		},
	}
}

var _ = Describe("Account", func() {
	It("hashes the password from its Secret, follows changes, honours disabled and cleans up", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		a := newAccount(ns, "alice")
		a.Spec.Email = "alice@example.com"
		Expect(k8s.Create(ctx, a)).To(Succeed())
		expectCondition(ctx, a, oauthv1alpha1.PasswordReadyCondition, metav1.ConditionFalse, oauthv1alpha1.PasswordSecretNotFoundReason)
		expectCondition(ctx, a, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.PasswordSecretNotFoundReason)
		Eventually(accountDoc(ctx, a), timeout, interval).Should(HaveField("PasswordBcrypt", BeEmpty()),
			"an account without password stays in the snapshot, and logins fail")

		By("creating the Secret with an empty password")
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-password"}, Data: map[string][]byte{"password": {}}}
		Expect(k8s.Create(ctx, s)).To(Succeed())
		expectCondition(ctx, a, oauthv1alpha1.PasswordReadyCondition, metav1.ConditionFalse, oauthv1alpha1.PasswordEmptyReason)
		expectCondition(ctx, a, oauthv1alpha1.StalledCondition, metav1.ConditionTrue, oauthv1alpha1.PasswordEmptyReason)

		By("setting a password")
		update(ctx, s, func(s *corev1.Secret) { s.Data = map[string][]byte{"password": []byte("correct-horse")} })
		expectCondition(ctx, a, oauthv1alpha1.PasswordReadyCondition, metav1.ConditionTrue, oauthv1alpha1.PasswordSetReason)
		expectCondition(ctx, a, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectNoCondition(ctx, a, oauthv1alpha1.StalledCondition)
		var hash string
		Eventually(func(g Gomega) {
			acct := accountDoc(ctx, a)(g)
			hash = acct.PasswordBcrypt
			g.Expect(bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct-horse"))).To(Succeed())
		}, timeout, interval).Should(Succeed())
		Expect(accountDoc(ctx, a)(Default)).To(And(HaveField("Subject", ns+"/alice"), HaveField("Email", "alice@example.com")))
		cost, err := bcrypt.Cost([]byte(hash))
		Expect(err).NotTo(HaveOccurred())
		Expect(cost).To(Equal(BcryptCost))
		snapSecret := &corev1.Secret{}
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: snapshotSecretName(snapshot.KindAccount, a.UID)}, snapSecret)).To(Succeed())
		Expect(string(snapSecret.Data[snapshot.DataKey])).NotTo(ContainSubstring("correct-horse"), "the snapshot must never hold the password")

		By("not re-hashing an unchanged password")
		update(ctx, a, func(a *oauthv1alpha1.Account) { a.Spec.DisplayName = "Alice" })
		Eventually(accountDoc(ctx, a), timeout, interval).Should(HaveField("DisplayName", "Alice"))
		Expect(accountDoc(ctx, a)(Default).PasswordBcrypt).To(Equal(hash))

		By("changing the password")
		update(ctx, s, func(s *corev1.Secret) { s.Data = map[string][]byte{"password": []byte("battery-staple")} })
		Eventually(func(g Gomega) error {
			return bcrypt.CompareHashAndPassword([]byte(accountDoc(ctx, a)(g).PasswordBcrypt), []byte("battery-staple"))
		}, timeout, interval).Should(Succeed())

		By("disabling the account")
		update(ctx, a, func(a *oauthv1alpha1.Account) { a.Spec.Disabled = true })
		ready := expectCondition(ctx, a, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.DisabledReason)
		Expect(ready.Message).To(ContainSubstring("account_disabled"))
		Eventually(accountDoc(ctx, a), timeout, interval).Should(HaveField("Disabled", true))
		expectEvent(ctx, "Account", a, corev1.EventTypeWarning, oauthv1alpha1.DisabledReason)

		By("deleting the password Secret")
		Expect(k8s.Delete(ctx, s)).To(Succeed())
		expectCondition(ctx, a, oauthv1alpha1.PasswordReadyCondition, metav1.ConditionFalse, oauthv1alpha1.PasswordSecretNotFoundReason)
		Eventually(accountDoc(ctx, a), timeout, interval).Should(HaveField("PasswordBcrypt", BeEmpty()))

		By("deleting the account")
		Expect(k8s.Delete(ctx, a)).To(Succeed())
		expectNoSnapshot(ctx, snapshot.KindAccount, a.UID)
	})
})

var _ = Describe("Signing keys", func() {
	It("keeps an ES256 key set in the operator namespace with exactly one signing key", func(ctx SpecContext) {
		var doc snapshot.Document
		Eventually(func() error {
			secret := &corev1.Secret{}
			if err := k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: snapshot.KeySetSecretName}, secret); err != nil {
				return err
			}
			Expect(secret.Labels).To(HaveKeyWithValue(snapshot.LabelSnapshot, string(snapshot.KindKeySet)))
			var err error
			doc, err = snapshot.Decode(secret.Data[snapshot.DataKey])
			return err
		}, timeout, interval).Should(Succeed())
		now := time.Now()
		signing := 0
		for _, k := range doc.KeySet.Keys {
			_, err := k.PrivateKey()
			Expect(err).NotTo(HaveOccurred())
			if !k.SignFrom.After(now) && k.SignUntil.After(now) {
				signing++
				Expect(k.SignUntil.Sub(k.SignFrom)).To(Equal(time.Hour))
				Expect(k.PublishUntil.Sub(k.SignUntil)).To(Equal(MaxTokenLifetime))
			}
		}
		Expect(signing).To(Equal(1))
	})
})

var _ = Describe("Orphaned snapshot entries", func() {
	It("are removed, and live entries kept", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		live := newClient(ns, "live", authCode)
		Expect(k8s.Create(ctx, live)).To(Succeed())
		expectCondition(ctx, live, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)

		orphanDoc := CompileClient(ClientInput{
			Client:   &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gone", UID: "00000000-0000-0000-0000-000000000001"}},
			ClientID: "gone",
			Policy:   clientDoc(ctx, live).Policy,
		})
		store := snapshotStore{client: k8s, reader: k8s, namespace: operatorNamespace}
		var removed int
		entry, err := store.read(ctx, "authops-client-00000000-0000-0000-0000-000000000001")
		Expect(err).NotTo(HaveOccurred())
		Expect(store.write(ctx, entry, orphanDoc)).To(Succeed())

		removed, err = (&OrphanCleaner{Client: k8s, APIReader: k8s, Namespace: operatorNamespace}).Clean(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(removed).To(BeNumerically(">=", 1))
		_, err = snapshotOf(ctx, snapshot.KindClient, "00000000-0000-0000-0000-000000000001")
		Expect(err).To(HaveOccurred())
		_, err = snapshotOf(ctx, snapshot.KindClient, live.UID)
		Expect(err).NotTo(HaveOccurred(), "a live client's entry must be kept")
	})
})

var _ = Describe("KeyRotator", func() {
	It("publishes the next key before it signs and drops old keys after their tokens expired, on an injected clock", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		clk := clocktesting.NewFakeClock(t0)
		rotator := &KeyRotator{
			Client: k8s, APIReader: k8s, Clock: clk, Namespace: ns,
			Config: KeyRotationConfig{RotationPeriod: 10 * time.Hour, PublishAhead: 2 * time.Hour, MaxTokenLifetime: MaxTokenLifetime, NewKey: NewES256Key},
		}
		keys := func() []snapshot.Key {
			secret := &corev1.Secret{}
			Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: snapshot.KeySetSecretName}, secret)).To(Succeed())
			doc, err := snapshot.Decode(secret.Data[snapshot.DataKey])
			Expect(err).NotTo(HaveOccurred())
			return doc.KeySet.Keys
		}
		next, err := rotator.Rotate(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(next).To(Equal(t0.Add(8 * time.Hour)))
		first := keys()
		Expect(first).To(HaveLen(1))

		clk.SetTime(next)
		_, err = rotator.Rotate(ctx)
		Expect(err).NotTo(HaveOccurred())
		second := keys()
		Expect(second).To(HaveLen(2))
		Expect(second[0].ID).To(Equal(first[0].ID), "the signing key is kept")
		Expect(second[1].PublishFrom).To(Equal(t0.Add(8*time.Hour)), "the next key is published now")
		Expect(second[1].SignFrom).To(Equal(t0.Add(10*time.Hour)), "and signs when the current one stops")

		clk.SetTime(t0.Add(34 * time.Hour))
		_, err = rotator.Rotate(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, k := range keys() {
			Expect(k.ID).NotTo(Equal(first[0].ID), "the first key is dropped once every token it signed expired")
		}
	})
})
