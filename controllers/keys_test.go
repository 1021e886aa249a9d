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
	"fmt"
	"reflect"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/authops/authops/authserver/snapshot"
)

// testKeys hands out keys k1, k2, ... without generating ECDSA keys.
func testKeys() func() (snapshot.Key, error) {
	n := 0
	return func() (snapshot.Key, error) {
		n++
		return snapshot.Key{ID: fmt.Sprintf("k%d", n), Algorithm: "ES256"}, nil
	}
}

func TestRotateKeysTimeline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := time.Hour
	cfg := KeyRotationConfig{RotationPeriod: 10 * h, PublishAhead: 2 * h, MaxTokenLifetime: 24 * h, NewKey: testKeys()}
	type window struct{ publishFrom, signFrom, signUntil, publishUntil time.Duration }
	steps := []struct {
		at       time.Duration
		want     map[string]window
		signer   string
		wantNext time.Duration
	}{
		{at: 0, signer: "k1", wantNext: 8 * h,
			want: map[string]window{"k1": {0, 0, 10 * h, 34 * h}}},
		{at: 7 * h, signer: "k1", wantNext: 8 * h,
			want: map[string]window{"k1": {0, 0, 10 * h, 34 * h}}},
		// Published 2h before it signs.
		{at: 8 * h, signer: "k1", wantNext: 10 * h,
			want: map[string]window{"k1": {0, 0, 10 * h, 34 * h}, "k2": {8 * h, 10 * h, 20 * h, 44 * h}}},
		// k2 signs; k1 stays published until its tokens expire.
		{at: 10 * h, signer: "k2", wantNext: 18 * h,
			want: map[string]window{"k1": {0, 0, 10 * h, 34 * h}, "k2": {8 * h, 10 * h, 20 * h, 44 * h}}},
		{at: 18 * h, signer: "k2", wantNext: 20 * h,
			want: map[string]window{"k1": {0, 0, 10 * h, 34 * h}, "k2": {8 * h, 10 * h, 20 * h, 44 * h}, "k3": {18 * h, 20 * h, 30 * h, 54 * h}}},
		{at: 28 * h, signer: "k3", wantNext: 30 * h,
			want: map[string]window{"k1": {0, 0, 10 * h, 34 * h}, "k2": {8 * h, 10 * h, 20 * h, 44 * h}, "k3": {18 * h, 20 * h, 30 * h, 54 * h}, "k4": {28 * h, 30 * h, 40 * h, 64 * h}}},
		// k1's last token expired: it is dropped.
		{at: 34 * h, signer: "k4", wantNext: 38 * h,
			want: map[string]window{"k2": {8 * h, 10 * h, 20 * h, 44 * h}, "k3": {18 * h, 20 * h, 30 * h, 54 * h}, "k4": {28 * h, 30 * h, 40 * h, 64 * h}}},
		// The controller was down for days: a new key signs at once.
		{at: 100 * h, signer: "k5", wantNext: 108 * h,
			want: map[string]window{"k5": {100 * h, 100 * h, 110 * h, 134 * h}}},
	}
	var set snapshot.KeySet
	for _, step := range steps {
		now := t0.Add(step.at)
		got, next, err := RotateKeys(now, set, cfg)
		if err != nil {
			t.Fatal(err)
		}
		set = got
		if !next.Equal(t0.Add(step.wantNext)) {
			t.Errorf("at +%v: next change at +%v, want +%v", step.at, next.Sub(t0), step.wantNext)
		}
		if len(set.Keys) != len(step.want) {
			t.Errorf("at +%v: %d keys, want %d", step.at, len(set.Keys), len(step.want))
		}
		signers := 0
		for _, k := range set.Keys {
			w, ok := step.want[k.ID]
			if !ok {
				t.Errorf("at +%v: unexpected key %s", step.at, k.ID)
				continue
			}
			if got := (window{k.PublishFrom.Sub(t0), k.SignFrom.Sub(t0), k.SignUntil.Sub(t0), k.PublishUntil.Sub(t0)}); got != w {
				t.Errorf("at +%v: key %s windows %v, want %v", step.at, k.ID, got, w)
			}
			if !k.SignFrom.After(now) && k.SignUntil.After(now) {
				signers++
				if k.ID != step.signer {
					t.Errorf("at +%v: %s signs, want %s", step.at, k.ID, step.signer)
				}
			}
			if k.ID != "k1" && k.ID != "k5" && !k.PublishFrom.Before(k.SignFrom) {
				t.Errorf("at +%v: key %s signs before it is published", step.at, k.ID)
			}
			if k.PublishUntil.Sub(k.SignUntil) < MaxTokenLifetime {
				t.Errorf("key %s is unpublished before its last token expires", k.ID)
			}
		}
		if signers != 1 {
			t.Errorf("at +%v: %d keys sign, want exactly 1", step.at, signers)
		}
	}
}

