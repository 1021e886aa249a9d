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

// Condition types. Every kind always carries Ready; Reconciling and Stalled
// follow kstatus and are present only while true.
const (
	// ReadyCondition is True when the object is compiled into the snapshot the
	// authorization server serves, and says in its message what requests get.
	ReadyCondition = "Ready"
	// ReconcilingCondition is True while the controller is working towards the
	// object's desired state (kstatus): a new generation, a retry after a
	// transient error (reason Progressing), or waiting for an object it needs
	// (reason: the waiting reason, the same as Ready's). It is removed once
	// the work is done.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is True when the controller cannot progress without a
	// change by the user (kstatus). It is removed once that change is made.
	StalledCondition = "Stalled"

	// SecretReadyCondition (OAuthClient) reports whether the client secret is
	// available: generated, or read from the referenced Secret.
	SecretReadyCondition = "SecretReady"
	// PolicyResolvedCondition (OAuthClient) reports whether the GrantPolicy
	// that governs the client was found.
	PolicyResolvedCondition = "PolicyResolved"
	// GrantTypesAllowedCondition (OAuthClient) is False when the policy
	// removes some of the client's grant types; token requests using them get
	// unauthorized_client.
	GrantTypesAllowedCondition = "GrantTypesAllowed"
	// ScopesAllowedCondition (OAuthClient) is False when the policy removes
	// some of the client's scopes; requests for them get invalid_scope.
	ScopesAllowedCondition = "ScopesAllowed"
	// RefreshTokenRotationAllowedCondition (OAuthClient) is False when the
	// policy's refreshTokenRotation does not apply to the client: a Public
	// client's refresh tokens always rotate (RFC 9700 §4.14.2), whatever the
	// policy says.
	RefreshTokenRotationAllowedCondition = "RefreshTokenRotationAllowed"
	// ClientIDAvailableCondition (OAuthClient) is False when another, older
	// OAuthClient in another namespace already uses the same clientID.
	ClientIDAvailableCondition = "ClientIDAvailable"
	// ClientIDAllowedCondition (OAuthClient) is False when the namespace may
	// not use the client's clientID: it neither starts with
	// "<namespace>." nor is granted to the namespace by a
	// ClusterGrantPolicy (spec.clientIDs), or it is granted to another
	// namespace. The client is not served.
	ClientIDAllowedCondition = "ClientIDAllowed"
	// AudiencesGrantedCondition (OAuthClient) is False when some of
	// spec.audiences is not granted to the client by the ResourceServer
	// owning it (or no ResourceServer claims it): tokens do not carry it and
	// requests naming it as resource get invalid_target.
	AudiencesGrantedCondition = "AudiencesGranted"

	// WithinClusterPolicyCondition (GrantPolicy) is False when a
	// ClusterGrantPolicy caps the GrantPolicy; the message says what was cut
	// and by which ClusterGrantPolicy.
	WithinClusterPolicyCondition = "WithinClusterPolicy"
	// ClientIDsGrantedCondition (ClusterGrantPolicy) is False when some of
	// its clientIDs grants overlap another namespace's grant (this or
	// another ClusterGrantPolicy) and so are granted to neither.
	ClientIDsGrantedCondition = "ClientIDsGranted"
	// AudienceClaimedCondition (ResourceServer) is True when the
	// ResourceServer owns its audience; False when an older ResourceServer
	// claims it or a ClusterGrantPolicy does not let the namespace claim it.
	AudienceClaimedCondition = "AudienceClaimed"

	// PasswordReadyCondition (Account) reports whether the password Secret
	// exists and holds a usable password.
	PasswordReadyCondition = "PasswordReady"
	// ServedCondition is present (False, reason ReplicaBehind) only while a
	// live authserver replica has not served the object's change for longer
	// than the manager's --served-lag-bound; it names the replicas behind.
	ServedCondition = "Served"

	// LockedCondition (Account) is written by the authorization server, not
	// the controller: True while the account is locked after too many failed
	// logins (the message says until when), False otherwise.
	LockedCondition = "Locked"
	// AuthErrorsCondition (OAuthClient) is written by the authorization
	// server, not the controller: True while the client's requests failed
	// within the recent window, with the most frequent error code as reason
	// and the count per code in the message; False after a quiet window.
	AuthErrorsCondition = "AuthErrors"
)

// AuthServerConditions are the condition types the authorization server owns
// (server-side apply, field manager authops-authserver). The controllers
// never set, change or remove them.
var AuthServerConditions = []string{LockedCondition, AuthErrorsCondition}

