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

// Command run is what `make run` starts: a local API server (kube-apiserver
// and etcd built from source into bin/k8s), the CRDs, the samples, and a
// kubeconfig for kubectl. Ctrl-C stops everything it started.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func run() error {
	var assets, crds, samples, stateDir, namespace string
	flag.StringVar(&assets, "assets", "bin/k8s", "Folder holding kube-apiserver and etcd (make envtest-assets builds them).")
	flag.StringVar(&crds, "crds", "config/crd/bases", "Folder of CRD manifests to install.")
	flag.StringVar(&samples, "samples", "config/samples", "Folder of sample manifests to apply.")
	flag.StringVar(&stateDir, "state-dir", "bin/run", "Folder for the kubeconfig and logs.")
	flag.StringVar(&namespace, "namespace", "default", "Namespace the samples go into.")
	flag.Parse()

	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return fmt.Errorf("%s is missing from %s: run 'make envtest-assets'", bin, assets)
		}
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	stateDir, _ = filepath.Abs(stateDir)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Println("Starting the local API server (kube-apiserver and etcd from", assets+")...")
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the API server: %w", err)
	}
	defer func() {
		fmt.Println("Stopping the local API server...")
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the API server:", err)
		}
	}()

	user, err := env.AddUser(envtest.User{Name: "authops-dev", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the kubeconfig user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfigPath := filepath.Join(stateDir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}

	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return err
	}
	n, err := applySamples(ctx, c, samples, namespace)
	if err != nil {
		return fmt.Errorf("applying the samples: %w", err)
	}

	fmt.Printf(`
authops is running locally.
  API server:  %s (CRDs installed, %d sample objects applied in namespace %q)
  kubeconfig:  %s

Try:
  export KUBECONFIG=%s
  kubectl get oauthclients,grantpolicies,accounts
  kubectl get authops -o wide          # every authops object, with the Ready message

Press Ctrl-C to stop everything.
`, cfg.Host, n, namespace, kubeconfigPath, kubeconfigPath)

	<-ctx.Done()
	return nil
}

// applySamples creates every object of every YAML file in dir (the
// kustomization aside) in namespace ns, and returns how many it created.
func applySamples(ctx context.Context, c client.Client, dir, ns string) (int, error) {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return 0, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return n, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return n, fmt.Errorf("%s: %w", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			u.SetNamespace(ns)
			if err := c.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
				return n, fmt.Errorf("%s: %s %s: %w", f, u.GetKind(), u.GetName(), err)
			}
			fmt.Printf("  applied %s %s (%s)\n", strings.ToLower(u.GetKind()), u.GetName(), filepath.Base(f))
			n++
		}
	}
	return n, nil
}
