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
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
)

// invalidTarget is RFC 8707's error code, spelled out so that the tenancy
// tests below also compile against a server that does not know it (to show
// they fail there).
const invalidTarget = oautherr.Code("invalid_target")

// add swaps in a snapshot with docs added (a new generation from the
// control plane).
func (f *fixture) add(docs ...snapshot.Document) *registry.Registry {
	for _, d := range docs {
		f.docs = append(f.docs, registry.Entry{Origin: "zz/" + d.Source.Namespace + "/" + d.Source.Name, Document: d})
	}
	r := registry.Build(f.docs, slog.New(slog.DiscardHandler))
	f.holder.Store(r)
	return r
}

// audienceOf verifies an access token against the server's JWKS (go-jose)
// and returns its aud.
func (f *fixture) audienceOf(t *testing.T, tok string) []string {
	t.Helper()
	var aud []string
	for _, a := range f.verifyAccessToken(t, tok)["aud"].([]any) {
		aud = append(aud, a.(string))
	}
	return aud
}

// apiAccepts is what an API that validates the server's access tokens with
// go-oidc (issuer, signature from the JWKS, expiry, and its own audience)
// decides.
func (f *fixture) apiAccepts(t *testing.T, audience, tok string) error {
	t.Helper()
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, f.issuer)
	if err != nil {
		t.Fatal(err)
	}
	_, err = provider.VerifierContext(ctx, &oidc.Config{ClientID: audience, Now: f.clock.Now,
		SupportedSigningAlgs: []string{oidc.ES256}}).Verify(ctx, tok)
	return err
}

// withResources is a copy of the form v with the resource parameters.
func withResources(v url.Values, resources ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	out["resource"] = resources
	return out
}

// tokensOf reads a successful token response: the access and refresh
// tokens.
func tokensOf(t *testing.T, resp *http.Response) (access, refresh string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token response: %d %v", resp.StatusCode, errorBody(t, resp))
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatal(err)
	}
	return tr.AccessToken, tr.RefreshToken
}

// oauthErrorCode is the error code in golang.org/x/oauth2's error.
func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// TestResourceClientCredentials: golang.org/x/oauth2's client credentials
// with resource parameters get exactly those audiences (verified by
// go-jose and by go-oidc as an API would), the client's default audiences
// without one, and never a scope the ResourceServer withholds.
func TestResourceClientCredentials(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	token := func(scopes []string, resources ...string) (*oauth2.Token, error) {
		cc := clientcredentials.Config{ClientID: "cc", ClientSecret: ccSecret, TokenURL: f.issuer + authserver.PathToken,
			Scopes: scopes, AuthStyle: oauth2.AuthStyleInParams, EndpointParams: url.Values{"resource": resources}}
		return cc.Token(ctx)
	}
	tok, err := token([]string{"api.read"}, paymentsAudience)
	if err != nil {
		t.Fatal(err)
	}
	if aud := f.audienceOf(t, tok.AccessToken); !slices.Equal(aud, []string{paymentsAudience}) {
		t.Errorf("aud = %v, want the requested resource", aud)
	}
	if err := f.apiAccepts(t, paymentsAudience, tok.AccessToken); err != nil {
		t.Errorf("the payments API refuses its token: %v", err)
	}
	if err := f.apiAccepts(t, apiAudience, tok.AccessToken); err == nil {
		t.Error("the api accepts a token for payments")
	}

	tok, err = token([]string{"api.read"}, apiAudience, paymentsAudience, apiAudience)
	if err != nil {
		t.Fatal(err)
	}
	if aud := f.audienceOf(t, tok.AccessToken); !slices.Equal(aud, []string{apiAudience, paymentsAudience}) {
		t.Errorf("aud = %v, want both resources once", aud)
	}

	tok, err = token([]string{"api.write"})
	if err != nil {
		t.Fatal(err)
	}
	if aud := f.audienceOf(t, tok.AccessToken); !slices.Equal(aud, []string{apiAudience}) {
		t.Errorf("aud without resource = %v, want the default audiences", aud)
	}

	// payments withholds api.write: named, it is invalid_scope (with either
	// resource list that holds payments); the api grants it.
	for _, res := range [][]string{{paymentsAudience}, {apiAudience, paymentsAudience}} {
		if _, err := token([]string{"api.write"}, res...); oauthErrorCode(err) != string(oautherr.InvalidScope) {
			t.Errorf("withheld scope for %v: %v, want invalid_scope", res, err)
		}
	}
	if _, err := token([]string{"api.write"}, apiAudience); err != nil {
		t.Errorf("api.write for the api: %v", err)
	}
	// Default scopes lose a withheld one instead.
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == "cc" {
			d.Client.DefaultScopes = []string{"api.read", "api.write"}
		}
	})
	tok, err = token(nil, paymentsAudience)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := tok.Extra("scope").(string); s != "api.read" {
		t.Errorf("default scopes for payments = %q, want api.read", s)
	}
}

