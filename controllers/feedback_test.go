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
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/feedback"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/store/storetest"
)

// The data plane's feedback against the real API server: the authserver
// serves the snapshot the controllers compiled, and writes Locked and
// AuthErrors back with server-side apply; the controllers' reconciles leave
// them alone.
var _ = Describe("Feedback from the authorization server", func() {
	It("reports a locked account and a client's auth errors, and the controller keeps them", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		gp := &oauthv1alpha1.GrantPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"},
			Spec: oauthv1alpha1.GrantPolicySpec{
				AllowedGrantTypes: []oauthv1alpha1.GrantType{password, clientCr},
				Lockout: &oauthv1alpha1.LockoutSpec{MaxFailedAttempts: 2, Window: &metav1.Duration{Duration: time.Minute},
					Duration: &metav1.Duration{Duration: time.Minute}},
			},
		}
		Expect(k8s.Create(ctx, gp)).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-password"},
			StringData: map[string]string{"password": "alice password"}})).To(Succeed())
		acct := newAccount(ns, "alice")
		Expect(k8s.Create(ctx, acct)).To(Succeed())
		app := newClient(ns, "app", password, clientCr)
		app.Spec.RedirectURIs = nil
		Expect(k8s.Create(ctx, app)).To(Succeed())
		expectCondition(ctx, acct, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectCondition(ctx, app, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		secret := secretData(ctx, ns, "app"+CredentialsSecretSuffix, "client_secret")
		Eventually(secret, timeout, interval).ShouldNot(BeEmpty())
		clientID := app.Status.ClientID

		// The authserver, on the snapshot as compiled, with a fake clock.
		var entries []registry.Entry
		Eventually(func(g Gomega) {
			entries = nil
			for _, src := range []struct {
				kind snapshot.Kind
				name string
			}{
				{snapshot.KindClient, snapshotSecretName(snapshot.KindClient, app.UID)},
				{snapshot.KindAccount, snapshotSecretName(snapshot.KindAccount, acct.UID)},
				{snapshot.KindKeySet, snapshot.KeySetSecretName},
			} {
				s := &corev1.Secret{}
				g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: src.name}, s)).To(Succeed())
				doc, err := snapshot.Decode(s.Data[snapshot.DataKey])
				g.Expect(err).NotTo(HaveOccurred())
				entries = append(entries, registry.Entry{Origin: src.name, Document: doc})
			}
		}, timeout, interval).Should(Succeed())
		holder := registry.NewHolder()
		holder.Store(registry.Build(entries, slog.New(slog.DiscardHandler)))
		clock := storetest.NewFakeClock()
		clock.Set(time.Now())
		dyn, err := dynamic.NewForConfig(env.Config)
		Expect(err).NotTo(HaveOccurred())
		cs, err := kubernetes.NewForConfig(env.Config)
		Expect(err).NotTo(HaveOccurred())
		fb := feedback.New(feedback.Config{Writer: &feedback.KubeWriter{Dynamic: dyn, Clientset: cs, Instance: "test"},
			Clock: clock, MinInterval: 30 * time.Second, Log: slog.New(slog.NewTextHandler(GinkgoWriter, nil))})
		var handler http.Handler
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
		DeferCleanup(srv.Close)
		st, err := store.OpenSQLite(ctx, ":memory:", store.WithClock(clock))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(st.Close)
		as, err := authserver.New(authserver.Config{Issuer: srv.URL, Registry: holder, Store: st, Clock: clock, Feedback: fb})
		Expect(err).NotTo(HaveOccurred())
		handler = as.Handler()
		token := func(form url.Values, user, pass string) int {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+authserver.PathToken, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
			resp, err := http.DefaultClient.Do(req)
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			return resp.StatusCode
		}
		pw := func(p string) url.Values {
			return url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {p}}
		}

		By("two wrong passwords lock the account; three bad secrets are invalid_client")
		Expect(token(pw("wrong"), clientID, secret(Default))).To(Equal(400))
		Expect(token(pw("wrong"), clientID, secret(Default))).To(Equal(401))
		Expect(token(pw("alice password"), clientID, secret(Default))).To(Equal(401), "locked: even the right password")
		for range 3 {
			Expect(token(url.Values{"grant_type": {"client_credentials"}}, clientID, "not the secret")).To(Equal(401))
		}
		fb.Flush(ctx)
		locked := expectCondition(ctx, acct, oauthv1alpha1.LockedCondition, metav1.ConditionTrue, oauthv1alpha1.TooManyFailedLoginsReason)
		Expect(locked.Message).To(ContainSubstring("account_locked"))
		errs := expectCondition(ctx, app, oauthv1alpha1.AuthErrorsCondition, metav1.ConditionTrue, oauthv1alpha1.InvalidClientReason)
		Expect(errs.Message).To(ContainSubstring("invalid_client 3"))
		expectEvent(ctx, "Account", acct, corev1.EventTypeWarning, oauthv1alpha1.TooManyFailedLoginsReason)
		expectEvent(ctx, "OAuthClient", app, corev1.EventTypeWarning, oauthv1alpha1.InvalidClientReason)

		By("controller reconciles of new generations keep the authserver's conditions")
		update(ctx, acct, func(a *oauthv1alpha1.Account) { a.Spec.DisplayName = "Alice" })
		update(ctx, app, func(c *oauthv1alpha1.OAuthClient) { c.Spec.DisplayName = "App" })
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(acct), acct)).To(Succeed())
			g.Expect(acct.Status.ObservedGeneration).To(Equal(acct.Generation))
		}, timeout, interval).Should(Succeed())
		expectSettled(ctx, app)
		Expect(conditionOf(ctx, acct, oauthv1alpha1.LockedCondition)(Default)).To(Equal(locked))
		Expect(conditionOf(ctx, app, oauthv1alpha1.AuthErrorsCondition)(Default)).To(Equal(errs))
		Expect(conditionOf(ctx, app, oauthv1alpha1.ReadyCondition)(Default).Status).To(Equal(metav1.ConditionTrue))

		By("after the lock duration: Locked False and the login time; after a quiet window: no AuthErrors")
		clock.Advance(61 * time.Second)
		Expect(token(pw("alice password"), clientID, secret(Default))).To(Equal(200))
		clock.Advance(5 * time.Minute)
		fb.Flush(ctx)
		expectCondition(ctx, acct, oauthv1alpha1.LockedCondition, metav1.ConditionFalse, oauthv1alpha1.NotLockedReason)
		Expect(acct.Status.LastLoginTime).NotTo(BeNil())
		Expect(acct.Status.LastLoginTime.Time).To(BeTemporally("~", clock.Now().Add(-5*time.Minute), 2*time.Second))
		expectCondition(ctx, app, oauthv1alpha1.AuthErrorsCondition, metav1.ConditionFalse, oauthv1alpha1.NoRecentErrorsReason)
		// The controller's conditions are still there, untouched by the applies.
		Expect(conditionOf(ctx, acct, oauthv1alpha1.PasswordReadyCondition)(Default).Status).To(Equal(metav1.ConditionTrue))

		By("a write meant for an object of the same name but another UID (deleted and recreated) is refused")
		stale := snapshot.Source{Kind: "Account", Namespace: ns, Name: acct.Name, UID: "00000000-0000-0000-0000-000000000000"}
		err = (&feedback.KubeWriter{Dynamic: dyn, Clientset: cs}).ApplyStatus(ctx, stale, feedback.Status{Conditions: []metav1.Condition{{
			Type: oauthv1alpha1.LockedCondition, Status: metav1.ConditionTrue, Reason: oauthv1alpha1.TooManyFailedLoginsReason,
			Message: "stale", LastTransitionTime: metav1.Now()}}})
		Expect(err).To(MatchError(feedback.ErrGone))
		Expect(conditionOf(ctx, acct, oauthv1alpha1.LockedCondition)(Default).Status).To(Equal(metav1.ConditionFalse))
		_ = context.Background
	})
})
