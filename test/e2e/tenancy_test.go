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
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authops/authops/test/stack"
)

// The tenant-attack suite: two namespaces share one authorization server,
// victim (an API team and its clients) and mallory (a namespace admin who
// tries to reach victim's API or tokens). Each subtest is one attack of
// issue #14 and the rule that stops it (docs/security.md, "Tenancy").
//
// It runs the real manager and authserver binaries against the source-built
// API server, like the rest of test/e2e; every answer is checked with
// golang.org/x/oauth2 and the tokens' signatures and aud with go-oidc's
// remote key set (the server's JWKS).

const (
	victimNS     = "victim"
	malloryNS    = "mallory"
	cappedNS     = "capped"
	victimAPI    = "https://payments.victim.example/"
	malloryAPI   = "https://api.mallory.example/"
	victimSecret = "victim-secret-0123456789abcdefghijklmnopq"
	mallorySecr  = "mallory-secret-0123456789abcdefghijklmnop"
	bobPassword  = "tr0ub4dor-and-3-more-words"
)

// tenancyBase is what both teams apply before the attacks: a permissive
// GrantPolicy in each namespace (password included, so tokens are easy to
// get), the victim's API (a ResourceServer granting victim's api client),
// accounts, and Secrets with known client secrets.
var tenancyBase = team(victimNS, victimSecret, "") + team(malloryNS, mallorySecr, "") +
	person(victimNS, "alice", alicePassword) + `
---
apiVersion: oauth.authops.io/v1alpha1
kind: ResourceServer
metadata: {name: payments, namespace: victim}
spec:
  audience: ` + victimAPI + `
  scopes: [payments.read, payments.write]
  clients:
  - clientRefs: [{name: api}]
    scopes: [payments.read, payments.write]
---
apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: api, namespace: victim}
spec:
  grantTypes: [client_credentials]
  scopes: [payments.read, payments.write]
  audiences: [` + victimAPI + `]
  secret: {secretRef: {name: client-secret}}
---
apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: spy, namespace: mallory}
spec:
  grantTypes: [client_credentials]
  secret: {secretRef: {name: client-secret}}
`

// TestTenantAttacks runs each attack of issue #14 as its own subtest
// against one stack.
func TestTenantAttacks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	s, err := stack.Start(ctx, stack.Options{Dir: dir, Namespaces: []string{victimNS, malloryNS, cappedNS}})
	if s != nil {
		t.Cleanup(func() { dumpLogsOnFailure(t, dir) })
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	h := &tenancy{harness: &harness{t: t, issuer: s.Issuer, stack: s, manager: s.Manager, authserver: s.Authserver}, ctx: ctx}
	h.apply(t, tenancyBase)
	h.kubectl("wait", "-n", victimNS, "--for=condition=Ready", "--timeout=60s", "oauthclient/api", "account/alice")
	h.kubectl("wait", "-n", malloryNS, "--for=condition=Ready", "--timeout=60s", "oauthclient/spy")

	for _, attack := range []struct {
		name string
		run  func(*tenancy, *testing.T)
	}{
		{"AudienceSpoofing", (*tenancy).audienceSpoofing},
		{"ClientIDSquatting", (*tenancy).clientIDSquatting},
		{"NoInheritanceAfterRecreate", (*tenancy).noInheritanceAfterRecreate},
		{"IntrospectAndRevoke", (*tenancy).introspectAndRevoke},
		{"ClusterGrantPolicyCeiling", (*tenancy).clusterGrantPolicyCeiling},
		{"RecreatedAccount", (*tenancy).recreatedAccount},
	} {
		t.Run(attack.name, func(t *testing.T) { attack.run(h.on(t), t) })
	}
}

type tenancy struct {
	*harness
	ctx context.Context
}

// on is the harness for a subtest: its kubectl failures fail the subtest.
func (h *tenancy) on(t *testing.T) *tenancy {
	hh := *h.harness
	hh.t = t
	return &tenancy{harness: &hh, ctx: h.ctx}
}

