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

// Package stack runs authops the way every suite above the unit tests
// needs it, in one place: the source-built API server (etcd and
// kube-apiserver from bin/k8s) with the CRDs installed, the real manager
// and authserver binaries as processes on loopback (each in its own
// process group, killed by the kernel when its parent dies, its output in a
// log file), manifests applied from a folder, and the wait until they are
// Ready. `make run` (hack/run), test/e2e, test/fault and test/bench use it.
//
// The binaries are built once, by `make build`, never by a test: `make
// test` names them in $AUTHOPS_MANAGER_BIN and $AUTHOPS_AUTHSERVER_BIN, and
// a plain `go test` takes bin/manager and bin/authserver, failing with "run
// 'make build'" when they are missing or older than the source (see Bins
// and Main).
package stack

import (
	"context"
	"path/filepath"
)

// OperatorNamespace is where the manager writes the compiled snapshot,
// unless Options say otherwise.
const OperatorNamespace = "authops-system"

// Options configures Start.
type Options struct {
	// Dir holds the kubeconfig, the logs and the SQLite store (required).
	Dir string
	// Assets and CRDs: see APIServerOptions.
	Assets, CRDs string
	// OperatorNamespace is the manager's and the authserver's --namespace;
	// empty is the package's OperatorNamespace.
	OperatorNamespace string
	// Namespaces are created besides the operator namespace.
	Namespaces []string
	// Addr is the authserver's listen address (the issuer is
	// http://Addr); empty picks a free port.
	Addr string
	// Store is the authserver's store URL; empty is SQLite in
	// Dir/state.db.
	Store string
	// Bins are the binaries; empty fields are Bins()'s.
	Bins Binaries
	// ManagerArgs and AuthserverArgs are further flags.
	ManagerArgs, AuthserverArgs []string
}

// Stack is a running API server, manager and authserver.
type Stack struct {
	API                 *APIServer
	Manager, Authserver *Server
	// Issuer is the authserver's URL.
	Issuer string
}

// Start starts the API server, then the manager and the authserver against
// it, and waits until both are ready. On error nothing is left running.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	s = &Stack{}
	ns := o.OperatorNamespace
	if ns == "" {
		ns = OperatorNamespace
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if s.API, err = StartAPIServer(ctx, APIServerOptions{Dir: o.Dir, Assets: o.Assets, CRDs: o.CRDs,
		Namespaces: append([]string{ns}, o.Namespaces...)}); err != nil {
		return s, err
	}
	store := o.Store
	if store == "" {
		store = "sqlite://" + filepath.Join(o.Dir, "state.db")
	}
	if s.Authserver, err = NewAuthserver(AuthserverOptions{Bin: o.Bins.Authserver, Addr: o.Addr, Store: store,
		Kubeconfig: s.API.Kubeconfig, Namespace: ns, Args: o.AuthserverArgs,
		Log: filepath.Join(o.Dir, "authserver.log")}); err != nil {
		return s, err
	}
	s.Issuer = s.Authserver.URL
	if s.Manager, err = NewManager(ManagerOptions{Bin: o.Bins.Manager, Kubeconfig: s.API.Kubeconfig,
		Namespace: ns, Issuer: s.Issuer, Args: o.ManagerArgs,
		Log: filepath.Join(o.Dir, "manager.log")}); err != nil {
		return s, err
	}
	return s, StartAll(ctx, s.Manager, s.Authserver)
}

// Stop stops the manager, the authserver and the API server, whatever of
// them runs.
func (s *Stack) Stop() {
	for _, srv := range []*Server{s.Manager, s.Authserver} {
		if srv != nil {
			srv.Stop()
		}
	}
	if s.API != nil {
		_ = s.API.Stop()
	}
}
