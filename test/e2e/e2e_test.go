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

// Package e2e runs authops like a user, on this machine, without a kubelet:
// the source-built API server, the real manager and authserver binaries as
// processes, manifests applied with kubectl, and golang.org/x/oauth2 and
// go-oidc as the OAuth clients.
package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authops/authops/test/oauthflow"
	"github.com/authops/authops/test/stack"
)

const (
	ns               = "e2e"
	firstSecret      = "first-secret-0123456789abcdefghijklmnop"
	secondSecret     = "second-secret-0123456789abcdefghijklmno"
	alicePassword    = "correct-horse-battery-staple"
	webappRedirect   = "http://127.0.0.1:9/callback"
	eventuallyWithin = 60 * time.Second
)

// TestMain resolves the manager and authserver binaries (building them
// when make has not) before any test starts.
func TestMain(m *testing.M) { stack.Main(m, nil) }

// TestEndToEnd is one story, step by step; a failed step stops it.
func TestEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	h := start(ctx, t)

	h.kubectl("apply", "-f", "testdata/namespace.yaml", "-f", "testdata/clustergrantpolicy.yaml")
	h.kubectl("apply", "-f", "testdata/grantpolicy.yaml", "-f", "testdata/clients.yaml")
	h.kubectl("wait", "-n", ns, "--for=condition=Ready", "--timeout=60s", "grantpolicy/apps", "oauthclient/backend", "oauthclient/webapp", "oauthclient/tv", "account/alice")

	backend := func(secret string) *clientcredentials.Config {
		return &clientcredentials.Config{ClientID: "e2e-backend", ClientSecret: secret, TokenURL: h.issuer + "/oauth2/token",
			Scopes: []string{"orders.read"}, AuthStyle: oauth2.AuthStyleInHeader}
	}
	webappSecret := h.kubectl("get", "secret", "-n", ns, "webapp-oauth-credentials", "-o", "jsonpath={.data.client_secret}")
	webapp := &oauth2.Config{ClientID: "e2e-webapp", ClientSecret: decodeBase64(t, webappSecret), RedirectURL: webappRedirect,
		Endpoint: oauth2.Endpoint{AuthURL: h.issuer + "/oauth2/authorize", TokenURL: h.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{oidc.ScopeOpenID, "profile", "orders.read"}}

	var refreshToken string
	step(t, "client_credentials", func(t *testing.T) {
		tok, err := backend(firstSecret).Token(ctx)
		if err != nil {
			t.Fatalf("client_credentials: %v", err)
		}
		if tok.AccessToken == "" || tok.RefreshToken != "" {
			t.Fatalf("want an access token and no refresh token, got %+v", tok)
		}
	})

	step(t, "workload identity: the binaries, kubectl create token (TokenRequest) as the client assertion", func(t *testing.T) {
		h.kubectl("apply", "-f", "testdata/workload.yaml")
		h.kubectl("wait", "-n", ns, "--for=condition=Ready", "--timeout=60s", "oauthclient/robot")
		// No Secret of the client: its credentials are in a ConfigMap.
		if out, err := h.stack.API.Kubectl(ctx, "get", "secret", "-n", ns, "robot-oauth-credentials"); err == nil || !strings.Contains(out+err.Error(), "NotFound") {
			t.Fatalf("a ServiceAccount client has a credentials Secret (%v): %s", err, out)
		}
		if id := h.kubectl("get", "configmap", "-n", ns, "robot-oauth-credentials", "-o", "jsonpath={.data.client_id}"); id != ns+".robot" {
			t.Fatalf("the credentials ConfigMap holds client_id %q, want %s", id, ns+".robot")
		}
		token := func() string {
			out, err := h.stack.API.Kubectl(ctx, "create", "token", "robot", "-n", ns, "--audience", h.issuer, "--duration", "10m")
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(out)
		}
		cc := &clientcredentials.Config{ClientID: ns + ".robot", TokenURL: h.issuer + "/oauth2/token", Scopes: []string{"orders.read"},
			AuthStyle: oauth2.AuthStyleInParams, EndpointParams: url.Values{
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {token()}}}
		if _, err := cc.Token(ctx); err != nil {
			t.Fatalf("client_credentials with a ServiceAccount token: %v", err)
		}
		if _, err := cc.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("the same token again: %v, want invalid_client (single use)", err)
		}
		cc.EndpointParams.Set("client_assertion", token())
		if _, err := cc.Token(ctx); err != nil {
			t.Fatalf("a new token: %v", err)
		}
	})

	step(t, "authorization code with PKCE through the login and consent pages", func(t *testing.T) {
		tok, forms := h.browser.AuthorizationCode(ctx, t, webapp)
		if strings.Join(forms, ",") != "login,consent" {
			t.Fatalf("forms submitted: %v, want the login page then the consent page (policy consent: Prompt)", forms)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		rawID, _ := tok.Extra("id_token").(string)
		provider, err := oidc.NewProvider(ctx, h.issuer)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		idToken, err := provider.Verifier(&oidc.Config{ClientID: webapp.ClientID}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("verifying the ID token against the JWKS: %v", err)
		}
		if idToken.Subject != ns+"/alice" {
			t.Fatalf("ID token sub = %q, want %s/alice", idToken.Subject, ns)
		}
		refreshToken = tok.RefreshToken
	})

	refresh := func() (*oauth2.Token, error) {
		tok, err := webapp.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
		if err == nil {
			refreshToken = tok.RefreshToken
		}
		return tok, err
	}
	step(t, "refresh", func(t *testing.T) {
		old := refreshToken
		if _, err := refresh(); err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if refreshToken == old || refreshToken == "" {
			t.Fatal("refreshTokenRotation Rotate: want a new refresh token")
		}
	})

	step(t, "device flow (RFC 8628) through the verification page", func(t *testing.T) {
		var discovery struct {
			DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
		}
		provider, err := oidc.NewProvider(ctx, h.issuer)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		if err := provider.Claims(&discovery); err != nil || discovery.DeviceAuthorizationEndpoint == "" {
			t.Fatalf("the discovery document advertises no device_authorization_endpoint (%v)", err)
		}
		tv := &oauth2.Config{ClientID: "e2e-tv", Scopes: []string{oidc.ScopeOpenID, "orders.read"},
			Endpoint: oauth2.Endpoint{DeviceAuthURL: discovery.DeviceAuthorizationEndpoint, TokenURL: provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInParams}}
		da, err := tv.DeviceAuth(ctx)
		if err != nil {
			t.Fatalf("device authorization: %v", err)
		}
		type result struct {
			tok *oauth2.Token
			err error
		}
		done := make(chan result, 1)
		pollCtx, cancel := context.WithTimeout(ctx, eventuallyWithin)
		defer cancel()
		go func() {
			tok, err := tv.DeviceAccessToken(pollCtx, da)
			done <- result{tok, err}
		}()
		page, forms := h.browser.ApproveDevice(ctx, t, da.VerificationURIComplete, da.UserCode)
		if strings.Join(forms, ",") != "code,login,consent" {
			t.Fatalf("forms submitted: %v, want the code, login and consent pages", forms)
		}
		if !strings.Contains(page, `id="result"`) {
			t.Fatalf("no result page after the consent:\n%s", page)
		}
		r := <-done
		if r.err != nil {
			t.Fatalf("polling for the device token: %v (page: %s)", r.err, page)
		}
		if r.tok.AccessToken == "" || r.tok.RefreshToken == "" {
			t.Fatalf("want an access and a refresh token, got %+v", r.tok)
		}
		if _, err := tv.TokenSource(ctx, &oauth2.Token{RefreshToken: r.tok.RefreshToken}).Token(); err != nil {
			t.Fatalf("refreshing the device grant's token: %v", err)
		}
	})

	step(t, "secret rotation: both secrets work during the overlap", func(t *testing.T) {
		h.kubectl("apply", "-f", "testdata/backend-secret-rotated.yaml")
		eventually(ctx, t, "the new secret is accepted", func() error {
			_, err := backend(secondSecret).Token(ctx)
			return err
		})
		if _, err := backend(firstSecret).Token(ctx); err != nil {
			t.Fatalf("the previous secret must work during rotationOverlap: %v", err)
		}
		if _, err := backend("wrong-secret-0123456789abcdefghijklmnop").Token(ctx); oauthError(err) != "invalid_client" {
			t.Fatalf("a wrong secret: want invalid_client, got %v", err)
		}
	})

	step(t, "GrantPolicy removes refresh_token: unauthorized_client and a condition saying so", func(t *testing.T) {
		h.kubectl("apply", "-f", "testdata/grantpolicy-no-refresh.yaml")
		eventually(ctx, t, "refresh gets unauthorized_client", func() error {
			// Until the new policy is served a refresh still succeeds (and
			// rotates the refresh token, which refresh() keeps).
			_, err := refresh()
			if code := oauthError(err); code != "unauthorized_client" {
				return fmt.Errorf("want unauthorized_client, got %v", err)
			}
			return nil
		})
		h.kubectl("wait", "-n", ns, "--for=condition=GrantTypesAllowed=false", "--timeout=30s", "oauthclient/webapp")
		msg := h.kubectl("get", "-n", ns, "oauthclient/webapp", "-o", `jsonpath={.status.conditions[?(@.type=="GrantTypesAllowed")].message}`)
		if !strings.Contains(msg, "refresh_token") || !strings.Contains(msg, "unauthorized_client") {
			t.Fatalf("GrantTypesAllowed message should name refresh_token and unauthorized_client: %q", msg)
		}

		h.kubectl("apply", "-f", "testdata/grantpolicy.yaml")
		h.kubectl("wait", "-n", ns, "--for=condition=GrantTypesAllowed=true", "--timeout=30s", "oauthclient/webapp")
		eventually(ctx, t, "refresh works again once the policy allows it", func() error {
			_, err := refresh()
			return err
		})
	})

	step(t, "deleting a client: invalid_client", func(t *testing.T) {
		h.kubectl("delete", "-n", ns, "oauthclient/backend", "--timeout=30s")
		eventually(ctx, t, "the deleted client gets invalid_client", func() error {
			_, err := backend(secondSecret).Token(ctx)
			if code := oauthError(err); code != "invalid_client" {
				return fmt.Errorf("want invalid_client, got %v", err)
			}
			return nil
		})
	})

	step(t, "the manager stops: the authserver keeps serving", func(t *testing.T) {
		h.manager.Stop()
		if _, err := refresh(); err != nil {
			t.Fatalf("refresh with the manager stopped: %v", err)
		}
		if _, forms := h.browser.AuthorizationCode(ctx, t, webapp); strings.Join(forms, ",") != "login" {
			t.Fatalf("forms submitted: %v, want only the login page (the consent is remembered)", forms)
		}
	})

	step(t, "the authserver restarts: refresh tokens still work (SQLite file kept)", func(t *testing.T) {
		h.authserver.Stop()
		h.startAuthserver(ctx, t)
		if _, err := refresh(); err != nil {
			t.Fatalf("refresh after the restart: %v", err)
		}
	})
}

