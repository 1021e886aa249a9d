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

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxDocumentSize bounds a document (a Secret holds at most 1 MiB anyway).
const MaxDocumentSize = 1 << 20

var (
	knownClientTypes  = []string{ClientConfidential, ClientPublic}
	knownAuthMethods  = []string{AuthClientSecretBasic, AuthClientSecretPost, AuthNone, AuthPrivateKeyJWT, AuthServiceAccountToken}
	knownPKCE         = []string{PKCERequired, PKCEOptional}
	knownPAR          = []string{"", PARRequired, PAROptional}
	knownConsent      = []string{ConsentPrompt, ConsentAuto}
	knownDPoP         = []string{"", DPoPRequired, DPoPOptional}
	knownDPoPNonce    = []string{"", DPoPNonceRequired, DPoPNonceNotRequired}
	knownProfiles     = []string{ErrorProfileExtended, ErrorProfileRFC}
	knownRotation     = []string{RotationRotate, RotationReuse}
	errWrongPayload   = errors.New("exactly one of client, account, keySet, resourceServer and grantPolicy must be set, matching kind")
	errNotPositive    = errors.New("must be positive")
	errUnknownVersion = errors.New("unknown snapshot version")
)

// Encode validates d, stamps it with [Version] and returns its JSON.
func Encode(d Document) ([]byte, error) {
	d.Version = Version
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(d)
}

// Decode parses and validates one document. The error says what is wrong
// without echoing secret material.
func Decode(data []byte) (Document, error) {
	var d Document
	if len(data) > MaxDocumentSize {
		return d, fmt.Errorf("snapshot document is %d bytes, more than %d", len(data), MaxDocumentSize)
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return Document{}, fmt.Errorf("snapshot document is not valid JSON: %w", err)
	}
	if err := d.Validate(); err != nil {
		return Document{}, err
	}
	return d, nil
}

// Validate checks a document's structure and values.
func (d Document) Validate() error {
	if d.Version != Version {
		return fmt.Errorf("%w %q (this server reads %q)", errUnknownVersion, d.Version, Version)
	}
	if d.Source.Name == "" || d.Source.UID == "" {
		return errors.New("source.name and source.uid are required")
	}
	payloads := 0
	for _, set := range []bool{d.Client != nil, d.Account != nil, d.KeySet != nil, d.ResourceServer != nil, d.GrantPolicy != nil} {
		if set {
			payloads++
		}
	}
	switch {
	case payloads != 1:
		return fmt.Errorf("kind %q: %w", d.Kind, errWrongPayload)
	case d.Kind == KindClient && d.Client != nil:
		return wrap("client", d.Client.validate())
	case d.Kind == KindAccount && d.Account != nil:
		return wrap("account", d.Account.validate())
	case d.Kind == KindKeySet && d.KeySet != nil:
		return wrap("keySet", d.KeySet.validate())
	case d.Kind == KindResourceServer && d.ResourceServer != nil:
		return wrap("resourceServer", d.ResourceServer.validate())
	case d.Kind == KindPolicy && d.GrantPolicy != nil:
		if d.Source.Namespace == "" {
			return errors.New("source.namespace is required")
		}
		return wrap("grantPolicy", d.GrantPolicy.validate(d.Source.Name))
	default:
		return fmt.Errorf("kind %q: %w", d.Kind, errWrongPayload)
	}
}

func wrap(field string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", field, err)
}

func oneOf(field, v string, allowed []string) error {
	if !slices.Contains(allowed, v) {
		return fmt.Errorf("%s %q is not one of %v", field, v, allowed)
	}
	return nil
}

func (c *Client) validate() error {
	if c.ID == "" || c.Namespace == "" {
		return errors.New("id and namespace are required")
	}
	errs := []error{
		oneOf("type", c.Type, knownClientTypes),
		oneOf("tokenEndpointAuthMethod", c.TokenEndpointAuthMethod, knownAuthMethods),
	}
	for _, g := range append(slices.Clone(c.GrantTypes), c.RequestedGrantTypes...) {
		errs = append(errs, oneOf("grant type", g, GrantTypes))
	}
	errs = append(errs, validateDigests(c.Secrets)...)
	for i, r := range c.Resources {
		if r.Audience == "" {
			errs = append(errs, fmt.Errorf("resources[%d].audience is required", i))
		}
	}
	if c.Type == ClientPublic && len(c.Secrets) > 0 {
		errs = append(errs, errors.New("a Public client has no secrets"))
	}
	errs = append(errs, c.validateSecretless())
	errs = append(errs, c.Policy.validate())
	if c.PolicyUID != "" && c.Policy.Name == "" {
		errs = append(errs, errors.New("policyUID names a GrantPolicy, and needs policy.name"))
	}
	return errors.Join(errs...)
}

func (p *GrantPolicy) validate(name string) error {
	errs := []error{p.Policy.validate()}
	if p.Policy.Name != name {
		errs = append(errs, fmt.Errorf("policy.name %q is not the source's name %q", p.Policy.Name, name))
	}
	for _, g := range p.AllowedGrantTypes {
		errs = append(errs, oneOf("allowed grant type", g, GrantTypes))
	}
	if p.AnyScope && len(p.AllowedScopes) > 0 {
		errs = append(errs, errors.New("anyScope and allowedScopes exclude each other"))
	}
	return errors.Join(errs...)
}

