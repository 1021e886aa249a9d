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
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/authops/authops/authserver/oautherr"
)

// FuzzBasicCredentials: client_secret_basic decoding (RFC 6749 §2.3.1: the
// user and password are form-urlencoded before Basic). A client is
// authenticated only when the decoded name and secret are exactly its own
// (or, for a public client, its ID with an empty password); every other
// outcome is invalid_client or invalid_request.
func FuzzBasicCredentials(f *testing.F) {
	f.Add("app", fuzzSecret, true)
	f.Add("app", fuzzSecret, false)
	f.Add("pub", "", true)
	f.Add("app", "s3cr:et/+%& \xe9", true)
	f.Add("a%70p", "x", false)
	f.Add("app:", "", false)
	f.Add("", "", true)
	s := newFuzzServer(f)
	reg := s.reg.Current()
	f.Fuzz(func(t *testing.T, user, pass string, escape bool) {
		u, p := user, pass
		if escape {
			u, p = url.QueryEscape(user), url.QueryEscape(pass)
		}
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u+":"+p)))
		c, e := s.clientAuth.authenticate(r, reg, params{})
		bu, bp, _ := r.BasicAuth()
		id, err1 := url.QueryUnescape(bu)
		secret, err2 := url.QueryUnescape(bp)
		decoded := err1 == nil && err2 == nil
		if e != nil {
			if e.Code != oautherr.InvalidClient && e.Code != oautherr.InvalidRequest {
				t.Fatalf("error %s", e.Code)
			}
			if escape && (user == "app" && pass == fuzzSecret || user == "pub" && pass == "") {
				t.Fatalf("the right credentials were refused: %v", e)
			}
			return
		}
		switch {
		case !decoded:
			t.Fatalf("authenticated %s from undecodable credentials %q:%q", c.ID, bu, bp)
		case c.ID == "app" && (id != "app" || secret != fuzzSecret):
			t.Fatalf("authenticated app with %q:%q", id, secret)
		case c.ID == "pub" && (id != "pub" || bp != ""):
			t.Fatalf("authenticated pub with %q:%q", id, bp)
		case c.ID != "app" && c.ID != "pub":
			t.Fatalf("authenticated %q", c.ID)
		}
	})
}
