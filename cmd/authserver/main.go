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

// Command authserver runs the authops data plane: the OAuth 2.0
// authorization server that serves from the compiled snapshot and keeps its
// runtime state in the store. It runs next to the manager: as a container of
// the manager's pod, or in its own Deployment (docs/install.md, "Pod shapes").
//
// It loads the snapshot from the labelled Secrets of --namespace (or from
// --snapshot-dir), opens the store (applying migrations), sweeps expired
// records, and serves the OAuth endpoints on --listen-address, the probes on
// --health-probe-bind-address and Prometheus metrics on
// --metrics-bind-address. See docs/authserver.md.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/feedback"
	"github.com/authops/authops/authserver/kubeissuer"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/served"
	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/internal/buildinfo"
	"github.com/authops/authops/internal/logging"
)

func main() {
	if err := run(); err != nil {
		slog.Error("authserver stopped", "error", err)
		os.Exit(1)
	}
}

type options struct {
	issuer, listenAddr, tlsCert, tlsKey   string
	namespace, snapshotDir, kubeconfig    string
	replica                               string
	publishServed                         bool
	profile                               string
	storeURL, passwordFile                string
	probeAddr, metricsAddr, pprofAddr     string
	sweepInterval, sessionTTL, consentTTL time.Duration
	feedbackInterval, feedbackWindow      time.Duration
	log                                   logging.Options
	throttle                              bool
	trustedProxies                        []netip.Prefix
	forwardedHeader                       string
}

func parseFlags() options {
	var o options
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "authops-system"
	}
	flag.StringVar(&o.issuer, "issuer", "", "Issuer URL: https://host[/path], no trailing slash; http only on a loopback host. "+
		"Every endpoint lives under it and every token names it. Must equal the manager's --issuer "+
		"(default, like the manager's: https://authops.<namespace>.svc).")
	flag.StringVar(&o.listenAddr, "listen-address", ":8443", "Address the OAuth endpoints listen on.")
	flag.StringVar(&o.tlsCert, "tls-cert-file", "", "TLS certificate (PEM). With --tls-key-file the endpoints serve HTTPS; "+
		"without them plain HTTP (for a TLS-terminating proxy in front). A replaced certificate and key (a renewed Secret) "+
		"are served from the next connection on, without a restart (the files are watched and read again every 10s).")
	flag.StringVar(&o.tlsKey, "tls-key-file", "", "TLS private key (PEM) for --tls-cert-file.")
	flag.StringVar(&o.namespace, "namespace", ns, "Namespace whose labelled Secrets hold the compiled snapshot (default $POD_NAMESPACE, else authops-system).")
	replica := os.Getenv("POD_NAME")
	if replica == "" {
		replica, _ = os.Hostname()
	}
	flag.StringVar(&o.replica, "replica-name", replica, "This replica's name (default $POD_NAME, else the hostname): it publishes the snapshot revision it serves "+
		"in the Lease authops-served-<name> of --namespace, which the manager waits for before it sets Ready.")
	flag.BoolVar(&o.publishServed, "publish-served", true, "Publish the served snapshot revision in the Lease of --replica-name. "+
		"false: the manager does not count this replica (its Ready does not wait for it); for tests that show what Ready meant before.")
	flag.StringVar(&o.snapshotDir, "snapshot-dir", "", "Load the snapshot from a directory of JSON documents instead of Kubernetes (tests, local runs).")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "Kubeconfig for the snapshot watch (default: $KUBECONFIG, ~/.kube/config, or the in-cluster config). With --snapshot-dir, only the cluster whose ServiceAccount tokens workload identity clients send.")
	flag.StringVar(&o.profile, "default-error-profile", string(oautherr.Extended), "Error profile before a client is known: Extended (the documented table) or RFC.")
	flag.StringVar(&o.storeURL, "store", "sqlite:///var/lib/authops/state.db",
		"Runtime state store: sqlite:///path/state.db (default, one replica), sqlite://:memory: (tests), "+
			"or postgres://user@host:5432/db?sslmode=verify-full (several replicas). "+
			"The PostgreSQL password comes from --store-password-file or $"+store.PasswordEnv+", never put it in the URL in production.")
	flag.StringVar(&o.passwordFile, "store-password-file", "", "File holding the PostgreSQL password (for example a mounted Secret).")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8082", "Address the /healthz and /readyz probes bind to.")
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8083", "Address Prometheus /metrics binds to; 0 disables it.")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "", "Address of the Go pprof endpoints (/debug/pprof); empty disables them. Bind it to loopback only.")
	flag.DurationVar(&o.sweepInterval, "store-sweep-interval", time.Minute, "How often expired records are removed from the store.")
	flag.DurationVar(&o.sessionTTL, "session-lifetime", 8*time.Hour, "How long a login session lasts.")
	flag.DurationVar(&o.consentTTL, "consent-lifetime", 365*24*time.Hour, "How long a remembered consent lasts.")
	flag.DurationVar(&o.feedbackInterval, "feedback-interval", 30*time.Second,
		"Least time between two status writes (or Events) for one object: Account Locked and last login, OAuthClient AuthErrors.")
	flag.DurationVar(&o.feedbackWindow, "feedback-error-window", 5*time.Minute,
		"How far back an OAuthClient's AuthErrors condition counts failed requests; it turns False after a window without any.")
	flag.BoolVar(&o.throttle, "throttle", true, "Rate-limit failed client authentications, logins and user codes per source address "+
		"(429 with Retry-After; see docs/security.md). false turns the limits off (load tests).")
	flag.Func("trusted-proxies", "Comma-separated CIDRs of the reverse proxies in front (the Ingress controller's pods). "+
		"From a peer in them, the source the limits count is the rightmost entry of --forwarded-header that is not a trusted proxy; "+
		"other peers' forwarded headers are ignored. Empty (default): every request counts against its peer address.",
		func(v string) error {
			p, err := parsePrefixes(v)
			o.trustedProxies = p
			return err
		})
	flag.StringVar(&o.forwardedHeader, "forwarded-header", authserver.HeaderXForwardedFor,
		"The header the trusted proxies append their peer to: X-Forwarded-For or Forwarded (RFC 7239). Only this one is read.")
	o.log.BindFlags(flag.CommandLine)
	flag.Parse()
	return o
}

