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

package crd_test

import (
	"context"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// object parses one YAML manifest into an unstructured object in namespace ns,
// which is what `kubectl apply` sends.
func object(ns, manifest string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(manifest), &u.Object)).To(Succeed(), manifest)
	u.SetNamespace(ns)
	return u
}

// expectRejected asserts that the API server refused the request as Invalid
// and that its message contains want.
func expectRejected(err error, want string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "the API server accepted a manifest that must be rejected with %q", want)
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
	Expect(err.Error()).To(ContainSubstring(want))
	GinkgoWriter.Printf("rejected as expected: %s\n", err.Error())
}

// client builds an OAuthClient manifest from spec lines (YAML, indented by two).
func oauthClient(spec string) string {
	return "apiVersion: oauth.authops.io/v1alpha1\nkind: OAuthClient\nmetadata:\n  name: c\nspec:\n" + indent(spec)
}

func grantPolicy(spec string) string {
	return "apiVersion: oauth.authops.io/v1alpha1\nkind: GrantPolicy\nmetadata:\n  name: p\nspec:\n" + indent(spec)
}

func account(spec string) string {
	return "apiVersion: oauth.authops.io/v1alpha1\nkind: Account\nmetadata:\n  name: a\nspec:\n" + indent(spec)
}

func indent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

const webClient = `
type: Confidential
grantTypes: [authorization_code, refresh_token]
redirectURIs: ["https://app.example.com/callback"]
`

func webClientWith(extra string) string { return webClient + extra }

func clientWithRedirect(uri string) string {
	return fmt.Sprintf("grantTypes: [authorization_code]\nredirectURIs: [%q]\n", uri)
}

