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
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	"github.com/authops/authops/authserver/tokens"
)

// fuzzAccessToken is an access token of client "app" signed with
// fuzzKeyPEM at fuzzTime (so seeds in testdata/fuzz stay valid).
func fuzzAccessToken(tb testing.TB, s *Server) (string, *tokens.AccessClaims) {
	tb.Helper()
	reg := s.reg.Current()
	c, _ := reg.Client("app")
	resp, err := s.tokens.Mint(reg, fuzzTime, tokens.Issue{Client: c, Scopes: []string{"api.read"}, JTI: "fuzz-jti", Family: "fam"})
	if err != nil {
		tb.Fatal(err)
	}
	claims, err := s.tokens.VerifyAccess(reg, resp.AccessToken, fuzzTime)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.AccessToken, claims
}

// FuzzVerifyAccessToken: the JWT check of introspection, revocation and
// userinfo. Whatever the input, a token is accepted only with exactly the
// claims this server signed (a bit flipped anywhere that matters is
// refused; an alg, kid or typ changed is refused), and the check never
// panics.
func FuzzVerifyAccessToken(f *testing.F) {
	s := newFuzzServer(f)
	reg := s.reg.Current()
	tok, want := fuzzAccessToken(f, s)
	parts := strings.Split(tok, ".")
	enc := base64.RawURLEncoding
	f.Add(tok)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(enc.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + ".")
	f.Add(enc.EncodeToString([]byte(`{"alg":"HS256","kid":"k1","typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2])
	f.Add(enc.EncodeToString([]byte(`{"alg":"ES256","kid":"k1","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2])
	f.Add(enc.EncodeToString([]byte(`{"alg":"ES256","kid":"k1","typ":"at+jwt","x":1}`)) + "." + parts[1] + "." + parts[2])
	f.Add(parts[0] + "." + enc.EncodeToString([]byte(`{"iss":"https://auth.example.com","exp":9999999999,"jti":"x"}`)) + "." + parts[2])
	f.Add(strings.Join(parts, ".") + ".")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := s.tokens.VerifyAccess(reg, raw, fuzzTime)
		if err != nil {
			if c != nil {
				t.Fatal("claims with an error")
			}
			return
		}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("accepted %q with claims %+v, signed %+v", raw, c, want)
		}
	})
}
