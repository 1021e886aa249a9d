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

// Package admission tests the admission policies of config/admission (the
// client_id ownership policy, the snapshot finalizer at creation) against
// the source-built API server (kube-apiserver evaluates Validating and
// Mutating AdmissionPolicies itself: no webhook, no manager).
package admission_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/controllers"
	testenv "github.com/authops/authops/test/envtest"
	"github.com/authops/authops/test/stack"
)

var (
	env    *envtest.Environment
	k8s    client.Client
	scheme = runtime.NewScheme()
)

const (
	// operatorNamespace is config/default's, where the binding's paramRef
	// looks for the grants ConfigMap.
	operatorNamespace = "authops-system"
	timeout           = 20 * time.Second
	interval          = 200 * time.Millisecond
)

func TestAdmissionPolicy(t *testing.T) {
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	reporterConfig.Verbose = true
	reporterConfig.NoColor = true
	RunSpecs(t, "The admission policies against the source-built API server", suiteConfig, reporterConfig)
}

var _ = BeforeSuite(func(ctx SpecContext) {
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(oauthv1alpha1.AddToScheme(scheme)).To(Succeed())
	var err error
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred(), "the test API server must be built, never skipped")
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())

	// kube-apiserver runs the ValidatingAdmissionPolicy plugin by default
	// (GA in 1.30); the first spec fails if it does not. The policy's
	// status.typeChecking is written by kube-controller-manager, which the
	// test API server does not run: the specs exercise every expression.
	By("applying config/admission as shipped")
	applied, err := stack.ApplyDir(ctx, k8s, filepath.Join(testenv.RepoRoot(), "config", "admission"), "")
	Expect(err).NotTo(HaveOccurred())
	Expect(applied).To(HaveLen(4), "the two policies and their bindings")

	// The MutatingAdmissionPolicy types its apply configuration from the
	// API server's OpenAPI, which knows a new CRD a few seconds later (4.4 s
	// measured): until then a create of the kind fails with 503 "Resource
	// kind ... not found. There can be a delay ..." whatever failurePolicy
	// says (docs/install.md). Wait for one create to pass.
	Eventually(func() error { return createClient(ctx, operatorNamespace, "probe", "") }, 30*time.Second, interval).Should(Succeed())
}, NodeTimeout(2*time.Minute))

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

func newNamespace(ctx context.Context, prefix string) string {
	return testenv.NewNamespace(ctx, k8s, prefix)
}

// createClient creates an OAuthClient named name in ns, with clientID
// ("" for none), and returns the API server's answer.
func createClient(ctx context.Context, ns, name, clientID string) error {
	return k8s.Create(ctx, &oauthv1alpha1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: oauthv1alpha1.OAuthClientSpec{
			ClientID:   clientID,
			GrantTypes: []oauthv1alpha1.GrantType{oauthv1alpha1.GrantTypeClientCredentials},
		},
	})
}

// setGrants writes the grants ConfigMap as the manager does
// (ClientIDGrants.ConfigMapData), from these ClusterGrantPolicy grants.
func setGrants(ctx context.Context, grants ...oauthv1alpha1.ClientIDGrant) {
	GinkgoHelper()
	data := controllers.IndexClientIDGrants([]oauthv1alpha1.ClusterGrantPolicy{{
		ObjectMeta: metav1.ObjectMeta{Name: "platform"},
		Spec:       oauthv1alpha1.ClusterGrantPolicySpec{ClientIDs: grants},
	}}).ConfigMapData()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: controllers.ClientIDGrantsConfigMap}}
	err := k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)
	cm.Data = data
	if apierrors.IsNotFound(err) {
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		return
	}
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Update(ctx, cm)).To(Succeed())
}