// TestResourceInvalidTarget: a resource that is not an absolute URI
// without fragment, or not granted to the client, is invalid_target (400)
// at every endpoint that takes one, in both error profiles.
func TestResourceInvalidTarget(t *testing.T) {
	f := newFixture(t)
	// Malformed values are refused for what they are, even where a
	// snapshot would grant them.
	malformed := []string{apiAudience + "#x", "/payments", "payments"}
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == "cc" {
			for _, m := range malformed {
				d.Client.Resources = append(d.Client.Resources, snapshot.Resource{Audience: m})
			}
		}
	})
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {ccSecret}}
	for name, res := range map[string][]string{
		"not granted":            {victimAudience},
		"one of two not granted": {apiAudience, victimAudience},
		"an absolute URI":        {"urn:example:payments"},
		"fragment":               {malformed[0]},
		"relative":               {malformed[1]},
		"not a URI":              {malformed[2]},
	} {
		t.Run("token/"+name, func(t *testing.T) {
			expectError(t, f.post(authserver.PathToken, withResources(cc, res...), "", ""), 400, oautherr.InvalidTarget)
		})
	}
	t.Run("RFC profile", func(t *testing.T) {
		expectError(t, f.post(authserver.PathToken, withResources(url.Values{"grant_type": {"password"}, "username": {"alice"},
			"password": {alicePass}}, apiAudience), "pw-rfc", pwSecret), 400, oautherr.InvalidTarget)
	})
	t.Run("password", func(t *testing.T) {
		expectError(t, f.post(authserver.PathToken, withResources(url.Values{"grant_type": {"password"}, "username": {"alice"},
			"password": {alicePass}}, victimAudience), "pw", pwSecret), 400, oautherr.InvalidTarget)
	})
	t.Run("device authorization", func(t *testing.T) {
		expectError(t, f.post(authserver.PathDeviceAuthorization, withResources(url.Values{"client_id": {"tv"}}, victimAudience), "", ""),
			400, oautherr.InvalidTarget)
	})
	t.Run("authorization", func(t *testing.T) {
		conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
			RedirectURL: webRedir, Scopes: []string{"api.read"}}
		resp, err := noRedirect().Get(conf.AuthCodeURL("st", oauth2.SetAuthURLParam("resource", victimAudience)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "invalid_target" || loc.Query().Get("state") != "st" {
			t.Errorf("authorization with an ungranted resource: %d %s", resp.StatusCode, loc)
		}
	})
}

