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
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/oautherr"
)

type tokenCase struct {
	name        string
	method      string
	contentType string
	body        string
	basicUser   string
	basicPass   string
	status      int
	code        oautherr.Code
	allow       string
	challenge   bool
}

func (f *fixture) send(t *testing.T, path string, tc tokenCase) *http.Response {
	t.Helper()
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if tc.body != "" {
		body = strings.NewReader(tc.body)
	}
	req, _ := http.NewRequest(method, f.issuer+path, body)
	ct := tc.contentType
	if ct == "" {
		ct = "application/x-www-form-urlencoded"
	}
	req.Header.Set("Content-Type", ct)
	if tc.basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(tc.basicUser), url.QueryEscape(tc.basicPass))
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func runErrorCases(t *testing.T, f *fixture, path string, cases []tokenCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.send(t, path, tc)
			expectError(t, resp, tc.status, tc.code)
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			wantChallenge := ""
			if tc.challenge {
				wantChallenge = `Basic realm="` + f.issuer + `"`
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, wantChallenge)
			}
		})
	}
}

// TestTokenEndpointErrors covers every error the token endpoint can produce,
// in the Extended profile and (client pw-rfc) the RFC profile.
func TestTokenEndpointErrors(t *testing.T) {
	f := newFixture(t)
	cc := "client_id=cc&client_secret=" + ccSecret
	runErrorCases(t, f, authserver.PathToken, []tokenCase{
		{name: "wrong method", method: http.MethodGet, status: 400, code: oautherr.NotSupported, allow: "POST"},
		{name: "wrong method PUT", method: http.MethodPut, body: cc, status: 400, code: oautherr.NotSupported, allow: "POST"},
		{name: "wrong content type", contentType: "application/json", body: `{"grant_type":"client_credentials"}`, status: 400, code: oautherr.InvalidRequest},
		{name: "multipart", contentType: "multipart/form-data; boundary=x", body: cc, status: 400, code: oautherr.InvalidRequest},
		{name: "duplicate parameter", body: cc + "&grant_type=client_credentials&grant_type=client_credentials", status: 400, code: oautherr.InvalidRequest},
		{name: "duplicate empty parameter", body: cc + "&grant_type=client_credentials&scope=&scope=", status: 400, code: oautherr.InvalidRequest},
		{name: "body too large", body: cc + "&grant_type=client_credentials&pad=" + strings.Repeat("a", 70<<10), status: 400, code: oautherr.InvalidRequest},
		{name: "missing grant_type", body: cc, status: 400, code: oautherr.InvalidRequest},
		{name: "empty grant_type is absent", body: cc + "&grant_type=", status: 400, code: oautherr.InvalidRequest},
		{name: "two auth methods", body: "grant_type=client_credentials&client_secret=" + ccSecret, basicUser: "cc", basicPass: ccSecret, status: 400, code: oautherr.InvalidRequest},
		{name: "no client authentication", body: "grant_type=client_credentials", status: 401, code: oautherr.InvalidClient},
		{name: "unknown client (post)", body: "grant_type=client_credentials&client_id=nobody&client_secret=x", status: 401, code: oautherr.InvalidClient},
		{name: "wrong secret (post)", body: "grant_type=client_credentials&client_id=cc&client_secret=x", status: 401, code: oautherr.InvalidClient},
		{name: "unknown client (basic)", body: "grant_type=client_credentials", basicUser: "nobody", basicPass: "x", status: 401, code: oautherr.InvalidClient, challenge: true},
		{name: "wrong secret (basic)", body: "grant_type=authorization_code&code=x", basicUser: "web", basicPass: "x", status: 401, code: oautherr.InvalidClient, challenge: true},
		{name: "confidential client with empty Basic password", body: "grant_type=authorization_code&code=x", basicUser: "web", status: 401, code: oautherr.InvalidClient, challenge: true},
		{name: "disabled client", body: "grant_type=client_credentials&client_id=off&client_secret=" + ccSecret, status: 401, code: oautherr.InvalidClient},
		{name: "public client may not send a secret", body: "grant_type=authorization_code&code=x&client_id=spa&client_secret=x", status: 401, code: oautherr.InvalidClient},
		{name: "unsupported grant type", body: cc + "&grant_type=urn:example:magic", status: 400, code: oautherr.UnsupportedGrantType},
		{name: "device grant not allowed for the client", body: cc + "&grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=x", status: 400, code: oautherr.UnauthorizedClient},
		{name: "grant removed by policy", body: cc + "&grant_type=password&username=alice&password=x", status: 400, code: oautherr.UnauthorizedClient},
		{name: "grant never requested", body: cc + "&grant_type=refresh_token&refresh_token=x", status: 400, code: oautherr.UnauthorizedClient},
		{name: "scope not allowed", body: cc + "&grant_type=client_credentials&scope=admin", status: 400, code: oautherr.InvalidScope},
		{name: "scope malformed", body: cc + "&grant_type=client_credentials&scope=api.read%22", status: 400, code: oautherr.InvalidScope},
		{name: "unknown code", body: "grant_type=authorization_code&code=nope&redirect_uri=" + url.QueryEscape(webRedir), basicUser: "web", basicPass: webSecret, status: 400, code: oautherr.InvalidGrant},
		{name: "missing code", body: "grant_type=authorization_code", basicUser: "web", basicPass: webSecret, status: 400, code: oautherr.InvalidRequest},
		{name: "unknown refresh token", body: "grant_type=refresh_token&refresh_token=nope", basicUser: "web", basicPass: webSecret, status: 400, code: oautherr.InvalidGrant},
		{name: "wrong password", body: "grant_type=password&username=alice&password=nope", basicUser: "pw", basicPass: pwSecret, status: 400, code: oautherr.InvalidGrant},
		{name: "unknown user", body: "grant_type=password&username=zed&password=nope", basicUser: "pw", basicPass: pwSecret, status: 400, code: oautherr.InvalidGrant},
		{name: "user of another namespace", body: "grant_type=password&username=carol&password=carol+password", basicUser: "pw", basicPass: pwSecret, status: 400, code: oautherr.InvalidGrant},
		{name: "account disabled", body: "grant_type=password&username=bob&password=bob+password", basicUser: "pw", basicPass: pwSecret, status: 401, code: oautherr.AccountDisabled},
		{name: "account disabled (RFC)", body: "grant_type=password&username=bob&password=bob+password", basicUser: "pw-rfc", basicPass: pwSecret, status: 400, code: oautherr.InvalidGrant},
		{name: "unsupported grant type (RFC)", body: "grant_type=urn:example:magic", basicUser: "pw-rfc", basicPass: pwSecret, status: 400, code: oautherr.UnsupportedGrantType},
	})
}

