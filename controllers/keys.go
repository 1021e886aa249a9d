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
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
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

// Forced rotation: setting AnnotationRotateSigningKey on the key set
// Secret to a new value (kubectl annotate --overwrite) rotates now, with
// the overlap of the routine rotation. The manager publishes a fresh key
// at once (PublishNextKey) and records the value in
// AnnotationSigningKeyRotating; once every live authserver replica serves
// that key set (the served Leases), the fresh key signs
// (SwitchToNextKey), and the value moves to AnnotationSigningKeyRotated.
// The previous key stays published until its last token expires.
const (
	// AnnotationRotateSigningKey, set by a person to any new value on the
	// key set Secret, asks for a rotation now.
	AnnotationRotateSigningKey = "oauth.authops.io/rotate-signing-key"
	// AnnotationSigningKeyRotating holds the requested value while its new
	// key is published and does not sign yet.
	AnnotationSigningKeyRotating = "oauth.authops.io/signing-key-rotating"
	// AnnotationSigningKeyRotated holds the last requested value whose key
	// signs.
	AnnotationSigningKeyRotated = "oauth.authops.io/signing-key-rotated"
)

// PublishNextKey starts a forced rotation at now: a fresh key is published
// at once and would sign PublishAhead later (what happens if no switch
// comes first: the routine overlap); the current key signs until then. A
// successor that has not signed yet is replaced (it was stored beside the
// key being rotated away, and no token carries it). Without a current key
// the set is returned as it is: RotateKeys makes a key that signs at once.
func PublishNextKey(now time.Time, current snapshot.KeySet, cfg KeyRotationConfig) (snapshot.KeySet, error) {
	now = now.UTC().Truncate(time.Second)
	var keys []snapshot.Key
	signer := -1
	for _, k := range current.Keys {
		if k.SignFrom.After(now) {
			continue
		}
		if k.SignUntil.After(now) && k.PublishUntil.After(now) {
			signer = len(keys)
		}
		keys = append(keys, k)
	}
	if signer < 0 {
		return current, nil
	}
	k, err := cfg.NewKey()
	if err != nil {
		return current, err
	}
	k.PublishFrom = now
	k.SignFrom = now.Add(cfg.PublishAhead)
	k.SignUntil = k.SignFrom.Add(cfg.RotationPeriod)
	k.PublishUntil = k.SignUntil.Add(cfg.MaxTokenLifetime)
	keys[signer].SignUntil = k.SignFrom
	keys[signer].PublishUntil = k.SignFrom.Add(cfg.MaxTokenLifetime)
	return snapshot.KeySet{Keys: append(keys, k)}, nil
}

// SwitchToNextKey ends a forced rotation at now: the published key that
// does not sign yet signs from now (a second later when the key that signs
// started this second) for RotationPeriod, and the key that signed stops
// then and stays published for MaxTokenLifetime. Without such
// a key (it signs already) the set is returned as it is.
func SwitchToNextKey(now time.Time, current snapshot.KeySet, cfg KeyRotationConfig) snapshot.KeySet {
	now = now.UTC().Truncate(time.Second)
	next := slices.IndexFunc(current.Keys, func(k snapshot.Key) bool { return k.SignFrom.After(now) && !k.PublishFrom.After(now) })
	if next < 0 {
		return current
	}
	keys := slices.Clone(current.Keys)
	signers := func(yield func(*snapshot.Key) bool) {
		for i := range keys {
			if i != next && !keys[i].SignFrom.After(now) && keys[i].SignUntil.After(now) && !yield(&keys[i]) {
				return
			}
		}
	}
	// A key that started signing this very second signs one second more
	// (a signing window is never empty).
	at := now
	for k := range signers {
		if !k.SignFrom.Before(at) {
			at = k.SignFrom.Add(time.Second)
		}
	}
	for k := range signers {
		k.SignUntil = at
		k.PublishUntil = at.Add(cfg.MaxTokenLifetime)
	}
	keys[next].SignFrom = at
	keys[next].SignUntil = at.Add(cfg.RotationPeriod)
	keys[next].PublishUntil = keys[next].SignUntil.Add(cfg.MaxTokenLifetime)
	return snapshot.KeySet{Keys: keys}
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
// the operator namespace) rotated, and rotates it on demand
// (AnnotationRotateSigningKey). It runs on the leader only.
type KeyRotator struct {
	Client    client.Client
	APIReader client.Reader
	Clock     clock.Clock
	Namespace string
	Config    KeyRotationConfig
	// RetryInterval is how long to wait after a failure (default 10s).
	RetryInterval time.Duration
	// served says whether every live authserver replica serves a snapshot
	// revision (servedLeases.servedBy); nil: a forced rotation switches
	// PublishAhead after it publishes, like the routine one.
	served func(ctx context.Context, rev int64) (bool, error)
	// wake, when set, receives a value when the key set Secret or a
	// replica's Lease changes (informer handlers, see Setup).
	wake chan struct{}
	// waiting says a forced rotation waits for the replicas (only then do
	// Lease changes wake the rotator).
	waiting atomic.Bool
}

// NeedLeaderElection makes the rotator run on the leader only.
func (k *KeyRotator) NeedLeaderElection() bool { return true }

// forcedWait is how often a forced rotation that waits for the replicas
// looks again without a Lease event.
const forcedWait = 10 * time.Second

// Start rotates now, whenever the key set next has to change (at least
// hourly, so a removed Secret comes back) and whenever the Secret or a
// replica's Lease changes, until ctx ends.
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
		case <-k.wake:
		}
	}
}

// watch wakes the rotator when the key set Secret changes (a forced
// rotation is asked for, or the Secret was deleted and is written again at
// once) and, while a forced rotation waits for the replicas, when a
// replica's Lease changes.
func (k *KeyRotator) watch(ctx context.Context, owned ownedSecrets, leases servedLeases) error {
	keySet := func(obj any) {
		if o, ok := obj.(client.Object); ok && o.GetName() == snapshot.KeySetSecretName && o.GetNamespace() == k.Namespace {
			k.poke()
		} else if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok && d.Key == k.Namespace+"/"+snapshot.KeySetSecretName {
			k.poke()
		}
	}
	secrets, err := owned.GetInformer(ctx, &corev1.Secret{})
	if err != nil {
		return err
	}
	if _, err := secrets.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { keySet(obj) }, UpdateFunc: func(_, obj any) { keySet(obj) }, DeleteFunc: keySet,
	}); err != nil {
		return err
	}
	lease, err := leases.GetInformer(ctx, &coordinationv1.Lease{})
	if err != nil {
		return err
	}
	_, err = lease.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { k.pokeIfWaiting() }, UpdateFunc: func(_, _ any) { k.pokeIfWaiting() },
	})
	return err
}

// poke wakes Start (without blocking: one pending wake is enough).
func (k *KeyRotator) poke() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// pokeIfWaiting wakes Start while a forced rotation waits for the replicas.
func (k *KeyRotator) pokeIfWaiting() {
	if k.waiting.Load() {
		k.poke()
	}
}

// forcedStep is what a forced rotation does on this pass.
type forcedStep int

const (
	forcedNone forcedStep = iota
	// forcedPublish publishes the fresh key.
	forcedPublish
	// forcedSwitch makes it sign, once the replicas serve it.
	forcedSwitch
)

// forcedState reads the forced rotation asked for on the key set Secret:
// the value requested and the step it is at.
func forcedState(secret *corev1.Secret) (string, forcedStep) {
	if secret == nil {
		return "", forcedNone
	}
	want := secret.Annotations[AnnotationRotateSigningKey]
	switch {
	case want == "" || secret.Annotations[AnnotationSigningKeyRotated] == want:
		return want, forcedNone
	case secret.Annotations[AnnotationSigningKeyRotating] == want:
		return want, forcedSwitch
	}
	return want, forcedPublish
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
	now := k.Clock.Now()
	keys, annotations, waiting, err := k.forced(ctx, now, entry, *doc.KeySet)
	if err != nil {
		return time.Time{}, err
	}
	keys, next, err := RotateKeys(now, keys, k.Config)
	if err != nil {
		return time.Time{}, err
	}
	k.waiting.Store(waiting)
	if waiting {
		next = minTime(next, now.Add(forcedWait))
	}
	if existing != nil && reflect.DeepEqual(keys, *existing.KeySet) && annotations == nil {
		return next, nil
	}
	doc.KeySet = &keys
	if err := store.writeAnnotated(ctx, entry, doc, annotations); err != nil {
		return time.Time{}, err
	}
	kids := make([]string, 0, len(keys.Keys))
	for _, key := range keys.Keys {
		kids = append(kids, key.ID)
	}
	log := ctrl.Log.WithName("keyrotator")
	if want, step := forcedState(entry.secret); step != forcedNone {
		log = log.WithValues("rotateSigningKey", want)
	}
	log.Info("Updated the signing key set", "kids", kids, "nextChange", next)
	return next, nil
}

// forced runs the step of a forced rotation that is due: it returns the
// key set, the annotations to write (nil: none) and whether it waits for
// the replicas.
func (k *KeyRotator) forced(ctx context.Context, now time.Time, entry *snapshotEntry, keys snapshot.KeySet) (snapshot.KeySet, map[string]string, bool, error) {
	want, step := forcedState(entry.secret)
	switch step {
	case forcedPublish:
		keys, err := PublishNextKey(now, keys, k.Config)
		return keys, map[string]string{AnnotationSigningKeyRotating: want}, false, err
	case forcedSwitch:
		served := true
		if k.served != nil {
			rev, ok := snapshot.ParseRevision(entry.secret.ResourceVersion)
			if !ok {
				return keys, nil, false, fmt.Errorf("the key set Secret's resourceVersion %q is not a revision", entry.secret.ResourceVersion)
			}
			var err error
			if served, err = k.served(ctx, rev); err != nil {
				return keys, nil, false, err
			}
		}
		if !served {
			return keys, nil, true, nil
		}
		return SwitchToNextKey(now, keys, k.Config), map[string]string{AnnotationSigningKeyRotated: want, AnnotationSigningKeyRotating: ""}, false, nil
	}
	return keys, nil, false, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
