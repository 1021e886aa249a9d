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

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/authops/authops/authserver/snapshot"
)

// ClientType says whether a client can keep a secret (RFC 6749 §2.1).
// +kubebuilder:validation:Enum=Confidential;Public
type ClientType string

const (
	// ClientTypeConfidential clients authenticate with a client secret.
	ClientTypeConfidential ClientType = snapshot.ClientConfidential
	// ClientTypePublic clients (browser apps, CLIs, mobile apps) have no secret
	// and must use PKCE.
	ClientTypePublic ClientType = snapshot.ClientPublic
)

// TokenEndpointAuthMethod is how a client authenticates at the token endpoint
// (RFC 7591 §2).
// +kubebuilder:validation:Enum=client_secret_basic;client_secret_post;private_key_jwt;none
type TokenEndpointAuthMethod string

const (
	// AuthMethodClientSecretBasic sends the credentials in an HTTP Basic header.
	AuthMethodClientSecretBasic TokenEndpointAuthMethod = snapshot.AuthClientSecretBasic
	// AuthMethodClientSecretPost sends the credentials in the form body.
	AuthMethodClientSecretPost TokenEndpointAuthMethod = snapshot.AuthClientSecretPost
	// AuthMethodPrivateKeyJWT sends a JWT signed with the client's private
	// key as client_assertion (RFC 7523 §2.2, OpenID Connect Core §9); the
	// public keys are in spec.authentication.
	AuthMethodPrivateKeyJWT TokenEndpointAuthMethod = snapshot.AuthPrivateKeyJWT
	// AuthMethodNone sends only client_id: for Public clients.
	AuthMethodNone TokenEndpointAuthMethod = snapshot.AuthNone
)

// MaxJWKSKeys bounds the public keys of one client.
const MaxJWKSKeys = 8

// ClientAuthenticationSpec says how a Confidential client proves who it is
// without a shared secret. Exactly one field is set.
// +kubebuilder:validation:XValidation:rule="[has(self.serviceAccount), has(self.jwks), has(self.jwksSecretRef)].filter(x, x).size() == 1",message="set exactly one of authentication.serviceAccount, authentication.jwks and authentication.jwksSecretRef"
type ClientAuthenticationSpec struct {
	// serviceAccount makes the client authenticate as a ServiceAccount of
	// its own namespace (workload identity): a Pod sends its projected
	// ServiceAccount token, with the issuer as its audience, as an RFC 7523
	// client_assertion. The client has no secret. The ServiceAccount is
	// always looked up in the client's namespace: there is no namespace
	// field.
	// +optional
	ServiceAccount *LocalObjectReference `json:"serviceAccount,omitempty"`

	// jwks are the client's public keys for private_key_jwt, a JSON Web Key
	// Set (RFC 7517) written as YAML: RSA (2048 to 8192 bits), EC P-256 or
	// P-384, or Ed25519 keys, at most 8. Private key members (d, p, q, ...)
	// are not part of the schema and are never stored.
	// +optional
	JWKS *JSONWebKeySet `json:"jwks,omitempty"`

	// jwksSecretRef names a Secret of the client's namespace and key holding
	// the client's JWKS as JSON (the same rules as jwks; the key defaults to
	// "jwks.json"), for keys another tool publishes. A missing Secret waits
	// (JWKSNotFound); a set that is not valid stalls (InvalidJWKS).
	// +optional
	JWKSSecretRef *SecretKeyReference `json:"jwksSecretRef,omitempty"`
}

// JSONWebKeySet is a set of public keys (RFC 7517 §5).
type JSONWebKeySet struct {
	// keys are the public keys; key IDs (kid) must be unique.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:XValidation:rule="self.all(a, !has(a.kid) || self.filter(b, has(b.kid) && b.kid == a.kid).size() == 1)",message="two keys have the same kid: key IDs must be unique"
	Keys []JSONWebKey `json:"keys"`
}

