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

// Package snapshot defines the compiled snapshot: the versioned documents the
// control plane writes and the authorization server serves from. The data
// plane owns this format; the controllers import it.
//
// Each compiled object (an OAuthClient with its policy resolved, an Account,
// the signing key set) is one Secret in the operator's namespace, labelled
// [LabelSnapshot], holding one [Document] as JSON under [DataKey]. Documents
// carry their source object's identity, so errors and feedback can point at
// it. Everything in a document is already resolved: the server applies no
// defaults of its own beyond those documented on the fields.
package snapshot

import (
	"encoding/json"
	"slices"
	"time"
)

// Version is the schema version of every document this package writes. A
// reader refuses documents of any other version (and logs which), so a
// newer control plane cannot be misread by an older server.
const Version = "snapshot.oauth.authops.io/v1"

const (
	// LabelSnapshot marks a Secret as a compiled snapshot entry; its value is
	// the document kind (client, account, keyset, resourceserver or policy).
	LabelSnapshot = "oauth.authops.io/snapshot"
	// DataKey is the Secret data key that holds the JSON document.
	DataKey = "document.json"
	// AnnotationRetired marks a snapshot Secret whose object is not served
	// (an OAuthClient blocked by its configuration); its value says why, and
	// it holds no document. Retiring an entry is a write, whose revision the
	// replicas acknowledge like any other (a deletion's revision is not
	// known to the writer): the authserver serves a retired entry as
	// absent.
	AnnotationRetired = "oauth.authops.io/retired"
	// KeySetSecretName is the name of the signing key set Secret, the only
	// Secret the authserver reads signing keys from.
	KeySetSecretName = "authops-signing-keys"
	// LabelManagedBy, with the value ManagedBy, marks the Secrets the
	// manager writes; the signing key set Secret must carry it.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy on the manager's Secrets.
	ManagedBy = "authops"
)

// Kind is the kind of a document, also the value of [LabelSnapshot].
type Kind string

const (
	// KindClient documents hold one effective OAuth client.
	KindClient Kind = "client"
	// KindAccount documents hold one account that can log in.
	KindAccount Kind = "account"
	// KindKeySet documents hold the signing keys.
	KindKeySet Kind = "keyset"
	// KindResourceServer documents hold one ResourceServer that owns its
	// audience.
	KindResourceServer Kind = "resourceserver"
	// KindPolicy documents hold one GrantPolicy as it applies to its
	// namespace (see [GrantPolicy]).
	KindPolicy Kind = "policy"
)

// Source identifies the Kubernetes object a document was compiled from.
type Source struct {
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Generation int64  `json:"generation"`
}

// Document is one compiled snapshot entry. Exactly one of Client, Account
// and KeySet is set, matching Kind.
type Document struct {
	Version string   `json:"version"`
	Kind    Kind     `json:"kind"`
	Source  Source   `json:"source"`
	Client  *Client  `json:"client,omitempty"`
	Account *Account `json:"account,omitempty"`
	KeySet  *KeySet  `json:"keySet,omitempty"`
	// ResourceServer is set for KindResourceServer.
	ResourceServer *ResourceServer `json:"resourceServer,omitempty"`
	// GrantPolicy is set for KindPolicy.
	GrantPolicy *GrantPolicy `json:"grantPolicy,omitempty"`
}

