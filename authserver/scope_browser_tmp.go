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
	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
)

// requestedScopes parses a request's scope parameter (RFC 6749 §3.3) and
// checks every scope against the client's allowed scopes: invalid_scope if
// it is malformed or asks for a scope the client may not have. nil when
// absent (the caller picks the default).
func requestedScopes(c *registry.Client, raw string) ([]string, *oautherr.Error) {
	scopes, ok := parseScope(raw)
	if !ok {
		return nil, oautherr.Newf(oautherr.InvalidScope, "The scope parameter is malformed.")
	}
	for _, sc := range scopes {
		if !c.AllowsScope(sc) {
			return nil, oautherr.New(oautherr.InvalidScope)
		}
	}
	return scopes, nil
}