// JSONWebKey is one public signing key (RFC 7517 §4, RFC 7518 §6, RFC 8037).
// +kubebuilder:validation:XValidation:rule="self.kty != 'RSA' || (has(self.n) && has(self.e) && !has(self.crv) && !has(self.x) && !has(self.y))",message="an RSA key has n and e only (no crv, x or y)"
// +kubebuilder:validation:XValidation:rule="self.kty != 'RSA' || (size(self.n) >= 342 && size(self.n) <= 1366)",message="an RSA key's modulus n must be 2048 to 8192 bits"
// +kubebuilder:validation:XValidation:rule="self.kty != 'EC' || (has(self.crv) && (self.crv == 'P-256' || self.crv == 'P-384') && has(self.x) && has(self.y) && !has(self.n))",message="an EC key has crv P-256 or P-384, x and y"
// +kubebuilder:validation:XValidation:rule="self.kty != 'OKP' || (has(self.crv) && self.crv == 'Ed25519' && has(self.x) && !has(self.y) && !has(self.n))",message="an OKP key has crv Ed25519 and x"
// +kubebuilder:validation:XValidation:rule="!has(self.alg) || (self.kty == 'RSA' && self.alg in ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']) || (self.kty == 'EC' && has(self.crv) && ((self.crv == 'P-256' && self.alg == 'ES256') || (self.crv == 'P-384' && self.alg == 'ES384'))) || (self.kty == 'OKP' && self.alg == 'EdDSA')",message="alg does not fit the key: RS256/RS384/RS512/PS256/PS384/PS512 for RSA, ES256 for P-256, ES384 for P-384, EdDSA for Ed25519"
type JSONWebKey struct {
	// kty is the key type: RSA, EC or OKP (Ed25519). Symmetric (oct) keys
	// are not accepted.
	// +required
	// +kubebuilder:validation:Enum=RSA;EC;OKP
	KTY string `json:"kty"`
	// kid is the key ID assertions name in their header.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	KID string `json:"kid,omitempty"`
	// alg is the one algorithm the key may sign with; without it, any
	// algorithm of the key type (see the message of the rule above).
	// +optional
	// +kubebuilder:validation:Enum=RS256;RS384;RS512;PS256;PS384;PS512;ES256;ES384;EdDSA
	Alg string `json:"alg,omitempty"`
	// use must be sig when set.
	// +optional
	// +kubebuilder:validation:Enum=sig
	Use string `json:"use,omitempty"`
	// crv is the curve of an EC (P-256, P-384) or OKP (Ed25519) key.
	// +optional
	// +kubebuilder:validation:Enum=P-256;P-384;Ed25519
	Crv string `json:"crv,omitempty"`
	// n is an RSA key's modulus (base64url).
	// +optional
	// +kubebuilder:validation:MaxLength=1366
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	N string `json:"n,omitempty"`
	// e is an RSA key's public exponent (base64url).
	// +optional
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	E string `json:"e,omitempty"`
	// x is an EC key's x coordinate or an OKP key's public key (base64url).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	X string `json:"x,omitempty"`
	// y is an EC key's y coordinate (base64url).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	Y string `json:"y,omitempty"`
}

// MissingSecretPolicy says what the controller does when a referenced client
// Secret does not exist.
// +kubebuilder:validation:Enum=Wait;Generate
type MissingSecretPolicy string

const (
	// MissingSecretWait reports SecretNotFound and waits for the Secret to be
	// created; the controller never invents a credential.
	MissingSecretWait MissingSecretPolicy = "Wait"
	// MissingSecretGenerate creates the referenced Secret with a generated
	// 256-bit secret.
	MissingSecretGenerate MissingSecretPolicy = "Generate"
)

