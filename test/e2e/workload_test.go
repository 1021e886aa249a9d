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
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	. "github.com/onsi/gomega"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/kubeissuer"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/controllers"
)

// offsetClock is the system clock moved by an offset the test sets.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// TestSecretlessClients runs both planes against the source-built API
// server, whose ServiceAccount issuer signs real tokens (TokenRequest): a
// client that authenticates as a ServiceAccount gets a token with nothing
// but a projected-style token (audience = the issuer), and every check
// refuses what it guards; a private_key_jwt client gets one with a go-jose
// assertion; the conditions predict the errors.
func TestSecretlessClients(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const teamA, teamB = "team-a", "team-b"
	clock := &offsetClock{}
	p := startPlanes(ctx, t, []string{operatorNamespace, teamA, teamB}, func(p *planes, cfg *authserver.Config) {
		// The cluster's keys, as cmd/authserver reads them: through the
		// API server with the authserver's own credentials.
		hc, err := rest.HTTPClientFor(p.api.Config)
		g.Expect(err).NotTo(HaveOccurred())
		cfg.ServiceAccountKeys = &kubeissuer.Keys{Host: p.api.Config.Host, Client: hc}
		cfg.Clock = clock
		// Many failures from one source on purpose: not the limit's test.
		cfg.Limits = authserver.Limits{Disabled: true}
	})
	k8s, cs, holder, issuer := p.k8s, p.cs, p.holder, p.issuer
	tokenURL := issuer + authserver.PathToken

	// ServiceAccounts: robot in both namespaces (same name), other in team-a.
	for _, sa := range []client.ObjectKey{{Namespace: teamA, Name: "robot"}, {Namespace: teamB, Name: "robot"}, {Namespace: teamA, Name: "other"}} {
		g.Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: sa.Namespace, Name: sa.Name}})).To(Succeed())
	}
	saToken := func(ns, name, audience string) string {
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: ptr(int64(600))}}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return tr.Status.Token
	}
	workload := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "worker"},
		Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{"client_credentials"}, Scopes: []oauthv1alpha1.Scope{"jobs.run"},
			Authentication: &oauthv1alpha1.ClientAuthenticationSpec{ServiceAccount: &oauthv1alpha1.LocalObjectReference{Name: "robot"}}}}
	g.Expect(k8s.Create(ctx, workload)).To(Succeed())
	clientID := teamA + ".worker"
	served := func(id string) func() bool {
		return func() bool {
			_, key := holder.Current().SigningKey(time.Now())
			_, ok := holder.Current().Client(id)
			return ok && key
		}
	}
	g.Eventually(served(clientID), 60*time.Second, 100*time.Millisecond).Should(BeTrue())

	// No secret anywhere: no Secret of the client, its credentials
	// ConfigMap has client_id and the endpoints only, the snapshot entry no
	// digest.
	g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: teamA, Name: "worker" + controllers.CredentialsSecretSuffix}, &corev1.Secret{}))).
		To(BeTrue(), "a client without a secret has no credentials Secret")
	creds := &corev1.ConfigMap{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: teamA, Name: "worker" + controllers.CredentialsSecretSuffix}, creds)).To(Succeed())
	g.Expect(creds.Data).To(HaveKeyWithValue(controllers.CredentialClientID, clientID))
	g.Expect(creds.Data).NotTo(HaveKey(controllers.CredentialClientSecret))
	c, _ := holder.Current().Client(clientID)
	g.Expect(c.SecretDigests(time.Now())).To(BeEmpty())
	g.Expect(c.TokenEndpointAuthMethod).To(Equal(snapshot.AuthServiceAccountToken))
	g.Expect(c.ServiceAccount.Subject).To(Equal("system:serviceaccount:team-a:robot"))

	// The workload: golang.org/x/oauth2 with the ServiceAccount token as
	// the client assertion.
	good := saToken(teamA, "robot", issuer)
	var sa jwt.Claims
	parsed, err := jwt.ParseSigned(good, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(parsed.UnsafeClaimsWithoutVerification(&sa)).To(Succeed())
	g.Expect(sa.ID).NotTo(BeEmpty(), "this API server's tokens carry a jti (the replay check below needs one)")
	cc := clientcredentials.Config{ClientID: clientID, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"client_assertion_type": {snapshot.ClientAssertionJWTBearer}, "client_assertion": {good}}}
	tok, err := cc.Token(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(jwtTyp(tok.AccessToken)).To(Equal("at+jwt"))

	// Each check, with a real token of this cluster.
	post := func(id, assertion string) (int, map[string]string) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id},
			"client_assertion_type": {snapshot.ClientAssertionJWTBearer}, "client_assertion": {assertion}}
		resp, err := http.PostForm(tokenURL, form)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	refused := func(what, assertion, description string) {
		status, body := post(clientID, assertion)
		g.Expect(status).To(Equal(http.StatusUnauthorized), what)
		g.Expect(body["error"]).To(Equal("invalid_client"), what)
		g.Expect(body["error_description"]).To(ContainSubstring(description), what)
	}
	refused("replayed jti", good, "used before")
	refused("wrong audience", saToken(teamA, "robot", "https://other.example"), "audience does not include this server")
	refused("another ServiceAccount", saToken(teamA, "other", issuer), "not of the ServiceAccount")
	refused("another namespace's ServiceAccount of the same name", saToken(teamB, "robot", issuer), "not of the ServiceAccount")
	expired := saToken(teamA, "robot", issuer)
	clock.offset.Store(int64(time.Hour))
	refused("expired", expired, "has expired")
	clock.offset.Store(0)
	refused("signed by another key", forgedToken(t, expired), "not a token of this cluster")

	// The ServiceAccount deleted and created again: its tokens carry the
	// new UID, which the client gets once compiled again; a token of the
	// old one is refused meanwhile.
	oldToken := saToken(teamA, "robot", issuer)
	g.Expect(k8s.Delete(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "robot"}})).To(Succeed())
	g.Eventually(func() string { return conditionReason(ctx, k8s, teamA, "worker", oauthv1alpha1.SecretReadyCondition) },
		30*time.Second, 100*time.Millisecond).Should(Equal(oauthv1alpha1.ServiceAccountNotFoundReason))
	g.Eventually(func() bool { _, ok := holder.Current().Client(clientID); return ok }, 30*time.Second, 100*time.Millisecond).Should(BeFalse(),
		"a client whose ServiceAccount is gone is not served")
	g.Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "robot"}})).To(Succeed())
	g.Eventually(served(clientID), 30*time.Second, 100*time.Millisecond).Should(BeTrue())
	refused("a token of the ServiceAccount before it was recreated", oldToken, "earlier ServiceAccount")
	status, _ := post(clientID, saToken(teamA, "robot", issuer))
	g.Expect(status).To(Equal(http.StatusOK))

	// private_key_jwt through the controller: inline public keys.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	pub := jose.JSONWebKey{Key: key.Public()}
	pubJSON, err := pub.MarshalJSON()
	g.Expect(err).NotTo(HaveOccurred())
	var jwk map[string]string
	g.Expect(json.Unmarshal(pubJSON, &jwk)).To(Succeed())
	signer := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "signer"},
		Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{"client_credentials"}, TokenEndpointAuthMethod: "private_key_jwt",
			Authentication: &oauthv1alpha1.ClientAuthenticationSpec{JWKS: &oauthv1alpha1.JSONWebKeySet{Keys: []oauthv1alpha1.JSONWebKey{
				{KTY: "EC", KID: "k1", Alg: "ES256", Crv: "P-256", X: jwk["x"], Y: jwk["y"]}}}}}}
	g.Expect(k8s.Create(ctx, signer)).To(Succeed())
	g.Eventually(served(teamA+".signer"), 60*time.Second, 100*time.Millisecond).Should(BeTrue())
	g.Expect(conditionReason(ctx, k8s, teamA, "signer", oauthv1alpha1.SecretReadyCondition)).To(Equal(oauthv1alpha1.PublicKeysReason))
	now := time.Now()
	assertion, err := jwt.Signed(mustSigner(t, key, "k1")).Claims(jwt.Claims{Issuer: teamA + ".signer", Subject: teamA + ".signer",
		Audience: jwt.Audience{tokenURL}, ID: "one", IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
	g.Expect(err).NotTo(HaveOccurred())
	status, body := post(teamA+".signer", assertion)
	g.Expect(status).To(Equal(http.StatusOK), "%v", body)

	// Conditions that predict invalid_client: keys in a Secret that hold a
	// private key are refused (stalled); a missing ServiceAccount waits.
	privJSON, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1"}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "leaky-keys"},
		Data: map[string][]byte{controllers.DefaultJWKSKey: privJSON}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "leaky"},
		Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{"client_credentials"}, TokenEndpointAuthMethod: "private_key_jwt",
			Authentication: &oauthv1alpha1.ClientAuthenticationSpec{JWKSSecretRef: &oauthv1alpha1.SecretKeyReference{Name: "leaky-keys"}}}})).To(Succeed())
	g.Eventually(func() string { return conditionReason(ctx, k8s, teamA, "leaky", oauthv1alpha1.SecretReadyCondition) },
		30*time.Second, 100*time.Millisecond).Should(Equal(oauthv1alpha1.InvalidJWKSReason))
	g.Expect(conditionReason(ctx, k8s, teamA, "leaky", oauthv1alpha1.StalledCondition)).To(Equal(oauthv1alpha1.InvalidJWKSReason))
	g.Expect(k8s.Create(ctx, &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: teamB, Name: "early"},
		Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{"client_credentials"},
			Authentication: &oauthv1alpha1.ClientAuthenticationSpec{ServiceAccount: &oauthv1alpha1.LocalObjectReference{Name: "later"}}}})).To(Succeed())
	g.Eventually(func() string { return conditionReason(ctx, k8s, teamB, "early", oauthv1alpha1.SecretReadyCondition) },
		30*time.Second, 100*time.Millisecond).Should(Equal(oauthv1alpha1.ServiceAccountNotFoundReason))
	g.Expect(conditionReason(ctx, k8s, teamB, "early", oauthv1alpha1.ReconcilingCondition)).To(Equal(oauthv1alpha1.ServiceAccountNotFoundReason))
	g.Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: teamB, Name: "later"}})).To(Succeed())
	g.Eventually(func() string { return conditionReason(ctx, k8s, teamB, "early", oauthv1alpha1.SecretReadyCondition) },
		30*time.Second, 100*time.Millisecond).Should(Equal(oauthv1alpha1.ServiceAccountReason), "the ServiceAccount's creation wakes the client")
}

// conditionReason is the reason of a condition of an OAuthClient ("" when
// absent).
func conditionReason(ctx context.Context, k8s client.Client, ns, name, condition string) string {
	obj := &oauthv1alpha1.OAuthClient{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		return ""
	}
	if c := apimeta.FindStatusCondition(obj.Status.Conditions, condition); c != nil {
		return c.Reason
	}
	return ""
}

// forgedToken re-signs a ServiceAccount token's header and claims with a
// key of the test's own: same kid, same claims, another signature.
func forgedToken(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: other}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.Sign([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := sig.CompactSerialize()
	return parts[0] + "." + parts[1] + "." + strings.Split(forged, ".")[2]
}

func mustSigner(t *testing.T, key *ecdsa.PrivateKey, kid string) jose.Signer {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }
