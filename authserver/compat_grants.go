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

// Forwarders kept so that the browser-interaction branch (authorize.go,
// devicepage.go, pages.go) compiles on its own while this branch moves the
// names it calls. Issue #13's coordinator removes this file at the merge,
// once those files call the new names.

import (
	"context"
	"net/http"
	"slices"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/scope"
)

// info is requestInfo(r.Context()).
func info(r *http.Request) *reqInfo { return requestInfo(r.Context()) }

// checkPassword is s.passwords.check.
func (s *Server) checkPassword(ctx context.Context, reg *registry.Registry, c *registry.Client, username, password string) (*registry.Account, *oautherr.Error) {
	return s.passwords.check(ctx, reg, c, username, password)
}

// loginAllowed is s.passwords.allowed.
func (s *Server) loginAllowed(ctx context.Context, namespace, username string) (fail func(), e *oautherr.Error) {
	return s.passwords.allowed(ctx, namespace, username)
}

// parseScope is scope.Parse.
func parseScope(s string) ([]string, bool) { return scope.Parse(s) }

// contains is slices.Contains.
func contains(list []string, s string) bool { return slices.Contains(list, s) }

// joinScopes is scope.Join.
func joinScopes(s []string) string { return scope.Join(s) }