// audienceSpoofing: mallory declares victim's API as her client's
// audience, and even claims it with a ResourceServer of her own; her
// tokens never carry it, and asking for it by resource gets
// invalid_target. Victim's own client gets it, verified against the JWKS.
func (h *tenancy) audienceSpoofing(t *testing.T) {
	h.apply(t, `
apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: spoof, namespace: mallory}
spec:
  grantTypes: [client_credentials]
  scopes: [payments.write]
  audiences: [`+victimAPI+`]
  secret: {secretRef: {name: client-secret}}
---
apiVersion: oauth.authops.io/v1alpha1
kind: ResourceServer
metadata: {name: fake-payments, namespace: mallory}
spec:
  audience: `+victimAPI+`
  scopes: [payments.write]
  clients:
  - clientRefs: [{name: spoof}]
    scopes: [payments.write]
`)
	h.kubectl("wait", "-n", malloryNS, "--for=condition=Ready", "--timeout=60s", "oauthclient/spoof")
	spoof := h.cc("mallory.spoof", mallorySecr)
	tok, err := spoof.Token(h.ctx)
	if err != nil {
		t.Fatalf("mallory's own client_credentials token: %v", err)
	}
	if aud := h.verifiedAud(t, tok.AccessToken); slices.Contains(aud, victimAPI) {
		t.Fatalf("mallory's token carries victim's audience: aud = %v", aud)
	}
	spoof.EndpointParams = url.Values{"resource": {victimAPI}}
	if _, err := spoof.Token(h.ctx); oauthError(err) != "invalid_target" {
		t.Fatalf("mallory asking for resource=%s: want invalid_target, got %v", victimAPI, err)
	}
	cond := h.kubectl("get", "-n", malloryNS, "resourceserver/fake-payments", "-o", `jsonpath={.status.conditions[?(@.type=="AudienceClaimed")].reason}`)
	if cond != "AudienceConflict" {
		t.Fatalf("mallory's ResourceServer claiming victim's audience: AudienceClaimed reason %q, want AudienceConflict", cond)
	}

	api := h.cc("victim.api", victimSecret)
	api.EndpointParams = url.Values{"resource": {victimAPI}}
	api.Scopes = []string{"payments.write"}
	tok, err = api.Token(h.ctx)
	if err != nil {
		t.Fatalf("victim's own client asking for its API: %v", err)
	}
	if aud := h.verifiedAud(t, tok.AccessToken); !slices.Equal(aud, []string{victimAPI}) {
		t.Fatalf("victim's token: aud = %v, want [%s]", aud, victimAPI)
	}
}

// clientIDSquatting: mallory names her client with victim's prefix (an ID
// victim does not use yet). The controller refuses to serve it, says why,
// and the token endpoint does not know it.
func (h *tenancy) clientIDSquatting(t *testing.T) {
	h.apply(t, squatter("squat-billing", "victim.billing"))
	h.waitObserved(t, malloryNS, "squat-billing")
	if ready := h.condition(t, malloryNS, "squat-billing", "Ready"); ready == "True" {
		t.Fatalf("mallory's client with clientID victim.billing is Ready (served)")
	}
	if reason := h.conditionReason(t, malloryNS, "squat-billing", "ClientIDAllowed"); reason != "ClientIDNotPermitted" {
		t.Fatalf("ClientIDAllowed reason = %q, want ClientIDNotPermitted", reason)
	}
	h.consistentlyInvalidClient(t, h.cc("victim.billing", mallorySecr))
}

// noInheritanceAfterRecreate: mallory's duplicate of victim's client ID
// waits; victim's client is deleted and recreated (a GitOps sync). The
// duplicate never gets the ID, and victim's new client (another UID) does
// not inherit the old one's refresh tokens.
func (h *tenancy) noInheritanceAfterRecreate(t *testing.T) {
	reports := `
apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: reports, namespace: victim}
spec:
  grantTypes: [password, refresh_token]
  scopes: [reports.read]
  secret: {secretRef: {name: client-secret}}
`
	h.apply(t, reports)
	h.kubectl("wait", "-n", victimNS, "--for=condition=Ready", "--timeout=60s", "oauthclient/reports")
	old := h.password(t, "victim.reports", victimSecret, "alice", alicePassword)

	h.apply(t, squatter("squat-reports", "victim.reports"))
	h.waitObserved(t, malloryNS, "squat-reports")
	h.kubectl("delete", "-n", victimNS, "oauthclient/reports", "--timeout=60s")
	h.apply(t, reports)
	h.waitObserved(t, victimNS, "reports")
	h.consistentlyInvalidClient(t, h.cc("victim.reports", mallorySecr))
	h.kubectl("wait", "-n", victimNS, "--for=condition=Ready", "--timeout=60s", "oauthclient/reports")
	eventually(h.ctx, t, "victim's recreated client is served", func() error {
		_, err := h.passwordErr("victim.reports", victimSecret, "alice", alicePassword)
		return err
	})
	if _, err := h.refresh("victim.reports", mallorySecr, old.RefreshToken); oauthError(err) != "invalid_client" {
		t.Fatalf("mallory refreshing victim's token with her duplicate's secret: want invalid_client, got %v", err)
	}
	if _, err := h.refresh("victim.reports", victimSecret, old.RefreshToken); oauthError(err) != "invalid_grant" {
		t.Fatalf("the recreated client refreshing the old client's token: want invalid_grant, got %v", err)
	}
}