// Condition reasons. They are CamelCase, stable and documented in
// docs/user-guide.md with what to do about each.
const (
	// ReconciledReason: the object is compiled into the snapshot.
	ReconciledReason = "Reconciled"
	// ProgressingReason: the controller is working on a new generation.
	ProgressingReason = "Progressing"
	// NotYetServedReason (Ready False, Reconciling True): the object is
	// compiled into the snapshot, but not every live authserver replica
	// serves that version yet (or fewer replicas are live than the
	// manager's --min-served-replicas); the message says how many do.
	NotYetServedReason = "NotYetServed"
	// ReplicaBehindReason (condition Served False, and a Warning Event): a
	// live authserver replica has not served the object's change for
	// longer than the manager's --served-lag-bound; the message names it.
	ReplicaBehindReason = "ReplicaBehind"
	// InvalidSpecReason: the spec passed apply-time validation but cannot be
	// served; the message says what to change.
	InvalidSpecReason = "InvalidSpec"
	// DisabledReason: spec.disabled is true; requests get invalid_client (for
	// a client) or account_disabled (for an account).
	DisabledReason = "Disabled"

	// GeneratedReason: the controller generated the client secret.
	GeneratedReason = "Generated"
	// ReferencedReason: the client secret was read from the referenced Secret.
	ReferencedReason = "Referenced"
	// PublicClientReason: a Public client has no secret (SecretReady=True).
	PublicClientReason = "PublicClient"
	// SecretNotFoundReason: the referenced Secret does not exist (and
	// onMissing is Wait); token requests get invalid_client.
	SecretNotFoundReason = "SecretNotFound"
	// KeyMissingReason: the referenced Secret has no such key.
	KeyMissingReason = "KeyMissing"
	// WeakSecretReason: the referenced secret is shorter than 32 characters.
	WeakSecretReason = "WeakSecret"
	// ServiceAccountReason (SecretReady=True): the client has no secret;
	// it authenticates as a ServiceAccount of its namespace (workload
	// identity).
	ServiceAccountReason = "ServiceAccount"
	// ServiceAccountNotFoundReason: the ServiceAccount named in
	// authentication.serviceAccount does not exist (waiting for it).
	ServiceAccountNotFoundReason = "ServiceAccountNotFound"
	// PublicKeysReason (SecretReady=True): the client has no secret; it
	// authenticates with private_key_jwt against its public keys.
	PublicKeysReason = "PublicKeys"
	// JWKSNotFoundReason: the Secret named in authentication.jwksSecretRef
	// does not exist (waiting for it).
	JWKSNotFoundReason = "JWKSNotFound"
	// InvalidJWKSReason: the client's public keys are refused (not a key
	// set, a private or symmetric key, a weak RSA key, an algorithm that
	// does not fit, too many keys); stalled until they are fixed.
	InvalidJWKSReason = "InvalidJWKS"

	// PolicyFoundReason: the named GrantPolicy, or the namespace's default, governs the client.
	PolicyFoundReason = "PolicyFound"
	// BuiltinDefaultsReason: no GrantPolicy is named and the namespace has no
	// GrantPolicy called "default", so the built-in defaults apply.
	BuiltinDefaultsReason = "BuiltinDefaults"
	// PolicyNotFoundReason: the GrantPolicy named in grantPolicyRef does not exist.
	PolicyNotFoundReason = "PolicyNotFound"

	// AllowedReason: every grant type (or scope) of the client is allowed,
	// or the policy's refreshTokenRotation applies to it.
	AllowedReason = "Allowed"
	// UnauthorizedClientReason: the policy removes at least one grant type;
	// token requests with it get unauthorized_client.
	UnauthorizedClientReason = "UnauthorizedClient"
	// InvalidScopeReason: the policy removes at least one scope; requests for
	// it get invalid_scope.
	InvalidScopeReason = "InvalidScope"
	// PublicClientRotatesReason (RefreshTokenRotationAllowed=False): the
	// policy says Reuse, but the client is Public: its refresh tokens rotate.
	PublicClientRotatesReason = "PublicClientRotates"
	// NoUsableGrantReason: the policy leaves the client no grant type at all.
	NoUsableGrantReason = "NoUsableGrant"

	// ClaimedReason: the client owns its clientID (ClientIDAvailable=True).
	ClaimedReason = "Claimed"
	// ClientIDConflictReason: an older OAuthClient already uses this clientID.
	ClientIDConflictReason = "ClientIDConflict"
	// ClientIDPermittedReason: the clientID starts with "<namespace>." or is
	// granted to the namespace (ClientIDAllowed=True).
	ClientIDPermittedReason = "ClientIDPermitted"
	// ClientIDNotPermittedReason: the clientID neither starts with
	// "<namespace>." nor is granted to the namespace by a ClusterGrantPolicy,
	// or it is granted to another namespace.
	ClientIDNotPermittedReason = "ClientIDNotPermitted"

	// GrantedReason: every audience of the client is granted
	// (AudiencesGranted=True); every clientIDs grant of a
	// ClusterGrantPolicy is in force (ClientIDsGranted=True).
	GrantedReason = "Granted"
	// AudienceNotGrantedReason: an audience of the client is not granted by
	// the ResourceServer owning it, or no ResourceServer claims it.
	AudienceNotGrantedReason = "AudienceNotGranted"

	// WithinCeilingReason: no ClusterGrantPolicy caps the GrantPolicy.
	WithinCeilingReason = "WithinCeiling"
	// CappedByClusterPolicyReason: a ClusterGrantPolicy cut something the
	// GrantPolicy asks for.
	CappedByClusterPolicyReason = "CappedByClusterPolicy"
	// ClientIDGrantConflictReason: a clientIDs grant overlaps another
	// namespace's.
	ClientIDGrantConflictReason = "ClientIDGrantConflict"

	// AudienceConflictReason: an older ResourceServer already claims the
	// audience.
	AudienceConflictReason = "AudienceConflict"
	// AudienceNotPermittedReason: a ClusterGrantPolicy restricts audiences
	// and none lets the namespace claim this one.
	AudienceNotPermittedReason = "AudienceNotPermitted"

	// PasswordSecretNotFoundReason: the Account's password Secret does not exist.
	PasswordSecretNotFoundReason = "PasswordSecretNotFound"
	// PasswordEmptyReason: the password Secret's key is missing or empty.
	PasswordEmptyReason = "PasswordEmpty"
	// PasswordSetReason: the password was read and hashed.
	PasswordSetReason = "PasswordSet"

	// TooManyFailedLoginsReason (Locked=True): the lockout policy's maximum of
	// failed logins was reached; logins get account_locked until the time in
	// the message.
	TooManyFailedLoginsReason = "TooManyFailedLogins"
	// NotLockedReason (Locked=False): logins are not blocked.
	NotLockedReason = "NotLocked"

	// NoRecentErrorsReason (AuthErrors=False): no failed requests in the
	// recent window.
	NoRecentErrorsReason = "NoRecentErrors"
	// The reasons of AuthErrors=True are the most frequent error code of the
	// recent window in CamelCase (UnauthorizedClientReason and
	// InvalidScopeReason above serve too).

	// InvalidClientReason: client authentication failed (unknown secret,
	// wrong method).
	InvalidClientReason = "InvalidClient"
	// InvalidGrantReason: a code, refresh token, device code or password was
	// wrong, expired or used up.
	InvalidGrantReason = "InvalidGrant"
	// InvalidTargetReason: requests named a resource (RFC 8707) the client
	// is not granted.
	InvalidTargetReason = "InvalidTarget"
	// InvalidDPoPProofReason: token requests carried a DPoP proof that
	// failed a check, or none where the client must send one
	// (invalid_dpop_proof, RFC 9449).
	InvalidDPoPProofReason = "InvalidDpopProof"
	// UseDPoPNonceReason: DPoP proofs lacked the server's nonce
	// (use_dpop_nonce; a client retrying with the nonce clears it).
	UseDPoPNonceReason = "UseDpopNonce"
	// InvalidRequestReason: malformed requests.
	InvalidRequestReason = "InvalidRequest"
	// UnsupportedGrantTypeReason: a grant type this server does not serve.
	UnsupportedGrantTypeReason = "UnsupportedGrantType"
	// NotSupportedReason: a wrong HTTP method.
	NotSupportedReason = "NotSupported"
	// AccessDeniedReason: the person denied the request.
	AccessDeniedReason = "AccessDenied"
	// AccountLockedReason: logins through the client hit a locked account.
	AccountLockedReason = "AccountLocked"
	// AccountDisabledReason: logins or redemptions for a disabled account.
	AccountDisabledReason = "AccountDisabled"
	// SlowDownReason: the device polled faster than its interval.
	SlowDownReason = "SlowDown"
	// AuthorizationExpiredReason: the device polled with an expired device code.
	AuthorizationExpiredReason = "AuthorizationExpired"
	// ExpiredTokenReason: the same under the RFC error profile.
	ExpiredTokenReason = "ExpiredToken"
)
