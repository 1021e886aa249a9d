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
// and etcd built from source into bin/k8s), the CRDs, the samples, the
// manager and the authserver as processes (issuer http://127.0.0.1:<port>,
// SQLite store in the state folder), and a kubeconfig for kubectl. It waits
// until the samples are Ready, checks that a client_credentials token can be
// had, and prints how to try it. Ctrl-C stops everything it started.
//
// Two processes guard against leftovers: a watchdog (what make starts) that
// becomes the subreaper of everything below it, and the worker (the same
// binary, re-executed) that does the work. When make or the watchdog dies the
// kernel sends the worker SIGTERM (Pdeathsig) and it shuts down in order; when
// the worker dies, the watchdog kills whatever it left behind.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/authops/authops/test/stack"
)

const workerEnv = "AUTHOPS_RUN_WORKER"

func main() {
	if os.Getenv(workerEnv) != "1" {
		os.Exit(watchdog())
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

type options struct {
	assets, crds, samples, stateDir string
	namespace, operatorNamespace    string
	managerBin, authserverBin       string
	port                            int
	readyTimeout                    time.Duration
}

func run() error {
	var o options
	flag.StringVar(&o.assets, "assets", "bin/k8s", "Folder holding kube-apiserver and etcd (make envtest-assets builds them).")
	flag.StringVar(&o.crds, "crds", "config/crd/bases", "Folder of CRD manifests to install.")
	flag.StringVar(&o.samples, "samples", "config/samples", "Folder of sample manifests to apply.")
	flag.StringVar(&o.stateDir, "state-dir", "bin/run", "Folder for the kubeconfig, the logs and the SQLite store.")
	flag.StringVar(&o.namespace, "namespace", "default", "Namespace the samples go into.")
	flag.StringVar(&o.operatorNamespace, "operator-namespace", "authops-system", "Operator namespace: where the compiled snapshot lives.")
	flag.StringVar(&o.managerBin, "manager", "bin/manager", "The manager binary (make build).")
	flag.StringVar(&o.authserverBin, "authserver", "bin/authserver", "The authserver binary (make build).")
	flag.IntVar(&o.port, "port", 0, "Port of the authserver on 127.0.0.1 (the issuer is http://127.0.0.1:<port>); 0 picks a free one.")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 2*time.Minute, "How long to wait for the samples to become Ready.")
	flag.Parse()

	for _, bin := range []string{filepath.Join(o.assets, "kube-apiserver"), filepath.Join(o.assets, "etcd"), o.managerBin, o.authserverBin} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s is missing: run 'make build envtest-assets' (make run does both)", bin)
		}
	}
	if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
		return err
	}
	o.stateDir, _ = filepath.Abs(o.stateDir)
	// A fresh start: the API server's etcd is new each time, so old runtime
	// state and logs would only confuse.
	for _, f := range []string{"state.db", "state.db-wal", "state.db-shm", "manager.log", "authserver.log", "kube-apiserver.log"} {
		_ = os.Remove(filepath.Join(o.stateDir, f))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Println("Starting the local API server (kube-apiserver and etcd from", o.assets+"), the manager and the authserver...")
	st, err := stack.Start(ctx, stack.Options{Dir: o.stateDir, Assets: o.assets, CRDs: o.crds, Addr: o.addr(), OperatorNamespace: o.operatorNamespace,
		Namespaces: []string{o.namespace}, Bins: stack.Binaries{Manager: o.managerBin, Authserver: o.authserverBin}})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("Stopping the manager, the authserver and the local API server...")
		st.Stop()
	}()
	applied, err := stack.ApplyDir(ctx, st.API.Client, o.samples, o.namespace)
	for _, a := range applied {
		fmt.Println("  applied", a)
	}
	if err != nil {
		return fmt.Errorf("applying the samples: %w", err)
	}

	fmt.Printf("Waiting for the samples to become Ready: compiled and served by the authserver (at most %s)...\n", o.readyTimeout)
	if err := stack.WaitReady(ctx, st.API.Client, o.namespace, o.readyTimeout); err != nil {
		return fmt.Errorf("samples: %w", err)
	}

	hint, err := tryIt(ctx, st.API.Client, o.namespace, st.Issuer)
	if err != nil {
		return err
	}

	fmt.Printf(`
authops is running locally.
  API server:  %s (CRDs installed, %d sample objects applied in namespace %q)
  kubeconfig:  %s
  issuer:      %s   (discovery: %s/.well-known/openid-configuration)
  logs:        %s
               %s
  store:       SQLite %s

Try:
  export KUBECONFIG=%s
  kubectl get authops -o wide          # every authops object, Ready and its message
%s
Press Ctrl-C to stop everything.
`, st.API.Config.Host, len(applied), o.namespace, st.API.Kubeconfig, st.Issuer, st.Issuer, st.Manager.Proc.Log, st.Authserver.Proc.Log,
		filepath.Join(o.stateDir, "state.db"), st.API.Kubeconfig, hint)

	select {
	case <-ctx.Done():
		fmt.Println("\nStopping...")
		return nil
	case <-st.Manager.Proc.Exited():
		return fmt.Errorf("the manager exited (%v); see %s", st.Manager.Proc.Err(), st.Manager.Proc.Log)
	case <-st.Authserver.Proc.Exited():
		return fmt.Errorf("the authserver exited (%v); see %s", st.Authserver.Proc.Err(), st.Authserver.Proc.Log)
	}
}