// TestAudienceSpoofingAtTheServer is the audience spoofing as the
// server sees it: namespace mallory's client is not granted victim's
// audience by victim's ResourceServer, so resource= naming it is
// invalid_target and no token carries it; a snapshot document that lists
// it as a default audience without a grant is served without it. (Fails on
// a server that ignores resource: it answers 200 with the client's own
// audiences.)
func TestAudienceSpoofingAtTheServer(t *testing.T) {
	f := newFixture(t)
	mallory := snapshot.Client{ID: "mallory.app", Namespace: "mallory", Type: "Confidential",
		TokenEndpointAuthMethod: "client_secret_post", Secrets: []snapshot.SecretDigest{digest(ccSecret)},
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"payments.write"}, Policy: policy()}
	spoofer := mallory
	spoofer.ID, spoofer.Audiences = "mallory.spoofer", []string{victimAudience}
	r := f.add(clientDoc(mallory), clientDoc(spoofer))
	c, ok := r.Client("mallory.spoofer")
	if !ok {
		t.Fatal("a client with an ungranted default audience is not served; want it served without that audience")
	}
	if len(c.Audiences) != 0 {
		t.Fatalf("a client with an ungranted default audience keeps it: default audiences %v", c.Audiences)
	}
	spoofed := f.post(authserver.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"mallory.spoofer"},
		"client_secret": {ccSecret}, "scope": {"payments.write"}}, "", "")
	var st struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(spoofed.Body).Decode(&st)
	spoofed.Body.Close()
	if aud := f.audienceOf(t, st.AccessToken); slices.Contains(aud, victimAudience) {
		t.Fatalf("a document listing an ungranted default audience got a token with it: aud %v", aud)
	}
	resp := f.post(authserver.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"mallory.app"},
		"client_secret": {ccSecret}, "scope": {"payments.write"}, "resource": {victimAudience}}, "", "")
	if resp.StatusCode == http.StatusOK {
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&tr)
		resp.Body.Close()
		t.Fatalf("mallory got a token for resource %s: aud %v", victimAudience, f.audienceOf(t, tr.AccessToken))
	}
	expectError(t, resp, 400, invalidTarget)
}

// codeFlow runs the authorization code flow of web for alice with the
// resource parameters in the authorization request and returns the code.
func codeFlow(t *testing.T, f *fixture, conf oauth2.Config, verifierOpts []oauth2.AuthCodeOption, resources ...string) string {
	t.Helper()
	authURL := conf.AuthCodeURL("st", verifierOpts...)
	for _, r := range resources {
		authURL += "&resource=" + url.QueryEscape(r)
	}
	loc := f.browser().authorize(authURL, "alice", alicePass)
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", loc)
	}
	return code
}

