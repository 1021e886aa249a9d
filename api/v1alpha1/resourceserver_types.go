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

// ResourceServerSpec declares an API that accepts the authorization server's
// access tokens: its audience, the scopes it defines, and which clients may
// get tokens for it.
// +kubebuilder:validation:XValidation:rule="!has(self.clients) || !has(self.scopes) || self.clients.all(c, !has(c.scopes) || c.scopes.all(s, s in self.scopes))",message="every clients[].scopes entry must be one of spec.scopes"
type ResourceServerSpec struct {
	// audience is the API's identifier: the aud of the access tokens issued
	// for it and its RFC 8707 resource indicator. An absolute URI without a
	// fragment, such as https://payments.example.com/. It belongs to the
	// first ResourceServer that claims it (a ClusterGrantPolicy may restrict
	// which namespaces may claim which audiences).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="isURL(self) && size(url(self).getScheme()) > 0 && size(url(self).getHostname()) > 0",message="audience must be an absolute URI with a host, such as https://payments.example.com/"
	// +kubebuilder:validation:XValidation:rule="!self.contains('#')",message="audience must not contain a fragment (#...): RFC 8707 section 2 forbids it"
	Audience string `json:"audience"`

	// scopes the API defines. A token for this audience carries one of them
	// only if the client is granted it below.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Scopes []Scope `json:"scopes,omitempty"`

	// clients may get tokens for this audience, each entry with the scopes
	// it may have. A client matches an entry if its namespace matches
	// namespaceSelector or it is named in clients.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Clients []ResourceServerGrant `json:"clients,omitempty"`

	// secret says where the ResourceServer's introspection credentials come
	// from; by default the controller generates them into a Secret it owns,
	// named <name>-resourceserver. The API calls the introspection endpoint
	// with client_id = status.clientID and this secret.
	// +optional
	Secret *ClientSecretSpec `json:"secret,omitempty"`
}

// ResourceServerGrant grants clients tokens for the ResourceServer's
// audience.
// +kubebuilder:validation:XValidation:rule="has(self.namespaceSelector) || (has(self.clientRefs) && size(self.clientRefs) > 0)",message="a clients entry needs namespaceSelector or clientRefs"
type ResourceServerGrant struct {
	// namespaceSelector matches the namespaces whose every client is granted.
	// An empty selector matches every namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// clientRefs name single clients.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	ClientRefs []ClientReference `json:"clientRefs,omitempty"`

	// scopes of spec.scopes the matching clients may have for this audience.
	// Unset grants none of them (tokens for the audience, without its
	// scopes).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Scopes []Scope `json:"scopes,omitempty"`
}

// ClientReference names an OAuthClient, in the referring object's namespace
// unless namespace is set.
type ClientReference struct {
	// namespace of the OAuthClient; defaults to the ResourceServer's.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$`
	Namespace string `json:"namespace,omitempty"`

	// name of the OAuthClient.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// ResourceServerStatus is the observed state of a ResourceServer.
type ResourceServerStatus struct {
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, AudienceClaimed, SecretReady, and
	// Reconciling/Stalled while true.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// clientID is what the API authenticates with at the introspection
	// endpoint: rs/<namespace>/<name>.
	// +optional
	ClientID string `json:"clientID,omitempty"`

	// credentialsSecretName is the Secret holding clientID, client_secret
	// and the introspection endpoint URL.
	// +optional
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`

	// clients is how many OAuthClients are granted the audience.
	// +optional
	Clients int32 `json:"clients,omitempty"`
	// servedReplicas says how many live authorization server replicas
	// serve the ResourceServer as compiled, as "<serving>/<live>" (for example "1/2" while one
	// replica is behind); empty when no replica acknowledges what it
	// serves.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	ServedReplicas string `json:"servedReplicas,omitempty"`
}

// ResourceServer is an API that accepts access tokens of the authops
// authorization server (RFC 9068), and the clients that may get them.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rsv,categories=authops
// +kubebuilder:printcolumn:name="Audience",type=string,JSONPath=`.spec.audience`
// +kubebuilder:printcolumn:name="Clients",type=integer,JSONPath=`.status.clients`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Served",type=string,JSONPath=`.status.servedReplicas`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ResourceServer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the API and its grants.
	// +required
	Spec ResourceServerSpec `json:"spec"`

	// status is written by the controller.
	// +optional
	Status ResourceServerStatus `json:"status,omitempty"`
}

// ResourceServerList is a list of ResourceServers.
// +kubebuilder:object:root=true
type ResourceServerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResourceServer `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ResourceServer{}, &ResourceServerList{})
}
