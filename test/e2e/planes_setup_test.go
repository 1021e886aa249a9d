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

package e2e_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/authserver/store/storetest"
	"github.com/authops/authops/controllers"
	"github.com/authops/authops/test/stack"
)

// planes is both planes in this process: the source-built API server, the
// manager with every controller, and the authserver (Kubernetes loader,
// in-memory store) on a loopback listener whose URL is the issuer.
type planes struct {
	api    *stack.APIServer
	k8s    client.Client
	cs     *kubernetes.Clientset
	holder *registry.Holder
	issuer string
}

// startPlanes starts both planes with the namespaces created; configure,
// when set, changes the authserver's configuration before it starts (the
// store defaults to an in-memory one on cfg.Clock). Everything stops when
// ctx ends or the test does.
func startPlanes(ctx context.Context, t *testing.T, namespaces []string, configure func(*planes, *authserver.Config)) *planes {
	g := NewWithT(t)
	api, err := stack.StartAPIServer(ctx, stack.APIServerOptions{Dir: t.TempDir(), Namespaces: namespaces})
	g.Expect(err).NotTo(HaveOccurred(), "the test API server must be built, never skipped")
	t.Cleanup(func() { _ = api.Stop() })
	p := &planes{api: api, k8s: api.Client, holder: registry.NewHolder()}

	// The authserver listens on loopback; its URL is the issuer both planes use.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	p.issuer = "http://" + ln.Addr().String()

	// Control plane. Several tests of this process start one, so the
	// controllers' names repeat (they only name metrics).
	mgr, err := ctrl.NewManager(api.Config, ctrl.Options{Scheme: stack.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Cache: controllers.CacheOptions(), Client: controllers.ClientOptions(),
		Controller: config.Controller{SkipNameValidation: ptr(true)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(controllers.Setup(ctx, mgr, controllers.Options{Namespace: operatorNamespace, Issuer: p.issuer,
		KeyRotation: controllers.KeyRotationConfig{RotationPeriod: time.Hour, PublishAhead: 10 * time.Minute}})).To(Succeed())
	go func() { _ = mgr.Start(ctx) }()

	// Data plane: the Kubernetes loader, the in-memory store, the server.
	p.cs, err = kubernetes.NewForConfig(api.Config)
	g.Expect(err).NotTo(HaveOccurred())
	go func() {
		_ = (&registry.KubeLoader{Client: p.cs, Namespace: operatorNamespace, Holder: p.holder, Log: discardLog()}).Run(ctx)
	}()
	cfg := authserver.Config{Issuer: p.issuer, Registry: p.holder, Log: discardLog()}
	if configure != nil {
		configure(p, &cfg)
	}
	if cfg.Store == nil {
		var clock store.Clock = store.SystemClock{}
		if cfg.Clock != nil {
			clock = cfg.Clock
		}
		cfg.Store = storetest.NewMemoryStore(t, clock)
	}
	srv, err := authserver.New(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = httpSrv.Serve(ln) }()
	t.Cleanup(func() { _ = httpSrv.Close() })
	return p
}