// TestLockout: failed passwords lock the account (account_locked; in the
// RFC profile invalid_grant), and the lock ends with the clock.
func TestLockout(t *testing.T) {
	f := newFixture(t)
	wrong := "grant_type=password&username=alice&password=nope"
	for i := range 2 {
		expectError(t, f.send(t, authserver.PathToken, tokenCase{body: wrong, basicUser: "pw", basicPass: pwSecret}), 400, oautherr.InvalidGrant)
		_ = i
	}
	expectError(t, f.send(t, authserver.PathToken, tokenCase{body: wrong, basicUser: "pw", basicPass: pwSecret}), 401, oautherr.AccountLocked)
	right := "grant_type=password&username=alice&password=" + url.QueryEscape(alicePass)
	expectError(t, f.send(t, authserver.PathToken, tokenCase{body: right, basicUser: "pw", basicPass: pwSecret}), 401, oautherr.AccountLocked)
	expectError(t, f.send(t, authserver.PathToken, tokenCase{body: right, basicUser: "pw-rfc", basicPass: pwSecret}), 400, oautherr.InvalidGrant)
	f.clock.Advance(901 * time.Second)
	resp := f.send(t, authserver.PathToken, tokenCase{body: right + "&scope=openid", basicUser: "pw", basicPass: pwSecret})
	if resp.StatusCode != 200 {
		t.Fatalf("after the lock: %d %s", resp.StatusCode, readAll(t, resp))
	}
	resp.Body.Close()
}

// TestRFCProfileDefault: with the RFC profile as the server default, a
// wrong method is 405 with Allow.
func TestRFCProfileDefault(t *testing.T) {
	f := newFixture(t, func(c *authserver.Config) { c.DefaultProfile = oautherr.RFC })
	runErrorCases(t, f, authserver.PathToken, []tokenCase{
		{name: "wrong method", method: http.MethodGet, status: 405, code: oautherr.InvalidRequest, allow: "POST"},
	})
	runErrorCases(t, f, authserver.PathJWKS, []tokenCase{
		{name: "jwks wrong method", method: http.MethodPost, status: 405, code: oautherr.InvalidRequest, allow: "GET, HEAD"},
	})
}