// parsePrefixes reads comma-separated CIDRs; a bare IP is its /32 or /128.
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR: %w", f, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func run() error {
	o := parseFlags()
	// Also controller-runtime's logger (the certificate watcher) and
	// klog's (client-go).
	log := o.log.Setup(os.Stderr)
	if o.issuer == "" {
		o.issuer = "https://authops." + o.namespace + ".svc"
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("--tls-cert-file and --tls-key-file go together")
	}
	profile, err := oautherr.ParseProfile(o.profile)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	storeOpts := []store.Option{store.WithPollLeeway(authserver.PollLeeway)}
	if o.passwordFile != "" {
		storeOpts = append(storeOpts, store.WithPasswordFile(o.passwordFile))
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := store.Open(openCtx, o.storeURL, storeOpts...)
	cancel()
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer st.Close()
	log.Info("store opened", "store", store.Redacted(o.storeURL))
	go store.RunSweeper(ctx, st, o.sweepInterval, log)

	holder := registry.NewHolder()
	// (The snapshot metrics before the loader starts: its first rebuild
	// is timed too.)
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.Collector())
	authserver.RegisterSnapshotMetrics(promReg, holder)
	errc := make(chan error, 4)
	fb, saKeys, err := startLoader(ctx, o, holder, log, errc)
	if err != nil {
		return err
	}

	authserver.RegisterStoreMetrics(promReg, st)
	srv, err := authserver.New(authserver.Config{Issuer: o.issuer, Registry: holder, Store: st, DefaultProfile: profile,
		Log: log, Metrics: authserver.NewMetrics(promReg), SessionLifetime: o.sessionTTL, ConsentLifetime: o.consentTTL,
		Feedback: fb, Limits: authserver.Limits{Disabled: !o.throttle},
		TrustedProxies: o.trustedProxies, ForwardedHeader: o.forwardedHeader, ServiceAccountKeys: saKeys})
	if err != nil {
		return err
	}
	authserver.RegisterLimiterMetrics(promReg, srv)

	servers := []*http.Server{
		authserver.NewHTTPServer(o.listenAddr, srv.Handler()),
		{Addr: o.probeAddr, Handler: probes(holder, st), ReadHeaderTimeout: 5 * time.Second},
	}
	if o.metricsAddr != "0" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
		servers = append(servers, &http.Server{Addr: o.metricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second})
	}
	if o.pprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		servers = append(servers, &http.Server{Addr: o.pprofAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second})
	}
	if o.tlsCert != "" {
		if err := watchCertificate(ctx, servers[0].TLSConfig, o.tlsCert, o.tlsKey, log, errc); err != nil {
			return err
		}
	}
	for i, s := range servers {
		go func() {
			if i == 0 && o.tlsCert != "" {
				// The certificate comes from TLSConfig.GetCertificate.
				errc <- s.ListenAndServeTLS("", "")
				return
			}
			errc <- s.ListenAndServe()
		}()
	}
	log.Info("serving", "issuer", o.issuer, "address", o.listenAddr, "tls", o.tlsCert != "",
		"probes", o.probeAddr, "metrics", o.metricsAddr, "defaultErrorProfile", string(profile),
		"trustedProxies", fmt.Sprint(o.trustedProxies), "forwardedHeader", o.forwardedHeader)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	log.Info("authserver stopped")
	return nil
}

