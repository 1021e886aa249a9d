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
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/authops/authops/authserver"
)

// postVia posts form to u from c with the header name: value (a forwarded
// header; none when name is empty).
func postVia(t *testing.T, c *http.Client, u string, form url.Values, name, value string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if name != "" {
		req.Header.Set(name, value)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestThrottleBehindTrustedProxy: behind a trusted proxy (127.0.0.1) the
// client address is the rightmost untrusted entry of the forwarded header,
// so a guesser behind the proxy does not put another client behind the same
// proxy into 429; a peer that is not a trusted proxy is its own address
// whatever it sends, so it can neither escape its limit nor frame a client
// behind the proxy.
func TestThrottleBehindTrustedProxy(t *testing.T) {
	for _, header := range []struct{ name, guesser, victim, framed string }{
		{"X-Forwarded-For", "203.0.113.9, 198.51.100.1", "198.51.100.2, 127.0.0.1", "198.51.100.%d"},
		{"Forwarded", `for="203.0.113.9";proto=https, for=198.51.100.1`, `for=198.51.100.2, for="127.0.0.1:80"`, "for=198.51.100.%d"},
	} {
		t.Run(header.name, func(t *testing.T) {
			f := newFixture(t, func(c *authserver.Config) {
				c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
				c.ForwardedHeader = header.name
			})
			proxy, stranger := from("127.0.0.1"), from("127.0.0.7")
			token := f.issuer + authserver.PathToken
			good := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {ccSecret}}
			bad := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc"}, "client_secret": {"guess"}}
			burst := authserver.DefaultLimits.ClientAuth.Burst

			// Behind the proxy: the guesser reaches its limit, the victim does not.
			for i := range burst {
				resp := postVia(t, proxy, token, bad, header.name, header.guesser)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("guess %d: %d", i, resp.StatusCode)
				}
				resp.Body.Close()
			}
			expectTooMany(t, postVia(t, proxy, token, good, header.name, header.guesser), "3")
			resp := postVia(t, proxy, token, good, header.name, header.victim)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("another client behind the same proxy: %d %v", resp.StatusCode, errorBody(t, resp))
			}
			resp.Body.Close()

			// A stranger's header is ignored: its guesses naming a client behind
			// the proxy count against the stranger, a new forwarded address does
			// not escape its limit ...
			for i := range burst {
				resp := postVia(t, stranger, token, bad, header.name, fmt.Sprintf(header.framed, 3))
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("stranger's guess %d: %d", i, resp.StatusCode)
				}
				resp.Body.Close()
			}
			expectTooMany(t, postVia(t, stranger, token, good, header.name, fmt.Sprintf(header.framed, 99)), "3")
			// ... and guesses naming a client behind the proxy did not count
			// against that client.
			resp = postVia(t, proxy, token, good, header.name, fmt.Sprintf(header.framed, 3))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("the framed client behind the proxy: %d %v", resp.StatusCode, errorBody(t, resp))
			}
			resp.Body.Close()
		})
	}
}