// addr is the authserver's listen address: 127.0.0.1:<port>, or empty for
// a free port.
func (o options) addr() string {
	if o.port == 0 {
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", o.port)
}

// tryIt gets a client_credentials token with the billing-backend sample's
// credentials (so the printed curl is known to work) and returns the
// instructions: that curl, and an authorization URL (PKCE) for the webapp
// sample with the curl that redeems its code.
func tryIt(ctx context.Context, c client.Client, ns, issuer string) (string, error) {
	backend := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "billing-backend-oauth"}, backend); err != nil {
		return "", fmt.Errorf("reading the billing-backend sample's secret: %w", err)
	}
	secret := string(backend.Data["client_secret"])
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"billing-backend"}, "client_secret": {secret}, "scope": {"orders.read"}}
	resp, err := http.PostForm(issuer+"/oauth2/token", form)
	if err != nil {
		return "", fmt.Errorf("checking a client_credentials token request: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"access_token"`)) {
		return "", fmt.Errorf("a client_credentials token request for billing-backend got %s: %s (see the authserver log)", resp.Status, body)
	}

	webapp := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "webapp-oauth-credentials"}, webapp); err != nil {
		return "", fmt.Errorf("reading the webapp sample's credentials: %w", err)
	}
	webappID, webappSecret := string(webapp.Data["client_id"]), string(webapp.Data["client_secret"])
	verifier := randomString()
	sum := sha256.Sum256([]byte(verifier))
	redirect := "http://127.0.0.1:8080/callback"
	authorize := issuer + "/oauth2/authorize?" + url.Values{
		"response_type":         {"code"},
		"client_id":             {webappID},
		"redirect_uri":          {redirect},
		"scope":                 {"openid profile orders.read"},
		"state":                 {randomString()[:16]},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}.Encode()

	return fmt.Sprintf(`
  # A client_credentials token for the billing-backend sample (secret from Secret %s/billing-backend-oauth, checked just now):
  curl -s %s/oauth2/token -d grant_type=client_credentials -d client_id=billing-backend \
    -d client_secret=%s -d scope=orders.read

  # The login page: open this authorization request (webapp sample, PKCE) in a browser and log in
  # as alice / correct-horse-battery-staple (bob is disabled). The browser ends on %s?code=...
  # (nothing listens there: copy the code from the address bar within a minute), then:
  %s
  curl -s -u '%s:%s' %s/oauth2/token -d grant_type=authorization_code \
    -d redirect_uri=%s -d code_verifier=%s -d code=CODE

  # The device flow (ordersctl sample, a Public client): ask for a code, open the
  # verification_uri_complete it returns, log in as alice and allow, then redeem:
  curl -s %s/oauth2/device_authorization -d client_id=%s -d scope='openid orders.read'
  curl -s %s/oauth2/token -d grant_type=urn:ietf:params:oauth:grant-type:device_code \
    -d client_id=%s -d device_code=DEVICE_CODE
`, ns, issuer, secret, redirect, authorize, url.QueryEscape(webappID), url.QueryEscape(webappSecret), issuer, redirect, verifier,
		issuer, ns+".ordersctl", issuer, ns+".ordersctl"), nil
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
