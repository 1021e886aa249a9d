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

// Package e2e runs both planes together: the controllers compile
// OAuthClients and Accounts into the snapshot in a source-built API server,
// the authserver loads it through its watch, and real OAuth clients get
// tokens from it over loopback.
package e2e_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	. "github.com/onsi/gomega"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver"
	"github.com/authops/authops/controllers"
)

const (
	operatorNamespace = "authops-system"
	appNamespace      = "shop"
	redirectURI       = "http://127.0.0.1:8080/callback"
	password          = "correct-horse-battery-staple"
)

func TestPlanesTogether(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	p := startPlanes(ctx, t, []string{operatorNamespace, appNamespace}, nil)
	k8s, holder, issuer := p.k8s, p.holder, p.issuer

	// What a user applies.
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: appNamespace, Name: "alice-password"},
		StringData: map[string]string{"password": password}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &oauthv1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: appNamespace, Name: "alice"},
		Spec: oauthv1alpha1.AccountSpec{Username: "alice", Email: "alice@example.com",
			PasswordSecretRef: oauthv1alpha1.SecretKeyReference{Name: "alice-password"}}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: appNamespace, Name: "backend"},
		Spec: oauthv1alpha1.OAuthClientSpec{Type: "Confidential", GrantTypes: []oauthv1alpha1.GrantType{"client_credentials"},
			Scopes: []oauthv1alpha1.Scope{"orders.read"}, TokenEndpointAuthMethod: "client_secret_post"}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: appNamespace, Name: "webapp"},
		Spec: oauthv1alpha1.OAuthClientSpec{Type: "Confidential",
			GrantTypes:   []oauthv1alpha1.GrantType{"authorization_code", "refresh_token"},
			RedirectURIs: []oauthv1alpha1.RedirectURI{redirectURI}, Scopes: []oauthv1alpha1.Scope{"openid", "email"},
			TokenEndpointAuthMethod: "client_secret_basic"}})).To(Succeed())

	// The credentials the controllers hand to the applications.
	creds := func(name string) (id, secret, tokenURL string) {
		s := &corev1.Secret{}
		g.Eventually(func() error {
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: name + controllers.CredentialsSecretSuffix}, s); err != nil {
				return err
			}
			if _, ok := holder.Current().Client(string(s.Data[controllers.CredentialClientID])); !ok {
				return errNotYet
			}
			return nil
		}, 60*time.Second, 100*time.Millisecond).Should(Succeed())
		return string(s.Data[controllers.CredentialClientID]), string(s.Data[controllers.CredentialClientSecret]),
			string(s.Data[controllers.CredentialTokenEndpoint])
	}

	// Client credentials with the generated secret.
	id, secret, tokenURL := creds("backend")
	g.Expect(tokenURL).To(Equal(issuer + authserver.PathToken))
	g.Eventually(func() bool { _, ok := holder.Current().SigningKey(time.Now()); return ok }, 30*time.Second, 100*time.Millisecond).Should(BeTrue())
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cc.Token(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(jwtTyp(tok.AccessToken)).To(Equal("at+jwt"))
	bad := cc
	bad.ClientSecret = "wrong"
	_, err = bad.Token(ctx)
	g.Expect(err).To(MatchError(ContainSubstring("invalid_client")))

	// Authorization code with PKCE as alice, ID token verified by go-oidc.
	id, secret, _ = creds("webapp")
	g.Eventually(func() bool { _, ok := holder.Current().Account(appNamespace, "alice"); return ok }, 60*time.Second, 100*time.Millisecond).Should(BeTrue())
	provider, err := oidc.NewProvider(ctx, issuer)
	g.Expect(err).NotTo(HaveOccurred())
	conf := oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: provider.Endpoint(), RedirectURL: redirectURI,
		Scopes: []string{oidc.ScopeOpenID, "email"}}
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	verifier := oauth2.GenerateVerifier()
	code := browserLogin(t, issuer, conf.AuthCodeURL("state", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n")), "alice", password)
	tok, err = conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	g.Expect(err).NotTo(HaveOccurred())
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: id}).Verify(ctx, rawID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(idt.Subject).To(Equal(appNamespace + "/alice"))
	g.Expect(idt.Nonce).To(Equal("n"))

	// Disabling the client in Kubernetes reaches the data plane.
	wc := &oauthv1alpha1.OAuthClient{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "backend"}, wc)).To(Succeed())
	wc.Spec.Disabled = true
	g.Expect(k8s.Update(ctx, wc)).To(Succeed())
	g.Eventually(func() error { _, err := cc.Token(ctx); return err }, 30*time.Second, 100*time.Millisecond).
		Should(MatchError(ContainSubstring("invalid_client")))
}

type notYet struct{}

func (notYet) Error() string { return "not in the snapshot yet" }

var errNotYet error = notYet{}

func jwtTyp(tok string) string {
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		return ""
	}
	var h struct {
		Typ string `json:"typ"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Typ
}

var hidden = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// browserLogin plays the browser: it follows the authorization request,
// fills in the login form (and allows consent if asked) and returns the code.
func browserLogin(t *testing.T, issuer, authURL, username, pw string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), issuer) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := c.Get(authURL)
	for range 4 {
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(resp)
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			u, err := url.Parse(loc)
			if err != nil || u.Query().Get("code") == "" {
				t.Fatalf("redirect without a code: %s", loc)
			}
			return u.Query().Get("code")
		}
		form := url.Values{}
		for _, m := range hidden.FindAllStringSubmatch(body, -1) {
			form.Set(m[1], strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'").Replace(m[2]))
		}
		switch form.Get("authops_action") {
		case "login":
			form.Set("username", username)
			form.Set("password", pw)
		case "consent":
			form.Set("decision", "allow")
		default:
			t.Fatalf("unexpected page %d:\n%s", resp.StatusCode, body)
		}
		resp, err = c.PostForm(issuer+authserver.PathAuthorize, form)
	}
	t.Fatal("no code after four pages")
	return ""
}

func readBody(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
