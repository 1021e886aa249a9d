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
)

// ClusterGrantPolicySpec is the platform team's ceiling over the GrantPolicies
// of the namespaces it selects, and the registry of what a namespace may
// claim outside its own names: client IDs that do not start with
// "<namespace>." and audiences of ResourceServers.
//
// Every ClusterGrantPolicy whose namespaceSelector matches a namespace caps
// it: the most restrictive one wins for each setting. A namespace GrantPolicy
// (or the built-in defaults) that asks for more is capped, and its status
// says what was cut and by which ClusterGrantPolicy.
type ClusterGrantPolicySpec struct {
	// namespaceSelector picks the namespaces the ceiling (allowedGrantTypes,
	// the maximum lifetimes, pkce, dpop, dpopNonce, allowedErrorProfiles)
	// applies to. Unset
	// or empty selects every namespace. clientIDs and audiences name their
	// namespaces themselves and ignore it.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// allowedGrantTypes are the only grant types a GrantPolicy of a selected
	// namespace may allow. Unset allows every grant type.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	AllowedGrantTypes []GrantType `json:"allowedGrantTypes,omitempty"`

	// maxAccessTokenLifetime caps accessTokenLifetime.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="maxAccessTokenLifetime must be a duration (such as 90s, 15m or 1h30m) between 1m and 24h"
	MaxAccessTokenLifetime *metav1.Duration `json:"maxAccessTokenLifetime,omitempty"`

	// maxRefreshTokenLifetime caps refreshTokenLifetime.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1h') && duration(self) <= duration('2160h')",message="maxRefreshTokenLifetime must be a duration (such as 90s, 15m or 1h30m) between 1h and 2160h (90 days)"
	MaxRefreshTokenLifetime *metav1.Duration `json:"maxRefreshTokenLifetime,omitempty"`

	// maxAuthorizationCodeLifetime caps authorizationCodeLifetime.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('10s') && duration(self) <= duration('10m')",message="maxAuthorizationCodeLifetime must be a duration (such as 90s, 15m or 1h30m) between 10s and 10m"
	MaxAuthorizationCodeLifetime *metav1.Duration `json:"maxAuthorizationCodeLifetime,omitempty"`

	// maxDeviceCodeLifetime caps deviceCodeLifetime.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('30m')",message="maxDeviceCodeLifetime must be a duration (such as 90s, 15m or 1h30m) between 1m and 30m"
	MaxDeviceCodeLifetime *metav1.Duration `json:"maxDeviceCodeLifetime,omitempty"`

	// pkce Required makes PKCE required for every client of a selected
	// namespace, whatever its GrantPolicy says. Unset leaves it to the
	// GrantPolicy.
	// +optional
	PKCE PKCEMode `json:"pkce,omitempty"`

	// pushedAuthorizationRequests Required makes every client of a selected
	// namespace push its authorization requests (RFC 9126), whatever its
	// GrantPolicy says. Unset (or Optional) leaves it to the GrantPolicy.
	// +optional
	PushedAuthorizationRequests PushedAuthorizationRequestsMode `json:"pushedAuthorizationRequests,omitempty"`

	// dpop Required makes DPoP (RFC 9449) required for every client of a
	// selected namespace, whatever its GrantPolicy says. Unset leaves it
	// to the GrantPolicy.
	// +optional
	DPoP DPoPMode `json:"dpop,omitempty"`

	// dpopNonce Required makes DPoP nonces required for every client of a
	// selected namespace, whatever its GrantPolicy says. Unset leaves it to
	// the GrantPolicy.
	// +optional
	DPoPNonce DPoPNonceMode `json:"dpopNonce,omitempty"`

	// allowedErrorProfiles are the error profiles a GrantPolicy of a selected
	// namespace may choose; a GrantPolicy choosing another gets the first of
	// this list. Unset allows both.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=2
	AllowedErrorProfiles []ErrorProfile `json:"allowedErrorProfiles,omitempty"`

	// clientIDs grant client IDs (or prefixes) outside "<namespace>." to one
	// namespace each. An ID granted here belongs to that namespace only: a
	// client elsewhere with it is not served. An ID or prefix granted to two
	// namespaces (by this or another ClusterGrantPolicy) is granted to
	// neither, and the ClientIDsGranted condition says which.
	// +optional
	// +listType=map
	// +listMapKey=namespace
	// +kubebuilder:validation:MaxItems=256
	ClientIDs []ClientIDGrant `json:"clientIDs,omitempty"`

	// audiences, when any ClusterGrantPolicy sets them, restrict which
	// namespaces' ResourceServers may claim which audiences: a
	// ResourceServer may claim an audience only if it starts with a prefix
	// granted to its namespace here. While no ClusterGrantPolicy sets them,
	// any namespace may claim any audience nobody has claimed.
	// +optional
	// +listType=map
	// +listMapKey=namespace
	// +kubebuilder:validation:MaxItems=256
	Audiences []AudienceGrant `json:"audiences,omitempty"`
}

// ClientIDGrant gives one namespace client IDs outside its own prefix.
// +kubebuilder:validation:XValidation:rule="(has(self.ids) && size(self.ids) > 0) || (has(self.prefixes) && size(self.prefixes) > 0)",message="a clientIDs entry needs ids or prefixes"
type ClientIDGrant struct {
	// namespace that may use the IDs.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`

	// ids are exact client IDs.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9._~-]+$`
	IDs []string `json:"ids,omitempty"`

	// prefixes: every client ID starting with one of them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9._~-]+$`
	Prefixes []string `json:"prefixes,omitempty"`
}

// AudienceGrant lets one namespace's ResourceServers claim audiences.
type AudienceGrant struct {
	// namespace whose ResourceServers may claim the audiences.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`

	// prefixes of the audiences (URIs) they may claim, such as
	// https://payments.example.com/.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	Prefixes []string `json:"prefixes"`
}

// ClusterGrantPolicyStatus is the observed state of a ClusterGrantPolicy.
type ClusterGrantPolicyStatus struct {
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, ClientIDsGranted, and Reconciling/Stalled while
	// true.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// namespaces is how many namespaces the ceiling selects.
	// +optional
	Namespaces int32 `json:"namespaces,omitempty"`

	// cappedPolicies is how many GrantPolicies (and namespaces on the
	// built-in defaults with clients) it caps.
	// +optional
	CappedPolicies int32 `json:"cappedPolicies,omitempty"`
}

// ClusterGrantPolicy is the platform team's ceiling over namespaces'
// GrantPolicies, and the registry of client IDs and audiences namespaces may
// claim. Cluster-scoped; only cluster administrators manage it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cgp,categories=authops
// +kubebuilder:printcolumn:name="Namespaces",type=integer,JSONPath=`.status.namespaces`
// +kubebuilder:printcolumn:name="Capped",type=integer,JSONPath=`.status.cappedPolicies`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterGrantPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the ceiling and the grants.
	// +optional
	Spec ClusterGrantPolicySpec `json:"spec,omitempty"`

	// status is written by the controller.
	// +optional
	Status ClusterGrantPolicyStatus `json:"status,omitempty"`
}

// ClusterGrantPolicyList is a list of ClusterGrantPolicies.
// +kubebuilder:object:root=true
type ClusterGrantPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterGrantPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ClusterGrantPolicy{}, &ClusterGrantPolicyList{})
}