// validateSecretless checks the credentials of the secretless methods: a
// private_key_jwt client has a key set that ParseJWKS accepts, a
// ServiceAccount client its ServiceAccount, and neither has secrets.
func (c *Client) validateSecretless() error {
	switch c.TokenEndpointAuthMethod {
	case AuthPrivateKeyJWT:
		if _, err := ParseJWKS(c.JWKS); err != nil {
			return fmt.Errorf("jwks: %w", err)
		}
	case AuthServiceAccountToken:
		if c.ServiceAccount == nil || c.ServiceAccount.Subject == "" {
			return errors.New("a kubernetes_service_account_token client needs serviceAccount.subject")
		}
	default:
		if len(c.JWKS) > 0 || c.ServiceAccount != nil {
			return fmt.Errorf("jwks and serviceAccount belong to private_key_jwt and %s clients only", AuthServiceAccountToken)
		}
		return nil
	}
	if c.Type != ClientConfidential || len(c.Secrets) > 0 {
		return fmt.Errorf("a %s client is Confidential and has no secrets", c.TokenEndpointAuthMethod)
	}
	return nil
}

func validateDigests(digests []SecretDigest) []error {
	var errs []error
	for i, s := range digests {
		if b, err := hex.DecodeString(s.SHA256); err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("secrets[%d].sha256 is not a hex SHA-256 digest", i))
		}
	}
	return errs
}

func (r *ResourceServer) validate() error {
	var errs []error
	if r.ID == "" || r.Namespace == "" || r.Audience == "" {
		errs = append(errs, errors.New("id, namespace and audience are required"))
	}
	if !strings.Contains(r.ID, "/") {
		errs = append(errs, fmt.Errorf("id %q must contain \"/\" (client IDs never do)", r.ID))
	}
	return errors.Join(append(errs, validateDigests(r.Secrets)...)...)
}

func (p *Policy) validate() error {
	errs := []error{
		oneOf("policy.pkce", p.PKCE, knownPKCE),
		oneOf("policy.pushedAuthorizationRequests", p.PushedAuthorizationRequests, knownPAR),
		oneOf("policy.consent", p.Consent, knownConsent),
		oneOf("policy.dpop", p.DPoP, knownDPoP),
		oneOf("policy.dpopNonce", p.DPoPNonce, knownDPoPNonce),
		oneOf("policy.errorProfile", p.ErrorProfile, knownProfiles),
		oneOf("policy.refreshTokenRotation", p.RefreshTokenRotation, knownRotation),
	}
	for name, v := range map[string]int64{
		"accessTokenLifetimeSeconds":       p.AccessTokenLifetimeSeconds,
		"refreshTokenLifetimeSeconds":      p.RefreshTokenLifetimeSeconds,
		"authorizationCodeLifetimeSeconds": p.AuthorizationCodeLifetimeSeconds,
		"deviceCodeLifetimeSeconds":        p.DeviceCodeLifetimeSeconds,
		"devicePollIntervalSeconds":        p.DevicePollIntervalSeconds,
		"lockoutWindowSeconds":             p.LockoutWindowSeconds,
		"lockoutDurationSeconds":           p.LockoutDurationSeconds,
		"lockoutMaxFailedAttempts":         int64(p.LockoutMaxFailedAttempts),
	} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("policy.%s: %w", name, errNotPositive))
		}
	}
	if g := p.RefreshTokenReuseGraceSeconds; g < 0 || g > MaxRefreshTokenReuseGraceSeconds {
		errs = append(errs, fmt.Errorf("policy.refreshTokenReuseGraceSeconds must be between 0 and %d", MaxRefreshTokenReuseGraceSeconds))
	}
	return errors.Join(errs...)
}

func (a *Account) validate() error {
	if a.Subject == "" || a.Namespace == "" || a.Username == "" {
		return errors.New("subject, namespace and username are required")
	}
	return nil
}

func (k *KeySet) validate() error {
	var errs []error
	for i, key := range k.Keys {
		if key.ID == "" || key.Algorithm != AlgES256 {
			errs = append(errs, fmt.Errorf("keys[%d]: kid is required and alg must be ES256", i))
			continue
		}
		if _, err := key.PrivateKey(); err != nil {
			errs = append(errs, fmt.Errorf("keys[%d] (kid %s): %w", i, key.ID, err))
		}
		if key.SignFrom.Before(key.PublishFrom) || !key.SignUntil.After(key.SignFrom) || key.PublishUntil.Before(key.SignUntil) {
			errs = append(errs, fmt.Errorf("keys[%d] (kid %s): want publishFrom <= signFrom < signUntil <= publishUntil", i, key.ID))
		}
	}
	return errors.Join(errs...)
}

// PrivateKey parses the key's PEM as a P-256 ECDSA private key.
func (k Key) PrivateKey() (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(k.PrivateKeyPEM))
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("privateKeyPEM is not a PEM \"PRIVATE KEY\" block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("privateKeyPEM is not a PKCS #8 private key")
	}
	ec, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("privateKeyPEM is not a P-256 ECDSA key (ES256 needs one)")
	}
	return ec, nil
}

// EncodePrivateKey returns the PKCS #8 PEM of an ECDSA key, for [Key].
func EncodePrivateKey(k *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}
