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
	"testing"
	"time"

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
