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

package crd_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	testenv "github.com/authops/authops/test/envtest"
)

// The suite installs the generated CRDs into kube-apiserver and etcd built
// from source (bin/k8s) and talks to it through a non-cached client.
var (
	env    *envtest.Environment
	k8s    client.Client
	scheme = runtime.NewScheme()
)

func TestCRDValidation(t *testing.T) {
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	reporterConfig.Verbose = true
	reporterConfig.NoColor = true
	RunSpecs(t, "CRD validation against the source-built API server", suiteConfig, reporterConfig)
}

var _ = BeforeSuite(func() {
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(oauthv1alpha1.AddToScheme(scheme)).To(Succeed())

	var err error
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred(), "the test API server must be built, never skipped")
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("API server %s from %s\n", cfg.Host, env.BinaryAssetsDirectory)
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// newNamespace creates a namespace for one test and deletes it afterwards.
func newNamespace(ctx context.Context) string { return testenv.NewNamespace(ctx, k8s, "crd") }
