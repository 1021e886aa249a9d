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

package authserver_test

import (
	"net/url"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/controllers"
)

// TestUnknownUsernameLooksLikeWrongPassword: at the password grant an
// unknown username and a wrong password get the same status and body, after
// about the same time (one bcrypt comparison at the cost the controller
// hashes with: alice's hash is made here at controllers.BcryptCost, and
// TestDummyHashAtControllerCost holds the dummy hash of unknown usernames
// to the same cost).
func TestUnknownUsernameLooksLikeWrongPassword(t *testing.T) {
	f := newFixture(t)
	h, err := bcrypt.GenerateFromPassword([]byte(alicePass), controllers.BcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	f.edit(func(d *snapshot.Document) {
		if d.Account != nil && d.Account.Username == "alice" {
			d.Account.PasswordBcrypt = string(h)
		}
		if d.Client != nil && d.Client.ID == "pw" {
			d.Client.Policy.LockoutMaxFailedAttempts = 1000
		}
	})
	try := func(user string) (int, string, time.Duration) {
		start := time.Now()
		resp := f.post(authserver.PathToken, url.Values{"grant_type": {"password"}, "username": {user}, "password": {"wrong"}}, "pw", pwSecret)
		body := readAll(t, resp)
		return resp.StatusCode, body, time.Since(start)
	}
	var known, unknown []time.Duration
	for range 7 {
		s1, b1, d1 := try("alice")
		s2, b2, d2 := try("nobody")
		if s1 != s2 || b1 != b2 {
			t.Fatalf("wrong password: %d %s; unknown user: %d %s", s1, b1, s2, b2)
		}
		known, unknown = append(known, d1), append(unknown, d2)
	}
	slices.Sort(known)
	slices.Sort(unknown)
	mk, mu := known[len(known)/2], unknown[len(unknown)/2]
	if ratio := float64(mu) / float64(mk); ratio < 0.5 || ratio > 2 {
		t.Errorf("median time: wrong password %v, unknown username %v; want about the same", mk, mu)
	}
}