// RedirectURI is an exact redirection endpoint (RFC 6749 §3.1.2): an absolute
// https URI, or http for a loopback host (RFC 8252 §7.3), without fragment,
// wildcard or user information. Requests must match it byte for byte (the
// port of a loopback http URI aside).
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=2048
// +kubebuilder:validation:XValidation:rule="isURL(self) && size(url(self).getHostname()) > 0",message="a redirect URI must be an absolute URL with a host, such as https://app.example.com/callback"
// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getScheme() == 'https' || url(self).getScheme() == 'http'",message="a redirect URI must use https (or http for a loopback host)"
// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getScheme() != 'http' || url(self).getHostname() in ['127.0.0.1', '::1', 'localhost']",message="http redirect URIs are allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https for any other host"
// +kubebuilder:validation:XValidation:rule="!self.contains('#')",message="a redirect URI must not contain a fragment (#...): RFC 6749 section 3.1.2 forbids it"
// +kubebuilder:validation:XValidation:rule="!self.contains('*')",message="a redirect URI must not contain a wildcard (*): register each exact URI"
// +kubebuilder:validation:XValidation:rule="!self.matches('^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@')",message="a redirect URI must not contain user information (user@host)"
type RedirectURI string

// ClientSecretSpec says where a confidential client's secret comes from.
type ClientSecretSpec struct {
	// secretRef names the Secret (in the client's namespace) and key that hold
	// the client secret. The key defaults to "client_secret". Secrets shorter
	// than 32 characters are refused (SecretReady=False, reason WeakSecret).
	// +required
	SecretRef SecretKeyReference `json:"secretRef"`

	// onMissing says what to do while the referenced Secret does not exist:
	// Wait (the default) reports SecretNotFound and never invents a
	// credential; Generate creates the Secret with a generated 256-bit secret.
	// +optional
	// +kubebuilder:default=Wait
	OnMissing MissingSecretPolicy `json:"onMissing,omitempty"`

	// rotationOverlap is how long the previous secret stays valid after the
	// referenced secret changes, so that applications can roll over without
	// downtime. 0s ends the previous secret at once. Between 0s and 720h;
	// the default is 24h.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('0s') && duration(self) <= duration('720h')",message="rotationOverlap must be a duration (such as 90s, 15m or 1h30m) between 0s and 720h"
	RotationOverlap *metav1.Duration `json:"rotationOverlap,omitempty"`
}

