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

package cluster

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authops/authops/test/envtest"
	"github.com/authops/authops/test/oauthflow"
)

const (
	// tag is the authops image's tag in the scenarios.
	tag = "cluster-test"
	// issuer is the chart's and config/default's default issuer; the
	// clients reach it through ServiceTransport.
	issuer = "https://auth.example.com"
	// samplesNamespace is where config/samples go (its ClusterGrantPolicy
	// grants billing-backend there).
	samplesNamespace = "default"
	alicePassword    = "correct-horse-battery-staple" // config/samples/account_alice.yaml
	// loadRequests is the bounded run of client_credentials requests each
	// install serves after the flows.
	loadRequests = 200
)

// TestHelmInstall installs the chart with its default values (the image
// set to the one built here: the standalone shape, SQLite on the PVC),
// applies the samples and runs the three flows through the authserver's
// Service. Then, on the same install, the scenarios of that shape: the
// projected token, a killed manager process, a 60s API server outage, and
// an upgrade to a new image tag (scenarios_test.go).
func TestHelmInstall(t *testing.T) {
	c, ctx := startForInstall(t)
	begin := time.Now()
	helmRun(ctx, t, c, "install", "authops", chartDir(), "--namespace", "authops-system", "--create-namespace",
		"--set", "image.tag="+tag, "--set", "image.pullPolicy=Never")
	oc := installed(t, c, begin)
	standaloneScenarios(t, c, oc)
}

// chartDir is the chart's folder.
func chartDir() string { return filepath.Join(envtest.RepoRoot(), "charts", "authops") }

// helmRun runs helm against the cluster and fails the test when it fails.
func helmRun(ctx context.Context, t *testing.T, c *Cluster, args ...string) {
	t.Helper()
	helm, err := Tool("HELM", "helm")
	if err != nil {
		t.Fatal(err)
	}
	run := exec.CommandContext(ctx, helm, append(args, "--kubeconfig", c.Kubeconfig)...)
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("helm %s: %v\n%s", args[0], err, out)
	}
}

// TestKustomizeInstall installs config/default (through an overlay that
// only sets the image's tag) the way docs/install.md says, applies the
// samples and runs the three flows through the authserver's Service.
func TestKustomizeInstall(t *testing.T) {
	c, ctx := startForInstall(t)
	kustomize, err := Tool("KUSTOMIZE", "kustomize")
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	manifests, err := exec.CommandContext(ctx, kustomize, "build", "testdata/kustomize").Output()
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	path := filepath.Join(c.Dir, "install.yaml")
	if err := os.WriteFile(path, manifests, 0o644); err != nil {
		t.Fatal(err)
	}
	c.MustKubectl("apply", "--server-side", "-f", path)
	installed(t, c, begin)
}

// startForInstall starts a cluster, imports the authops image and provides
// a volume for the SQLite store's claim.
func startForInstall(t *testing.T) (*Cluster, context.Context) {
	c := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	if err := c.ImportAuthops(ctx, tag); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateHostPathVolume(ctx, "authops-state", "10Gi"); err != nil {
		t.Fatal(err)
	}
	c.Stage("authops image and volume")
	return c, ctx
}

// installed waits for the install to be Ready, applies the samples, waits
// for them, and runs the flows through the Service.
func installed(t *testing.T, c *Cluster, begin time.Time) *oauthClient {
	installReady(t, c, begin)
	oc := runFlows(t, c)
	c.Stage("flows and load")
	return oc
}

