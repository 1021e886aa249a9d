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

package snapshot

// The values of a document's enumerated fields. They are the contract
// between the control plane (package api/v1alpha1 names its enums with the
// same constants) and the data plane, which compares through them, never
// through bare strings.

// Client types ([Client.Type]).
const (
	ClientConfidential = "Confidential"
	ClientPublic       = "Public"
)

// Client authentication methods ([Client.TokenEndpointAuthMethod], RFC 7591
// §2).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthNone              = "none"
	// AuthPrivateKeyJWT: a JWT client assertion signed with the client's
	// private key (RFC 7523 §2.2, OpenID Connect Core §9).
	AuthPrivateKeyJWT = "private_key_jwt"
	// AuthServiceAccountToken (authops only, never advertised as a
	// token_endpoint_auth_method): the client assertion is the projected
	// token of a Kubernetes ServiceAccount (workload identity), signed by
	// the cluster's ServiceAccount issuer.
	AuthServiceAccountToken = "kubernetes_service_account_token"
)

// ClientAssertionJWTBearer is RFC 7523's client_assertion_type.
const ClientAssertionJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionAlgorithms are the JWS algorithms a private_key_jwt assertion
// may be signed with (token_endpoint_auth_signing_alg_values_supported): no
// "none", no HMAC.
var AssertionAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}

// Grant types ([Client.GrantTypes]), as sent in the grant_type parameter.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
	// GrantDeviceCode is RFC 8628's grant type.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// GrantTypes is every grant type, in the order the server's metadata
// advertises them (grant_types_supported). It is the one list: the
// authorization server's grant table, its metrics and the validation of
// documents derive from it.
var GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantPassword, GrantDeviceCode}

// PKCE modes ([Policy.PKCE]).
const (
	PKCERequired = "Required"
	PKCEOptional = "Optional"
)

// Pushed authorization request modes ([Policy.PushedAuthorizationRequests]).
const (
	PARRequired = "Required"
	PAROptional = "Optional"
)

// DPoP modes ([Policy.DPoP], RFC 9449): Required makes every token request
// of the policy's clients carry a DPoP proof; Optional binds tokens only
// when a proof is sent. "" (a document of an older control plane) is
// Optional.
const (
	DPoPRequired = "Required"
	DPoPOptional = "Optional"
)

// DPoP nonce modes ([Policy.DPoPNonce], RFC 9449 §8): Required makes every
// DPoP proof of the policy's clients carry a nonce the server issued. ""
// is NotRequired.
const (
	DPoPNonceRequired    = "Required"
	DPoPNonceNotRequired = "NotRequired"
)

// DPoPAlgorithms are the JWS algorithms a DPoP proof may be signed with
// (dpop_signing_alg_values_supported): asymmetric only, no "none", no HMAC.
var DPoPAlgorithms = []string{"ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// Consent modes ([Policy.Consent]).
const (
	ConsentPrompt = "Prompt"
	ConsentAuto   = "Auto"
)

// Error profiles ([Policy.ErrorProfile]); package oautherr's Profile values.
const (
	ErrorProfileExtended = "Extended"
	ErrorProfileRFC      = "RFC"
)

// Refresh token rotation ([Policy.RefreshTokenRotation]).
const (
	RotationRotate = "Rotate"
	RotationReuse  = "Reuse"
)

// AlgES256 is the one signing algorithm ([Key.Algorithm]).
const AlgES256 = "ES256"
