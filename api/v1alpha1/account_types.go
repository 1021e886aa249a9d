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

// AccountSpec is a person (or robot) who can log in to the authorization
// server's pages.
// +kubebuilder:validation:XValidation:rule="has(self.username) && size(self.username) > 0",message="an Account needs a username: set spec.username"
type AccountSpec struct {
	// username is what the person types on the login page, and the sub of
	// their tokens together with the namespace. Letters, digits and . _ @ + -.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._@+-]+$`
	Username string `json:"username"`

	// passwordSecretRef names the Secret (in the Account's namespace) and key
	// holding the password; the key defaults to "password". The controller
	// stores only a bcrypt hash of it.
	// +required
	PasswordSecretRef SecretKeyReference `json:"passwordSecretRef"`

	// disabled refuses every login: requests get account_disabled.
	// +optional
	Disabled bool `json:"disabled,omitempty"`

	// email is the account's e-mail address (the OIDC email claim).
	// +optional
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	Email string `json:"email,omitempty"`

	// groups the account belongs to (the groups claim).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	Groups []string `json:"groups,omitempty"`

	// displayName is shown on pages and is the OIDC name claim.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`
}

// AccountStatus is the observed state of an Account.
type AccountStatus struct {
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// lastLoginTime is when the account last logged in successfully (login
	// page, device page or password grant), written by the authorization
	// server.
	// +optional
	LastLoginTime *metav1.Time `json:"lastLoginTime,omitempty"`

	// conditions: Ready, PasswordReady, and Reconciling/Stalled while true
	// (written by the controller); Locked (written by the authorization server).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	// servedReplicas says how many live authorization server replicas
	// serve the account as compiled, as "<serving>/<live>" (for example "1/2" while one
	// replica is behind); empty when no replica acknowledges what it
	// serves.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	ServedReplicas string `json:"servedReplicas,omitempty"`
}

// Account is a user of the authorization server's login pages.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=acct,categories=authops
// +kubebuilder:printcolumn:name="Username",type=string,JSONPath=`.spec.username`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Served",type=string,JSONPath=`.status.servedReplicas`
// +kubebuilder:printcolumn:name="Locked",type=string,JSONPath=`.status.conditions[?(@.type=="Locked")].status`
// +kubebuilder:printcolumn:name="Last-Login",type=date,JSONPath=`.status.lastLoginTime`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Account struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired account.
	// +required
	Spec AccountSpec `json:"spec"`

	// status is the observed state, written by the controller.
	// +optional
	Status AccountStatus `json:"status,omitempty"`
}

// AccountList is a list of Accounts.
// +kubebuilder:object:root=true
type AccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Account `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Account{}, &AccountList{})
}