// TestResourceAuthorizationCode: resources asked for at the authorization
// endpoint (through login and consent) bind the code and the refresh
// token family: the token gets all of them, a token request may narrow
// them, never widen them (invalid_target), and a refresh keeps the
// family's. golang.org/x/oauth2 with SetAuthURLParam.
func TestResourceAuthorizationCode(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: f.endpoint(oauth2.AuthStyleInHeader),
		RedirectURL: webRedir, Scopes: []string{"api.read"}}

	// One resource, with SetAuthURLParam on both requests.
	verifier, opts := pkce()
	code := codeFlow(t, f, conf, append(opts, oauth2.SetAuthURLParam("resource", paymentsAudience)))
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", paymentsAudience))
	if err != nil {
		t.Fatal(err)
	}
	if aud := f.audienceOf(t, tok.AccessToken); !slices.Equal(aud, []string{paymentsAudience}) {
		t.Errorf("aud = %v", aud)
	}
	if err := f.apiAccepts(t, paymentsAudience, tok.AccessToken); err != nil {
		t.Errorf("payments refuses the token: %v", err)
	}
	// The family is bound to payments: the api (granted to the client, but
	// not asked for) is invalid_target, and the refresh token still works.
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
	narrow := func(res ...string) url.Values { return withResources(refresh, res...) }
	expectError(t, f.post(authserver.PathToken, narrow(apiAudience), "web", webSecret), 400, oautherr.InvalidTarget)
	tok2, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if aud := f.audienceOf(t, tok2.AccessToken); !slices.Equal(aud, []string{paymentsAudience}) {
		t.Errorf("refreshed aud = %v, want the family's", aud)
	}

	// Two resources (repeated in the authorization URL, carried through
	// login and consent).
	verifier, opts = pkce()
	code = codeFlow(t, f, conf, opts, apiAudience, paymentsAudience)
	// The code does not stretch to a resource it was not asked for.
	verifier2, opts2 := pkce()
	code2 := codeFlow(t, f, conf, opts2, paymentsAudience)
	if _, err := conf.Exchange(ctx, code2, oauth2.VerifierOption(verifier2), oauth2.SetAuthURLParam("resource", apiAudience)); oauthErrorCode(err) != "invalid_target" {
		t.Errorf("exchange for a resource the code was not asked for: %v", err)
	}
	tok, err = conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if aud := f.audienceOf(t, tok.AccessToken); !slices.Equal(aud, []string{apiAudience, paymentsAudience}) {
		t.Errorf("aud = %v, want both", aud)
	}
	// A refresh narrows to one; the family keeps both.
	refresh.Set("refresh_token", tok.RefreshToken)
	narrowed, next := tokensOf(t, f.post(authserver.PathToken, narrow(apiAudience), "web", webSecret))
	if aud := f.audienceOf(t, narrowed); !slices.Equal(aud, []string{apiAudience}) {
		t.Errorf("narrowed aud = %v", aud)
	}
	tok3, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: next}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if aud := f.audienceOf(t, tok3.AccessToken); !slices.Equal(aud, []string{apiAudience, paymentsAudience}) {
		t.Errorf("after narrowing, the family's aud = %v, want both", aud)
	}

	// payments stops granting web: the families lose it, one that had
	// nothing else is invalid_target.
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == "web" {
			d.Client.Resources = d.Client.Resources[:1] // the api only
		}
	})
	tok4, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok3.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if aud := f.audienceOf(t, tok4.AccessToken); !slices.Equal(aud, []string{apiAudience}) {
		t.Errorf("after payments withdrew, aud = %v, want the api only", aud)
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_target" {
		t.Errorf("a family for payments only, after payments withdrew: %v, want invalid_target", err)
	}
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == "web" {
			d.Client.Resources = resources()
		}
	})

	// payments withholds openid: asking for it with payments is
	// invalid_scope, redirected.
	conf.Scopes = []string{"openid"}
	resp2, err := noRedirect().Get(conf.AuthCodeURL("st", oauth2.SetAuthURLParam("resource", paymentsAudience)))
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if loc, _ := url.Parse(resp2.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "invalid_scope" {
		t.Errorf("withheld scope at authorization: %d %s", resp2.StatusCode, resp2.Header.Get("Location"))
	}
}

// TestResourceDevice: the device authorization request's resources bind
// the device grant; a withheld scope is invalid_scope.
func TestResourceDevice(t *testing.T) {
	f := newFixture(t)
	resp := f.post(authserver.PathDeviceAuthorization, url.Values{"client_id": {"tv"}, "scope": {"api.read"},
		"resource": {paymentsAudience}}, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("device authorization: %d %v", resp.StatusCode, errorBody(t, resp))
	}
	var d deviceResp
	_ = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if _, err := f.store.ApproveDeviceAuth(context.Background(), strings.ReplaceAll(d.UserCode, "-", ""), "team/alice", "", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Second)
	// The grant is bound to payments.
	poll := url.Values{"grant_type": {authserver.DeviceCodeGrantType}, "device_code": {d.DeviceCode}, "client_id": {"tv"}}
	access, _ := tokensOf(t, f.post(authserver.PathToken, poll, "", ""))
	if aud := f.audienceOf(t, access); !slices.Equal(aud, []string{paymentsAudience}) {
		t.Errorf("aud = %v", aud)
	}
	// tv's default scope openid is withheld by payments: named, it is
	// invalid_scope.
	expectError(t, f.post(authserver.PathDeviceAuthorization, url.Values{"client_id": {"tv"}, "scope": {"openid"},
		"resource": {paymentsAudience}}, "", ""), 400, oautherr.InvalidScope)
}

