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

package authserver_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/authops/authops/test/strictclient"
)

// oauth4webapi runs a script of test/strictclient (panva's strict OAuth 2.0
// client, pinned there) with node and returns what it prints.
func oauth4webapi(t *testing.T, env map[string]string, args ...string) []byte {
	t.Helper()
	node, dir := strictclient.Install(t)
	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node %v: %v\n%s", args, err, stderr)
	}
	return out
}

// TestStrictClientPushedRequest: oauth4webapi pushes an authorization
// request (client_secret_basic, PKCE, nonce), the browser uses the
// request_uri, logs in and consents, and oauth4webapi checks the callback
// (state, iss) and exchanges the code, checking the ID token (nonce, iss,
// aud, times).
func TestStrictClientPushedRequest(t *testing.T) {
	f := newFixture(t)
	env := map[string]string{"ISSUER": f.issuer, "CLIENT_ID": "web", "CLIENT_SECRET": webSecret, "REDIRECT_URI": webRedir,
		"CLOCK_SKEW": fmt.Sprint(f.clock.Now().Unix() - time.Now().Unix())}
	var pushed struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int    `json:"expires_in"`
		Verifier   string `json:"verifier"`
		State      string `json:"state"`
		Nonce      string `json:"nonce"`
	}
	if err := json.Unmarshal(oauth4webapi(t, env, "par.mjs", "push"), &pushed); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pushed.RequestURI, "urn:ietf:params:oauth:request_uri:") || pushed.ExpiresIn != 60 {
		t.Fatalf("pushed: %+v", pushed)
	}
	loc := f.browser().authorize(byRequestURI(f, "web", pushed.RequestURI), "alice", alicePass)
	env["CALLBACK_URL"], env["VERIFIER"], env["STATE"], env["NONCE"] = loc.String(), pushed.Verifier, pushed.State, pushed.Nonce
	var tokens struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
		Subject     string `json:"sub"`
	}
	if err := json.Unmarshal(oauth4webapi(t, env, "par.mjs", "exchange"), &tokens); err != nil {
		t.Fatal(err)
	}
	if tokens.Subject != "team/alice" || !strings.EqualFold(tokens.TokenType, "bearer") {
		t.Fatalf("tokens: %+v", tokens)
	}
	if claims := f.verifyAccessToken(t, tokens.AccessToken); claims["scope"] != "openid profile" {
		t.Errorf("access token scope %v", claims["scope"])
	}
}