// step runs one step as a subtest and stops the story when it fails.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

// eventually retries f every 250ms until it succeeds or eventuallyWithin passes.
func eventually(ctx context.Context, t *testing.T, what string, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, eventuallyWithin)
	defer cancel()
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s: %v", what, eventuallyWithin, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// oauthError returns the OAuth error code of a golang.org/x/oauth2 error.
func oauthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// harness holds the running stack.
type harness struct {
	t *testing.T
	// dir holds the kubeconfig, the logs and the stores.
	dir                 string
	issuer              string
	stack               *stack.Stack
	manager, authserver *stack.Server
	// browser logs in as alice.
	browser oauthflow.Browser
}

// start starts the API server, the manager and the authserver (the
// binaries of make build, or built once by TestMain) and registers their
// cleanup.
func start(ctx context.Context, t *testing.T) *harness { return startWith(ctx, t, stack.Options{}) }

// startWith is start with options (Dir is the test's own).
func startWith(ctx context.Context, t *testing.T, o stack.Options) *harness {
	dir := t.TempDir()
	o.Dir = dir
	s, err := stack.Start(ctx, o)
	if s != nil {
		// Registered even on error: Start has stopped what it started, and
		// the logs say why.
		t.Cleanup(func() { dumpLogsOnFailure(t, dir) })
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return &harness{t: t, dir: dir, issuer: s.Issuer, stack: s, manager: s.Manager, authserver: s.Authserver,
		browser: oauthflow.Browser{Issuer: s.Issuer, Username: "alice", Password: alicePassword}}
}

// startAuthserver starts the authserver again on the issuer's port with the
// same SQLite file and waits until it is ready.
func (h *harness) startAuthserver(ctx context.Context, t *testing.T) {
	t.Helper()
	if err := h.authserver.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// kubectl runs kubectl against the test API server (from the test's
// folder, so testdata/ paths work) and returns its standard output.
func (h *harness) kubectl(args ...string) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := h.stack.API.Kubectl(ctx, args...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Logf("kubectl %s: %s", strings.Join(args, " "), strings.TrimSpace(out))
	return out
}

// dumpLogsOnFailure shows the end of each process log when the test failed.
func dumpLogsOnFailure(t *testing.T, dir string) {
	if !t.Failed() {
		return
	}
	for _, name := range []string{"manager.log", "authserver.log"} {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		lines := strings.Split(string(data), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		t.Logf("--- last lines of %s ---\n%s", name, strings.Join(lines, "\n"))
	}
}

func decodeBase64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return string(b)
}
