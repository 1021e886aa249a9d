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

package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/authops/authops/test/envtest"
)

// Kubectl returns $KUBECTL, else the kubectl that `make envtest-assets`
// builds from source next to the API server, else kubectl from $PATH.
func Kubectl() (string, error) {
	if k := os.Getenv("KUBECTL"); k != "" {
		return k, nil
	}
	if dir, err := envtest.AssetsDir(); err == nil {
		if k := filepath.Join(dir, "kubectl"); fileExists(k) {
			return k, nil
		}
	}
	if k, err := exec.LookPath("kubectl"); err == nil {
		return k, nil
	}
	return "", errors.New("kubectl not found: run 'make envtest-assets' (it builds bin/k8s/kubectl from source) or set $KUBECTL")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Kubectl runs kubectl with args against the API server, in the current
// folder, and returns its standard output.
func (a *APIServer) Kubectl(ctx context.Context, args ...string) (string, error) {
	return RunKubectl(ctx, a.Kubeconfig, args...)
}

// RunKubectl runs kubectl with args against the cluster of kubeconfig, in
// the current folder, and returns its standard output; the error holds
// both outputs.
func RunKubectl(ctx context.Context, kubeconfig string, args ...string) (string, error) {
	bin, err := Kubectl()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}
