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

// PKCEMode says when PKCE (RFC 7636) is required. Only the S256 method is
// ever accepted; plain is not.
// +kubebuilder:validation:Enum=Required;Optional
type PKCEMode string

const (
	// PKCERequired: every authorization request needs an S256 code_challenge.
	PKCERequired PKCEMode = snapshot.PKCERequired
	// PKCEOptional: Confidential clients may omit PKCE; Public clients still need it.
	PKCEOptional PKCEMode = snapshot.PKCEOptional
)

// PushedAuthorizationRequestsMode says whether authorization requests must
// be pushed first (RFC 9126).
// +kubebuilder:validation:Enum=Required;Optional
type PushedAuthorizationRequestsMode string

const (
	// PushedAuthorizationRequestsRequired: the authorization endpoint takes
	// only requests pushed to the pushed authorization request endpoint and
	// referred to by their request_uri.
	PushedAuthorizationRequestsRequired PushedAuthorizationRequestsMode = snapshot.PARRequired
	// PushedAuthorizationRequestsOptional: clients may push their
	// authorization requests or send them in the browser's URL.
	PushedAuthorizationRequestsOptional PushedAuthorizationRequestsMode = snapshot.PAROptional
)

// DPoPMode says whether token requests must carry a DPoP proof (RFC 9449).
// +kubebuilder:validation:Enum=Required;Optional
type DPoPMode string

const (
	// DPoPRequired: every token request needs a DPoP proof; every access
	// token is DPoP-bound.
	DPoPRequired DPoPMode = snapshot.DPoPRequired
	// DPoPOptional: a request with a DPoP proof gets DPoP-bound tokens, one
	// without gets bearer tokens.
	DPoPOptional DPoPMode = snapshot.DPoPOptional
)

// DPoPNonceMode says whether DPoP proofs must carry a nonce the server
// issued (RFC 9449 §8).
// +kubebuilder:validation:Enum=Required;NotRequired
type DPoPNonceMode string

const (
	// DPoPNonceRequired: a proof without the server's current nonce gets
	// use_dpop_nonce and the nonce to use (DPoP-Nonce header).
	DPoPNonceRequired DPoPNonceMode = snapshot.DPoPNonceRequired
	// DPoPNonceNotRequired: proofs need no nonce.
	DPoPNonceNotRequired DPoPNonceMode = snapshot.DPoPNonceNotRequired
)

// ConsentMode says when the user is asked to approve a client's access.
// +kubebuilder:validation:Enum=Auto;Prompt
type ConsentMode string

const (
	// ConsentAuto grants without asking (first-party clients).
	ConsentAuto ConsentMode = snapshot.ConsentAuto
	// ConsentPrompt asks once per account, client and scope set, and
	// remembers the answer.
	ConsentPrompt ConsentMode = snapshot.ConsentPrompt
)

// ErrorProfile selects how the authorization server reports errors.
// +kubebuilder:validation:Enum=Extended;RFC
type ErrorProfile string

const (
	// ErrorProfileExtended is the documented error table (the default):
	// account_locked, account_disabled, authorization_pending,
	// authorization_expired and slow_down with HTTP 401, not_supported 400.
	ErrorProfileExtended ErrorProfile = snapshot.ErrorProfileExtended
	// ErrorProfileRFC is strict RFC behaviour: RFC 8628's 400 and
	// expired_token, 405 with Allow for wrong methods, invalid_grant for
	// locked or disabled accounts.
	ErrorProfileRFC ErrorProfile = snapshot.ErrorProfileRFC
)

// RefreshTokenRotation says whether a refresh token is replaced on every use.
// +kubebuilder:validation:Enum=Rotate;Reuse
type RefreshTokenRotation string

const (
	// RefreshTokenRotate issues a new refresh token on every refresh; the old
	// one stops working and presenting it again revokes the whole family.
	RefreshTokenRotate RefreshTokenRotation = snapshot.RotationRotate
	// RefreshTokenReuse keeps the same refresh token until it expires.
	RefreshTokenReuse RefreshTokenRotation = snapshot.RotationReuse
)

