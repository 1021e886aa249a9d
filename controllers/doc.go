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

// Package controllers holds the control plane: one reconciler per kind
// (OAuthClient, GrantPolicy, Account, ClusterGrantPolicy) that compiles the
// CRDs into the snapshot the authorization server serves. The RBAC markers below are the manager's
// permissions; config/rbac/role.yaml is generated from them.
package controllers

// OAuthClients and Accounts: read, and patch to add or remove the finalizer.
// +kubebuilder:rbac:groups=oauth.authops.io,resources=oauthclients;accounts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=oauth.authops.io,resources=oauthclients/finalizers;accounts/finalizers,verbs=update
// GrantPolicies are only read.
// +kubebuilder:rbac:groups=oauth.authops.io,resources=grantpolicies,verbs=get;list;watch
// Status of all three is patched.
// +kubebuilder:rbac:groups=oauth.authops.io,resources=oauthclients/status;grantpolicies/status;accounts/status,verbs=get;patch
// Secrets: referenced client and password Secrets are read in every
// namespace (and watched, metadata only); credentials Secrets, generated
// client Secrets and the snapshot are written.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// Events through the events.k8s.io API.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
