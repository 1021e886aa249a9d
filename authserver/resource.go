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
	"net/url"
	"slices"
	"strings"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
)

// paramResource is RFC 8707's resource parameter, the one parameter that may
// repeat (at the token, authorization and device authorization endpoints).
const paramResource = "resource"

// requestedResources checks a request's resource parameters (RFC 8707 §2):
// each must be an absolute URI without a fragment and one of the audiences
// ResourceServers grant the client (its Resources), else invalid_target.
// A value named twice counts once. nil when the request names none.
func requestedResources(c *registry.Client, values []string) ([]string, *oautherr.Error) {
	var out []string
	for _, v := range values {
		if v == "" {
			continue // an empty parameter counts as absent, as for every other one
		}
		if !absoluteURI(v) {
			return nil, oautherr.Newf(oautherr.InvalidTarget, "resource must be an absolute URI without a fragment.")
		}
		if _, ok := c.Resource(v); !ok {
			return nil, oautherr.Newf(oautherr.InvalidTarget, "A requested resource is not granted to this client by a ResourceServer.")
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// absoluteURI reports whether v is an absolute URI (RFC 3986 §4.3: a
// scheme, no fragment).
func absoluteURI(v string) bool {
	u, err := url.Parse(v)
	return err == nil && u.IsAbs() && !strings.Contains(v, "#")
}

// audience decides the aud of an access token and the scopes it carries
// (RFC 8707 §2). Without a grant bound to resources (client_credentials,
// password: bind is false), aud is the resources the request names, else
// the client's default audiences (nil: the token names the client itself,
// see package tokens). A grant that was authorized for resources (the
// authorization or device authorization request named them, or the refresh
// token's family has them; none named means the client's default
// audiences) is bound to those still granted: each resource the token
// request names must be one of them (invalid_target otherwise), and without
// one the token gets all of them.
//
// A ResourceServer withholds its scopes that it does not grant the client:
// a token for its audience never carries them. When the request named the
// scopes (named), a withheld one is invalid_scope; scopes the request did
// not name (the client's defaults, or those of the grant) lose the withheld
// ones silently.
func audience(c *registry.Client, requested, bound []string, bind bool, scopes []string, named bool) (aud, kept []string, e *oautherr.Error) {
	aud = requested
	if bind {
		if bound, e = stillGranted(c, bound); e != nil {
			return nil, nil, e
		}
		for _, r := range requested {
			if !slices.Contains(bound, r) {
				return nil, nil, oautherr.Newf(oautherr.InvalidTarget, "A requested resource was not part of the authorization grant.")
			}
		}
		if aud == nil {
			aud = bound
		}
	} else if aud == nil {
		aud = c.Audiences
	}
	kept = scopes
	for _, a := range aud {
		res, ok := c.Resource(a)
		if !ok || len(res.WithheldScopes) == 0 {
			continue
		}
		if named && slices.ContainsFunc(kept, func(s string) bool { return slices.Contains(res.WithheldScopes, s) }) {
			return nil, nil, oautherr.Newf(oautherr.InvalidScope, "A requested scope is not granted to this client by the ResourceServer of the token's audience.")
		}
		kept = slices.DeleteFunc(slices.Clone(kept), func(s string) bool { return slices.Contains(res.WithheldScopes, s) })
	}
	return aud, kept, nil
}

// stillGranted is the resources a grant was authorized for that the client
// is still granted; a grant authorized for none is bound to the client's
// default audiences. A grant that has lost every resource it was authorized
// for is invalid_target.
func stillGranted(c *registry.Client, bound []string) ([]string, *oautherr.Error) {
	if len(bound) == 0 {
		return c.Audiences, nil
	}
	var out []string
	for _, r := range bound {
		if _, ok := c.Resource(r); ok {
			out = append(out, r)
		}
	}
	if out == nil {
		return nil, oautherr.Newf(oautherr.InvalidTarget, "No resource of the authorization grant is granted to this client any more.")
	}
	return out, nil
}

// authorizedScopes checks the scope and resource parameters of an
// authorization or device authorization request and returns what the grant
// is for: its scopes (the client's defaults when none are named) and the
// resources it is bound to (nil: the client's default audiences). As at
// the token endpoint, a scope withheld for one of those audiences is
// invalid_scope when named, and left out of the defaults.
func authorizedScopes(c *registry.Client, rawScope string, resourceValues []string) (scopes, resources []string, e *oautherr.Error) {
	if scopes, e = requestedScopes(c, rawScope); e != nil {
		return nil, nil, e
	}
	if resources, e = requestedResources(c, resourceValues); e != nil {
		return nil, nil, e
	}
	_, scopes, e = audience(c, resources, nil, false, requestedOrDefault(c, scopes), scopes != nil)
	return scopes, resources, e
}
