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

package plugin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/controllers"
)

// token requests a token with the client_credentials grant, authenticating
// with the client_id and client_secret of the client's credentials Secret
// (status.credentialsSecretName) as the client's tokenEndpointAuthMethod
// says, at the token endpoint that Secret names (or --token-url).
func token(ctx context.Context, c client.Client, ns, name string, o options, out io.Writer) error {
	obj := &oauthv1alpha1.OAuthClient{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		return fmt.Errorf("OAuthClient %s/%s: %w", ns, name, err)
	}
	style := oauth2.AuthStyleInHeader
	switch method := controllers.EffectiveAuthMethod(obj.Spec); method {
	case oauthv1alpha1.AuthMethodClientSecretBasic:
	case oauthv1alpha1.AuthMethodClientSecretPost:
		style = oauth2.AuthStyleInParams
	default:
		return fmt.Errorf("OAuthClient %s/%s has no client secret (token endpoint auth method %s): kubectl authops token works only for clients "+
			"that authenticate with client_secret_basic or client_secret_post; get a token the way its application does", ns, name, method)
	}
	if obj.Status.CredentialsSecretName == "" {
		return fmt.Errorf("OAuthClient %s/%s has no credentials Secret yet (status.credentialsSecretName is empty): see its Ready condition", ns, name)
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: obj.Status.CredentialsSecretName}, secret); err != nil {
		return fmt.Errorf("the credentials Secret of OAuthClient %s/%s: %w", ns, name, err)
	}
	cc := clientcredentials.Config{
		ClientID:     string(secret.Data[controllers.CredentialClientID]),
		ClientSecret: string(secret.Data[controllers.CredentialClientSecret]),
		TokenURL:     string(secret.Data[controllers.CredentialTokenEndpoint]),
		Scopes:       o.scopes,
		AuthStyle:    style,
	}
	if o.tokenURL != "" {
		cc.TokenURL = o.tokenURL
	}
	if cc.ClientID == "" || cc.ClientSecret == "" || cc.TokenURL == "" {
		return fmt.Errorf("the credentials Secret %s/%s lacks %s, %s or %s", ns, secret.Name,
			controllers.CredentialClientID, controllers.CredentialClientSecret, controllers.CredentialTokenEndpoint)
	}
	tok, err := cc.Token(ctx)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return fmt.Errorf("the token endpoint %s answered %d %s: %s (kubectl authops explain %s -n %s says what the client may request)",
			cc.TokenURL, re.Response.StatusCode, re.ErrorCode, re.ErrorDescription, name, ns)
	}
	if err != nil {
		return fmt.Errorf("requesting a token from %s: %w", cc.TokenURL, err)
	}
	fmt.Fprintf(out, "token_type: %s\nexpires: %s\n", tok.Type(), tok.Expiry.UTC().Format("2006-01-02T15:04:05Z"))
	if s, ok := tok.Extra("scope").(string); ok {
		fmt.Fprintf(out, "scope: %s\n", s)
	}
	if claims := jwtClaims(tok.AccessToken); claims != "" {
		fmt.Fprintf(out, "claims: %s\n", claims)
	}
	if o.showToken {
		fmt.Fprintf(out, "access_token: %s\n", tok.AccessToken)
	}
	return nil
}

// jwtClaims is the payload of a JWT access token as compact JSON, unverified
// (for reading only), or "" when the token is not a JWT.
func jwtClaims(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !json.Valid(payload) {
		return ""
	}
	return string(payload)
}
