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
	"net/http"

	"golang.org/x/crypto/bcrypt"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
)

// HookPasswordCompare makes s compare password hashes through hook, which
// gets bcrypt's comparison as next (for tests that count or hold
// verifications).
func HookPasswordCompare(s *Server, hook func(password []byte, next func() error) error) {
	s.passwords.compare = func(hash, password []byte) error {
		return hook(password, func() error { return bcrypt.CompareHashAndPassword(hash, password) })
	}
}

// HookClientCredentials makes s check client credentials (the secret
// digest comparison behind the ClientAuth limit) through hook, which gets
// the client_secret parameter and the check as next.
func HookClientCredentials(s *Server, hook func(secret string, next func() bool) bool) {
	t, ok := s.clientAuth.(throttled)
	if !ok {
		panic("client authentication is not throttled")
	}
	t.next = hookedCredentials{next: t.next, hook: hook}
	s.clientAuth = t
}

type hookedCredentials struct {
	next clientAuthenticator
	hook func(secret string, next func() bool) bool
}

func (h hookedCredentials) authenticate(r *http.Request, reg *registry.Registry, p params) (*registry.Client, *oautherr.Error) {
	var (
		c *registry.Client
		e *oautherr.Error
	)
	h.hook(p["client_secret"], func() bool {
		c, e = h.next.authenticate(r, reg, p)
		return e == nil
	})
	return c, e
}

func (h hookedCredentials) introspector(r *http.Request, reg *registry.Registry, p params) (introspector, *oautherr.Error) {
	var (
		c introspector
		e *oautherr.Error
	)
	h.hook(p["client_secret"], func() bool {
		c, e = h.next.introspector(r, reg, p)
		return e == nil
	})
	return c, e
}

// ParamPushed is the form field that carries a used pushed request through
// the login and consent pages.
const ParamPushed = paramPushed
