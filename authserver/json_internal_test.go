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
	"bytes"
	"encoding/json"
	"testing"

	"github.com/authops/authops/authserver/tokens"
)

// The hand-written encoders of the token path must write exactly what
// encoding/json writes.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	odd := "a\"b\\c<d>&e\x01f\u00e9g\u2028"
	claims := []tokens.AccessClaims{
		{Issuer: "https://authops.example", Subject: "svc", Audience: []string{"api"}, Expiry: 100, IssuedAt: 40, JTI: "j", ClientID: "svc"},
		{Issuer: odd, Subject: odd, Audience: []string{odd, "b"}, Expiry: -1, IssuedAt: 0, JTI: odd, ClientID: odd,
			Scope: "openid read", AuthTime: 7, Family: "fam", Confirmation: &tokens.Confirmation{JKT: odd}},
		{Audience: nil},
		{Audience: []string{}},
	}
	for _, c := range claims {
		want, _ := json.Marshal(c)
		if c.Audience == nil {
			want = bytes.Replace(want, []byte(`"aud":null`), []byte(`"aud":[]`), 1) // the same claim set for verifiers
		}
		if got := c.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("claims:\n got %s\nwant %s", got, want)
		}
	}
	for _, r := range []tokenResponse{
		{AccessToken: "a.b.c", TokenType: "Bearer", ExpiresIn: 3600},
		{AccessToken: "a.b.c", TokenType: "DPoP", ExpiresIn: 3600},
		{AccessToken: odd, TokenType: "Bearer", ExpiresIn: 1, RefreshToken: "r", Scope: odd, IDToken: "i"},
	} {
		var want bytes.Buffer
		_ = json.NewEncoder(&want).Encode(&r)
		if got := r.appendJSON(nil); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("response:\n got %s\nwant %s", got, want.Bytes())
		}
	}
}
