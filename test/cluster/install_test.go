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
// set to the one built here), applies the samples and runs the three flows
// through the authserver's Service.
func TestHelmInstall(t *testing.T) {
	c, ctx := startForInstall(t)
	helm, err := Tool("HELM", "helm")
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	run := exec.CommandContext(ctx, helm, "install", "authops", filepath.Join(envtest.RepoRoot(), "charts", "authops"),
		"--kubeconfig", c.Kubeconfig, "--namespace", "authops-system", "--create-namespace",
		"--set", "image.tag="+tag, "--set", "image.pullPolicy=Never")
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	installed(t, c, begin)
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
func installed(t *testing.T, c *Cluster, begin time.Time) {
	c.Stage("install")
	c.MustKubectl("wait", "-n", "authops-system", "--for=condition=Available", "--timeout=180s", "deployment", "--all")
	t.Logf("time to Ready after the install: %.1fs", time.Since(begin).Seconds())
	t.Logf("the static volume: %s", c.MustKubectl("get", "pv", "authops-state", "-o", "jsonpath={.status.phase} {.spec.claimRef.namespace}/{.spec.claimRef.name}"))
	c.Stage("install Ready")
	root := envtest.RepoRoot()
	c.MustKubectl("apply", "-n", samplesNamespace, "-k", filepath.Join(root, "config", "samples"))
	c.MustKubectl("wait", "--for=condition=Ready", "--timeout=120s", "clustergrantpolicy/platform")
	c.MustKubectl("wait", "-n", samplesNamespace, "--for=condition=Ready", "--timeout=120s",
		"grantpolicy/default", "grantpolicy/strict", "oauthclient/webapp", "oauthclient/billing-backend", "oauthclient/ordersctl",
		"resourceserver/orders-api", "account/alice")
	c.Stage("samples Ready")
	runFlows(t, c)
	c.Stage("flows and load")
}

// runFlows runs client_credentials, the authorization code flow with PKCE
// through the login and consent pages, and the device flow, then a bounded
// run of token requests, all through the authserver's Service from this
// machine, and reports the counts.
func runFlows(t *testing.T, c *Cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	addr, err := c.ServiceAddress(ctx, "authops-system", "oauth")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(issuer)
	transport := &ServiceTransport{Host: u.Host, Address: addr}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: transport, Timeout: 10 * time.Second})
	t.Logf("the authserver's Service: %s (issuer %s)", addr, issuer)

	secret := func(name, key string) string {
		b, err := base64.StdEncoding.DecodeString(c.MustKubectl("get", "secret", "-n", samplesNamespace, name, "-o", "jsonpath={.data."+key+"}"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	clientID := func(name string) string {
		return c.MustKubectl("get", "oauthclient", "-n", samplesNamespace, name, "-o", "jsonpath={.status.clientID}")
	}
	backend := &clientcredentials.Config{ClientID: clientID("billing-backend"), ClientSecret: secret("billing-backend-oauth", "client_secret"),
		TokenURL: issuer + "/oauth2/token", Scopes: []string{"orders.read"}, AuthStyle: oauth2.AuthStyleInParams}

	// The clients are Ready once the authserver serves them; the Service
	// may still be catching up with the endpoint.
	if err := c.Eventually(ctx, time.Minute, "client_credentials through the Service", func() error {
		_, err := backend.Token(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	webapp := &oauth2.Config{ClientID: clientID("webapp"), ClientSecret: secret("webapp-oauth-credentials", "client_secret"),
		RedirectURL: "http://127.0.0.1:8080/callback", Scopes: []string{"openid", "profile", "orders.read"},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/authorize", TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	browser := oauthflow.Browser{Issuer: issuer, Username: "alice", Password: alicePassword, Transport: transport}
	tok, forms := browser.AuthorizationCode(ctx, t, webapp)
	if strings.Join(forms, ",") != "login,consent" || tok.RefreshToken == "" {
		t.Fatalf("authorization code: forms %v, refresh token %t: want the login and consent pages and a refresh token", forms, tok.RefreshToken != "")
	}
	if _, err := webapp.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Fatalf("refresh: %v", err)
	}

	cli := &oauth2.Config{ClientID: clientID("ordersctl"), Scopes: []string{"openid", "orders.read"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: issuer + "/oauth2/device_authorization", TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
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
	if _, forms := browser.ApproveDevice(ctx, t, da.VerificationURIComplete, da.UserCode); strings.Join(forms, ",") != "code,login,consent" {
		t.Fatalf("device verification: forms %v, want the code, login and consent pages", forms)
	}
	if err := <-done; err != nil {
		t.Fatalf("device token: %v", err)
	}
	t.Logf("flows through the Service: client_credentials, authorization code with PKCE (+ refresh), device: ok")

	before, _ := transport.Counts()
	var failed int
	for i := 0; i < loadRequests; i++ {
		if _, err := backend.Token(ctx); err != nil {
			failed++
			t.Logf("token request %d: %v", i, err)
		}
	}
	requests, failures := transport.Counts()
	t.Logf("requests through the Service: %d in all (%d in the token run), %d failed (5xx or transport), %d token requests failed",
		requests, requests-before, failures, failed)
	if failed > 0 {
		t.Fatalf("%d of %d token requests failed", failed, loadRequests)
	}
}