// Client is an effective OAuth client: the OAuthClient's settings with its
// GrantPolicy already applied.
type Client struct {
	// ID is the client_id.
	ID string `json:"id"`
	// Namespace is where the client lives; its users are the Accounts of the
	// same namespace.
	Namespace string `json:"namespace"`
	// Type is "Confidential" or "Public".
	Type string `json:"type"`
	// DisplayName is shown on consent and device pages.
	DisplayName string `json:"displayName,omitempty"`
	// Disabled clients get invalid_client on every request.
	Disabled bool `json:"disabled,omitempty"`
	// TokenEndpointAuthMethod is client_secret_basic, client_secret_post,
	// private_key_jwt, kubernetes_service_account_token or none.
	TokenEndpointAuthMethod string `json:"tokenEndpointAuthMethod"`
	// JWKS is the client's public key set (RFC 7517 JSON) for
	// private_key_jwt, validated by the control plane: public signing keys
	// of the AssertionAlgorithms only.
	JWKS json.RawMessage `json:"jwks,omitempty"`
	// ServiceAccount is the ServiceAccount a kubernetes_service_account_token
	// client authenticates as.
	ServiceAccount *ServiceAccount `json:"serviceAccount,omitempty"`
	// Secrets are the SHA-256 digests of every valid client secret: the
	// current one, and during a rotation the previous one until its
	// NotAfter. Empty for Public clients.
	Secrets []SecretDigest `json:"secrets,omitempty"`
	// RedirectURIs are the exact registered redirect URIs.
	RedirectURIs []string `json:"redirectURIs,omitempty"`
	// PostLogoutRedirectURIs are the exact registered post_logout_redirect_uri
	// values of RP-initiated logout.
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectURIs,omitempty"`
	// GrantTypes are the effective grant types (client ∩ policy).
	GrantTypes []string `json:"grantTypes"`
	// RequestedGrantTypes are the grant types the client asked for, so the
	// server can tell unauthorized_client (asked for, removed by the policy)
	// from a grant type the client never listed; both get unauthorized_client.
	RequestedGrantTypes []string `json:"requestedGrantTypes,omitempty"`
	// Scopes are the effective scopes (client ∩ policy).
	Scopes []string `json:"scopes,omitempty"`
	// DefaultScopes are granted when a request names none.
	DefaultScopes []string `json:"defaultScopes,omitempty"`
	// Audiences are the aud values of access tokens when a request names no
	// resource (RFC 8707): the client's spec.audiences that a ResourceServer
	// grants it. The control plane writes each also in Resources; documents
	// of an older control plane may have audiences without resources.
	Audiences []string `json:"audiences,omitempty"`
	// Resources are the audiences ResourceServers grant the client, the only
	// values a resource parameter may name (others get invalid_target).
	Resources []Resource `json:"resources,omitempty"`
	// DPoPBoundAccessTokens (RFC 9449 §5.2's client metadata
	// dpop_bound_access_tokens): every token request of the client must
	// carry a DPoP proof, whatever its policy says.
	DPoPBoundAccessTokens bool `json:"dpopBoundAccessTokens,omitempty"`
	// Policy is the resolved GrantPolicy.
	Policy Policy `json:"policy"`
	// PolicyUID, when set, is the UID of the GrantPolicy Policy.Name of the
	// client's namespace the client was compiled under. Once a document of
	// that policy (KindPolicy, same namespace, name and UID, generation at
	// least PolicyGeneration) is served, the
	// server serves the client under it (see [Client.Under]): a policy
	// change is served by that one document, not by one per client. Without
	// such a document, the client is served as compiled.
	PolicyUID string `json:"policyUID,omitempty"`
	// PolicyGeneration is the generation of that GrantPolicy the client
	// was compiled under: an older document of it (a policy controller
	// behind the clients') does not govern the client.
	PolicyGeneration int64 `json:"policyGeneration,omitempty"`
	// RequestedScopes are the scopes the client asked for, which Under
	// intersects with its policy's.
	RequestedScopes []string `json:"requestedScopes,omitempty"`
}

// GrantPolicy is a GrantPolicy as it applies to its namespace: capped by
// the ClusterGrantPolicies selecting the namespace, defaults filled in. The
// document's Source names it; a client names it by PolicyUID.
type GrantPolicy struct {
	// Policy is the resolved policy, as a client compiled under it carries
	// it (Policy.Name is the GrantPolicy's name).
	Policy Policy `json:"policy"`
	// AllowedGrantTypes are the grant types the policy allows.
	AllowedGrantTypes []string `json:"allowedGrantTypes"`
	// AnyScope is true when the policy sets no allowedScopes: every scope a
	// client asks for is allowed. Otherwise AllowedScopes are the only ones.
	AnyScope      bool     `json:"anyScope,omitempty"`
	AllowedScopes []string `json:"allowedScopes,omitempty"`
	// DefaultScopes are granted, among a client's scopes, when a request
	// names none.
	DefaultScopes []string `json:"defaultScopes,omitempty"`
}