// watchCertificate serves the certificate and key of the files through
// cfg.GetCertificate and keeps them current: controller-runtime's
// certwatcher reads them again when they change (a mounted Secret is
// replaced by a symlink swap, which it follows) and every 10 seconds. A
// certificate that cannot be read at start is an error; a broken
// replacement is logged and the last good certificate stays served.
func watchCertificate(ctx context.Context, cfg *tls.Config, certFile, keyFile string, log *slog.Logger, errc chan<- error) error {
	cw, err := certwatcher.New(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("loading the TLS certificate: %w", err)
	}
	cw.RegisterCallback(func(c tls.Certificate) {
		if c.Leaf != nil {
			log.Info("TLS certificate loaded", "subject", c.Leaf.Subject.String(), "serial", c.Leaf.SerialNumber.String(),
				"notAfter", c.Leaf.NotAfter)
		}
	})
	cfg.GetCertificate = cw.GetCertificate
	go func() {
		if err := cw.Start(ctx); err != nil {
			errc <- fmt.Errorf("watching the TLS certificate: %w", err)
		}
	}()
	return nil
}

// kubeClient returns the Kubernetes client configuration (kubeconfig,
// else the defaults) and the cluster's ServiceAccount keys for workload
// identity, fetched from its API server.
func kubeClient(kubeconfig string) (*rest.Config, *kubeissuer.Keys, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, &kubeissuer.Keys{Host: cfg.Host, Client: hc}, nil
}

// startLoader starts the snapshot loader: a directory, or the labelled
// Secrets of the namespace. With Kubernetes it also starts the feedback
// into the objects' status and returns the cluster's ServiceAccount keys
// for workload identity (neither with a directory: there is no cluster).
func startLoader(ctx context.Context, o options, holder *registry.Holder, log *slog.Logger, errc chan<- error) (authserver.Feedback, authserver.ServiceAccountKeys, error) {
	if o.snapshotDir != "" {
		l := &registry.FileLoader{Dir: o.snapshotDir, Holder: holder, Log: log}
		go func() {
			if err := l.Run(ctx); err != nil {
				errc <- err
			}
		}()
		if o.kubeconfig == "" {
			return nil, nil, nil
		}
		// A directory and an explicit kubeconfig: the cluster only
		// verifies the workload identity clients' ServiceAccount tokens.
		cfg, saKeys, err := kubeClient(o.kubeconfig)
		if err != nil {
			return nil, nil, err
		}
		log.Info("Snapshot from a directory; ServiceAccount tokens verified with the keys of the cluster of --kubeconfig", "host", cfg.Host)
		return nil, saKeys, nil
	}
	cfg, saKeys, err := kubeClient(o.kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	// Built-in types (the snapshot Secrets' watch, Events) travel as
	// protobuf: cheaper to encode for the API server and to decode here
	// than JSON (10,000 snapshot Secrets at start-up). The dynamic client
	// (OAuthClient and Account status) stays JSON: custom resources have no
	// protobuf encoding.
	pb := rest.CopyConfig(cfg)
	pb.ContentType = runtime.ContentTypeProtobuf
	pb.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cs, err := kubernetes.NewForConfig(pb)
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	l := &registry.KubeLoader{Client: cs, Namespace: o.namespace, Holder: holder, Log: log}
	if o.publishServed {
		pub := &served.Publisher{Client: cs, Namespace: o.namespace, Replica: o.replica, Log: log}
		go pub.Run(ctx)
		l.Served = pub.Served
	}
	go func() {
		if err := l.Run(ctx); err != nil {
			errc <- err
		}
	}()
	fb := feedback.New(feedback.Config{Writer: &feedback.KubeWriter{Dynamic: dyn, Clientset: cs, Instance: o.replica},
		Log: log, MinInterval: o.feedbackInterval, ErrorWindow: o.feedbackWindow})
	go fb.Run(ctx)
	return fb, saKeys, nil
}

// probes serves /healthz (the process runs) and /readyz (the first full
// snapshot sync is done and the store answers).
func probes(holder *registry.Holder, st store.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !holder.Ready() {
			http.Error(w, "snapshot not synced yet", http.StatusServiceUnavailable)
			return
		}
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(pctx); err != nil {
			http.Error(w, "store unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}
