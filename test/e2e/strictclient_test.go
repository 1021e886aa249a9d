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

package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/controllers"
	"github.com/authops/authops/test/oauthflow"
	"github.com/authops/authops/test/strictclient"
)

// TestStrictClientLibrary runs panva's oauth4webapi (test/strictclient,
// pinned) against both planes: a client library that checks every RFC rule
// it knows (metadata, PAR, DPoP proofs and nonces, token responses, ID
// tokens, userinfo, introspection). Under a GrantPolicy that requires PAR,
// DPoP and DPoP nonces (the library retries on use_dpop_nonce): client_credentials with private_key_jwt and a DPoP-bound token;
// then the authorization code flow pushed with PAR, through the login and
// consent pages (played here), the code exchanged, the refresh token used,
// userinfo and introspection, all with the same DPoP key.
func TestStrictClientLibrary(t *testing.T) {
	node, dir := strictclient.Install(t)
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const ns = "strict"
	p := startPlanes(ctx, t, []string{operatorNamespace, ns}, nil)
	k8s, holder, issuer := p.k8s, p.holder, p.issuer

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	privateJWK, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: "k1", Algorithm: "ES256"})
	g.Expect(err).NotTo(HaveOccurred())
	var pub map[string]string
	g.Expect(json.Unmarshal(privateJWK, &pub)).To(Succeed())

	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-password"},
		StringData: map[string]string{"password": password}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &oauthv1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice"},
		Spec: oauthv1alpha1.AccountSpec{Username: "alice", Email: "alice@example.com",
			PasswordSecretRef: oauthv1alpha1.SecretKeyReference{Name: "alice-password"}}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &oauthv1alpha1.GrantPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sender-constrained"},
		Spec: oauthv1alpha1.GrantPolicySpec{
			PushedAuthorizationRequests: oauthv1alpha1.PushedAuthorizationRequestsRequired,
			DPoP:                        oauthv1alpha1.DPoPRequired,
			DPoPNonce:                   oauthv1alpha1.DPoPNonceRequired,
		}})).To(Succeed())
	policy := &oauthv1alpha1.LocalObjectReference{Name: "sender-constrained"}
	g.Expect(k8s.Create(ctx, &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: oauthv1alpha1.OAuthClientSpec{Type: "Confidential", GrantPolicyRef: policy,
			GrantTypes:   []oauthv1alpha1.GrantType{"authorization_code", "refresh_token"},
			RedirectURIs: []oauthv1alpha1.RedirectURI{redirectURI}, Scopes: []oauthv1alpha1.Scope{"openid", "profile"},
			TokenEndpointAuthMethod: "client_secret_basic"}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "signer"},
		Spec: oauthv1alpha1.OAuthClientSpec{GrantPolicyRef: policy, GrantTypes: []oauthv1alpha1.GrantType{"client_credentials"},
			Scopes: []oauthv1alpha1.Scope{"reports.read"}, TokenEndpointAuthMethod: "private_key_jwt",
			Authentication: &oauthv1alpha1.ClientAuthenticationSpec{JWKS: &oauthv1alpha1.JSONWebKeySet{Keys: []oauthv1alpha1.JSONWebKey{
				{KTY: "EC", KID: "k1", Alg: "ES256", Crv: "P-256", X: pub["x"], Y: pub["y"]}}}}}})).To(Succeed())

	creds := &corev1.Secret{}
	g.Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web" + controllers.CredentialsSecretSuffix}, creds)
	}, 60*time.Second, 100*time.Millisecond).Should(Succeed())
	webID, webSecret := string(creds.Data[controllers.CredentialClientID]), string(creds.Data[controllers.CredentialClientSecret])
	g.Eventually(func() bool {
		cur := holder.Current()
		_, key := cur.SigningKey(time.Now())
		_, web := cur.Client(webID)
		_, signer := cur.Client(ns + ".signer")
		_, alice := cur.Account(ns, "alice")
		return key && web && signer && alice
	}, 60*time.Second, 100*time.Millisecond).Should(BeTrue(), "the clients and the account are served")

	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "client.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ISSUER="+issuer, "WEB_CLIENT_ID="+webID, "WEB_CLIENT_SECRET="+webSecret,
		"REDIRECT_URI="+redirectURI, "JWT_CLIENT_ID="+ns+".signer", "JWT_PRIVATE_JWK="+string(privateJWK), "SCOPE=reports.read")
	stdin, err := cmd.StdinPipe()
	g.Expect(err).NotTo(HaveOccurred())
	stdout, err := cmd.StdoutPipe()
	g.Expect(err).NotTo(HaveOccurred())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	g.Expect(cmd.Start()).To(Succeed())
	browser := oauthflow.Browser{Issuer: issuer, Username: "alice", Password: password}
	var steps []string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		var step struct {
			Step string `json:"step"`
			URL  string `json:"url"`
		}
		if err := json.Unmarshal(lines.Bytes(), &step); err != nil {
			t.Fatalf("oauth4webapi printed %q: %v", lines.Text(), err)
		}
		t.Logf("oauth4webapi: %s", lines.Text())
		steps = append(steps, step.Step)
		if step.Step == "authorize" {
			cb, forms := browser.Authorize(ctx, t, step.URL, redirectURI)
			g.Expect(forms).To(Equal([]string{"login", "consent"}))
			_, _ = io.WriteString(stdin, cb.String()+"\n")
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("oauth4webapi failed after the steps %v: %v\n%s", steps, err, stderr.String())
	}
	want := []string{"discovery", "client_credentials", "authorize", "authorization_code", "refresh_token", "userinfo", "introspection", "done"}
	var got []string
	for _, s := range steps {
		if s != "nonce" { // a use_dpop_nonce answer the library retried
			got = append(got, s)
		}
	}
	g.Expect(got).To(Equal(want))
	g.Expect(steps).To(ContainElement("nonce"), "the policy requires DPoP nonces: the library must have been told to use one")
}