// Under returns the client as compiled under the policy document p (which
// must be the one PolicyUID names): p's policy, with a Public client's
// refresh tokens always rotating (RFC 9700 §4.14.2); the requested grant
// types and scopes p allows, in the client's order; p's default scopes
// among those. The control plane compiles a client the same way
// (controllers.CompileClient), so Under changes nothing until p changes.
func (c Client) Under(p *GrantPolicy) Client {
	c.Policy = p.Policy
	if c.Type == ClientPublic && c.Policy.RefreshTokenRotation == RotationReuse {
		c.Policy.RefreshTokenRotation = RotationRotate
	}
	c.GrantTypes = []string{}
	for _, g := range c.RequestedGrantTypes {
		if slices.Contains(p.AllowedGrantTypes, g) {
			c.GrantTypes = append(c.GrantTypes, g)
		}
	}
	c.Scopes = nil
	for _, s := range c.RequestedScopes {
		if p.AnyScope || slices.Contains(p.AllowedScopes, s) {
			c.Scopes = append(c.Scopes, s)
		}
	}
	c.DefaultScopes = nil
	for _, s := range p.DefaultScopes {
		if slices.Contains(c.Scopes, s) {
			c.DefaultScopes = append(c.DefaultScopes, s)
		}
	}
	return c
}

// Usable reports whether the client has a grant type it can use: one
// other than refresh_token (which needs a grant that issues refresh
// tokens). The server serves a client without one as absent, as the
// control plane's NoUsableGrant status says.
func (c *Client) Usable() bool {
	return slices.ContainsFunc(c.GrantTypes, func(g string) bool { return g != GrantRefreshToken })
}

// ServiceAccount is a workload identity: the ServiceAccount (of the
// client's own namespace) whose tokens authenticate the client.
type ServiceAccount struct {
	// Subject is the token's sub: system:serviceaccount:<namespace>:<name>.
	Subject string `json:"subject"`
	// UID is the ServiceAccount's UID, which its tokens carry: a token of
	// an earlier ServiceAccount of the same name is refused.
	UID string `json:"uid"`
}

