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
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/controllers"
	"github.com/authops/authops/internal/buildinfo"
	"github.com/authops/authops/internal/logging"
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
		election      leaderElection
	)
	defaultNamespace := os.Getenv("POD_NAMESPACE")
	if defaultNamespace == "" {
		defaultNamespace = "authops-system"
	}
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address the metrics endpoint binds to; 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one manager reconciles at a time.")
	flag.StringVar(&leaderElectNS, "leader-election-namespace", "", "Namespace of the leader election Lease (default: the pod's namespace).")
	flag.DurationVar(&election.leaseDuration, "leader-elect-lease-duration", 15*time.Second,
		"How long a leader's Lease is valid without renewal: how long the other replicas wait before they take over from a leader that died without releasing it.")
	flag.DurationVar(&election.renewDeadline, "leader-elect-renew-deadline", 10*time.Second,
		"How long the leader keeps trying to renew its Lease (for example while the API server is unreachable) before it gives up leadership and the process exits. "+
			"Less than --leader-elect-lease-duration. The Helm chart's sidecar shape uses 107s, so that an API server outage of a minute does not restart the manager.")
	flag.DurationVar(&election.retryPeriod, "leader-elect-retry-period", 2*time.Second, "How often the leader renews its Lease and the others try to take it.")
	flag.StringVar(&namespace, "namespace", defaultNamespace, "Operator namespace, where the compiled snapshot Secrets are written (default: $POD_NAMESPACE, else authops-system).")
	flag.StringVar(&issuer, "issuer", "", "URL of the authorization server, written with the endpoint URLs into credentials Secrets (default: https://authops.<namespace>.svc).")
	flag.DurationVar(&keyRotation.RotationPeriod, "signing-key-rotation-period", 720*time.Hour, "How long each signing key signs tokens before the next one takes over.")
	flag.DurationVar(&keyRotation.PublishAhead, "signing-key-publish-ahead", 24*time.Hour, "How long a new signing key is published in the JWKS before it signs (less than the rotation period).")
	flag.Float64Var(&apiQPS, "kube-api-qps", 100, "Requests per second the manager's API client may send (client-side rate limit; creating a client costs about 4 writes, see docs/benchmarks.md).")
	flag.IntVar(&apiBurst, "kube-api-burst", 200, "Burst of the manager's API client rate limit.")
	flag.IntVar(&concurrency, "max-concurrent-reconciles", 32, "Objects each controller reconciles in parallel (a GrantPolicy change re-reconciles every client it governs: as many workers as that applies it fastest, see docs/benchmarks.md).")
	flag.IntVar(&minServed, "min-served-replicas", 1, "Live authserver replicas that must serve a change before an object is Ready (every live replica must serve it in any case; "+
		"a replica is live while its Lease authops-served-<replica> in --namespace is renewed). 0 lets objects be Ready with no replica at all: Ready then means compiled.")
	flag.DurationVar(&lagBound, "served-lag-bound", 20*time.Second, "How long an object may wait for a live authserver replica to serve its change before that replica is reported behind "+
		"(condition Served=False, reason ReplicaBehind, naming it, and a Warning Event); 0 disables the report.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Address of the Go pprof endpoints (/debug/pprof); empty disables them.")
	var logOpts logging.Options
	logOpts.BindFlags(flag.CommandLine)
	logOpts.BindZapLevelFlag(flag.CommandLine)
	flag.Parse()
	logOpts.Setup(os.Stderr)
	log := ctrl.Log.WithName("setup")
	ctrlmetrics.Registry.MustRegister(buildinfo.Collector())
	if issuer == "" {
		issuer = "https://authops." + namespace + ".svc"
	}
	if err := election.validate(); err != nil {
		log.Error(err, "Invalid leader election flags")
		os.Exit(1)
	}

	ctx := ctrl.SetupSignalHandler()
	restConfig := ctrl.GetConfigOrDie()
	restConfig.QPS, restConfig.Burst = float32(apiQPS), apiBurst
	// Setting up the controllers needs the API server (the cache's field
	// indexes look up the kinds): during an outage the manager waits for it
	// instead of exiting, which would restart the container again and again
	// (CrashLoopBackOff) and, with the authserver in the same pod, keep the
	// pod NotReady after the API server is back.
	if err := waitForAPIServer(ctx, restConfig, probeAddr, log); err != nil {
		log.Error(err, "Stopped while waiting for the API server")
		os.Exit(1)
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Controller:              config.Controller{MaxConcurrentReconciles: concurrency},
		PprofBindAddress:        pprofAddr,
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "manager.authops.io",
		LeaderElectionNamespace: leaderElectNS,
		LeaseDuration:           &election.leaseDuration,
		RenewDeadline:           &election.renewDeadline,
		RetryPeriod:             &election.retryPeriod,
		// A manager that stops (rolling update, drain) hands its Lease back
		// at once, so the next one leads without waiting for it to expire.
		// Safe: the process exits right after the manager stops.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         controllers.CacheOptions(),
		Client:                        controllers.ClientOptions(),
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

// leaderElection holds the timing of the manager's leader election.
type leaderElection struct {
	leaseDuration, renewDeadline, retryPeriod time.Duration
}

// validate checks what client-go's leader election would refuse later, with
// the flags' names.
func (e leaderElection) validate() error {
	switch {
	case e.retryPeriod <= 0 || e.renewDeadline <= 0:
		return errors.New("--leader-elect-renew-deadline and --leader-elect-retry-period must be positive")
	case e.leaseDuration <= e.renewDeadline:
		return errors.New("--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline")
	case e.renewDeadline <= e.retryPeriod*12/10:
		return errors.New("--leader-elect-renew-deadline must be greater than 1.2 times --leader-elect-retry-period")
	}
	return nil
}

// waitForAPIServer returns once the API server answers a discovery request,
// retrying every few seconds, or with ctx's error. Meanwhile it answers the
// health probes on probeAddr itself (the process is alive and doing what it
// should), so the kubelet's liveness probe does not restart it; it frees the
// address before the manager binds it.
func waitForAPIServer(ctx context.Context, cfg *rest.Config, probeAddr string, log logr.Logger) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err = dc.ServerVersion(); err == nil {
		return nil
	}
	var probes *http.Server
	if probeAddr != "0" && probeAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
		probes = &http.Server{Addr: probeAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = probes.ListenAndServe() }()
		defer func() { _ = probes.Close() }()
	}
	for attempt := 1; ; attempt++ {
		log.Info("Waiting for the API server", "attempt", attempt, "error", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(attempt)*time.Second, 5*time.Second)):
		}
		if _, err = dc.ServerVersion(); err == nil {
			log.Info("The API server answers", "attempts", attempt+1)
			return nil
		}
	}
}