func TestKeyRotationConfigValidate(t *testing.T) {
	ok := KeyRotationConfig{RotationPeriod: time.Hour, PublishAhead: time.Minute, MaxTokenLifetime: time.Hour, NewKey: testKeys()}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ok
	bad.PublishAhead = time.Hour
	if bad.Validate() == nil {
		t.Error("publishing ahead for the whole rotation period must be refused")
	}
}

func TestNewES256Key(t *testing.T) {
	k, err := NewES256Key()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.PrivateKey(); err != nil || k.ID == "" || k.Algorithm != "ES256" {
		t.Errorf("bad key %s: %v", k.ID, err)
	}
}

func TestForcedRotationTimeline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := time.Hour
	cfg := KeyRotationConfig{RotationPeriod: 10 * h, PublishAhead: 2 * h, MaxTokenLifetime: 24 * h, NewKey: testKeys()}
	set, _, err := RotateKeys(t0, snapshot.KeySet{}, cfg) // k1 signs
	if err != nil {
		t.Fatal(err)
	}
	// A routine successor k2 is published at +8h; a forced rotation at
	// +9h replaces it (it never signed) with k3, published at once.
	if set, _, err = RotateKeys(t0.Add(8*h), set, cfg); err != nil || len(set.Keys) != 2 {
		t.Fatalf("routine successor: %v %v", set, err)
	}
	at := t0.Add(9 * h)
	if set, err = PublishNextKey(at, set, cfg); err != nil {
		t.Fatal(err)
	}
	type window struct{ publishFrom, signFrom, signUntil, publishUntil time.Duration }
	windows := func(set snapshot.KeySet) map[string]window {
		m := map[string]window{}
		for _, k := range set.Keys {
			m[k.ID] = window{k.PublishFrom.Sub(t0), k.SignFrom.Sub(t0), k.SignUntil.Sub(t0), k.PublishUntil.Sub(t0)}
		}
		return m
	}
	want := map[string]window{"k1": {0, 0, 11 * h, 35 * h}, "k3": {9 * h, 11 * h, 21 * h, 45 * h}}
	if got := windows(set); !reflect.DeepEqual(got, want) {
		t.Fatalf("published: %v, want %v", got, want)
	}
	// RotateKeys keeps the forced successor (no second key is made).
	if again, _, err := RotateKeys(at, set, cfg); err != nil || !reflect.DeepEqual(windows(again), want) {
		t.Fatalf("RotateKeys changed the published successor: %v %v", windows(again), err)
	}
	// The replicas serve it a minute later: k3 signs, k1 stays published
	// for the longest token lifetime.
	sw := at.Add(time.Minute)
	set = SwitchToNextKey(sw, set, cfg)
	want = map[string]window{"k1": {0, 0, 9*h + time.Minute, 33*h + time.Minute}, "k3": {9 * h, 9*h + time.Minute, 19*h + time.Minute, 43*h + time.Minute}}
	if got := windows(set); !reflect.DeepEqual(got, want) {
		t.Fatalf("switched: %v, want %v", got, want)
	}
	// Switching again changes nothing; the routine rotation goes on from k3.
	if again := SwitchToNextKey(sw.Add(time.Minute), set, cfg); !reflect.DeepEqual(again, set) {
		t.Errorf("a second switch changed the set: %v", windows(again))
	}
	next, _, err := RotateKeys(sw, set, cfg)
	if err != nil || !reflect.DeepEqual(windows(next), want) {
		t.Errorf("RotateKeys after the switch: %v %v", windows(next), err)
	}
	// No key signs (an empty set): nothing to publish ahead of.
	if empty, err := PublishNextKey(at, snapshot.KeySet{}, cfg); err != nil || len(empty.Keys) != 0 {
		t.Errorf("PublishNextKey on an empty set: %v %v", empty, err)
	}
}