// OAuthClientSpec is the desired state of an OAuth 2.0 client.
// +kubebuilder:validation:XValidation:rule="has(self.clientID) == has(oldSelf.clientID) && (!has(self.clientID) || self.clientID == oldSelf.clientID)",message="clientID is immutable: it cannot be set, changed or removed after creation (without it the client ID is <namespace>.<name>); create a new OAuthClient instead"
// +kubebuilder:validation:XValidation:rule="self.type != 'Public' || !self.grantTypes.exists(g, g == 'client_credentials' || g == 'password')",message="a Public client cannot use the client_credentials or password grant: both need a client that keeps a secret; use type Confidential"
// +kubebuilder:validation:XValidation:rule="self.type != 'Public' || !has(self.secret)",message="a Public client has no secret: remove spec.secret, or use type Confidential"
// +kubebuilder:validation:XValidation:rule="self.type != 'Public' || !has(self.tokenEndpointAuthMethod) || self.tokenEndpointAuthMethod == 'none'",message="a Public client must use tokenEndpointAuthMethod none (it has no secret to authenticate with)"
// +kubebuilder:validation:XValidation:rule="self.type != 'Confidential' || !has(self.tokenEndpointAuthMethod) || self.tokenEndpointAuthMethod != 'none'",message="a Confidential client must authenticate: use tokenEndpointAuthMethod client_secret_basic, client_secret_post or private_key_jwt, or use type Public"
// +kubebuilder:validation:XValidation:rule="!has(self.authentication) || (self.type == 'Confidential' && !has(self.secret))",message="a client with spec.authentication has no secret: remove spec.secret (and use type Confidential)"
// +kubebuilder:validation:XValidation:rule="!has(self.authentication) || !has(self.authentication.serviceAccount) || !has(self.tokenEndpointAuthMethod)",message="a client that authenticates as a ServiceAccount has no tokenEndpointAuthMethod: remove it (the ServiceAccount token is the credential)"
// +kubebuilder:validation:XValidation:rule="(has(self.tokenEndpointAuthMethod) && self.tokenEndpointAuthMethod == 'private_key_jwt') == (has(self.authentication) && (has(self.authentication.jwks) || has(self.authentication.jwksSecretRef)))",message="tokenEndpointAuthMethod private_key_jwt and public keys (authentication.jwks or authentication.jwksSecretRef) go together: set both or neither"
// +kubebuilder:validation:XValidation:rule="!self.grantTypes.exists(g, g == 'authorization_code') || (has(self.redirectURIs) && size(self.redirectURIs) > 0)",message="the authorization_code grant needs at least one redirect URI in redirectURIs"
// +kubebuilder:validation:XValidation:rule="!self.grantTypes.exists(g, g == 'refresh_token') || self.grantTypes.exists(g, g == 'authorization_code' || g == 'urn:ietf:params:oauth:grant-type:device_code' || g == 'password')",message="refresh_token needs a grant that issues refresh tokens: add authorization_code, urn:ietf:params:oauth:grant-type:device_code or password (client_credentials never issues one)"
type OAuthClientSpec struct {
	// clientID is the OAuth client_id. It defaults to <namespace>.<name> and
	// cannot be set, changed or removed after creation. Unreserved URI
	// characters only (A-Z a-z 0-9 - . _ ~).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._~-]+$`
	ClientID string `json:"clientID,omitempty"`

	// type is Confidential (the default: the client keeps a secret) or Public
	// (no secret; PKCE is always required).
	// +optional
	// +kubebuilder:default=Confidential
	Type ClientType `json:"type,omitempty"`

	// redirectURIs are the exact redirection endpoints of the
	// authorization_code grant: https, or http only for loopback hosts; no
	// fragment, wildcard or user information; at most 32.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	RedirectURIs []RedirectURI `json:"redirectURIs,omitempty"`

	// postLogoutRedirectURIs are where the end-session endpoint
	// (/oauth2/logout, OpenID Connect RP-Initiated Logout 1.0) may send the
	// browser after signing out, compared exactly (no loopback port
	// exception): https, or http only for loopback hosts; no fragment,
	// wildcard or user information; at most 32.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	PostLogoutRedirectURIs []RedirectURI `json:"postLogoutRedirectURIs,omitempty"`

	// grantTypes the client uses. The GrantPolicy may allow fewer; status
	// shows the effective set and why.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5
	GrantTypes []GrantType `json:"grantTypes"`

	// scopes the client may request. The GrantPolicy may allow fewer; status
	// shows the effective set and why.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Scopes []Scope `json:"scopes,omitempty"`

	// grantPolicyRef names the GrantPolicy in this namespace that governs the
	// client. Without it, a GrantPolicy named "default" in the namespace
	// applies, else the built-in defaults (docs/user-guide.md).
	// +optional
	GrantPolicyRef *LocalObjectReference `json:"grantPolicyRef,omitempty"`

	// tokenEndpointAuthMethod is how the client authenticates at the token
	// endpoint. Defaults to client_secret_basic for Confidential clients and
	// none for Public clients; private_key_jwt needs public keys in
	// authentication; a client with authentication.serviceAccount leaves it
	// unset.
	// +optional
	TokenEndpointAuthMethod TokenEndpointAuthMethod `json:"tokenEndpointAuthMethod,omitempty"`

	// secret says where a Confidential client's secret comes from. Without
	// it (and without authentication), the controller generates a 256-bit
	// secret into the credentials Secret it owns. Public clients have none.
	// +optional
	Secret *ClientSecretSpec `json:"secret,omitempty"`

	// authentication makes a Confidential client secretless: it
	// authenticates as a ServiceAccount of its namespace (workload
	// identity), or with private_key_jwt against the public keys given
	// here. Such a client has no client secret anywhere: its credentials
	// Secret holds client_id and the endpoint URLs only.
	// +optional
	Authentication *ClientAuthenticationSpec `json:"authentication,omitempty"`

	// audiences are the aud values of the client's access tokens when a
	// request names no resource (RFC 8707). Each must be the audience of a
	// ResourceServer that grants this client; any other is left out of the
	// tokens and the AudiencesGranted condition says why.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	Audiences []string `json:"audiences,omitempty"`

	// dpopBoundAccessTokens (RFC 9449 §5.2's client metadata) makes every
	// token request of the client carry a DPoP proof, whatever its
	// GrantPolicy says: its access tokens are always DPoP-bound. Requests
	// without a proof get invalid_dpop_proof.
	// +optional
	DPoPBoundAccessTokens bool `json:"dpopBoundAccessTokens,omitempty"`

	// displayName is the name shown to people on consent and device pages.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`

	// disabled turns the client off: every request from it gets
	// invalid_client, while its configuration and credentials are kept.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
}

