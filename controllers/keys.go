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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"reflect"
	"slices"
	"time"

	"github.com/google/uuid"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/authops/authops/authserver/snapshot"
)

// MaxTokenLifetime is the longest an access token can live (the bound of
// GrantPolicy accessTokenLifetime): a key stays published this long after
// it last signed.
const MaxTokenLifetime = 24 * time.Hour

// KeyRotationConfig says how signing keys rotate.
type KeyRotationConfig struct {
	// RotationPeriod is how long each key signs.
	RotationPeriod time.Duration
	// PublishAhead is how long a new key is in the JWKS before it signs, so
	// that verifiers caching the JWKS know it first. Less than RotationPeriod.
	PublishAhead time.Duration
	// MaxTokenLifetime is how long a key stays published after it stops signing.
	MaxTokenLifetime time.Duration
	// NewKey returns a fresh key (ID, algorithm and private key set).
	NewKey func() (snapshot.Key, error)
}

// Validate says what is wrong with the configuration.
func (c KeyRotationConfig) Validate() error {
	switch {
	case c.RotationPeriod < time.Minute:
		return errors.New("the signing key rotation period must be at least 1m")
	case c.PublishAhead <= 0 || c.PublishAhead >= c.RotationPeriod:
		return errors.New("signing keys must be published ahead for more than 0s and less than the rotation period")
	case c.MaxTokenLifetime <= 0:
		return errors.New("the maximum token lifetime must be positive")
	case c.NewKey == nil:
		return errors.New("no key generator")
	}
	return nil
}

// RotateKeys returns the key set at now and when it next has to change.
// Keys whose tokens have all expired are dropped. Exactly one key signs: the
// first key signs at once (no token exists yet to verify with an older
// JWKS); each later key is published PublishAhead before its predecessor
// stops signing, signs for RotationPeriod, and stays published for
// MaxTokenLifetime after.
func RotateKeys(now time.Time, current snapshot.KeySet, cfg KeyRotationConfig) (snapshot.KeySet, time.Time, error) {
	now = now.UTC().Truncate(time.Second)
	var keys []snapshot.Key
	for _, k := range current.Keys {
		if k.PublishUntil.After(now) {
			keys = append(keys, k)
		}
	}
	newKey := func(publishFrom, signFrom time.Time) error {
		k, err := cfg.NewKey()
		if err != nil {
			return err
		}
		k.PublishFrom = publishFrom
		k.SignFrom = signFrom
		k.SignUntil = signFrom.Add(cfg.RotationPeriod)
		k.PublishUntil = k.SignUntil.Add(cfg.MaxTokenLifetime)
		keys = append(keys, k)
		return nil
	}
	signer := func() *snapshot.Key {
		for i := range keys {
			if !keys[i].SignFrom.After(now) && keys[i].SignUntil.After(now) {
				return &keys[i]
			}
		}
		return nil
	}
	if signer() == nil {
		if err := newKey(now, now); err != nil {
			return current, now, err
		}
	}
	s := *signer()
	successor := slices.ContainsFunc(keys, func(k snapshot.Key) bool { return k.SignFrom.After(now) })
	if !successor && !now.Before(s.SignUntil.Add(-cfg.PublishAhead)) {
		if err := newKey(now, s.SignUntil); err != nil {
			return current, now, err
		}
		successor = true
	}
	slices.SortFunc(keys, func(a, b snapshot.Key) int { return a.SignFrom.Compare(b.SignFrom) })

	next := s.SignUntil.Add(-cfg.PublishAhead)
	if successor {
		next = s.SignUntil
	}
	for _, k := range keys {
		if k.PublishUntil.Before(next) {
			next = k.PublishUntil
		}
	}
	return snapshot.KeySet{Keys: keys}, next, nil
}

// NewES256Key generates a P-256 key; its kid is derived from the public key.
func NewES256Key() (snapshot.Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return snapshot.Key{}, err
	}
	pemKey, err := snapshot.EncodePrivateKey(priv)
	if err != nil {
		return snapshot.Key{}, err
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return snapshot.Key{}, err
	}
	sum := sha256.Sum256(der)
	return snapshot.Key{ID: base64.RawURLEncoding.EncodeToString(sum[:16]), Algorithm: "ES256", PrivateKeyPEM: pemKey}, nil
}

// KeyRotator keeps the signing key set Secret (snapshot.KeySetSecretName in
// the operator namespace) rotated. It runs on the leader only.
type KeyRotator struct {
	Client    client.Client
	APIReader client.Reader
	Clock     clock.Clock
	Namespace string
	Config    KeyRotationConfig
	// RetryInterval is how long to wait after a failure (default 10s).
	RetryInterval time.Duration
}

// NeedLeaderElection makes the rotator run on the leader only.
func (k *KeyRotator) NeedLeaderElection() bool { return true }

// Start rotates now and whenever the key set next has to change (at least
// hourly, so a removed Secret comes back), until ctx ends.
func (k *KeyRotator) Start(ctx context.Context) error {
	log := ctrl.Log.WithName("keyrotator")
	retry := k.RetryInterval
	if retry == 0 {
		retry = 10 * time.Second
	}
	for {
		next, err := k.Rotate(ctx)
		wait := min(max(next.Sub(k.Clock.Now()), time.Second), time.Hour)
		if err != nil {
			log.Error(err, "Rotating the signing keys failed", "retryIn", retry)
			wait = retry
		}
		select {
		case <-ctx.Done():
			return nil
		case <-k.Clock.After(wait):
		}
	}
}

// Rotate brings the key set Secret up to date once and returns when it
// next has to change.
func (k *KeyRotator) Rotate(ctx context.Context) (time.Time, error) {
	store := snapshotStore{client: k.Client, reader: k.APIReader, namespace: k.Namespace}
	entry, err := store.read(ctx, snapshot.KeySetSecretName)
	if err != nil {
		return time.Time{}, err
	}
	existing := entry.doc
	doc := snapshot.Document{
		Kind:   snapshot.KindKeySet,
		Source: snapshot.Source{Kind: "KeySet", Name: snapshot.KeySetSecretName, UID: uuid.NewString()},
		KeySet: &snapshot.KeySet{},
	}
	if existing != nil && existing.KeySet != nil {
		doc = *existing
	}
	keys, next, err := RotateKeys(k.Clock.Now(), *doc.KeySet, k.Config)
	if err != nil {
		return time.Time{}, err
	}
	if existing != nil && reflect.DeepEqual(keys, *existing.KeySet) {
		return next, nil
	}
	doc.KeySet = &keys
	if err := store.write(ctx, entry, doc); err != nil {
		return time.Time{}, err
	}
	kids := make([]string, 0, len(keys.Keys))
	for _, key := range keys.Keys {
		kids = append(kids, key.ID)
	}
	ctrl.Log.WithName("keyrotator").Info("Updated the signing key set", "kids", kids, "nextChange", next)
	return next, nil
}
