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
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzRedirectURI: whatever the authorization request's query, a response
// is only ever redirected to a redirect URI registered for the client,
// byte for byte, except for the port of an http loopback IP URI (RFC 8252
// §7.3); a redirect_uri that is not registered is an error page, never a
// redirect; and the redirect built from it keeps the scheme, host, path
// and query.
func FuzzRedirectURI(f *testing.F) {
	for _, q := range []string{
		"client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb",
		"client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%2F",
		"client_id=app&redirect_uri=https%3A%2F%2FAPP.example.com%2Fcb",
		"client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3Fx%3D1",
		"client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3Fx%3D1%26y%3D2",
		"client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&redirect_uri=https%3A%2F%2Fevil.example",
		"client_id=app&redirect_uri=http%3A%2F%2F127.0.0.1%3A9090%2Fcb",
		"client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%40evil.example%2Fcb",
		"client_id=pub",
		"client_id=app",
		"client_id=pub&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb%23frag",
		"client_id=app&redirect_uri=com.example.app%3A%2Foauth2redirect&state=%0d%0a",
		"client_id=app&redirect_uri=http%3A%2F%2F127.0.0.1%3A51234%2Fcb",
		"client_id=app&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb",
		"client_id=app&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcb",
		"client_id=app&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%40evil%2Fcb",
	} {
		f.Add(q)
	}
	s := newFuzzServer(f)
	reg := s.reg.Current()
	f.Fuzz(func(t *testing.T, query string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		ar, pageErr, redirErr := s.validateAuthRequest(reg, v)
		if pageErr != nil {
			if ar != nil {
				t.Fatal("a page error with a redirect target")
			}
			return
		}
		c, ok := reg.Client(v.Get("client_id"))
		if !ok || ar == nil || ar.client != c {
			t.Fatalf("accepted client %q", v.Get("client_id"))
		}
		if !slices.Contains(c.RedirectURIs, ar.redirectURI) && !loopbackPortVariant(c.RedirectURIs, ar.redirectURI) {
			t.Fatalf("redirect to unregistered %q", ar.redirectURI)
		}
		if ru := v.Get("redirect_uri"); len(v["redirect_uri"]) > 1 || ru != "" && ru != ar.redirectURI {
			t.Fatalf("requested %q, redirecting to %q", v["redirect_uri"], ar.redirectURI)
		}
		_ = redirErr
		out, err := url.Parse(s.redirectURL(ar, url.Values{"error": {"x"}, "state": {v.Get("state")}}))
		want, err2 := url.Parse(ar.redirectURI)
		if err != nil || err2 != nil {
			t.Fatalf("redirect %v / registered %v", err, err2)
		}
		if out.Scheme != want.Scheme || out.Host != want.Host || out.Path != want.Path || out.Opaque != want.Opaque ||
			!strings.HasPrefix(out.RawQuery, want.RawQuery) || out.User != nil {
			t.Fatalf("redirect %q leaves the registered %q", out, want)
		}
	})
}

// loopbackPortVariant is the test's own reading of the exception: u and a
// registered URI both parse as http URIs on the same loopback IP literal,
// without userinfo or fragment, and are equal byte for byte once their
// ports are removed.
func loopbackPortVariant(registered []string, u string) bool {
	strip := func(s string) (string, bool) {
		p, err := url.Parse(s)
		if err != nil || p.Scheme != "http" || p.User != nil || p.Fragment != "" || strings.Contains(s, "#") {
			return "", false
		}
		ip := net.ParseIP(p.Hostname())
		if ip == nil || !ip.IsLoopback() {
			return "", false
		}
		host := p.Host
		if port := p.Port(); port != "" {
			host = strings.TrimSuffix(host, ":"+port)
		}
		return strings.Replace(s, "://"+p.Host, "://"+host, 1), true
	}
	su, ok := strip(u)
	if !ok {
		return false
	}
	for _, r := range registered {
		if sr, ok := strip(r); ok && sr == su {
			return true
		}
	}
	return false
}
