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

import "github.com/authops/authops/authserver/snapshot"

// The enum values below are the snapshot package's constants (the data
// plane's contract): one spelling for the control and the data plane. The
// +kubebuilder:validation:Enum markers must repeat them as literals.

// GrantType is an OAuth 2.0 grant type, as sent in the grant_type parameter of
// a token request.
// +kubebuilder:validation:Enum=authorization_code;refresh_token;client_credentials;urn:ietf:params:oauth:grant-type:device_code;password
type GrantType string

const (
	// GrantTypeAuthorizationCode is the authorization code grant (RFC 6749 §4.1), with PKCE (RFC 7636).
	GrantTypeAuthorizationCode GrantType = snapshot.GrantAuthorizationCode
	// GrantTypeRefreshToken is the refresh token grant (RFC 6749 §6).
	GrantTypeRefreshToken GrantType = snapshot.GrantRefreshToken
	// GrantTypeClientCredentials is the client credentials grant (RFC 6749 §4.4).
	GrantTypeClientCredentials GrantType = snapshot.GrantClientCredentials
	// GrantTypeDeviceCode is the device authorization grant (RFC 8628).
	GrantTypeDeviceCode GrantType = snapshot.GrantDeviceCode
	// GrantTypePassword is the resource owner password credentials grant (RFC 6749 §4.3).
	GrantTypePassword GrantType = snapshot.GrantPassword
)

// AllGrantTypes lists every grant type authops knows, in a stable order
// (snapshot.GrantTypes, the data plane's list).
var AllGrantTypes = func() []GrantType {
	out := make([]GrantType, len(snapshot.GrantTypes))
	for i, g := range snapshot.GrantTypes {
		out[i] = GrantType(g)
	}
	return out
}()

// Scope is one OAuth 2.0 scope token (RFC 6749 §3.3: printable ASCII without
// space, double quote or backslash).
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
// +kubebuilder:validation:Pattern=`^[\x21\x23-\x5B\x5D-\x7E]+$`
type Scope string

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the referenced object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretKeyReference names a key of a Secret in the same namespace.
type SecretKeyReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the Secret's data. The default depends on where the reference
	// is used and is documented there.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}