// ServiceAccountSubject is the sub of a ServiceAccount's tokens.
func ServiceAccountSubject(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Resource is one audience a ResourceServer grants a client.
type Resource struct {
	// Audience is the aud value and resource indicator.
	Audience string `json:"audience"`
	// Scopes are the ResourceServer's scopes the client may have in a token
	// for this audience.
	Scopes []string `json:"scopes,omitempty"`
	// WithheldScopes are the ResourceServer's other scopes: a token for
	// this audience never carries them (a request for one gets
	// invalid_scope).
	WithheldScopes []string `json:"withheldScopes,omitempty"`
}

// ResourceServer is an API that owns its audience, with the credentials it
// calls the introspection endpoint with.
type ResourceServer struct {
	// ID is the user name it authenticates with: rs/<namespace>/<name>
	// (never a client_id: those have no "/").
	ID string `json:"id"`
	// Namespace is where the ResourceServer lives.
	Namespace string `json:"namespace"`
	// Audience is the audience it owns.
	Audience string `json:"audience"`
	// Scopes are the scopes it defines.
	Scopes []string `json:"scopes,omitempty"`
	// Secrets are the SHA-256 digests of its valid secrets, as for clients.
	Secrets []SecretDigest `json:"secrets"`
}

// SecretDigest is the hex-encoded SHA-256 digest of one client secret.
type SecretDigest struct {
	SHA256 string `json:"sha256"`
	// NotAfter, when set, is when this secret stops working (the end of a
	// rotation's overlap window).
	NotAfter *time.Time `json:"notAfter,omitempty"`
}

// MaxRefreshTokenReuseGraceSeconds bounds
// [Policy.RefreshTokenReuseGraceSeconds] (the GrantPolicy CRD says 60s too).
const MaxRefreshTokenReuseGraceSeconds = 60

// Policy is a resolved GrantPolicy (or the built-in defaults).
type Policy struct {
	// Name is the GrantPolicy's name, empty for the built-in defaults.
	Name string `json:"name,omitempty"`
	// PKCE is "Required" or "Optional" (Public clients always need it).
	PKCE string `json:"pkce"`
	// PushedAuthorizationRequests is "Required" or "Optional" (RFC 9126);
	// empty (documents from before the field) is Optional.
	PushedAuthorizationRequests string `json:"pushedAuthorizationRequests,omitempty"`
	// Consent is "Prompt" or "Auto".
	Consent string `json:"consent"`
	// DPoP is "Required" or "Optional" (RFC 9449; "" is Optional).
	DPoP string `json:"dpop,omitempty"`
	// DPoPNonce is "Required" or "NotRequired" (RFC 9449 §8; "" is
	// NotRequired).
	DPoPNonce string `json:"dpopNonce,omitempty"`
	// ErrorProfile is "Extended" or "RFC".
	ErrorProfile string `json:"errorProfile"`
	// RefreshTokenRotation is "Rotate" or "Reuse".
	RefreshTokenRotation string `json:"refreshTokenRotation"`
	// Lifetimes and intervals in whole seconds.
	AccessTokenLifetimeSeconds       int64 `json:"accessTokenLifetimeSeconds"`
	RefreshTokenLifetimeSeconds      int64 `json:"refreshTokenLifetimeSeconds"`
	AuthorizationCodeLifetimeSeconds int64 `json:"authorizationCodeLifetimeSeconds"`
	DeviceCodeLifetimeSeconds        int64 `json:"deviceCodeLifetimeSeconds"`
	DevicePollIntervalSeconds        int64 `json:"devicePollIntervalSeconds"`
	// RefreshTokenReuseGraceSeconds: a rotated refresh token presented again
	// less than this long after its rotation gets another successor in its
	// family instead of revoking it. 0 (or absent) is strict; at most
	// MaxRefreshTokenReuseGraceSeconds.
	RefreshTokenReuseGraceSeconds int64 `json:"refreshTokenReuseGraceSeconds,omitempty"`
	// Lockout of Accounts after failed logins through this client.
	LockoutMaxFailedAttempts int32 `json:"lockoutMaxFailedAttempts"`
	LockoutWindowSeconds     int64 `json:"lockoutWindowSeconds"`
	LockoutDurationSeconds   int64 `json:"lockoutDurationSeconds"`
}

// Account is a person who can log in.
type Account struct {
	// Subject is the stable sub claim: "<namespace>/<name>".
	Subject string `json:"subject"`
	// Namespace scopes the account: it can log in to the clients of its
	// namespace only.
	Namespace string `json:"namespace"`
	// Username is what the person types.
	Username string `json:"username"`
	// PasswordBcrypt is the bcrypt hash of the password; empty when the
	// password is missing (logins then fail like a wrong password).
	PasswordBcrypt string   `json:"passwordBcrypt,omitempty"`
	Disabled       bool     `json:"disabled,omitempty"`
	Email          string   `json:"email,omitempty"`
	Groups         []string `json:"groups,omitempty"`
	DisplayName    string   `json:"displayName,omitempty"`
	// DisabledCount counts the times the control plane saw this account go
	// from enabled to disabled (carried over from the previous document of
	// the same object). The server binds login sessions and refresh tokens to
	// it, with the source UID, so that re-enabling an account does not bring
	// back what disabling ended (see docs/security.md).
	DisabledCount int64 `json:"disabledCount,omitempty"`
}

// KeySet is the signing key set, rotated by the controller: a key is
// published (JWKS) from PublishFrom, signs between SignFrom and SignUntil,
// and stays published until PublishUntil, after every token it signed has
// expired.
type KeySet struct {
	Keys []Key `json:"keys"`
}

// Key is one ES256 (P-256) signing key.
type Key struct {
	// ID is the JWS kid.
	ID string `json:"kid"`
	// Algorithm is "ES256".
	Algorithm string `json:"alg"`
	// PrivateKeyPEM is the PKCS #8 private key, PEM encoded.
	PrivateKeyPEM string    `json:"privateKeyPEM"`
	PublishFrom   time.Time `json:"publishFrom"`
	SignFrom      time.Time `json:"signFrom"`
	SignUntil     time.Time `json:"signUntil"`
	PublishUntil  time.Time `json:"publishUntil"`
}
