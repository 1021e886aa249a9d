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

package authserver

import (
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/authops/authops/controllers"
)

// TestDummyHashAtControllerCost: the hash compared against for an unknown
// username has the cost the controller hashes passwords with, so an unknown
// username costs as long as a wrong password (see
// TestUnknownUsernameLooksLikeWrongPassword).
func TestDummyHashAtControllerCost(t *testing.T) {
	cost, err := bcrypt.Cost(dummyBcrypt())
	if err != nil {
		t.Fatal(err)
	}
	if cost != controllers.BcryptCost {
		t.Errorf("dummy hash cost %d, controller's bcrypt cost %d", cost, controllers.BcryptCost)
	}
}
