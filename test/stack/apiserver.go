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
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/test/envtest"
)

// APIServerOptions configures StartAPIServer.
type APIServerOptions struct {
	// Dir receives the kubeconfig, the API server's log and its
	// certificates (required).
	Dir string
	// Assets holds kube-apiserver and etcd; empty is envtest.AssetsDir().
	Assets string
	// CRDs is the folder of CRD manifests to install; empty is
	// config/crd/bases.
	CRDs string
	// User names the kubeconfig's user (a member of system:masters).
	User string
	// Namespaces are created once the API server answers.
	Namespaces []string
	// EtcdFlags and APIServerFlags are further flags of etcd and
	// kube-apiserver, without the leading "--" (a large run sets etcd's
	// quota-backend-bytes, for example).
	EtcdFlags, APIServerFlags map[string]string
}

// APIServer is a running test API server (etcd and kube-apiserver) with
// the CRDs installed.
type APIServer struct {
	Env *ctrlenvtest.Environment
	// Process is the kube-apiserver: Stop and Start it to take the API
	// server away and back (etcd keeps running). Its certificates are in
	// its own folder under Dir, so a restart serves the same certificates,
	// trusts the same client CA and listens on the same port.
	Process *ctrlenvtest.APIServer
	// Config is envtest's administrator REST config (not rate limited; the
	// kubeconfig has its own user, a member of system:masters).
	Config *rest.Config
	// Client is an uncached client for core and authops types.
	Client client.Client
	// Kubeconfig is the path of the kubeconfig file for the binaries and
	// kubectl; Log the kube-apiserver's output.
	Kubeconfig, Log string
	logFile         *os.File
	certs           string
}

// Scheme returns a scheme with the core and the authops types.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = oauthv1alpha1.AddToScheme(s)
	return s
}

// StartAPIServer starts the source-built API server, installs the CRDs,
// writes a kubeconfig and creates the namespaces. On error nothing is left
// running.
func StartAPIServer(ctx context.Context, o APIServerOptions) (a *APIServer, err error) {
	if o.Dir == "" {
		return nil, errMissing("APIServerOptions.Dir")
	}
	env, err := envtest.NewFrom(o.Assets, o.CRDs)
	if err != nil {
		return nil, err
	}
	if o.User == "" {
		o.User = "authops-admin"
	}
	a = &APIServer{Env: env, Kubeconfig: filepath.Join(o.Dir, "kubeconfig"), Log: filepath.Join(o.Dir, "kube-apiserver.log")}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	if a.certs, err = os.MkdirTemp(o.Dir, "kube-apiserver-certs-"); err != nil {
		return nil, err
	}
	if a.logFile, err = os.Create(a.Log); err != nil {
		return nil, err
	}
	a.Process = &ctrlenvtest.APIServer{CertDir: a.certs, Out: a.logFile, Err: a.logFile}
	// Open watches (the authserver's) would otherwise hold a stopping API
	// server for a minute.
	a.Process.Configure().Set("shutdown-watch-termination-grace-period", "2s")
	for k, v := range o.APIServerFlags {
		a.Process.Configure().Set(k, v)
	}
	env.ControlPlane.APIServer = a.Process
	if len(o.EtcdFlags) > 0 {
		// (Its output goes to the API server's log: etcd's own errors,
		// such as a refused flag, otherwise vanish.)
		env.ControlPlane.Etcd = &ctrlenvtest.Etcd{Out: a.logFile, Err: a.logFile}
		for k, v := range o.EtcdFlags {
			env.ControlPlane.Etcd.Configure().Set(k, v)
		}
	}
	if a.Config, err = env.Start(); err != nil {
		_ = a.logFile.Close()
		_ = os.RemoveAll(a.certs)
		return nil, fmt.Errorf("starting the API server (log: %s): %w", a.Log, err)
	}
	defer func() {
		if err != nil {
			_ = a.Stop()
		}
	}()
	if err := a.connect(o.User); err != nil {
		return nil, err
	}
	for _, ns := range o.Namespaces {
		if err := a.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	return a, nil
}

// connect adds the kubeconfig's user, writes the kubeconfig and makes the
// client (with envtest's own administrator, whose client is not rate
// limited).
func (a *APIServer) connect(userName string) error {
	user, err := a.Env.AddUser(ctrlenvtest.User{Name: userName, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the kubeconfig user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(a.Kubeconfig, kc, 0o600); err != nil {
		return err
	}
	a.Client, err = client.New(a.Config, client.Options{Scheme: Scheme()})
	return err
}

// Stop stops kube-apiserver and etcd, and removes the certificates.
func (a *APIServer) Stop() error {
	err := a.Env.Stop()
	_ = a.logFile.Close()
	_ = os.RemoveAll(a.certs)
	return err
}
