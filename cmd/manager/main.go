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

// Command manager runs the authops control plane: the controllers that
// compile OAuthClient, GrantPolicy and Account objects into the snapshot the
// authserver serves. It is leader-elected; one image holds it and the
// authserver.
package main

import (
	"flag"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/controllers"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(oauthv1alpha1.AddToScheme(scheme))
}

func main() {
	var (
		metricsAddr   string
		probeAddr     string
		leaderElect   bool
		leaderElectNS string
		namespace     string
		issuer        string
		keyRotation   controllers.KeyRotationConfig
		apiQPS        float64
		apiBurst      int
		concurrency   int
		minServed     int
		lagBound      time.Duration
		pprofAddr     string
	)
	defaultNamespace := os.Getenv("POD_NAMESPACE")
	if defaultNamespace == "" {
		defaultNamespace = "authops-system"
	}
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address the metrics endpoint binds to; 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one manager reconciles at a time.")
	flag.StringVar(&leaderElectNS, "leader-election-namespace", "", "Namespace of the leader election Lease (default: the pod's namespace).")
	flag.StringVar(&namespace, "namespace", defaultNamespace, "Operator namespace, where the compiled snapshot Secrets are written (default: $POD_NAMESPACE, else authops-system).")
	flag.StringVar(&issuer, "issuer", "", "URL of the authorization server, written with the endpoint URLs into credentials Secrets (default: https://authops.<namespace>.svc).")
	flag.DurationVar(&keyRotation.RotationPeriod, "signing-key-rotation-period", 720*time.Hour, "How long each signing key signs tokens before the next one takes over.")
	flag.DurationVar(&keyRotation.PublishAhead, "signing-key-publish-ahead", 24*time.Hour, "How long a new signing key is published in the JWKS before it signs (less than the rotation period).")
	opts := zap.Options{}
	flag.Float64Var(&apiQPS, "kube-api-qps", 100, "Requests per second the manager's API client may send (client-side rate limit; creating a client costs about 4 writes, see docs/benchmarks.md).")
	flag.IntVar(&apiBurst, "kube-api-burst", 200, "Burst of the manager's API client rate limit.")
	flag.IntVar(&concurrency, "max-concurrent-reconciles", 32, "Objects each controller reconciles in parallel (a GrantPolicy change re-reconciles every client it governs: as many workers as that applies it fastest, see docs/benchmarks.md).")
	flag.IntVar(&minServed, "min-served-replicas", 1, "Live authserver replicas that must serve a change before an object is Ready (every live replica must serve it in any case; "+
		"a replica is live while its Lease authops-served-<replica> in --namespace is renewed). 0 lets objects be Ready with no replica at all: Ready then means compiled.")
	flag.DurationVar(&lagBound, "served-lag-bound", 20*time.Second, "How long an object may wait for a live authserver replica to serve its change before that replica is reported behind "+
		"(condition Served=False, reason ReplicaBehind, naming it, and a Warning Event); 0 disables the report.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Address of the Go pprof endpoints (/debug/pprof); empty disables them.")
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")
	if issuer == "" {
		issuer = "https://authops." + namespace + ".svc"
	}

	restConfig := ctrl.GetConfigOrDie()
	restConfig.QPS, restConfig.Burst = float32(apiQPS), apiBurst
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Controller:              config.Controller{MaxConcurrentReconciles: concurrency},
		PprofBindAddress:        pprofAddr,
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "manager.authops.io",
		LeaderElectionNamespace: leaderElectNS,
		Cache:                   controllers.CacheOptions(),
		Client:                  controllers.ClientOptions(),
	})
	if err != nil {
		log.Error(err, "Unable to create manager")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up ready check")
		os.Exit(1)
	}

	ctx := ctrl.SetupSignalHandler()
	if err := controllers.Setup(ctx, mgr, controllers.Options{Namespace: namespace, Issuer: issuer, KeyRotation: keyRotation,
		MinServedReplicas: minServed, ServedLagBound: lagBound}); err != nil {
		log.Error(err, "Unable to set up the controllers")
		os.Exit(1)
	}

	log.Info("Starting manager", "namespace", namespace, "issuer", issuer)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "Manager stopped with an error")
		os.Exit(1)
	}
}
