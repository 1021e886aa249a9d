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

// Package envtest starts the test API server: kube-apiserver and etcd built
// from source by `make envtest-assets` into bin/k8s. Nothing is downloaded, and
// a missing binary is an error, never a skip.
package envtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot returns the repository's root folder, found from this file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir returns where kube-apiserver and etcd are: $KUBEBUILDER_ASSETS
// when set, else bin/k8s in the repository. It fails when either binary is
// missing, naming the make target that builds them.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "bin", "k8s")
	}
	return dir, checkAssets(dir)
}

func checkAssets(dir string) error {
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return fmt.Errorf("test API server binary %s not found in %s: run 'make envtest-assets' (it builds them from source): %w", bin, dir, err)
		}
	}
	return nil
}

// New returns an Environment that installs the generated CRDs of
// config/crd/bases into the source-built API server.
func New() (*envtest.Environment, error) { return NewFrom("", "") }

// NewFrom is New with the API server binaries taken from assets and the
// CRDs from crds; an empty argument keeps New's default.
func NewFrom(assets, crds string) (*envtest.Environment, error) {
	var err error
	if assets == "" {
		assets, err = AssetsDir()
	} else {
		err = checkAssets(assets)
	}
	if err != nil {
		return nil, err
	}
	if crds == "" {
		crds = filepath.Join(RepoRoot(), "config", "crd", "bases")
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
	}, nil
}