// The manager of the suite runs the rotator; the test plays an authserver
// replica by writing its Lease, and asks for a rotation by annotating the
// key set Secret.
var _ = Describe("Forced signing key rotation", Serial, func() {
	keySet := func(ctx SpecContext) (*corev1.Secret, []snapshot.Key) {
		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: snapshot.KeySetSecretName}, secret)).To(Succeed())
		doc, err := snapshot.Decode(secret.Data[snapshot.DataKey])
		Expect(err).NotTo(HaveOccurred())
		return secret, doc.KeySet.Keys
	}
	signer := func(keys []snapshot.Key, now time.Time) string {
		for _, k := range keys {
			if !k.SignFrom.After(now) && k.SignUntil.After(now) {
				return k.ID
			}
		}
		return ""
	}
	It("publishes a fresh key at once and switches signing once every live replica serves it", func(ctx SpecContext) {
		var before []snapshot.Key
		var rev int64
		Eventually(func(g Gomega) {
			secret := &corev1.Secret{}
			g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: snapshot.KeySetSecretName}, secret)).To(Succeed())
			rev, _ = snapshot.ParseRevision(secret.ResourceVersion)
		}, timeout, interval).Should(Succeed())
		_, before = keySet(ctx)
		old := signer(before, time.Now())
		Expect(old).NotTo(BeEmpty())
		// A live replica serving the key set as it is now.
		writeServedLease(ctx, "rotation-replica", rev, time.Now(), 300)

		secret, _ := keySet(ctx)
		patch := client.MergeFrom(secret.DeepCopy())
		secret.Annotations = map[string]string{AnnotationRotateSigningKey: "now-1"}
		Expect(k8s.Patch(ctx, secret, patch)).To(Succeed())

		// Published, not signing: the replica does not serve it yet.
		var fresh snapshot.Key
		Eventually(func(g Gomega) {
			s, keys := keySet(ctx)
			g.Expect(s.Annotations).To(HaveKeyWithValue(AnnotationSigningKeyRotating, "now-1"))
			fresh = snapshot.Key{}
			for _, k := range keys {
				if k.SignFrom.After(time.Now()) {
					fresh = k
				}
			}
			g.Expect(fresh.ID).NotTo(BeEmpty())
		}, timeout, interval).Should(Succeed())
		Expect(fresh.ID).NotTo(Equal(old))
		Expect(fresh.PublishFrom).To(BeTemporally("<=", time.Now()))
		Expect(fresh.SignFrom).To(BeTemporally(">", time.Now().Add(5*time.Minute)), "signs after the publish-ahead (10m) unless the replicas serve it first")
		Consistently(func(g Gomega) {
			s, keys := keySet(ctx)
			g.Expect(signer(keys, time.Now())).To(Equal(old))
			g.Expect(s.Annotations).NotTo(HaveKey(AnnotationSigningKeyRotated))
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed(), "the fresh key must not sign while a live replica does not serve it")

		// The replica serves it: its Lease change makes the fresh key sign.
		published, _ := keySet(ctx)
		rev, _ = snapshot.ParseRevision(published.ResourceVersion)
		writeServedLease(ctx, "rotation-replica", rev, time.Now(), 300)
		Eventually(func(g Gomega) {
			s, keys := keySet(ctx)
			g.Expect(s.Annotations).To(HaveKeyWithValue(AnnotationSigningKeyRotated, "now-1"))
			g.Expect(s.Annotations).NotTo(HaveKey(AnnotationSigningKeyRotating))
			g.Expect(signer(keys, time.Now())).To(Equal(fresh.ID))
			for _, k := range keys {
				if k.ID == old {
					g.Expect(k.PublishUntil.Sub(k.SignUntil)).To(Equal(MaxTokenLifetime), "the old key stays published until its last token expires")
				}
			}
		}, timeout, interval).Should(Succeed())
		// Later Lease changes write nothing: the rotation is done.
		done, _ := keySet(ctx)
		writeServedLease(ctx, "rotation-replica", rev+1000, time.Now(), 300)
		Consistently(func(g Gomega) {
			s, _ := keySet(ctx)
			g.Expect(s.ResourceVersion).To(Equal(done.ResourceVersion))
		}, time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("writes the key set again at once when the Secret is deleted", func(ctx SpecContext) {
		_, before := keySet(ctx)
		Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: snapshot.KeySetSecretName}})).To(Succeed())
		Eventually(func(g Gomega) {
			secret := &corev1.Secret{}
			g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: snapshot.KeySetSecretName}, secret)).To(Succeed())
			doc, err := snapshot.Decode(secret.Data[snapshot.DataKey])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(signer(doc.KeySet.Keys, time.Now())).NotTo(BeEmpty())
			g.Expect(signer(doc.KeySet.Keys, time.Now())).NotTo(Equal(signer(before, time.Now())))
		}, 5*time.Second, interval).Should(Succeed(), "the rotator watches the Secret (before, it came back within the hour)")
	})
})

func TestSwitchToNextKeyRightAfterTheFirstKey(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := KeyRotationConfig{RotationPeriod: time.Hour, PublishAhead: time.Minute, MaxTokenLifetime: time.Hour, NewKey: NewES256Key}
	set, _, err := RotateKeys(t0, snapshot.KeySet{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if set, err = PublishNextKey(t0, set, cfg); err != nil {
		t.Fatal(err)
	}
	set = SwitchToNextKey(t0.Add(500*time.Millisecond), set, cfg)
	doc := snapshot.Document{Kind: snapshot.KindKeySet, Source: snapshot.Source{Kind: "KeySet", Name: snapshot.KeySetSecretName, UID: "u"}, KeySet: &set}
	if _, err := snapshot.Encode(doc); err != nil {
		t.Fatalf("a switch in the second the first key started makes an invalid key set: %v", err)
	}
	if set.Keys[1].SignFrom != t0.Add(time.Second) || set.Keys[0].SignUntil != t0.Add(time.Second) {
		t.Errorf("windows %+v", set.Keys)
	}
}
