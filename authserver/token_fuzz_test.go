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
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/authops/authops/authserver/oautherr"
)

// FuzzParseForm: the token endpoint's form parser accepts a body only when
// every parameter in it but resource (RFC 8707, which may repeat) appears
// once, and then returns exactly the parameters with non-empty values, and
// the resource values apart, as sent; anything else is invalid_request.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"grant_type=client_credentials&scope=a+b", "a=1&a=2", "a=&b=2", "%zz=1", "a=1;b=2", "=x&&&",
		"code=%E2%82%AC&redirect_uri=https%3A%2F%2Fapp", "a", strings.Repeat("x=1&", 3),
		"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb&resource=", "resource=x&scope=a&scope=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		p, resources, e := parseForm(httptest.NewRecorder(), r)
		if e != nil {
			if e.Code != oautherr.InvalidRequest {
				t.Fatalf("error %s", e.Code)
			}
			return
		}
		v, err := url.ParseQuery(body)
		if err != nil {
			t.Fatalf("accepted a body url.ParseQuery refuses: %v", err)
		}
		if !slices.Equal(resources, v["resource"]) {
			t.Fatalf("resources = %q, body has %q", resources, v["resource"])
		}
		if _, ok := p["resource"]; ok {
			t.Fatal("resource is among the single-valued parameters")
		}
		delete(v, "resource")
		for k, vs := range v {
			if len(vs) != 1 {
				t.Fatalf("accepted %q repeated", k)
			}
			if got, ok := p[k]; vs[0] != "" && (!ok || got != vs[0]) || vs[0] == "" && ok {
				t.Fatalf("parameter %q: got %q, body has %q", k, got, vs[0])
			}
		}
		for k := range p {
			if _, ok := v[k]; !ok {
				t.Fatalf("parameter %q not in the body", k)
			}
		}
	})
}
