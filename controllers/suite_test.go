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
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
	testenv "github.com/authops/authops/test/envtest"
)

// The suite runs the manager with every controller against kube-apiserver
// and etcd built from source (bin/k8s), and asserts through a non-cached
// client.
var (
	env       *envtest.Environment
	k8s       client.Client
	restCfg   *rest.Config
	scheme    = runtime.NewScheme()
	cancelMgr context.CancelFunc
)

const (
	operatorNamespace = "authops-system"
	testIssuer        = "https://auth.example.com"
	timeout           = 20 * time.Second
	interval          = 100 * time.Millisecond
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	reporterConfig.Verbose = true
	reporterConfig.NoColor = true
	RunSpecs(t, "Controllers against the source-built API server", suiteConfig, reporterConfig)
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(oauthv1alpha1.AddToScheme(scheme)).To(Succeed())

	var err error
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred(), "the test API server must be built, never skipped")
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	restCfg = cfg
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  CacheOptions(),
		Client:                 ClientOptions(),
		NewClient:              newFaultyClient,
	})
	Expect(err).NotTo(HaveOccurred())
	var ctx context.Context
	ctx, cancelMgr = context.WithCancel(context.Background())
	Expect(Setup(ctx, mgr, Options{
		Namespace: operatorNamespace,
		Issuer:    testIssuer,
		// Short, for the ReplicaBehind spec (served_test.go).
		ServedLagBound: 2 * time.Second,
		Metrics:        suiteMetrics,
		KeyRotation: KeyRotationConfig{
			RotationPeriod: time.Hour,
			PublishAhead:   10 * time.Minute,
		},
	})).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if cancelMgr != nil {
		cancelMgr()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// newNamespace creates a namespace for one test and deletes it afterwards.
func newNamespace(ctx context.Context) string { return testenv.NewNamespace(ctx, k8s, "ctrl") }

// conditionOf fetches obj and returns its condition of type typ (or an
// empty one).
func conditionOf(ctx context.Context, obj client.Object, typ string) func(Gomega) metav1.Condition {
	return func(g Gomega) metav1.Condition {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		var conds []metav1.Condition
		switch o := obj.(type) {
		case *oauthv1alpha1.OAuthClient:
			conds = o.Status.Conditions
		case *oauthv1alpha1.GrantPolicy:
			conds = o.Status.Conditions
		case *oauthv1alpha1.Account:
			conds = o.Status.Conditions
		case *oauthv1alpha1.ResourceServer:
			conds = o.Status.Conditions
		case *oauthv1alpha1.ClusterGrantPolicy:
			conds = o.Status.Conditions
		}
		if c := apimeta.FindStatusCondition(conds, typ); c != nil {
			return *c
		}
		return metav1.Condition{}
	}
}

// expectCondition waits until obj has the condition with status and reason.
func expectCondition(ctx context.Context, obj client.Object, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	var got metav1.Condition
	EventuallyWithOffset(1, func(g Gomega) {
		got = conditionOf(ctx, obj, typ)(g)
		g.Expect(got.Status).To(Equal(status), "%s: %s", typ, got.Message)
		g.Expect(got.Reason).To(Equal(reason), "%s: %s", typ, got.Message)
	}, timeout, interval).Should(Succeed())
	return got
}

// expectNoCondition waits until obj has no condition of type typ.
func expectNoCondition(ctx context.Context, obj client.Object, typ string) {
	EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(conditionOf(ctx, obj, typ)(g).Type).To(BeEmpty())
	}, timeout, interval).Should(Succeed())
}

// snapshotOf returns the snapshot document compiled from an object, or an
// error when there is none.
func snapshotOf(ctx context.Context, kind snapshot.Kind, uid types.UID) (snapshot.Document, error) {
	secret := &corev1.Secret{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: snapshotSecretName(kind, uid)}, secret); err != nil {
		return snapshot.Document{}, err
	}
	if secret.Labels[snapshot.LabelSnapshot] != string(kind) {
		return snapshot.Document{}, apierrors.NewBadRequest("snapshot Secret without its label")
	}
	return snapshot.Decode(secret.Data[snapshot.DataKey])
}