// installReady waits until every Deployment in authops-system is
// Available, then applies the samples and waits until they are Ready.
func installReady(t *testing.T, c *Cluster, begin time.Time) {
	c.Stage("install")
	c.MustKubectl("wait", "-n", "authops-system", "--for=condition=Available", "--timeout=180s", "deployment", "--all")
	t.Logf("MEASURED time to Ready after the install: %.1fs (%s)", time.Since(begin).Seconds(),
		c.MustKubectl("get", "deployments", "-n", "authops-system", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.readyReplicas} {end}`))
	if pv, err := c.Kubectl(context.Background(), "get", "pv", "authops-state", "-o", "jsonpath={.status.phase} {.spec.claimRef.namespace}/{.spec.claimRef.name}"); err == nil {
		t.Logf("the static volume: %s", pv)
	}
	c.Stage("install Ready")
	root := envtest.RepoRoot()
	// The ClusterGrantPolicy that grants billing-backend its clientID is in
	// the same apply: until the admission policy sees it, the OAuthClient
	// is refused, and applying again is what a user does.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Eventually(ctx, time.Minute, "applying the samples", func() error {
		_, err := c.Kubectl(ctx, "apply", "-n", samplesNamespace, "-k", filepath.Join(root, "config", "samples"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c.MustKubectl("wait", "--for=condition=Ready", "--timeout=120s", "clustergrantpolicy/platform")
	c.MustKubectl("wait", "-n", samplesNamespace, "--for=condition=Ready", "--timeout=120s",
		"grantpolicy/default", "grantpolicy/strict", "oauthclient/webapp", "oauthclient/billing-backend", "oauthclient/ordersctl",
		"resourceserver/orders-api", "account/alice")
	c.Stage("samples Ready")
}

// runFlows runs client_credentials, the authorization code flow with PKCE
// through the login and consent pages, and the device flow, then a bounded
// run of token requests, all through the authserver's Service from this
// machine, and reports the counts. It returns the client of the Service,
// holding a refresh token of the web app that has been used once.
func runFlows(t *testing.T, c *Cluster) *oauthClient {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	oc := newOAuthClient(t, c, "authops-system", issuer, nil)
	ctx = oc.context(ctx)
	if err := oc.waitServed(ctx); err != nil {
		t.Fatal(err)
	}
	tok, forms := oc.browser.AuthorizationCode(ctx, t, oc.webapp)
	if strings.Join(forms, ",") != "login,consent" || tok.RefreshToken == "" {
		t.Fatalf("authorization code: forms %v, refresh token %t: want the login and consent pages and a refresh token", forms, tok.RefreshToken != "")
	}
	oc.refreshToken = tok.RefreshToken
	if err := oc.refresh(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}

	cli := &oauth2.Config{ClientID: oc.clientID("ordersctl"), Scopes: []string{"openid", "orders.read"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: oc.issuer + "/oauth2/device_authorization", TokenURL: oc.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	da, err := cli.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		tok, err := cli.DeviceAccessToken(ctx, da)
		if err == nil && tok.AccessToken == "" {
			err = fmt.Errorf("no access token")
		}
		done <- err
	}()
	if _, forms := oc.browser.ApproveDevice(ctx, t, da.VerificationURIComplete, da.UserCode); strings.Join(forms, ",") != "code,login,consent" {
		t.Fatalf("device verification: forms %v, want the code, login and consent pages", forms)
	}
	if err := <-done; err != nil {
		t.Fatalf("device token: %v", err)
	}
	t.Logf("flows through the Service: client_credentials, authorization code with PKCE (+ refresh), device: ok")

	before, _ := oc.transport.Counts()
	var failed int
	for i := 0; i < loadRequests; i++ {
		if _, err := oc.backend.Token(ctx); err != nil {
			failed++
			t.Logf("token request %d: %v", i, err)
		}
	}
	requests, failures := oc.transport.Counts()
	t.Logf("requests through the Service: %d in all (%d in the token run), %d failed (5xx or transport), %d token requests failed",
		requests, requests-before, failures, failed)
	if failed > 0 {
		t.Fatalf("%d of %d token requests failed", failed, loadRequests)
	}
	return oc
}

// oauthClient reaches the authserver's Service from this machine as the
// samples' clients: billing-backend (client_credentials), webapp
// (authorization code, through the login page as alice).
type oauthClient struct {
	t         *testing.T
	c         *Cluster
	issuer    string
	transport *ServiceTransport
	client    *http.Client
	backend   *clientcredentials.Config
	webapp    *oauth2.Config
	browser   oauthflow.Browser
	// refreshToken is the web app's current refresh token (refresh
	// rotates it).
	refreshToken string
}

// newOAuthClient finds the Service in namespace that targets the
// authserver's port and reads the samples' client credentials. With
// tlsConfig the Service speaks HTTPS.
func newOAuthClient(t *testing.T, c *Cluster, namespace, issuer string, tlsConfig *tls.Config) *oauthClient {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr, err := c.ServiceAddress(ctx, namespace, "oauth")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(issuer)
	transport := &ServiceTransport{Host: u.Host, Address: addr, TLS: tlsConfig}
	t.Logf("the authserver's Service: %s (issuer %s)", addr, issuer)
	oc := &oauthClient{t: t, c: c, issuer: issuer, transport: transport,
		client: &http.Client{Transport: transport, Timeout: 10 * time.Second}}
	oc.backend = &clientcredentials.Config{ClientID: oc.clientID("billing-backend"), ClientSecret: oc.secret("billing-backend-oauth", "client_secret"),
		TokenURL: issuer + "/oauth2/token", Scopes: []string{"orders.read"}, AuthStyle: oauth2.AuthStyleInParams}
	oc.webapp = &oauth2.Config{ClientID: oc.clientID("webapp"), ClientSecret: oc.secret("webapp-oauth-credentials", "client_secret"),
		RedirectURL: "http://127.0.0.1:8080/callback", Scopes: []string{"openid", "profile", "orders.read"},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/authorize", TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	oc.browser = oauthflow.Browser{Issuer: issuer, Username: "alice", Password: alicePassword, Transport: transport}
	return oc
}

// context makes the oauth2 package send through the Service.
func (oc *oauthClient) context(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, oc.client)
}

func (oc *oauthClient) secret(name, key string) string {
	b, err := base64.StdEncoding.DecodeString(oc.c.MustKubectl("get", "secret", "-n", samplesNamespace, name, "-o", "jsonpath={.data."+key+"}"))
	if err != nil {
		oc.t.Fatal(err)
	}
	return string(b)
}

func (oc *oauthClient) clientID(name string) string {
	return oc.c.MustKubectl("get", "oauthclient", "-n", samplesNamespace, name, "-o", "jsonpath={.status.clientID}")
}

// waitServed waits until a client_credentials request through the Service
// succeeds: the clients are Ready once the authserver serves them, but the
// Service may still be catching up with the endpoint.
func (oc *oauthClient) waitServed(ctx context.Context) error {
	return oc.c.Eventually(ctx, time.Minute, "client_credentials through the Service", func() error {
		_, err := oc.backend.Token(oc.context(ctx))
		return err
	})
}

// refresh redeems the web app's refresh token and keeps the one it gets
// back.
func (oc *oauthClient) refresh(ctx context.Context) error {
	tok, err := oc.webapp.TokenSource(oc.context(ctx), &oauth2.Token{RefreshToken: oc.refreshToken}).Token()
	if err != nil {
		return err
	}
	if tok.RefreshToken != "" {
		oc.refreshToken = tok.RefreshToken
	}
	return nil
}