// introspectAs introspects tok with Basic credentials id:secret.
func (f *fixture) introspectAs(t *testing.T, id, secret, tok string) map[string]any {
	t.Helper()
	resp := f.post(authserver.PathIntrospect, url.Values{"token": {tok}}, id, secret)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect as %s: %d", id, resp.StatusCode)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// ccToken is a client_credentials access token of cc for the resources.
func (f *fixture) ccToken(t *testing.T, resources ...string) string {
	t.Helper()
	access, _ := tokensOf(t, f.post(authserver.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"},
		"client_secret": {ccSecret}, "resource": resources}, "", ""))
	return access
}

// TestResourceServerIntrospection: a ResourceServer authenticates with its
// ID and secret (Basic or post) and sees a token as active only when its
// audience is in the token's aud; never a refresh token; and it can do
// nothing else.
func TestResourceServerIntrospection(t *testing.T) {
	f := newFixture(t)
	apiToken := f.ccToken(t) // the default audience: the api
	paymentsToken := f.ccToken(t, paymentsAudience)
	if m := f.introspectAs(t, apiRS, apiRSSecret, apiToken); m["active"] != true || m["client_id"] != "cc" {
		t.Errorf("the api introspecting its token: %v", m)
	}
	if m := f.introspectAs(t, apiRS, apiRSSecret, paymentsToken); len(m) != 1 || m["active"] != false {
		t.Errorf("the api introspecting a token for payments: %v, want only active false", m)
	}
	if m := f.introspectAs(t, paymentsRS, "payments-rs-secret", paymentsToken); m["active"] != true {
		t.Errorf("payments introspecting its token: %v", m)
	}
	if m := f.introspectAs(t, victimRS, "victim-rs-secret", paymentsToken); m["active"] != false {
		t.Errorf("another ResourceServer sees the token: %v", m)
	}
	// client_secret_post works too.
	resp := f.post(authserver.PathIntrospect, url.Values{"token": {apiToken}, "client_id": {apiRS}, "client_secret": {apiRSSecret}}, "", "")
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `"active":true`) {
		t.Errorf("post: %d %s", resp.StatusCode, body)
	}
	// The token's own client still sees it.
	resp = f.post(authserver.PathIntrospect, url.Values{"token": {paymentsToken}, "client_id": {"cc"}, "client_secret": {ccSecret}}, "", "")
	if body := readAll(t, resp); !strings.Contains(body, `"active":true`) {
		t.Errorf("the token's client: %s", body)
	}

	// A refresh token is never active for a ResourceServer, even of a
	// family for its audience.
	_, refresh := tokensOf(t, f.post(authserver.PathToken, url.Values{"grant_type": {"password"}, "username": {"alice"},
		"password": {alicePass}, "scope": {"api.read"}}, "pw", pwSecret))
	if refresh == "" {
		t.Fatal("no refresh token")
	}
	if m := f.introspectAs(t, "pw", pwSecret, refresh); m["active"] != true {
		t.Fatalf("pw's own refresh token: %v", m)
	}
	if m := f.introspectAs(t, apiRS, apiRSSecret, refresh); m["active"] != false {
		t.Errorf("a refresh token is active for a ResourceServer: %v", m)
	}

	// Wrong secret, unknown ResourceServer, no secret: the same
	// invalid_client.
	runErrorCases(t, f, authserver.PathIntrospect, []tokenCase{
		{name: "wrong secret", body: "token=x", basicUser: apiRS, basicPass: "guess", status: 401, code: oautherr.InvalidClient, challenge: true},
		{name: "unknown", body: "token=x", basicUser: "rs/team/nobody", basicPass: apiRSSecret, status: 401, code: oautherr.InvalidClient, challenge: true},
		{name: "another's secret", body: "token=x", basicUser: paymentsRS, basicPass: apiRSSecret, status: 401, code: oautherr.InvalidClient, challenge: true},
		{name: "no secret", body: "token=x", basicUser: apiRS, status: 401, code: oautherr.InvalidClient, challenge: true},
		{name: "no secret (post)", body: "token=x&client_id=" + url.QueryEscape(apiRS), status: 401, code: oautherr.InvalidClient},
	})
	// A ResourceServer is no client anywhere else.
	rs := "client_id=" + url.QueryEscape(apiRS) + "&client_secret=" + apiRSSecret
	runErrorCases(t, f, authserver.PathToken, []tokenCase{
		{name: "token endpoint (Basic)", body: "grant_type=client_credentials", basicUser: apiRS, basicPass: apiRSSecret, status: 401, code: oautherr.InvalidClient, challenge: true},
		{name: "token endpoint (post)", body: "grant_type=client_credentials&" + rs, status: 401, code: oautherr.InvalidClient},
	})
	runErrorCases(t, f, authserver.PathRevoke, []tokenCase{
		{name: "revocation", body: "token=" + apiToken, basicUser: apiRS, basicPass: apiRSSecret, status: 401, code: oautherr.InvalidClient, challenge: true},
	})
	runErrorCases(t, f, authserver.PathDeviceAuthorization, []tokenCase{
		{name: "device authorization", body: rs, status: 401, code: oautherr.InvalidClient},
	})
	if m := f.introspectAs(t, apiRS, apiRSSecret, apiToken); m["active"] != true {
		t.Error("the revocation attempt revoked the token")
	}
}

