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

package controllers

import (
	"context"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// Event reasons beyond the Ready reasons.
const (
	// EventSecretGenerated: the controller generated a client secret.
	EventSecretGenerated = "SecretGenerated"
	// EventSecretRotated: the client secret changed; the previous one stays
	// valid for the overlap window.
	EventSecretRotated = "SecretRotated"
)

// Keys of the credentials Secret.
const (
	CredentialClientID                    = "client_id"
	CredentialClientSecret                = "client_secret"
	CredentialIssuer                      = "issuer"
	CredentialAuthorizationEndpoint       = "authorization_endpoint"
	CredentialTokenEndpoint               = "token_endpoint"
	CredentialDeviceAuthorizationEndpoint = "device_authorization_endpoint"
	CredentialJWKSURI                     = "jwks_uri"
	CredentialPushedAuthorizationEndpoint = "pushed_authorization_request_endpoint"
)

// reconcileSecret finds the client secret of a Confidential client (see
// secretSteps.find): read from the referenced Secret, or generated; or the
// credential of a client without a secret (reconcileSecretless). Sets
// SecretReady; Ready=False with SecretNotFound (waiting), KeyMissing or
// WeakSecret (stalled).
func (r *OAuthClientReconciler) reconcileSecret(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (outcome, error) {
	if obj.Spec.Authentication != nil {
		return r.reconcileSecretless(ctx, obj, st)
	}
	if clientType(obj.Spec) == oauthv1alpha1.ClientTypePublic {
		setCondition(&obj.Status.Conditions, obj.Generation, oauthv1alpha1.SecretReadyCondition, metav1.ConditionTrue, oauthv1alpha1.PublicClientReason,
			"a Public client has no secret: it sends only client_id, and PKCE protects its authorization codes")
		return proceed, nil
	}
	return r.secretSteps().find(ctx, r.secretHolder(obj), &st.secretState)
}

// reconcileCredentials writes the owned credentials Secret an application
// mounts: client_id, client_secret (Confidential clients) and the endpoint
// URLs. Sets no condition; records SecretGenerated once the Secret holds a
// secret the controller generated.
//
// A client with spec.authentication has no secret, so nothing of it is kept
// in a Secret: its credentials (client_id and the endpoint URLs) are in an
// owned ConfigMap of the same name instead, and a credentials Secret left
// from before it had spec.authentication is deleted (the secret in it no
// longer works). The other way round, the ConfigMap is deleted.
func (r *OAuthClientReconciler) reconcileCredentials(ctx context.Context, obj *oauthv1alpha1.OAuthClient, st *clientState) (outcome, error) {
	h := r.secretHolder(obj)
	steps := r.secretSteps()
	if obj.Spec.Authentication != nil {
		if err := r.writeCredentialsConfigMap(ctx, obj, st, h.credentials); err != nil {
			return proceed, err
		}
		if err := steps.removeCredentials(ctx, h, &st.secretState); err != nil {
			return proceed, err
		}
		obj.Status.CredentialsSecretName, obj.Status.CredentialsConfigMapName = "", h.credentials
		return proceed, nil
	}
	if err := steps.writeCredentials(ctx, h, &st.secretState, r.credentialsData(st)); err != nil {
		return proceed, err
	}
	if err := r.removeCredentialsConfigMap(ctx, obj, st, h.credentials); err != nil {
		return proceed, err
	}
	obj.Status.CredentialsSecretName, obj.Status.CredentialsConfigMapName = h.credentials, ""
	return proceed, nil
}

// secretHolder describes the client to the secret steps.
func (r *OAuthClientReconciler) secretHolder(obj *oauthv1alpha1.OAuthClient) secretHolder {
	return secretHolder{obj: obj, kind: "OAuthClient", conditions: &obj.Status.Conditions, spec: obj.Spec.Secret,
		credentials: obj.Name + CredentialsSecretSuffix, requests: "token requests"}
}

// secretSteps keeps the client secret: referenced Secrets are read from the
// API server, the Secrets the controller writes from Owned.
func (r *OAuthClientReconciler) secretSteps() secretSteps {
	return secretSteps{client: r.Client, apiReader: r.APIReader, owned: r.ownedReader(), recorder: r.Recorder}
}

// credentialsData is the content of the credentials Secret.
func (r *OAuthClientReconciler) credentialsData(st *clientState) map[string][]byte {
	issuer := strings.TrimSuffix(r.Issuer, "/")
	data := map[string][]byte{
		CredentialClientID:                    []byte(st.clientID),
		CredentialIssuer:                      []byte(issuer),
		CredentialAuthorizationEndpoint:       []byte(issuer + "/oauth2/authorize"),
		CredentialTokenEndpoint:               []byte(issuer + "/oauth2/token"),
		CredentialDeviceAuthorizationEndpoint: []byte(issuer + "/oauth2/device_authorization"),
		CredentialJWKSURI:                     []byte(issuer + "/oauth2/jwks"),
		CredentialPushedAuthorizationEndpoint: []byte(issuer + "/oauth2/par"),
	}
	if st.secret != "" {
		data[CredentialClientSecret] = []byte(st.secret)
	}
	return data
}