var _ = Describe("OAuthClient validation at apply time", func() {
	DescribeTable("rejects a bad manifest with a message a person understands",
		func(ctx SpecContext, spec, want string) {
			ns := newNamespace(ctx)
			expectRejected(k8s.Create(ctx, object(ns, oauthClient(spec))), want)
		},
		Entry("a Public client with client_credentials",
			"type: Public\ngrantTypes: [client_credentials]\n",
			"a Public client cannot use the client_credentials or password grant"),
		Entry("a Public client with password",
			"type: Public\ngrantTypes: [password]\n",
			"a Public client cannot use the client_credentials or password grant"),
		Entry("a Public client with a secret",
			"type: Public\ngrantTypes: [urn:ietf:params:oauth:grant-type:device_code]\nsecret:\n  secretRef: {name: s}\n",
			"a Public client has no secret"),
		Entry("a Public client with client_secret_basic",
			"type: Public\ngrantTypes: [urn:ietf:params:oauth:grant-type:device_code]\ntokenEndpointAuthMethod: client_secret_basic\n",
			"a Public client must use tokenEndpointAuthMethod none"),
		Entry("a Public client with client_secret_post",
			"type: Public\ngrantTypes: [urn:ietf:params:oauth:grant-type:device_code]\ntokenEndpointAuthMethod: client_secret_post\n",
			"a Public client must use tokenEndpointAuthMethod none"),
		Entry("a Confidential client with auth method none",
			"type: Confidential\ngrantTypes: [client_credentials]\ntokenEndpointAuthMethod: none\n",
			"a Confidential client must authenticate"),
		Entry("a Confidential client (the default type) with auth method none",
			"grantTypes: [client_credentials]\ntokenEndpointAuthMethod: none\n",
			"a Confidential client must authenticate"),
		Entry("authentication with a secret",
			"grantTypes: [client_credentials]\nsecret: {secretRef: {name: s}}\nauthentication: {serviceAccount: {name: robot}}\n",
			"a client with spec.authentication has no secret"),
		Entry("authentication on a Public client",
			"type: Public\ngrantTypes: [urn:ietf:params:oauth:grant-type:device_code]\nauthentication: {serviceAccount: {name: robot}}\n",
			"a client with spec.authentication has no secret"),
		Entry("a ServiceAccount client with an auth method",
			"grantTypes: [client_credentials]\ntokenEndpointAuthMethod: client_secret_basic\nauthentication: {serviceAccount: {name: robot}}\n",
			"a client that authenticates as a ServiceAccount has no tokenEndpointAuthMethod"),
		Entry("private_key_jwt without keys",
			"grantTypes: [client_credentials]\ntokenEndpointAuthMethod: private_key_jwt\n",
			"tokenEndpointAuthMethod private_key_jwt and public keys"),
		Entry("keys without private_key_jwt",
			"grantTypes: [client_credentials]\nauthentication: {jwks: {keys: [{kty: EC, kid: k1, crv: P-256, x: f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU, y: x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0}]}}\n",
			"tokenEndpointAuthMethod private_key_jwt and public keys"),
		Entry("a ServiceAccount and keys",
			"grantTypes: [client_credentials]\nauthentication: {serviceAccount: {name: robot}, jwksSecretRef: {name: keys}}\n",
			"set exactly one of authentication.serviceAccount"),
		Entry("two keys with one kid",
			"grantTypes: [client_credentials]\ntokenEndpointAuthMethod: private_key_jwt\nauthentication: {jwks: {keys: [{kty: EC, kid: k1, crv: P-256, x: f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU, y: x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0}, {kty: EC, kid: k1, crv: P-256, x: f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU, y: x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0}]}}\n",
			"two keys have the same kid"),
		Entry("an RSA key with EC members",
			"grantTypes: [client_credentials]\ntokenEndpointAuthMethod: private_key_jwt\nauthentication: {jwks: {keys: [{kty: RSA, e: AQAB, crv: P-256}]}}\n",
			"an RSA key has n and e only"),
		Entry("a 1024-bit RSA key",
			"grantTypes: [client_credentials]\ntokenEndpointAuthMethod: private_key_jwt\nauthentication: {jwks: {keys: [{kty: RSA, e: AQAB, n: "+strings.Repeat("A", 171)+"}]}}\n",
			"an RSA key's modulus n must be 2048 to 8192 bits"),
		Entry("an EC key without y",
			"grantTypes: [client_credentials]\ntokenEndpointAuthMethod: private_key_jwt\nauthentication: {jwks: {keys: [{kty: EC, crv: P-256, x: abc}]}}\n",
			"an EC key has crv P-256 or P-384, x and y"),
		Entry("an OKP key on a P curve",
			"grantTypes: [client_credentials]\ntokenEndpointAuthMethod: private_key_jwt\nauthentication: {jwks: {keys: [{kty: OKP, crv: P-256, x: abc}]}}\n",
			"an OKP key has crv Ed25519 and x"),
		Entry("an alg that does not fit the key",
			"grantTypes: [client_credentials]\ntokenEndpointAuthMethod: private_key_jwt\nauthentication: {jwks: {keys: [{kty: OKP, crv: Ed25519, x: abc, alg: ES256}]}}\n",
			"alg does not fit the key"),
		Entry("an http redirect URI for a non-loopback host",
			clientWithRedirect("http://app.example.com/callback"),
			"http redirect URIs are allowed only for loopback hosts"),
		Entry("an http redirect URI for a host that only starts like loopback",
			clientWithRedirect("http://127.0.0.1.example.com/callback"),
			"http redirect URIs are allowed only for loopback hosts"),
		Entry("a redirect URI with a fragment",
			clientWithRedirect("https://app.example.com/callback#frag"),
			"a redirect URI must not contain a fragment"),
		Entry("a redirect URI with a wildcard host",
			clientWithRedirect("https://*.example.com/callback"),
			"a redirect URI must not contain a wildcard"),
		Entry("a redirect URI with a wildcard path",
			clientWithRedirect("https://app.example.com/*"),
			"a redirect URI must not contain a wildcard"),
		Entry("a redirect URI with user information",
			clientWithRedirect("https://good.example.com@evil.example.com/callback"),
			"a redirect URI must not contain user information"),
		Entry("a relative redirect URI",
			clientWithRedirect("/callback"),
			"a redirect URI must be an absolute URL with a host"),
		Entry("a redirect URI with another scheme",
			clientWithRedirect("ftp://app.example.com/callback"),
			"a redirect URI must use https (or http for a loopback host)"),
		Entry("authorization_code without a redirect URI",
			"grantTypes: [authorization_code]\n",
			"the authorization_code grant needs at least one redirect URI"),
		Entry("refresh_token alone",
			"grantTypes: [refresh_token]\n",
			"refresh_token needs a grant that issues refresh tokens"),
		Entry("refresh_token with client_credentials only",
			"grantTypes: [client_credentials, refresh_token]\n",
			"refresh_token needs a grant that issues refresh tokens"),
		Entry("a duplicate grant type",
			"grantTypes: [client_credentials, client_credentials]\n",
			`spec.grantTypes[1]: Duplicate value: "client_credentials"`),
		Entry("a duplicate redirect URI",
			webClient+`redirectURIs: ["https://app.example.com/cb", "https://app.example.com/cb"]`,
			`spec.redirectURIs[1]: Duplicate value: "https://app.example.com/cb"`),
		Entry("a duplicate scope",
			webClientWith("scopes: [openid, openid]"),
			`spec.scopes[1]: Duplicate value: "openid"`),
		Entry("a duplicate audience",
			webClientWith("audiences: [api, api]"),
			`spec.audiences[1]: Duplicate value: "api"`),
		Entry("more than 32 redirect URIs",
			"grantTypes: [authorization_code]\nredirectURIs:\n"+manyRedirects(33),
			"spec.redirectURIs: Too many: 33: must have at most 32 items"),
		Entry("an unknown grant type",
			"grantTypes: [implicit]\n",
			`spec.grantTypes[0]: Unsupported value: "implicit"`),
		Entry("no grant type",
			"grantTypes: []\n",
			"spec.grantTypes: Invalid value: 0: spec.grantTypes in body should have at least 1 items"),
		Entry("a scope with a space",
			"grantTypes: [client_credentials]\nscopes: [\"orders read\"]\n",
			"spec.scopes[0]: Invalid value"),
		Entry("a rotation overlap beyond its bound",
			"grantTypes: [client_credentials]\nsecret:\n  secretRef: {name: s}\n  rotationOverlap: 1000h\n",
			"rotationOverlap must be a duration (such as 90s, 15m or 1h30m) between 0s and 720h"),
		Entry("a rotation overlap that is not a duration",
			"grantTypes: [client_credentials]\nsecret:\n  secretRef: {name: s}\n  rotationOverlap: a-day\n",
			"rotationOverlap must be a duration (such as 90s, 15m or 1h30m) between 0s and 720h"),
		Entry("a clientID with characters outside the unreserved set",
			"clientID: \"my client\"\ngrantTypes: [client_credentials]\n",
			"spec.clientID: Invalid value"),
	)

	DescribeTable("accepts good redirect URIs",
		func(ctx SpecContext, uri string) {
			ns := newNamespace(ctx)
			Expect(k8s.Create(ctx, object(ns, oauthClient(clientWithRedirect(uri))))).To(Succeed())
		},
		Entry("https", "https://app.example.com/callback?tenant=a"),
		Entry("http on 127.0.0.1 with a port", "http://127.0.0.1:8080/callback"),
		Entry("http on [::1]", "http://[::1]/callback"),
		Entry("http on localhost", "http://localhost:3000/cb"),
	)

	Describe("clientID is immutable", func() {
		var ns string
		create := func(ctx context.Context, spec string) *unstructured.Unstructured {
			GinkgoHelper()
			u := object(ns, oauthClient(spec))
			Expect(k8s.Create(ctx, u)).To(Succeed())
			return u
		}
		BeforeEach(func(ctx SpecContext) { ns = newNamespace(ctx) })

		It("rejects changing it", func(ctx SpecContext) {
			u := create(ctx, "clientID: first\ngrantTypes: [client_credentials]\n")
			Expect(unstructured.SetNestedField(u.Object, "second", "spec", "clientID")).To(Succeed())
			expectRejected(k8s.Update(ctx, u), "clientID is immutable")
		})
		It("rejects removing it", func(ctx SpecContext) {
			u := create(ctx, "clientID: first\ngrantTypes: [client_credentials]\n")
			unstructured.RemoveNestedField(u.Object, "spec", "clientID")
			expectRejected(k8s.Update(ctx, u), "clientID is immutable")
		})
		It("rejects setting it after creation (the client ID was <namespace>.<name>)", func(ctx SpecContext) {
			u := create(ctx, "grantTypes: [client_credentials]\n")
			Expect(unstructured.SetNestedField(u.Object, "late", "spec", "clientID")).To(Succeed())
			expectRejected(k8s.Update(ctx, u), "clientID is immutable")
		})
		It("allows other changes while it stays", func(ctx SpecContext) {
			u := create(ctx, "clientID: first\ngrantTypes: [client_credentials]\n")
			Expect(unstructured.SetNestedField(u.Object, "Renamed", "spec", "displayName")).To(Succeed())
			Expect(k8s.Update(ctx, u)).To(Succeed())
		})
	})
})