// TestResourceServerAuthThrottled: failed ResourceServer authentications
// count against the ClientAuth limit like clients' do.
func TestResourceServerAuthThrottled(t *testing.T) {
	f := newFixture(t)
	attacker := from("127.0.0.2")
	for i := range authserver.DefaultLimits.ClientAuth.Burst {
		if resp := postFrom(t, attacker, f.issuer+authserver.PathIntrospect, url.Values{"token": {"x"}}, apiRS, "guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	expectTooMany(t, postFrom(t, attacker, f.issuer+authserver.PathIntrospect, url.Values{"token": {"x"}}, apiRS, apiRSSecret), "3")
	if resp := postFrom(t, from("127.0.0.1"), f.issuer+authserver.PathIntrospect, url.Values{"token": {"x"}}, apiRS, apiRSSecret); resp.StatusCode != http.StatusOK {
		t.Errorf("the ResourceServer from its own source: %d", resp.StatusCode)
	}
}

// TestClientNamedInAudienceCannotIntrospect: a token's aud names
// ResourceServers' audiences, not clients: a client whose ID equals an
// audience of another client's token sees it inactive (fails on a server
// that lets a client named in aud introspect).
func TestClientNamedInAudienceCannotIntrospect(t *testing.T) {
	f := newFixture(t)
	holder := snapshot.Client{ID: "team.caller", Type: "Confidential", TokenEndpointAuthMethod: "client_secret_post",
		Secrets: []snapshot.SecretDigest{digest(ccSecret)}, GrantTypes: []string{"client_credentials"}, Policy: policy(),
		Resources: []snapshot.Resource{{Audience: "team.reports"}}, Audiences: []string{"team.reports"}}
	reports := snapshot.Client{ID: "team.reports", Type: "Confidential", TokenEndpointAuthMethod: "client_secret_post",
		Secrets: []snapshot.SecretDigest{digest(ccSecret)}, GrantTypes: []string{"client_credentials"}, Policy: policy()}
	if r := f.add(clientDoc(holder), clientDoc(reports)); r.Skipped != 0 {
		t.Fatalf("skipped %d", r.Skipped)
	}
	access, _ := tokensOf(t, f.post(authserver.PathToken, url.Values{"grant_type": {"client_credentials"},
		"client_id": {"team.caller"}, "client_secret": {ccSecret}}, "", ""))
	if aud := f.audienceOf(t, access); !slices.Equal(aud, []string{"team.reports"}) {
		t.Fatalf("aud = %v", aud)
	}
	resp := f.post(authserver.PathIntrospect, url.Values{"token": {access}, "client_id": {"team.reports"},
		"client_secret": {ccSecret}}, "", "")
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "{\"active\":false}\n" {
		t.Errorf("the client named in aud introspects: %d %s, want {\"active\":false}", resp.StatusCode, body)
	}
}
