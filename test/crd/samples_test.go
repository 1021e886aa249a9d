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
	"bytes"
	"io"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	testenv "github.com/authops/authops/test/envtest"
)

// samples reads every object of every YAML file in config/samples, except
// the kustomization.
func samples() []*unstructured.Unstructured {
	GinkgoHelper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var objs []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		Expect(err).NotTo(HaveOccurred())
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err == io.EOF {
				break
			} else {
				Expect(err).NotTo(HaveOccurred(), f)
			}
			if len(u.Object) == 0 {
				continue
			}
			u.SetAnnotations(map[string]string{"sample-file": filepath.Base(f)})
			objs = append(objs, u)
		}
	}
	return objs
}

var _ = Describe("config/samples", func() {
	It("holds a realistic set: web app, backend, CLI, strict and permissive policies, an API's ResourceServer, two Accounts", func() {
		kinds := map[string]int{}
		for _, u := range samples() {
			kinds[u.GetKind()]++
		}
		Expect(kinds).To(HaveKeyWithValue("OAuthClient", BeNumerically(">=", 3)))
		Expect(kinds).To(HaveKeyWithValue("GrantPolicy", BeNumerically(">=", 2)))
		Expect(kinds).To(HaveKeyWithValue("Account", BeNumerically(">=", 2)))
		Expect(kinds).To(HaveKeyWithValue("ResourceServer", BeNumerically(">=", 1)))
	})

	It("is accepted by the API server, every object", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		for _, u := range samples() {
			u.SetNamespace(ns)
			Expect(k8s.Create(ctx, u)).To(Succeed(), "%s %s from %s", u.GetKind(), u.GetName(), u.GetAnnotations()["sample-file"])
			GinkgoWriter.Printf("accepted %s/%s from %s\n", u.GetKind(), u.GetName(), u.GetAnnotations()["sample-file"])
		}
	})
})
