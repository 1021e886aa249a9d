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
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/test/procs"
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

// sampleKinds are the kinds whose samples must become Ready.
var sampleKinds = []string{"GrantPolicy", "OAuthClient", "Account"}

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
	for _, f := range []string{"state.db", "state.db-wal", "state.db-shm", "manager.log", "authserver.log"} {
		_ = os.Remove(filepath.Join(o.stateDir, f))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Println("Starting the local API server (kube-apiserver and etcd from", o.assets+")...")
	env := &envtest.Environment{
		BinaryAssetsDirectory: o.assets,
		CRDDirectoryPaths:     []string{o.crds},
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
	kubeconfigPath := filepath.Join(o.stateDir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}

	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return err
	}
	for _, ns := range []string{o.operatorNamespace, o.namespace} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	n, err := applySamples(ctx, c, o.samples, o.namespace)
	if err != nil {
		return fmt.Errorf("applying the samples: %w", err)
	}

	st, err := startServers(ctx, o, kubeconfigPath)
	if st != nil {
		defer st.stop()
	}
	if err != nil {
		return err
	}

	fmt.Printf("Waiting for the samples to become Ready (at most %s)...\n", o.readyTimeout)
	if err := waitReady(ctx, c, o.namespace, o.readyTimeout); err != nil {
		return err
	}

	hint, err := tryIt(ctx, c, o.namespace, st.issuer)
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
`, cfg.Host, n, o.namespace, kubeconfigPath, st.issuer, st.issuer, st.manager.Log, st.authserver.Log,
		filepath.Join(o.stateDir, "state.db"), kubeconfigPath, hint)

	select {
	case <-ctx.Done():
		fmt.Println("\nStopping the manager and the authserver...")
		return nil
	case <-st.manager.Exited():
		return fmt.Errorf("the manager exited (%v); see %s", st.manager.Err(), st.manager.Log)
	case <-st.authserver.Exited():
		return fmt.Errorf("the authserver exited (%v); see %s", st.authserver.Err(), st.authserver.Log)
	}
}

// servers are the running manager and authserver.
type servers struct {
	issuer              string
	manager, authserver *procs.Proc
}

func (s *servers) stop() {
	for _, p := range []*procs.Proc{s.manager, s.authserver} {
		if p != nil {
			p.Stop(10 * time.Second)
		}
	}
}

// startServers starts the manager and the authserver against the local API
// server and waits until both report ready.
func startServers(ctx context.Context, o options, kubeconfig string) (*servers, error) {
	port := o.port
	ports := make([]int, 3)
	for i := range ports {
		p, err := procs.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	if port == 0 {
		port = ports[0]
	}
	st := &servers{issuer: fmt.Sprintf("http://127.0.0.1:%d", port)}
	managerHealth := fmt.Sprintf("127.0.0.1:%d", ports[1])
	authserverHealth := fmt.Sprintf("127.0.0.1:%d", ports[2])

	var err error
	fmt.Println("Starting the manager and the authserver, issuer", st.issuer+"...")
	st.manager, err = procs.Start("manager", o.managerBin, []string{
		"--kubeconfig=" + kubeconfig,
		"--namespace=" + o.operatorNamespace,
		"--issuer=" + st.issuer,
		"--metrics-bind-address=0",
		"--health-probe-bind-address=" + managerHealth,
	}, filepath.Join(o.stateDir, "manager.log"))
	if err != nil {
		return st, err
	}
	st.authserver, err = procs.Start("authserver", o.authserverBin, []string{
		"--kubeconfig=" + kubeconfig,
		"--namespace=" + o.operatorNamespace,
		"--issuer=" + st.issuer,
		fmt.Sprintf("--listen-address=127.0.0.1:%d", port),
		"--store=sqlite://" + filepath.Join(o.stateDir, "state.db"),
		"--metrics-bind-address=0",
		"--health-probe-bind-address=" + authserverHealth,
	}, filepath.Join(o.stateDir, "authserver.log"))
	if err != nil {
		return st, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := procs.WaitHTTP(wctx, "http://"+managerHealth+"/readyz", st.manager); err != nil {
		return st, err
	}
	if err := procs.WaitHTTP(wctx, "http://"+authserverHealth+"/readyz", st.authserver); err != nil {
		return st, err
	}
	return st, nil
}

// waitReady waits until every sample object has Ready=True for its current
// generation, and names those that are not when time runs out.
func waitReady(ctx context.Context, c client.Client, ns string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var notReady []string
		for _, kind := range sampleKinds {
			list := &unstructured.UnstructuredList{}
			list.SetAPIVersion("oauth.authops.io/v1alpha1")
			list.SetKind(kind + "List")
			if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
				return err
			}
			for _, u := range list.Items {
				if ok, msg := ready(u); !ok {
					notReady = append(notReady, fmt.Sprintf("%s/%s: %s", strings.ToLower(kind), u.GetName(), msg))
				}
			}
		}
		if len(notReady) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			sort.Strings(notReady)
			return fmt.Errorf("samples not Ready after %s:\n  %s", timeout, strings.Join(notReady, "\n  "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ready reports whether u has Ready=True observed at its generation (or is
// a disabled Account that says so), and otherwise the Ready message.
func ready(u unstructured.Unstructured) (bool, string) {
	raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	data, _ := json.Marshal(raw)
	var conds []metav1.Condition
	_ = json.Unmarshal(data, &conds)
	cond := meta.FindStatusCondition(conds, oauthv1alpha1.ReadyCondition)
	disabled, _, _ := unstructured.NestedBool(u.Object, "spec", "disabled")
	switch {
	case cond == nil:
		return false, "no Ready condition yet"
	case cond.Status != metav1.ConditionTrue && cond.Reason == oauthv1alpha1.DisabledReason && disabled:
		return true, "" // a disabled sample (bob) is as expected when it says so
	case cond.Status != metav1.ConditionTrue:
		return false, cond.Reason + ": " + cond.Message
	case cond.ObservedGeneration != u.GetGeneration():
		return false, "Ready for an older generation"
	}
	return true, ""
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

// applySamples creates every object of every YAML file in dir (the
// kustomization aside) in namespace ns, and returns how many it created.
func applySamples(ctx context.Context, c client.Client, dir, ns string) (int, error) {
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