// introspectAndRevoke: mallory cannot learn about or revoke victim's
// tokens, neither with her own client, nor with a duplicate of victim's
// client ID that waits for victim's client to be recreated; only victim's
// own client and the ResourceServer in a token's aud see it active.
func (h *tenancy) introspectAndRevoke(t *testing.T) {
	web := `
apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: web, namespace: victim}
spec:
  grantTypes: [password, refresh_token]
  scopes: [orders.read]
  secret: {secretRef: {name: client-secret}}
`
	h.apply(t, web)
	h.kubectl("wait", "-n", victimNS, "--for=condition=Ready", "--timeout=60s", "oauthclient/web")
	old := h.password(t, "victim.web", victimSecret, "alice", alicePassword)
	h.apply(t, squatter("squat-web", "victim.web"))
	h.waitObserved(t, malloryNS, "squat-web")
	h.kubectl("delete", "-n", victimNS, "oauthclient/web", "--timeout=60s")
	h.apply(t, web)
	h.waitObserved(t, victimNS, "web")
	for _, tok := range []string{old.AccessToken, old.RefreshToken} {
		if code, active := h.introspect(t, "victim.web", mallorySecr, tok); active {
			t.Fatalf("mallory's duplicate of victim.web introspects victim's token: %d, active", code)
		}
	}
	if code := h.post(t, "/oauth2/revoke", "victim.web", mallorySecr, url.Values{"token": {old.RefreshToken}}); code != http.StatusUnauthorized {
		t.Fatalf("mallory's duplicate of victim.web revoking victim's refresh token: HTTP %d, want 401 (invalid_client)", code)
	}

	h.kubectl("wait", "-n", victimNS, "--for=condition=Ready", "--timeout=60s", "oauthclient/web")
	fresh := h.password(t, "victim.web", victimSecret, "alice", alicePassword)
	for _, tok := range []string{fresh.AccessToken, fresh.RefreshToken} {
		if _, active := h.introspect(t, "mallory.spy", mallorySecr, tok); active {
			t.Fatal("mallory's own client introspects victim's token: active")
		}
	}
	if code := h.post(t, "/oauth2/revoke", "mallory.spy", mallorySecr, url.Values{"token": {fresh.RefreshToken}}); code != http.StatusOK {
		t.Fatalf("revocation of another client's token: HTTP %d, want 200 (RFC 7009: nothing revoked)", code)
	}
	if _, err := h.refresh("victim.web", victimSecret, fresh.RefreshToken); err != nil {
		t.Fatalf("victim's refresh token after mallory's revocation attempt: %v", err)
	}
	if _, active := h.introspect(t, "victim.web", victimSecret, fresh.AccessToken); !active {
		t.Fatal("victim's own client: its access token is not active")
	}

	// The ResourceServer of the token's aud sees it; another does not.
	api := h.cc("victim.api", victimSecret)
	api.EndpointParams = url.Values{"resource": {victimAPI}}
	tok, err := api.Token(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.apply(t, `
apiVersion: oauth.authops.io/v1alpha1
kind: ResourceServer
metadata: {name: own-api, namespace: mallory}
spec:
  audience: `+malloryAPI+`
`)
	h.kubectl("wait", "-n", malloryNS, "--for=condition=Ready", "--timeout=60s", "resourceserver/own-api")
	h.kubectl("wait", "-n", victimNS, "--for=condition=Ready", "--timeout=60s", "resourceserver/payments")
	rsID, rsSecret := h.resourceServerCredentials(t, victimNS, "payments")
	eventually(h.ctx, t, "victim's ResourceServer introspects a token for its audience", func() error {
		if code, active := h.introspect(t, rsID, rsSecret, tok.AccessToken); !active {
			return fmt.Errorf("HTTP %d, inactive", code)
		}
		return nil
	})
	mID, mSecret := h.resourceServerCredentials(t, malloryNS, "own-api")
	eventually(h.ctx, t, "mallory's ResourceServer authenticates", func() error {
		if code, _ := h.introspect(t, mID, mSecret, "not-a-token"); code != http.StatusOK {
			return fmt.Errorf("HTTP %d", code)
		}
		return nil
	})
	if _, active := h.introspect(t, mID, mSecret, tok.AccessToken); active {
		t.Fatal("mallory's ResourceServer introspects a token for victim's API: active")
	}
}

// clusterGrantPolicyCeiling: the platform team forbids the password grant
// and caps access tokens at 5 minutes in the namespaces labelled
// tier=capped; the namespace's own GrantPolicy asks for both and gets
// neither, and its status says so.
func (h *tenancy) clusterGrantPolicyCeiling(t *testing.T) {
	h.kubectl("label", "namespace", cappedNS, "tier=capped", "--overwrite")
	h.apply(t, `
apiVersion: oauth.authops.io/v1alpha1
kind: ClusterGrantPolicy
metadata: {name: baseline}
spec:
  namespaceSelector: {matchLabels: {tier: capped}}
  allowedGrantTypes: [authorization_code, refresh_token, client_credentials]
  maxAccessTokenLifetime: 5m
---
`+team(cappedNS, mallorySecr, "accessTokenLifetime: 1h")+person(cappedNS, "eve", alicePassword)+`
apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: app, namespace: capped}
spec:
  grantTypes: [client_credentials, password, refresh_token]
  secret: {secretRef: {name: client-secret}}
`)
	h.kubectl("wait", "-n", cappedNS, "--for=condition=Ready", "--timeout=60s", "oauthclient/app", "account/eve")
	eventually(h.ctx, t, "the password grant gets unauthorized_client", func() error {
		if _, err := h.passwordErr("capped.app", mallorySecr, "eve", alicePassword); oauthError(err) != "unauthorized_client" {
			return fmt.Errorf("want unauthorized_client, got %v", err)
		}
		return nil
	})
	tok, err := h.cc("capped.app", mallorySecr).Token(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(tok.Expiry); left > 5*time.Minute+5*time.Second {
		t.Fatalf("access token lives %s, more than the ClusterGrantPolicy's 5m", left.Round(time.Second))
	}
	var claims struct{ Exp, Iat int64 }
	h.verifiedClaims(t, tok.AccessToken, &claims)
	if claims.Exp-claims.Iat > 300 {
		t.Fatalf("access token exp - iat = %ds, more than the ClusterGrantPolicy's 300s", claims.Exp-claims.Iat)
	}
	msg := h.kubectl("get", "-n", cappedNS, "grantpolicy/default", "-o", `jsonpath={.status.conditions[?(@.type=="WithinClusterPolicy")].message}`)
	if !strings.Contains(msg, "baseline") || !strings.Contains(msg, "password") || !strings.Contains(msg, "accessTokenLifetime") {
		t.Fatalf("WithinClusterPolicy message should say what baseline cut (password, accessTokenLifetime): %q", msg)
	}
	grants := h.kubectl("get", "-n", cappedNS, "oauthclient/app", "-o", `jsonpath={.status.conditions[?(@.type=="GrantTypesAllowed")].message}`)
	if !strings.Contains(grants, "ClusterGrantPolicy baseline") || !strings.Contains(grants, "unauthorized_client") {
		t.Fatalf("GrantTypesAllowed should name ClusterGrantPolicy baseline and unauthorized_client: %q", grants)
	}
}

// recreatedAccount: an Account deleted and recreated under the same name
// (same username and password) is another person as far as grants go: the
// old one's refresh tokens get invalid_grant.
func (h *tenancy) recreatedAccount(t *testing.T) {
	bob := person(victimNS, "bob", bobPassword) + `
apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: cli, namespace: victim}
spec:
  grantTypes: [password, refresh_token]
  secret: {secretRef: {name: client-secret}}
`
	h.apply(t, bob)
	h.kubectl("wait", "-n", victimNS, "--for=condition=Ready", "--timeout=60s", "account/bob", "oauthclient/cli")
	old := h.password(t, "victim.cli", victimSecret, "bob", bobPassword)
	h.kubectl("delete", "-n", victimNS, "account/bob", "--timeout=60s")
	h.apply(t, bob)
	h.kubectl("wait", "-n", victimNS, "--for=condition=Ready", "--timeout=60s", "account/bob")
	eventually(h.ctx, t, "the recreated account can log in", func() error {
		_, err := h.passwordErr("victim.cli", victimSecret, "bob", bobPassword)
		return err
	})
	if _, err := h.refresh("victim.cli", victimSecret, old.RefreshToken); oauthError(err) != "invalid_grant" {
		t.Fatalf("the old account's refresh token after the account was recreated: want invalid_grant, got %v", err)
	}
}

// team is a namespace's permissive GrantPolicy "default" (password
// included, so that tokens are easy to get; extra is one more spec line)
// and its Secret client-secret holding secret.
func team(ns, secret, extra string) string {
	return fmt.Sprintf(`
apiVersion: oauth.authops.io/v1alpha1
kind: GrantPolicy
metadata: {name: default, namespace: %[1]s}
spec:
  allowedGrantTypes: [authorization_code, refresh_token, client_credentials, password]
  pkce: Optional
  consent: Auto
  %[3]s
---
apiVersion: v1
kind: Secret
metadata: {name: client-secret, namespace: %[1]s}
stringData: {client_secret: %[2]s}
---
`, ns, secret, extra)
}

// person is an Account named and logging in as name, with its password
// Secret.
func person(ns, name, password string) string {
	return fmt.Sprintf(`
apiVersion: v1
kind: Secret
metadata: {name: %[2]s-password, namespace: %[1]s}
stringData: {password: %[3]s}
---
apiVersion: oauth.authops.io/v1alpha1
kind: Account
metadata: {name: %[2]s, namespace: %[1]s}
spec: {username: %[2]s, passwordSecretRef: {name: %[2]s-password}}
---
`, ns, name, password)
}

// squatter is mallory's OAuthClient that claims clientID id.
func squatter(name, id string) string {
	return fmt.Sprintf(`
apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: %s, namespace: mallory}
spec:
  clientID: %s
  grantTypes: [client_credentials, password, refresh_token]
  scopes: [reports.read, orders.read]
  secret: {secretRef: {name: client-secret}}
`, name, id)
}

// apply writes manifests to a file and applies them.
func (h *tenancy) apply(t *testing.T, manifests string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifests.yaml")
	if err := os.WriteFile(f, []byte(manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	h.kubectl("apply", "-f", f)
}

// waitObserved waits until the controller has reconciled the client's
// current generation.
func (h *tenancy) waitObserved(t *testing.T, ns, name string) {
	t.Helper()
	eventually(h.ctx, t, ns+"/"+name+" reconciled", func() error {
		out := h.kubectl("get", "-n", ns, "oauthclient/"+name, "-o", "jsonpath={.metadata.generation}/{.status.observedGeneration}")
		if g := strings.Split(out, "/"); len(g) != 2 || g[0] != g[1] {
			return fmt.Errorf("generation/observedGeneration = %s", out)
		}
		return nil
	})
}

func (h *tenancy) condition(t *testing.T, ns, name, typ string) string {
	return h.kubectl("get", "-n", ns, "oauthclient/"+name, "-o", `jsonpath={.status.conditions[?(@.type=="`+typ+`")].status}`)
}

func (h *tenancy) conditionReason(t *testing.T, ns, name, typ string) string {
	return h.kubectl("get", "-n", ns, "oauthclient/"+name, "-o", `jsonpath={.status.conditions[?(@.type=="`+typ+`")].reason}`)
}

// consistentlyInvalidClient checks, for a few seconds (longer than the
// snapshot takes to reach the server), that the credentials get
// invalid_client.
func (h *tenancy) consistentlyInvalidClient(t *testing.T, c *clientcredentials.Config) {
	t.Helper()
	for i := 0; i < 12; i++ {
		if _, err := c.Token(h.ctx); oauthError(err) != "invalid_client" {
			t.Fatalf("client_credentials as %s with mallory's secret: want invalid_client, got %v", c.ClientID, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (h *tenancy) cc(id, secret string) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: h.issuer + "/oauth2/token",
		AuthStyle: oauth2.AuthStyleInHeader}
}

func (h *tenancy) oauth2Config(id, secret string) *oauth2.Config {
	return &oauth2.Config{ClientID: id, ClientSecret: secret,
		Endpoint: oauth2.Endpoint{TokenURL: h.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
}

func (h *tenancy) passwordErr(id, secret, user, pw string) (*oauth2.Token, error) {
	return h.oauth2Config(id, secret).PasswordCredentialsToken(h.ctx, user, pw)
}

func (h *tenancy) password(t *testing.T, id, secret, user, pw string) *oauth2.Token {
	t.Helper()
	tok, err := h.passwordErr(id, secret, user, pw)
	if err != nil {
		t.Fatalf("password grant as %s for %s: %v", id, user, err)
	}
	if tok.RefreshToken == "" {
		t.Fatalf("password grant as %s: no refresh token", id)
	}
	return tok
}

func (h *tenancy) refresh(id, secret, refreshToken string) (*oauth2.Token, error) {
	return h.oauth2Config(id, secret).TokenSource(h.ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// post sends a form with HTTP Basic client authentication and returns the
// status code.
func (h *tenancy) post(t *testing.T, path, id, secret string, form url.Values) int {
	t.Helper()
	code, _ := h.postBody(t, path, id, secret, form)
	return code
}

func (h *tenancy) postBody(t *testing.T, path, id, secret string, form url.Values) (int, []byte) {
	t.Helper()
	return postForm(h.ctx, t, h.issuer+path, id, secret, form)
}

// postForm posts a form with HTTP Basic client authentication and returns
// the status code and the body.
func postForm(ctx context.Context, t *testing.T, target, id, secret string, form url.Values) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// introspect returns the HTTP status and whether the token is active.
func (h *tenancy) introspect(t *testing.T, id, secret, tok string) (int, bool) {
	t.Helper()
	code, body := h.postBody(t, "/oauth2/introspect", id, secret, url.Values{"token": {tok}})
	var r struct {
		Active bool `json:"active"`
	}
	_ = json.Unmarshal(body, &r)
	return code, code == http.StatusOK && r.Active
}

// resourceServerCredentials reads the ResourceServer's credentials Secret.
func (h *tenancy) resourceServerCredentials(t *testing.T, ns, name string) (string, string) {
	t.Helper()
	secretName := h.kubectl("get", "-n", ns, "resourceserver/"+name, "-o", "jsonpath={.status.credentialsSecretName}")
	if secretName == "" {
		t.Fatalf("resourceserver %s/%s has no status.credentialsSecretName", ns, name)
	}
	id := h.kubectl("get", "-n", ns, "secret/"+secretName, "-o", "jsonpath={.data.client_id}")
	secret := h.kubectl("get", "-n", ns, "secret/"+secretName, "-o", "jsonpath={.data.client_secret}")
	return decodeBase64(t, id), decodeBase64(t, secret)
}

// verifiedClaims checks the JWT's signature against the server's JWKS
// (go-oidc's remote key set) and decodes its claims.
func (h *tenancy) verifiedClaims(t *testing.T, raw string, claims any) {
	t.Helper()
	provider, err := oidc.NewProvider(h.ctx, h.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	payload, err := oidc.NewRemoteKeySet(h.ctx, meta.JWKS).VerifySignature(h.ctx, raw)
	if err != nil {
		t.Fatalf("the access token's signature does not verify against %s: %v", meta.JWKS, err)
	}
	if err := json.Unmarshal(payload, claims); err != nil {
		t.Fatal(err)
	}
}

// verifiedAud is the aud claim (a string or an array) of a verified JWT.
func (h *tenancy) verifiedAud(t *testing.T, raw string) []string {
	t.Helper()
	var claims struct {
		Aud json.RawMessage `json:"aud"`
		Iss string          `json:"iss"`
	}
	h.verifiedClaims(t, raw, &claims)
	if claims.Iss != h.issuer {
		t.Fatalf("iss = %q, want %q", claims.Iss, h.issuer)
	}
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(claims.Aud, &many)
	return many
}