// expectNotServed waits until the client's snapshot entry serves nothing:
// retired (snapshot.AnnotationRetired, without a document) or, when it
// never served anything, absent.
func expectNotServed(ctx context.Context, kind snapshot.Kind, uid types.UID) {
	EventuallyWithOffset(1, func(g Gomega) {
		secret := &corev1.Secret{}
		err := k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: snapshotSecretName(kind, uid)}, secret)
		if apierrors.IsNotFound(err) {
			return
		}
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(secret.Annotations).To(HaveKey(snapshot.AnnotationRetired))
		g.Expect(secret.Data).NotTo(HaveKey(snapshot.DataKey))
	}, timeout, interval).Should(Succeed(), "the snapshot entry must serve nothing")
}

// expectServedAsAbsent waits until the client's snapshot entry holds a
// document without a usable grant (NoUsableGrant), which the authserver
// serves as absent (authserver/registry's TestUnusableClientIsAbsent), so
// that a policy allowing a grant again is served by its document alone.
func expectServedAsAbsent(ctx context.Context, uid types.UID) {
	EventuallyWithOffset(1, func(g Gomega) {
		secret := &corev1.Secret{}
		g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: snapshotSecretName(snapshot.KindClient, uid)}, secret)).To(Succeed())
		g.Expect(secret.Annotations).NotTo(HaveKey(snapshot.AnnotationRetired))
		doc, err := snapshot.Decode(secret.Data[snapshot.DataKey])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(doc.Client.Usable()).To(BeFalse(), "grant types %v", doc.Client.GrantTypes)
	}, timeout, interval).Should(Succeed(), "the snapshot entry must have no usable grant")
}

// expectNoSnapshot waits until the object has no snapshot entry.
func expectNoSnapshot(ctx context.Context, kind snapshot.Kind, uid types.UID) {
	EventuallyWithOffset(1, func() bool {
		_, err := snapshotOf(ctx, kind, uid)
		return apierrors.IsNotFound(err)
	}, timeout, interval).Should(BeTrue(), "the snapshot entry must be removed")
}

// secretData returns one key of a Secret.
func secretData(ctx context.Context, namespace, name, key string) func(Gomega) string {
	return func(g Gomega) string {
		s := &corev1.Secret{}
		g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, s)).To(Succeed())
		return string(s.Data[key])
	}
}

// configMapData returns the value of key in a ConfigMap.
func configMapData(ctx context.Context, namespace, name, key string) func(Gomega) string {
	return func(g Gomega) string {
		cm := &corev1.ConfigMap{}
		g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, cm)).To(Succeed())
		return cm.Data[key]
	}
}

// expectNoEvent checks, for two seconds (Events are sent asynchronously),
// that no Event of that type is about obj.
func expectNoEvent(ctx context.Context, kind string, obj client.Object, eventType string) {
	ConsistentlyWithOffset(1, func(g Gomega) []string {
		list := &eventsv1.EventList{}
		g.Expect(k8s.List(ctx, list, client.InNamespace(obj.GetNamespace()))).To(Succeed())
		var found []string
		for _, e := range list.Items {
			if e.Regarding.Name == obj.GetName() && e.Regarding.Kind == kind && e.Type == eventType {
				found = append(found, e.Reason+": "+e.Note)
			}
		}
		return found
	}, 2*time.Second, interval).Should(BeEmpty())
}

// expectEvent waits for an Event about obj with the reason and type.
func expectEvent(ctx context.Context, kind string, obj client.Object, eventType, reason string) {
	EventuallyWithOffset(1, func(g Gomega) {
		list := &eventsv1.EventList{}
		g.Expect(k8s.List(ctx, list, client.InNamespace(obj.GetNamespace()))).To(Succeed())
		found := false
		for _, e := range list.Items {
			if e.Regarding.Name == obj.GetName() && e.Regarding.Kind == kind && e.Reason == reason && e.Type == eventType {
				found = true
			}
		}
		g.Expect(found).To(BeTrue(), "no %s event %s about %s", eventType, reason, obj.GetName())
	}, timeout, interval).Should(Succeed())
}

// expectSettled waits until obj's observedGeneration caught up with its
// generation and Reconciling is gone (kstatus: current).
func expectSettled(ctx context.Context, obj *oauthv1alpha1.OAuthClient) {
	EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		g.Expect(obj.Status.ObservedGeneration).To(Equal(obj.Generation))
		g.Expect(apimeta.FindStatusCondition(obj.Status.Conditions, oauthv1alpha1.ReconcilingCondition)).To(BeNil())
	}, timeout, interval).Should(Succeed())
}

// update re-reads obj, applies change and updates it, retrying conflicts.
func update[T client.Object](ctx context.Context, obj T, change func(T)) {
	EventuallyWithOffset(1, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return k8s.Update(ctx, obj)
	}, timeout, interval).Should(Succeed())
}
