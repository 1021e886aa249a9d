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
	"net"
	"slices"
	"strings"
)

// registeredRedirect tells whether the redirect_uri of an authorization
// request may be used for a client registered with the given URIs: it
// equals one of them byte for byte, or both are http URIs on the same
// loopback IP literal that differ only in the port (RFC 8252 §7.3: native
// apps listen on an ephemeral port; RFC 9700 §2.1 allows exactly this
// exception). "localhost" gets no exception (RFC 8252 §8.3), nor does any
// other difference: path, query, host spelling, scheme, userinfo.
func registeredRedirect(registered []string, ru string) bool {
	if slices.Contains(registered, ru) {
		return true
	}
	host, rest, ok := loopbackParts(ru)
	if !ok {
		return false
	}
	for _, r := range registered {
		if h, rr, ok := loopbackParts(r); ok && h == host && rr == rest {
			return true
		}
	}
	return false
}

// loopbackParts splits an http URI whose host is a loopback IP literal
// into its host (as written, brackets included) and what follows the
// authority, dropping the port. ok is false for anything else (another
// scheme or host, userinfo, a fragment, a port that is not 1 to 5 digits).
func loopbackParts(u string) (host, rest string, ok bool) {
	const scheme = "http://"
	if !strings.HasPrefix(u, scheme) || strings.ContainsRune(u, '#') {
		return "", "", false
	}
	auth := u[len(scheme):]
	if i := strings.IndexAny(auth, "/?"); i >= 0 {
		auth, rest = auth[:i], auth[i:]
	}
	host, port := auth, ""
	if i := strings.LastIndexByte(auth, ':'); i >= 0 && !strings.HasSuffix(auth, "]") {
		host, port = auth[:i], auth[i+1:]
		if len(port) == 0 || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return "", "", false
		}
	}
	literal := host
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		literal = host[1 : len(host)-1]
	} else if strings.Contains(host, ":") {
		return "", "", false
	}
	ip := net.ParseIP(literal)
	if ip == nil || !ip.IsLoopback() || strings.ContainsAny(host, "@%") {
		return "", "", false
	}
	return host, rest, true
}