// LockoutSpec locks an Account after repeated failed logins.
type LockoutSpec struct {
	// maxFailedAttempts within window that lock the account. Between 1 and
	// 100; the default is 5.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxFailedAttempts int32 `json:"maxFailedAttempts,omitempty"`

	// window in which failed attempts are counted. Between 1m and 24h; the
	// default is 15m.
	// +optional
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="lockout.window must be a duration (such as 90s, 15m or 1h30m) between 1m and 24h"
	Window *metav1.Duration `json:"window,omitempty"`

	// duration of a lock; logins get account_locked until it ends. Between 1m
	// and 24h; the default is 15m.
	// +optional
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="lockout.duration must be a duration (such as 90s, 15m or 1h30m) between 1m and 24h"
	Duration *metav1.Duration `json:"duration,omitempty"`
}

// GrantPolicySpec is what the clients governed by a policy may do.
// +kubebuilder:validation:XValidation:rule="!has(self.defaultScopes) || !has(self.allowedScopes) || self.defaultScopes.all(s, s in self.allowedScopes)",message="every defaultScopes entry must also be in allowedScopes"
// +kubebuilder:validation:XValidation:rule="!has(self.accessTokenLifetime) || !has(self.refreshTokenLifetime) || !self.accessTokenLifetime.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || !self.refreshTokenLifetime.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self.accessTokenLifetime) <= duration(self.refreshTokenLifetime)",message="accessTokenLifetime must not be longer than refreshTokenLifetime"
type GrantPolicySpec struct {
	// allowedGrantTypes clients governed by this policy may use; token
	// requests with any other get unauthorized_client. The default is
	// authorization_code, refresh_token, client_credentials and
	// urn:ietf:params:oauth:grant-type:device_code (password must be allowed
	// explicitly).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5
	// +kubebuilder:default={"authorization_code","refresh_token","client_credentials","urn:ietf:params:oauth:grant-type:device_code"}
	AllowedGrantTypes []GrantType `json:"allowedGrantTypes,omitempty"`

	// allowedScopes clients may request; requests for others get
	// invalid_scope. Unset allows every scope a client lists.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	AllowedScopes []Scope `json:"allowedScopes,omitempty"`

	// defaultScopes are granted when a request names no scope. Each must be
	// in allowedScopes (when that is set).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	DefaultScopes []Scope `json:"defaultScopes,omitempty"`

	// pkce is Required (the default) or Optional. Only S256 is accepted, and
	// Public clients always need it.
	// +optional
	// +kubebuilder:default=Required
	PKCE PKCEMode `json:"pkce,omitempty"`

	// pushedAuthorizationRequests is Optional (the default) or Required.
	// Required: the authorization endpoint takes only authorization requests
	// the client pushed first to the pushed authorization request endpoint
	// (RFC 9126) and refers to by their request_uri; any other gets
	// invalid_request. The pushed parameters then never travel through the
	// browser, and the client authenticates before the person is asked to
	// sign in.
	// +optional
	// +kubebuilder:default=Optional
	PushedAuthorizationRequests PushedAuthorizationRequestsMode `json:"pushedAuthorizationRequests,omitempty"`

	// dpop is Optional (the default: tokens are DPoP-bound when the token
	// request carries a DPoP proof, RFC 9449) or Required (every token
	// request must carry one; without it the client gets
	// invalid_dpop_proof).
	// +optional
	// +kubebuilder:default=Optional
	DPoP DPoPMode `json:"dpop,omitempty"`

	// dpopNonce is NotRequired (the default) or Required: every DPoP proof
	// must carry a nonce the server issued (RFC 9449 §8); without it the
	// client gets use_dpop_nonce and the nonce to use in the DPoP-Nonce
	// header.
	// +optional
	// +kubebuilder:default=NotRequired
	DPoPNonce DPoPNonceMode `json:"dpopNonce,omitempty"`

	// consent is Prompt (the default: ask once per account, client and
	// scopes) or Auto (never ask).
	// +optional
	// +kubebuilder:default=Prompt
	Consent ConsentMode `json:"consent,omitempty"`

	// accessTokenLifetime is how long access tokens live. Between 1m and 24h;
	// the default is 1h.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="accessTokenLifetime must be a duration (such as 90s, 15m or 1h30m) between 1m and 24h"
	AccessTokenLifetime *metav1.Duration `json:"accessTokenLifetime,omitempty"`

	// refreshTokenLifetime is how long refresh tokens live. Between 1h and
	// 2160h (90 days); the default is 720h (30 days).
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1h') && duration(self) <= duration('2160h')",message="refreshTokenLifetime must be a duration (such as 90s, 15m or 1h30m) between 1h and 2160h (90 days)"
	RefreshTokenLifetime *metav1.Duration `json:"refreshTokenLifetime,omitempty"`

	// authorizationCodeLifetime is how long an authorization code can be
	// exchanged. Between 10s and 10m (RFC 6749 §4.1.2); the default is 1m.
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('10s') && duration(self) <= duration('10m')",message="authorizationCodeLifetime must be a duration (such as 90s, 15m or 1h30m) between 10s and 10m"
	AuthorizationCodeLifetime *metav1.Duration `json:"authorizationCodeLifetime,omitempty"`

	// deviceCodeLifetime is how long a device code waits for the user.
	// Between 1m and 30m; the default is 10m.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('30m')",message="deviceCodeLifetime must be a duration (such as 90s, 15m or 1h30m) between 1m and 30m"
	DeviceCodeLifetime *metav1.Duration `json:"deviceCodeLifetime,omitempty"`

	// refreshTokenRotation is Rotate (the default: a new refresh token on
	// every use, reuse of an old one revokes the family) or Reuse.
	// +optional
	// +kubebuilder:default=Rotate
	RefreshTokenRotation RefreshTokenRotation `json:"refreshTokenRotation,omitempty"`

	// refreshTokenReuseGrace is how long after a refresh token was rotated
	// presenting it again still works: it gets a new refresh token of the
	// same family instead of revoking the family (two concurrent refreshes,
	// or a retry after a lost answer). After the grace a presentation is
	// reuse and revokes the family. Whole seconds between 0s (strict) and
	// 60s; the default is 2s. It applies under rotation only (Rotate, and
	// Public clients always).
	// +optional
	// +kubebuilder:default="2s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('0s') && duration(self) <= duration('60s')",message="refreshTokenReuseGrace must be a duration (such as 0s, 2s or 30s) between 0s and 60s"
	RefreshTokenReuseGrace *metav1.Duration `json:"refreshTokenReuseGrace,omitempty"`

	// devicePollInterval is the minimum interval between device token polls
	// (RFC 8628 §3.5). Between 1s and 60s; the default is 5s.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('60s')",message="devicePollInterval must be a duration (such as 90s, 15m or 1h30m) between 1s and 60s"
	DevicePollInterval *metav1.Duration `json:"devicePollInterval,omitempty"`

	// lockout locks Accounts after repeated failed logins. The default is 5
	// failures in 15m lock for 15m.
	// +optional
	// +kubebuilder:default={}
	Lockout *LockoutSpec `json:"lockout,omitempty"`

	// errorProfile is Extended (the default: the documented error table) or
	// RFC (strict RFC 6749/8628 errors, for clients that need them).
	// +optional
	// +kubebuilder:default=Extended
	ErrorProfile ErrorProfile `json:"errorProfile,omitempty"`
}

