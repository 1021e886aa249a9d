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
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authops/authops/authserver"
)

// TestLoopbackRedirectAnyPort: a native app registered with
// http://127.0.0.1:9999/cb may ask for any port on that loopback address
// (RFC 8252 §7.3, RFC 9700 §2.1), and only the port may differ.
func TestLoopbackRedirectAnyPort(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	get := func(ru string) (int, string) {
		q := url.Values{"client_id": {"spa"}, "redirect_uri": {ru}, "response_type": {"code"}, "state": {"s"},
			"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
		resp, page := b.get(f.issuer + authserver.PathAuthorize + "?" + q.Encode())
		return resp.StatusCode, page
	}
	for _, ru := range []string{"http://127.0.0.1:9999/cb", "http://127.0.0.1:51234/cb", "http://127.0.0.1/cb", "http://127.0.0.1:1/cb"} {
		if st, page := get(ru); st != http.StatusOK || strings.Contains(page, "invalid_request") {
			t.Errorf("%s: %d, want the login page", ru, st)
		}
	}
	for _, ru := range []string{"http://127.0.0.1:51234/cb/", "http://127.0.0.1:51234/CB", "http://127.0.0.1:51234/cb?x=1",
		"http://localhost:51234/cb", "http://127.0.0.2:51234/cb", "https://127.0.0.1:51234/cb", "http://[::1]:51234/cb",
		"http://u@127.0.0.1:51234/cb", "http://127.0.0.1:51234@evil.example/cb", "http://127.0.0.1:/cb",
		"http://127.0.0.1:123456/cb", "http://127.0.0.1:51234/cb#f", "http://127.0.0.1:+1/cb", "http://127.000.0.1:51234/cb"} {
		if st, page := get(ru); st != http.StatusBadRequest || !strings.Contains(page, "invalid_request") {
			t.Errorf("%s: %d, want the error page", ru, st)
		}
	}
}
