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
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/authops/authops/cmd/kubectl-authops/plugin"
	"github.com/authops/authops/test/stack"
)

const (
	pluginNS     = "plugin"
	pluginSecret = "plugin-secret-0123456789abcdefghijklmnop"
)

// TestKubectlPlugin runs kubectl authops (the plugin's commands, in
// process) against the source-built API server, with the real manager and
// authserver: explain's answers are checked against real token requests,
// token gets a token that verifies against the JWKS, and status shows the
// replica and the objects.
func TestKubectlPlugin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	h := startWith(ctx, t, stack.Options{Namespaces: []string{pluginNS}})
	s := h.stack
	h.kubectl("label", "namespace", pluginNS, "tier=restricted")
	manifest := filepath.Join(t.TempDir(), "plugin.yaml")
	if err := os.WriteFile(manifest, []byte(fmt.Sprintf(`apiVersion: oauth.authops.io/v1alpha1
kind: ClusterGrantPolicy
metadata: {name: restricted}
spec:
  namespaceSelector: {matchLabels: {tier: restricted}}
  allowedGrantTypes: [authorization_code, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:device_code]
---
apiVersion: oauth.authops.io/v1alpha1
kind: GrantPolicy
metadata: {name: default, namespace: %[1]s}
spec:
  allowedGrantTypes: [client_credentials, password]
  allowedScopes: [read, write]
---
apiVersion: v1
kind: Secret
metadata: {name: svc-secret, namespace: %[1]s}
stringData: {client_secret: %[2]s}
---
apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: svc, namespace: %[1]s}
spec:
  type: Confidential
  grantTypes: [client_credentials, password]
  scopes: [read, admin]
  secret:
    secretRef: {name: svc-secret, key: client_secret}
---
apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: spa, namespace: %[1]s}
spec:
  type: Public
  grantTypes: [authorization_code]
  redirectURIs: ["https://spa.example.com/callback"]
`, pluginNS, pluginSecret)), 0o600); err != nil {
		t.Fatal(err)
	}
	h.kubectl("apply", "-f", manifest)
	h.kubectl("wait", "-n", pluginNS, "--for=condition=Ready", "--timeout=60s", "oauthclient/svc")
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := plugin.Run(ctx, append([]string{"--kubeconfig", s.API.Kubeconfig}, args...), &out)
		return out.String(), err
	}

	step(t, "explain", func(t *testing.T) {
		out, err := run("explain", "svc", "-n", pluginNS)
		t.Logf("kubectl authops explain svc -n %s:\n%s", pluginNS, out)
		if err != nil {
			t.Fatal(err)
		}
		// section -> name -> "answer | decided by"
		answers := map[string]map[string]string{}
		section := ""
		row := regexp.MustCompile(`^(\S+)\s+(allowed|[a-z_]+: .+?)\s{2,}(\S.*)$`)
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "GRANT TYPE ") || strings.HasPrefix(line, "SCOPE ") {
				section = strings.Fields(line)[0]
				answers[section] = map[string]string{}
			} else if m := row.FindStringSubmatch(line); m != nil && section != "" {
				answers[section][m[1]] = m[2] + " | " + m[3]
			}
		}
		const unauthorized = "unauthorized_client: The authenticated client is not authorized to use this authorization grant type."
		const invalidScope = "invalid_scope: The requested scope is invalid, unknown, malformed, or exceeds the scope granted by the resource owner."
		want := map[string]map[string]string{
			"GRANT": {
				"client_credentials": "allowed | GrantPolicy default",
				"password":           unauthorized + " | ClusterGrantPolicy restricted",
				"authorization_code": unauthorized + " | OAuthClient spec.grantTypes",
			},
			"SCOPE": {
				"read":  "allowed | GrantPolicy default",
				"admin": invalidScope + " | GrantPolicy default",
				"write": invalidScope + " | OAuthClient spec.scopes",
			},
		}
		for section, rows := range want {
			for k, v := range rows {
				if answers[section][k] != v {
					t.Errorf("%s %s: %q, want %q", section, k, answers[section][k], v)
				}
			}
		}
		if n := len(answers["GRANT"]); n != 5 {
			t.Errorf("%d grant types explained, want every one the server knows (5)", n)
		}
		// What explain says is what the token endpoint answers: a grant
		// type or scope explained as refused gets that error, one
		// explained as allowed does not.
		checked := 0
		for section, rows := range answers {
			for name, answer := range rows {
				code, _, _ := strings.Cut(answer, ":")
				refusal := "unauthorized_client"
				form := url.Values{"grant_type": {name}}
				if section == "SCOPE" {
					refusal = "invalid_scope"
					form = url.Values{"grant_type": {"client_credentials"}, "scope": {name}}
				}
				got := tokenError(ctx, t, s.Issuer, pluginNS+".svc", pluginSecret, form)
				if strings.HasPrefix(answer, "allowed") && got == refusal || !strings.HasPrefix(answer, "allowed") && got != code {
					t.Errorf("%s: explained %q, the token endpoint answers %q", name, answer, got)
				}
				checked++
			}
		}
		t.Logf("%d answers of explain checked against the token endpoint", checked)
	})

	step(t, "token", func(t *testing.T) {
		out, err := run("token", "svc", "-n", pluginNS, "--scope", "read")
		t.Logf("kubectl authops token svc -n %s --scope read:\n%s", pluginNS, out)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^access_token: (\S+)$`).FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, "scope: read\n") {
			t.Fatalf("no access token with scope read in the output")
		}
		if _, err := oidc.NewRemoteKeySet(ctx, s.Issuer+"/oauth2/jwks").VerifySignature(ctx, m[1]); err != nil {
			t.Errorf("the token does not verify against the JWKS: %v", err)
		}
		_, err = run("token", "svc", "-n", pluginNS, "--scope", "admin")
		if err == nil || !strings.Contains(err.Error(), "answered 400 invalid_scope") {
			t.Errorf("a refused scope: %v, want the token endpoint's invalid_scope", err)
		}
		_, err = run("token", "spa", "-n", pluginNS)
		if err == nil || !strings.Contains(err.Error(), "OAuthClient plugin/spa has no client secret (token endpoint auth method none)") {
			t.Errorf("a Public client: %v, want a clear error", err)
		}
	})

	step(t, "status", func(t *testing.T) {
		out, err := run("status", "--authops-namespace", stack.OperatorNamespace)
		t.Logf("kubectl authops status:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^authserver\s+\d+\s+0\s+\S+ ago\s+yes$`).MatchString(out) {
			t.Errorf("no live replica serving every entry in the output")
		}
		if !strings.Contains(out, "1 of 1 replicas live; newest snapshot revision") {
			t.Errorf("no replica summary in the output")
		}
		// spa's policy allows none of its grant types: Stalled, not Ready.
		if !regexp.MustCompile(`(?m)^OAuthClient\s+1\s+0\s+1$`).MatchString(out) {
			t.Errorf("the OAuthClient counts are not 1 Ready and 1 not Ready")
		}
	})
}

// tokenError posts a token request with client_secret_basic and returns
// the OAuth error code of the answer ("" for a token).
func tokenError(ctx context.Context, t *testing.T, issuer, id, secret string, form url.Values) string {
	t.Helper()
	_, raw := postForm(ctx, t, issuer+"/oauth2/token", id, secret, form)
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(raw, &body)
	return body.Error
}
