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

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authops/authops/test/stack"
)

// TestLogShape runs the binaries of make build at their most verbose,
// applies clients, authenticates once right and once wrong, reads both
// /metrics (authops_build_info on both, the manager's object gauges), and
// reads both logs: every line of both is a JSON object with the same keys for time,
// level and message (internal/logging), the manager's reconciler lines name
// their object with kind, namespace and name, nothing uses the keys the
// scheme replaces, and no client secret appears.
func TestLogShape(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	mgrMetrics, err1 := stack.FreeAddr()
	asMetrics, err2 := stack.FreeAddr()
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	s, err := stack.Start(ctx, stack.Options{Dir: dir,
		ManagerArgs:    []string{"--log-level=DEBUG-1", "--metrics-bind-address=" + mgrMetrics},
		AuthserverArgs: []string{"--log-level=DEBUG", "--metrics-bind-address=" + asMetrics}})
	if s != nil {
		t.Cleanup(func() { dumpLogsOnFailure(t, dir) })
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	kubectl := func(args ...string) string {
		out, err := s.API.Kubectl(ctx, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	kubectl("apply", "-f", "testdata/namespace.yaml", "-f", "testdata/clustergrantpolicy.yaml")
	kubectl("apply", "-f", "testdata/grantpolicy.yaml", "-f", "testdata/clients.yaml")
	kubectl("wait", "-n", ns, "--for=condition=Ready", "--timeout=60s", "oauthclient/backend", "oauthclient/webapp")
	webappSecret := decodeBase64(t, kubectl("get", "secret", "-n", ns, "webapp-oauth-credentials", "-o", "jsonpath={.data.client_secret}"))
	cc := &clientcredentials.Config{ClientID: "e2e-backend", ClientSecret: firstSecret, TokenURL: s.Issuer + "/oauth2/token",
		Scopes: []string{"orders.read"}, AuthStyle: oauth2.AuthStyleInHeader}
	if _, err := cc.Token(ctx); err != nil {
		t.Fatal(err)
	}
	cc.ClientSecret = "wrong-" + firstSecret
	if _, err := cc.Token(ctx); oauthError(err) != "invalid_client" {
		t.Fatalf("a wrong secret: %v", err)
	}
	// Both binaries say which build they are; the manager (the leader)
	// reports its objects.
	for addr, want := range map[string][]string{
		asMetrics:  {`authops_build_info{goversion="go`, `authops_authserver_store_up 1`},
		mgrMetrics: {`authops_build_info{goversion="go`, `authops_manager_objects{kind="OAuthClient",reason="Reconciled",status="True"}`},
	} {
		// The manager's cache may lag its own status write a moment.
		for _, w := range want {
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				if strings.Contains(httpGet(ctx, t, "http://"+addr+"/metrics"), w) {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s/metrics has no %s", addr, w)
					break
				}
			}
		}
	}
	s.Stop()

	secrets := map[string]string{"backend secret": firstSecret, "webapp secret": webappSecret}
	manager := readLogLines(t, filepath.Join(dir, "manager.log"), secrets)
	authserver := readLogLines(t, filepath.Join(dir, "authserver.log"), secrets)
	reconciling := 0
	for _, l := range manager {
		if l["msg"] != "Reconciling" {
			continue
		}
		reconciling++
		for _, k := range []string{"kind", "namespace", "name", "controller", "reconcileID"} {
			if l[k] == nil {
				t.Errorf("manager reconciler line without %q: %v", k, l)
			}
		}
	}
	requests := 0
	for _, l := range authserver {
		if l["msg"] == "request" && l["clientID"] == "e2e-backend" {
			requests++
		}
	}
	if reconciling == 0 || requests < 2 {
		t.Errorf("%d manager Reconciling lines, %d authserver request lines of e2e-backend: the verbose levels did not reach the handler", reconciling, requests)
	}
	t.Logf("MEASURED %d manager and %d authserver log lines, all of one shape; %d reconciler lines with kind/namespace/name", len(manager), len(authserver), reconciling)
}

func httpGet(ctx context.Context, t *testing.T, u string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return string(b)
}

// readLogLines parses every line of a process log as a JSON object with
// time, level (one of four names) and msg, none of the keys the scheme
// replaces, and none of the secrets.
func readLogLines(t *testing.T, path string, secrets map[string]string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
	name := filepath.Base(path)
	for sc.Scan() {
		line := sc.Text()
		for what, v := range secrets {
			if strings.Contains(line, v) {
				t.Errorf("%s carries the %s", name, what)
			}
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("%s: not a JSON line: %q", name, line)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if m[k] == nil {
				t.Errorf("%s: line without %q: %q", name, k, line)
			}
		}
		switch m["level"] {
		case "DEBUG", "INFO", "WARN", "ERROR":
		default:
			t.Errorf("%s: level %v: %q", name, m["level"], line)
		}
		for _, k := range []string{"ts", "err", "controllerKind", "OAuthClient", "GrantPolicy", "Account"} {
			if _, ok := m[k]; ok {
				t.Errorf("%s: key %q, which the scheme names otherwise: %q", name, k, line)
			}
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, os.ErrClosed) {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s is empty", name)
	}
	return out
}