// OAuthClientStatus is the observed state of an OAuthClient.
type OAuthClientStatus struct {
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, SecretReady, PolicyResolved, GrantTypesAllowed,
	// ScopesAllowed, RefreshTokenRotationAllowed, ClientIDAllowed,
	// ClientIDAvailable, AudiencesGranted, and Reconciling/Stalled while true
	// (written by the controller); AuthErrors (written by the authorization
	// server).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// clientID is the effective client_id.
	// +optional
	ClientID string `json:"clientID,omitempty"`

	// credentialsSecretName is the Secret in this namespace holding client_id,
	// client_secret (Confidential clients) and the endpoint URLs. A client
	// with spec.authentication has no secret and no such Secret: see
	// credentialsConfigMapName.
	// +optional
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`

	// credentialsConfigMapName is the ConfigMap in this namespace holding
	// client_id and the endpoint URLs of a client with spec.authentication
	// (it has no secret, so nothing of it is kept in a Secret).
	// +optional
	CredentialsConfigMapName string `json:"credentialsConfigMapName,omitempty"`

	// grantTypes are the effective grant types: the client's, allowed by its policy.
	// +optional
	// +listType=set
	GrantTypes []GrantType `json:"grantTypes,omitempty"`

	// scopes are the effective scopes: the client's, allowed by its policy.
	// +optional
	// +listType=set
	Scopes []Scope `json:"scopes,omitempty"`

	// grantPolicy is the GrantPolicy that governs the client, empty when the
	// built-in defaults apply.
	// +optional
	GrantPolicy string `json:"grantPolicy,omitempty"`

	// audiences are the audiences (resource indicators) the client may get
	// tokens for: those of the ResourceServers that grant it.
	// +optional
	// +listType=set
	Audiences []string `json:"audiences,omitempty"`

	// previousSecretValidUntil is when the previous client secret stops
	// working during a rotation; unset when only one secret is valid.
	// +optional
	PreviousSecretValidUntil *metav1.Time `json:"previousSecretValidUntil,omitempty"`

	// servedReplicas says how many live authorization server replicas
	// serve the client as compiled, as "<serving>/<live>" (for example
	// "1/2" while one replica is behind); empty when the client is not
	// in the snapshot, or no replica acknowledges what it serves.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	ServedReplicas string `json:"servedReplicas,omitempty"`
}

// OAuthClient is an OAuth 2.0 client registered with the authops
// authorization server.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=oac,categories=authops
// +kubebuilder:printcolumn:name="Client ID",type=string,JSONPath=`.status.clientID`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Served",type=string,JSONPath=`.status.servedReplicas`
// +kubebuilder:printcolumn:name="Auth-Errors",type=string,JSONPath=`.status.conditions[?(@.type=="AuthErrors")].reason`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OAuthClient struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired client.
	// +required
	Spec OAuthClientSpec `json:"spec"`

	// status is the observed state, written by the controller.
	// +optional
	Status OAuthClientStatus `json:"status,omitempty"`
}

// OAuthClientList is a list of OAuthClients.
// +kubebuilder:object:root=true
type OAuthClientList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OAuthClient `json:"items"`
}

func init() {
	SchemeBuilder.Register(&OAuthClient{}, &OAuthClientList{})
}