// GrantPolicyStatus is the observed state of a GrantPolicy.
type GrantPolicyStatus struct {
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, WithinClusterPolicy, and Reconciling/Stalled
	// while true.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// clients is how many OAuthClients this policy governs.
	// +optional
	Clients int32 `json:"clients,omitempty"`
	// servedReplicas says how many live authorization server replicas
	// serve the policy as now resolved (every client it governs compiled with it), as "<serving>/<live>" (for example "1/2" while one
	// replica is behind); empty when no replica acknowledges what it
	// serves.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	ServedReplicas string `json:"servedReplicas,omitempty"`
}

// GrantPolicy says what the OAuthClients that use it may do: grant types,
// scopes, PKCE, DPoP, consent, lifetimes, lockout and error profile.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gp,categories=authops
// +kubebuilder:printcolumn:name="Clients",type=integer,JSONPath=`.status.clients`
// +kubebuilder:printcolumn:name="Profile",type=string,JSONPath=`.spec.errorProfile`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Served",type=string,JSONPath=`.status.servedReplicas`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GrantPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired policy; every field has a default, so an empty
	// spec is the documented default policy.
	// +optional
	// +kubebuilder:default={}
	Spec GrantPolicySpec `json:"spec,omitempty"`

	// status is the observed state, written by the controller.
	// +optional
	Status GrantPolicyStatus `json:"status,omitempty"`
}

// GrantPolicyList is a list of GrantPolicies.
// +kubebuilder:object:root=true
type GrantPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GrantPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&GrantPolicy{}, &GrantPolicyList{})
}