// TestWrongMethodEveryEndpoint: not_supported with Allow on every endpoint.
func TestWrongMethodEveryEndpoint(t *testing.T) {
	f := newFixture(t)
	for path, allow := range map[string]string{
		authserver.PathToken: "POST", authserver.PathIntrospect: "POST", authserver.PathRevoke: "POST",
		authserver.PathJWKS: "GET, HEAD", authserver.PathOAuthMetadata: "GET, HEAD", authserver.PathOpenIDMetadata: "GET, HEAD",
		authserver.PathAuthorize: "GET, POST", authserver.PathUserinfo: "GET, POST",
	} {
		runErrorCases(t, f, path, []tokenCase{{name: path, method: http.MethodDelete, status: 400, code: oautherr.NotSupported, allow: allow}})
	}
}

// TestUnknownClientAndWrongSecretIndistinguishable compares the complete
// responses (status, headers, body) and checks both take comparable time.
func TestUnknownClientAndWrongSecretIndistinguishable(t *testing.T) {
	f := newFixture(t)
	dump := func(tc tokenCase) (string, time.Duration) {
		start := time.Now()
		resp := f.send(t, authserver.PathToken, tc)
		d := time.Since(start)
		body := readAll(t, resp)
		h := resp.Header.Clone()
		h.Del("Date")
		var b bytes.Buffer
		_ = h.Write(&b)
		return resp.Status + "\n" + b.String() + body, d
	}
	for _, pair := range [][2]tokenCase{
		{{body: "grant_type=client_credentials&client_id=nobody&client_secret=x"}, {body: "grant_type=client_credentials&client_id=cc&client_secret=x"}},
		{{body: "grant_type=client_credentials", basicUser: "nobody", basicPass: "x"}, {body: "grant_type=client_credentials", basicUser: "web", basicPass: "x"}},
	} {
		a, _ := dump(pair[0])
		b, _ := dump(pair[1])
		if a != b {
			t.Errorf("responses differ:\n%s\n---\n%s", a, b)
		}
	}
	// Timing: the same work runs for both (one constant-time digest compare
	// against a dummy digest); medians of many requests stay close.
	median := func(tc tokenCase) time.Duration {
		var ds []time.Duration
		for range 41 {
			_, d := dump(tc)
			ds = append(ds, d)
		}
		for i := range ds {
			for j := i + 1; j < len(ds); j++ {
				if ds[j] < ds[i] {
					ds[i], ds[j] = ds[j], ds[i]
				}
			}
		}
		return ds[len(ds)/2]
	}
	u := median(tokenCase{body: "grant_type=client_credentials&client_id=nobody&client_secret=x"})
	w := median(tokenCase{body: "grant_type=client_credentials&client_id=cc&client_secret=x"})
	if u > 3*w+2*time.Millisecond || w > 3*u+2*time.Millisecond {
		t.Errorf("median times differ: unknown %v, wrong secret %v", u, w)
	}
}

// TestRFCProfileForMethodErrors: a wrong method from a client whose policy
// uses the RFC profile is 405 with Allow when the client can be identified
// without reading a body: the Basic user name (form-urlencoded, RFC 6749
// §2.3.1) or a client_id query parameter. Otherwise the server's default.
func TestRFCProfileForMethodErrors(t *testing.T) {
	f := newFixture(t)
	runErrorCases(t, f, authserver.PathToken, []tokenCase{
		{name: "Basic", method: http.MethodGet, basicUser: "pw-rfc", basicPass: pwSecret, status: 405, code: oautherr.InvalidRequest, allow: "POST"},
		{name: "Basic, wrong secret", method: http.MethodPut, basicUser: "pw-rfc", basicPass: "guess", status: 405, code: oautherr.InvalidRequest, allow: "POST"},
		{name: "Extended client", method: http.MethodGet, basicUser: "pw", basicPass: pwSecret, status: 400, code: oautherr.NotSupported, allow: "POST"},
		{name: "unknown client", method: http.MethodGet, basicUser: "nobody", basicPass: "x", status: 400, code: oautherr.NotSupported, allow: "POST"},
		{name: "client_id in a body is not read", method: http.MethodPut, body: "client_id=tv-rfc", status: 400, code: oautherr.NotSupported, allow: "POST"},
	})
	runErrorCases(t, f, authserver.PathToken+"?client_id=tv-rfc", []tokenCase{
		{name: "client_id query parameter", method: http.MethodGet, status: 405, code: oautherr.InvalidRequest, allow: "POST"},
	})
	runErrorCases(t, f, authserver.PathIntrospect, []tokenCase{
		{name: "introspection", method: http.MethodGet, basicUser: "pw-rfc", basicPass: pwSecret, status: 405, code: oautherr.InvalidRequest, allow: "POST"},
	})
	// The Basic user name is decoded: %2D is "-".
	req, _ := http.NewRequest(http.MethodGet, f.issuer+authserver.PathToken, nil)
	req.SetBasicAuth("pw%2Drfc", "x")
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, resp, 405, oautherr.InvalidRequest)
}