func manyRedirects(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "- https://app.example.com/cb%d\n", i)
	}
	return b.String()
}

var _ = Describe("GrantPolicy validation at apply time", func() {
	DescribeTable("rejects a bad manifest with a message a person understands",
		func(ctx SpecContext, spec, want string) {
			ns := newNamespace(ctx)
			expectRejected(k8s.Create(ctx, object(ns, grantPolicy(spec))), want)
		},
		Entry("an access token lifetime below 1m", "accessTokenLifetime: 30s", "accessTokenLifetime must be a duration (such as 90s, 15m or 1h30m) between 1m and 24h"),
		Entry("an access token lifetime above 24h", "accessTokenLifetime: 25h", "accessTokenLifetime must be a duration (such as 90s, 15m or 1h30m) between 1m and 24h"),
		Entry("a refresh token lifetime below 1h", "refreshTokenLifetime: 30m", "refreshTokenLifetime must be a duration (such as 90s, 15m or 1h30m) between 1h and 2160h"),
		Entry("a refresh token lifetime above 90 days", "refreshTokenLifetime: 2161h", "refreshTokenLifetime must be a duration (such as 90s, 15m or 1h30m) between 1h and 2160h"),
		Entry("an authorization code lifetime below 10s", "authorizationCodeLifetime: 1s", "authorizationCodeLifetime must be a duration (such as 90s, 15m or 1h30m) between 10s and 10m"),
		Entry("an authorization code lifetime above 10m", "authorizationCodeLifetime: 11m", "authorizationCodeLifetime must be a duration (such as 90s, 15m or 1h30m) between 10s and 10m"),
		Entry("a device code lifetime above 30m", "deviceCodeLifetime: 1h", "deviceCodeLifetime must be a duration (such as 90s, 15m or 1h30m) between 1m and 30m"),
		Entry("a refresh token reuse grace above 60s", "refreshTokenReuseGrace: 61s", "refreshTokenReuseGrace must be a duration (such as 0s, 2s or 30s) between 0s and 60s"),
		Entry("a negative refresh token reuse grace", "refreshTokenReuseGrace: -1s", "refreshTokenReuseGrace must be a duration (such as 0s, 2s or 30s) between 0s and 60s"),
		Entry("a device poll interval of 0s", "devicePollInterval: 0s", "devicePollInterval must be a duration (such as 90s, 15m or 1h30m) between 1s and 60s"),
		Entry("a lockout window above 24h", "lockout: {window: 48h}", "lockout.window must be a duration (such as 90s, 15m or 1h30m) between 1m and 24h"),
		Entry("a lockout duration below 1m", "lockout: {duration: 10s}", "lockout.duration must be a duration (such as 90s, 15m or 1h30m) between 1m and 24h"),
		Entry("zero allowed failed attempts", "lockout: {maxFailedAttempts: 0}", "spec.lockout.maxFailedAttempts: Invalid value: 0: spec.lockout.maxFailedAttempts in body should be greater than or equal to 1"),
		Entry("a lifetime that is not a duration", "accessTokenLifetime: an-hour", "accessTokenLifetime must be a duration (such as 90s, 15m or 1h30m) between 1m and 24h"),
		Entry("an access token outliving its refresh token", "accessTokenLifetime: 2h\nrefreshTokenLifetime: 1h", "accessTokenLifetime must not be longer than refreshTokenLifetime"),
		Entry("a default scope that is not allowed", "allowedScopes: [openid]\ndefaultScopes: [openid, admin]", "every defaultScopes entry must also be in allowedScopes"),
		Entry("a duplicate allowed grant type", "allowedGrantTypes: [password, password]", `spec.allowedGrantTypes[1]: Duplicate value: "password"`),
		Entry("a duplicate allowed scope", "allowedScopes: [openid, openid]", `spec.allowedScopes[1]: Duplicate value: "openid"`),
		Entry("PKCE plain", "pkce: Plain", `spec.pkce: Unsupported value: "Plain"`),
		Entry("pushed authorization requests sometimes", "pushedAuthorizationRequests: Sometimes", `spec.pushedAuthorizationRequests: Unsupported value: "Sometimes"`),
		Entry("an unknown error profile", "errorProfile: Loose", `spec.errorProfile: Unsupported value: "Loose"`),
	)

	It("fills in documented defaults for an empty policy", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		u := object(ns, "apiVersion: oauth.authops.io/v1alpha1\nkind: GrantPolicy\nmetadata:\n  name: empty\n")
		Expect(k8s.Create(ctx, u)).To(Succeed())
		spec := u.Object["spec"].(map[string]any)
		Expect(spec).To(HaveKeyWithValue("pkce", "Required"))
		Expect(spec).To(HaveKeyWithValue("pushedAuthorizationRequests", "Optional"))
		Expect(spec).To(HaveKeyWithValue("consent", "Prompt"))
		Expect(spec).To(HaveKeyWithValue("errorProfile", "Extended"))
		Expect(spec).To(HaveKeyWithValue("accessTokenLifetime", "1h"))
		Expect(spec).To(HaveKeyWithValue("refreshTokenRotation", "Rotate"))
		Expect(spec).To(HaveKeyWithValue("refreshTokenReuseGrace", "2s"))
		Expect(spec["allowedGrantTypes"]).NotTo(ContainElement("password"))
		Expect(spec["lockout"]).To(HaveKeyWithValue("maxFailedAttempts", BeNumerically("==", 5)))
	})
})

var _ = Describe("Account validation at apply time", func() {
	DescribeTable("rejects a bad manifest with a message a person understands",
		func(ctx SpecContext, spec, want string) {
			ns := newNamespace(ctx)
			expectRejected(k8s.Create(ctx, object(ns, account(spec))), want)
		},
		Entry("no username", "passwordSecretRef: {name: pw}", "spec.username: Required value"),
		Entry("an empty username", "username: \"\"\npasswordSecretRef: {name: pw}", "an Account needs a username"),
		Entry("a username with a space", "username: \"alice smith\"\npasswordSecretRef: {name: pw}", "spec.username: Invalid value"),
		Entry("no password Secret", "username: alice", "spec.passwordSecretRef: Required value"),
		Entry("a duplicate group", "username: alice\npasswordSecretRef: {name: pw}\ngroups: [dev, dev]", `spec.groups[1]: Duplicate value: "dev"`),
		Entry("an e-mail address without @", "username: alice\npasswordSecretRef: {name: pw}\nemail: alice", "spec.email: Invalid value"),
	)
})