var _ = Describe("config/admission: client_id ownership", Ordered, func() {
	var victim, mallory string
	BeforeAll(func(ctx SpecContext) {
		victim, mallory = newNamespace(ctx, "victim"), newNamespace(ctx, "mallory")
		setGrants(ctx,
			oauthv1alpha1.ClientIDGrant{Namespace: mallory, IDs: []string{"billing-" + mallory}, Prefixes: []string{"team-" + mallory + "-"}})
	})

	It("refuses an explicit clientID of another namespace, saying what to change", func(ctx SpecContext) {
		var err error
		// The API server loads policies, bindings and parameters
		// asynchronously: wait for the refusal.
		Eventually(func() error {
			err = createClient(ctx, mallory, "reports", victim+".reports")
			return err
		}, timeout, interval).Should(HaveOccurred())
		Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring(
			`spec.clientID ` + victim + `.reports must start with "` + mallory + `." or be granted to namespace ` + mallory +
				` by a ClusterGrantPolicy (spec.clientIDs): remove spec.clientID to use the default ` + mallory +
				`.reports, use an ID starting with "` + mallory + `.", or ask the cluster administrators for a grant`))
		GinkgoWriter.Printf("refused: %v\n", err)

		By("refusing an ID granted to no namespace, and one granted to another")
		Expect(createClient(ctx, mallory, "plain", "reports")).To(MatchError(ContainSubstring("must start with")))
		Expect(createClient(ctx, victim, "billing", "billing-"+mallory)).To(MatchError(ContainSubstring("must start with")))
	})

	It("lets through a granted ID or prefix, the namespace's own prefix, and no clientID", func(ctx SpecContext) {
		Expect(createClient(ctx, mallory, "billing", "billing-"+mallory)).To(Succeed())
		Expect(createClient(ctx, mallory, "team", "team-"+mallory+"-api")).To(Succeed())
		Expect(createClient(ctx, mallory, "own", mallory+".own")).To(Succeed())
		Expect(createClient(ctx, mallory, "default-id", "")).To(Succeed())
		Expect(createClient(ctx, victim, "reports", victim+".reports")).To(Succeed())
	})

	It("never refuses a client without clientID, nor an own-prefix one, while the grants ConfigMap is missing", func(ctx SpecContext) {
		Expect(k8s.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: controllers.ClientIDGrantsConfigMap}})).To(Succeed())
		// Without its parameter the binding allows (parameterNotFoundAction
		// Allow): the manager's ClientIDAllowed check is what stops a
		// foreign ID then. Waiting for that shows the deletion was seen.
		Eventually(func() error { return createClient(ctx, mallory, "foreign", victim+".foreign") }, timeout, interval).Should(Succeed())
		Expect(createClient(ctx, victim, "no-client-id", "")).To(Succeed())
		Expect(createClient(ctx, victim, "own", victim+".own")).To(Succeed())
	})

	It("would refuse every OAuthClient, even without clientID, with parameterNotFoundAction Deny (why the binding says Allow)", func(ctx SpecContext) {
		ns := newNamespace(ctx, "deny")
		binding := &admissionv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "client-id-ownership-deny"},
			Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName:        "client-id-ownership",
				ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
				ParamRef: &admissionv1.ParamRef{Name: "missing", Namespace: operatorNamespace,
					ParameterNotFoundAction: ptr(admissionv1.DenyAction)},
				MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
					MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}},
			},
		}
		Expect(k8s.Create(ctx, binding)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8s.Delete(ctx, binding)).To(Succeed()) })
		// matchConditions would leave this client out, but the parameter
		// is looked up first.
		Eventually(func() error { return createClient(ctx, ns, "no-client-id", "") }, timeout, interval).
			Should(MatchError(ContainSubstring("no params found")))
	})
})

func ptr[T any](v T) *T { return &v }

var _ = Describe("config/admission: the snapshot finalizer at creation", func() {
	// The manager's first reconcile skips its finalizer patch when the
	// object arrives with the finalizer (controllers.Finalizer); these
	// specs fail when the policy, its binding or its expression is wrong.
	It("adds the finalizer to a new OAuthClient, Account and ResourceServer", func(ctx SpecContext) {
		ns := newNamespace(ctx, "finalizer")
		objs := []client.Object{
			&oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
				Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{oauthv1alpha1.GrantTypeClientCredentials}}},
			&oauthv1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice"},
				Spec: oauthv1alpha1.AccountSpec{Username: "alice",
					PasswordSecretRef: oauthv1alpha1.SecretKeyReference{Name: "alice-password", Key: "password"}}},
			&oauthv1alpha1.ResourceServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
				Spec: oauthv1alpha1.ResourceServerSpec{Audience: "https://orders.example"}},
		}
		for _, obj := range objs {
			Expect(k8s.Create(ctx, obj)).To(Succeed())
			Expect(obj.GetFinalizers()).To(Equal([]string{controllers.Finalizer}),
				"the create's answer carries the finalizer: %T %s", obj, obj.GetName())
		}
	})

	It("keeps the finalizers the object already names, and adds none twice", func(ctx SpecContext) {
		ns := newNamespace(ctx, "finalizer")
		other := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other",
			Finalizers: []string{"example.com/keep"}},
			Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{oauthv1alpha1.GrantTypeClientCredentials}}}
		Expect(k8s.Create(ctx, other)).To(Succeed())
		Expect(other.Finalizers).To(ConsistOf("example.com/keep", controllers.Finalizer))

		own := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "own",
			Finalizers: []string{controllers.Finalizer}},
			Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{oauthv1alpha1.GrantTypeClientCredentials}}}
		Expect(k8s.Create(ctx, own)).To(Succeed())
		Expect(own.Finalizers).To(Equal([]string{controllers.Finalizer}))
	})

	It("leaves updates alone: a finalizer removed later stays removed", func(ctx SpecContext) {
		ns := newNamespace(ctx, "finalizer")
		obj := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
			Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{oauthv1alpha1.GrantTypeClientCredentials}}}
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		obj.Finalizers = nil
		Expect(k8s.Update(ctx, obj)).To(Succeed())
		Expect(obj.Finalizers).To(BeEmpty())
	})
})
