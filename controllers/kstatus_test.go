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

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// kstatusOf is what kstatus (cli-utils status.Compute) makes of obj.
func kstatusOf(obj client.Object) (*status.Result, error) {
	return computeKstatus(obj, false)
}

// standardKstatusOf is what kstatus makes of obj from its standard
// conditions alone (observedGeneration, Reconciling, Stalled): without the
// Ready condition, which cli-utils reads as a fallback (Ready=False gives
// InProgress) but tools that follow only the kstatus conventions do not.
func standardKstatusOf(obj client.Object) (*status.Result, error) {
	return computeKstatus(obj, true)
}

func computeKstatus(obj client.Object, withoutReady bool) (*status.Result, error) {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: content}
	if withoutReady {
		conds, _, err := unstructured.NestedSlice(content, "status", "conditions")
		if err != nil {
			return nil, err
		}
		kept := make([]any, 0, len(conds))
		for _, c := range conds {
			if c.(map[string]any)["type"] != oauthv1alpha1.ReadyCondition {
				kept = append(kept, c)
			}
		}
		if err := unstructured.SetNestedSlice(content, kept, "status", "conditions"); err != nil {
			return nil, err
		}
	}
	return status.Compute(u)
}

// expectKstatus waits until kstatus, on obj as the API server returns it,
// is want, with a message containing msg; InProgress and Failed must come
// from the standard conditions, not from cli-utils' fallback on Ready.
func expectKstatus(ctx context.Context, obj client.Object, want status.Status, msg string) {
	EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		res, err := kstatusOf(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Status).To(Equal(want), "kstatus: %s", res.Message)
		std, err := standardKstatusOf(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(std.Status).To(Equal(want), "kstatus from the standard conditions alone: %s", std.Message)
		g.Expect(res.Message).To(ContainSubstring(msg))
	}, timeout, interval).Should(Succeed())
}

var _ = Describe("kstatus", func() {
	It("is InProgress while a client waits for its Secret, then Current", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "backend", clientCr)
		c.Spec.RedirectURIs = nil
		c.Spec.Secret = &oauthv1alpha1.ClientSecretSpec{SecretRef: oauthv1alpha1.SecretKeyReference{Name: "backend-secret"}}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectKstatus(ctx, c, status.InProgressStatus, "waiting for Secret backend-secret in namespace "+ns+" to be created")
		rec := expectCondition(ctx, c, oauthv1alpha1.ReconcilingCondition, metav1.ConditionTrue, oauthv1alpha1.SecretNotFoundReason)
		Expect(rec.ObservedGeneration).To(Equal(c.Generation))
		Expect(c.Status.ObservedGeneration).To(Equal(c.Generation), "the generation is observed: the client waits")
		expectNoCondition(ctx, c, oauthv1alpha1.StalledCondition)

		By("creating the Secret")
		Expect(k8s.Create(ctx, clientSecretObj(ns, "backend-secret", map[string]string{"client_secret": longSecret}))).To(Succeed())
		expectKstatus(ctx, c, status.CurrentStatus, "")
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)
		expectNoCondition(ctx, c, oauthv1alpha1.ReconcilingCondition)
	})

	It("is InProgress while a client waits for its GrantPolicy", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "app", authCode)
		c.Spec.GrantPolicyRef = &oauthv1alpha1.LocalObjectReference{Name: "strict"}
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectKstatus(ctx, c, status.InProgressStatus, "waiting for GrantPolicy strict in namespace "+ns+" to be created")
		expectCondition(ctx, c, oauthv1alpha1.ReconcilingCondition, metav1.ConditionTrue, oauthv1alpha1.PolicyNotFoundReason)
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionFalse, oauthv1alpha1.PolicyNotFoundReason)
	})

	It("is InProgress while an Account waits for its password Secret", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		a := newAccount(ns, "alice")
		Expect(k8s.Create(ctx, a)).To(Succeed())
		expectKstatus(ctx, a, status.InProgressStatus, "waiting for Secret alice-password in namespace "+ns+" to be created")
		expectCondition(ctx, a, oauthv1alpha1.ReconcilingCondition, metav1.ConditionTrue, oauthv1alpha1.PasswordSecretNotFoundReason)
		Expect(a.Status.ObservedGeneration).To(Equal(a.Generation))
	})

	It("is Failed for a configuration the user must fix", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "backend", clientCr)
		c.Spec.RedirectURIs = nil
		c.Spec.Secret = &oauthv1alpha1.ClientSecretSpec{SecretRef: oauthv1alpha1.SecretKeyReference{Name: "backend-secret"}}
		Expect(k8s.Create(ctx, clientSecretObj(ns, "backend-secret", map[string]string{"client_secret": "too-short"}))).To(Succeed())
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectKstatus(ctx, c, status.FailedStatus, "shorter than")
		expectCondition(ctx, c, oauthv1alpha1.StalledCondition, metav1.ConditionTrue, oauthv1alpha1.WeakSecretReason)
		expectNoCondition(ctx, c, oauthv1alpha1.ReconcilingCondition)
		Expect(c.Status.ObservedGeneration).To(Equal(c.Generation))
	})

	It("is Current when Ready, and InProgress for a generation not yet observed", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		c := newClient(ns, "webapp", authCode)
		Expect(k8s.Create(ctx, c)).To(Succeed())
		expectKstatus(ctx, c, status.CurrentStatus, "")
		expectCondition(ctx, c, oauthv1alpha1.ReadyCondition, metav1.ConditionTrue, oauthv1alpha1.ReconciledReason)

		By("reading the object the API server returns for a spec change, before any reconcile")
		c.Spec.DisplayName = "Web"
		Expect(k8s.Update(ctx, c)).To(Succeed())
		Expect(c.Generation).To(BeNumerically(">", c.Status.ObservedGeneration))
		res, err := kstatusOf(c)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(status.InProgressStatus), "kstatus: %s", res.Message)
		expectKstatus(ctx, c, status.CurrentStatus, "")
	})
})
