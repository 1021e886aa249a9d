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

package oautherr_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authops/authops/authserver/oautherr"
)

const realm = "https://auth.example.com"

// TestTable checks every row of the documented table and every RFC-profile
// variant: status, headers and the exact JSON body.
func TestTable(t *testing.T) {
	type want struct {
		status int
		body   string
		allow  string
		wwwa   string
	}
	j := func(code, desc string) string {
		return `{"error":"` + code + `","error_description":"` + desc + `","error_uri":""}` + "\n"
	}
	const (
		dReq     = "The request is malformed. Check parameters."
		dClient  = "Authentication error, invalid authentication method, lack of credentials, etc."
		dGrant   = "The authorization grant, token or credentials are expired or invalid."
		dUnauth  = "The authenticated client is not authorized to use this authorization grant type."
		dGT      = "The authorization grant type is not supported by the authorization server."
		dScope   = "The requested scope is invalid, unknown, malformed, or exceeds the scope granted by the resource owner."
		dTarget  = "The requested resource is invalid, missing, unknown, or malformed."
		dMethod  = "HTTP method not supported for this request."
		dLocked  = "Account is temporarily locked."
		dDisab   = "Account is disabled."
		dPending = "Waiting for user to authorize application."
		dExpired = "The authorization has expired waiting for user to authorize."
		dSlow    = "Slow down polling to the requested interval."
		dDenied  = "Authorization has been denied by the user."
		dProof   = "The DPoP proof is missing, malformed or invalid."
		dNonce   = "Resend the request with a DPoP proof that carries the nonce in the DPoP-Nonce header."
		dToken   = "The access token is invalid, expired or revoked."
	)
	dpopChallenge := `DPoP realm="` + realm + `", algs="ES256 ES384 EdDSA RS256 RS384 RS512 PS256 PS384 PS512", error=`
	cases := []struct {
		name     string
		err      *oautherr.Error
		extended want
		rfc      want
	}{
		{"access_denied (JSON, device flow)", oautherr.New(oautherr.AccessDenied),
			want{400, j("access_denied", dDenied), "", ""}, want{400, j("access_denied", dDenied), "", ""}},
		{"invalid_request", oautherr.New(oautherr.InvalidRequest),
			want{400, j("invalid_request", dReq), "", ""}, want{400, j("invalid_request", dReq), "", ""}},
		{"invalid_client without Basic", oautherr.New(oautherr.InvalidClient),
			want{401, j("invalid_client", dClient), "", ""}, want{401, j("invalid_client", dClient), "", ""}},
		{"invalid_client with Basic", &oautherr.Error{Code: oautherr.InvalidClient, Basic: true},
			want{401, j("invalid_client", dClient), "", `Basic realm="` + realm + `"`},
			want{401, j("invalid_client", dClient), "", `Basic realm="` + realm + `"`}},
		{"invalid_grant", oautherr.New(oautherr.InvalidGrant),
			want{400, j("invalid_grant", dGrant), "", ""}, want{400, j("invalid_grant", dGrant), "", ""}},
		{"invalid_grant with Basic carries no challenge", &oautherr.Error{Code: oautherr.InvalidGrant, Basic: true},
			want{400, j("invalid_grant", dGrant), "", ""}, want{400, j("invalid_grant", dGrant), "", ""}},
		{"unauthorized_client", oautherr.New(oautherr.UnauthorizedClient),
			want{400, j("unauthorized_client", dUnauth), "", ""}, want{400, j("unauthorized_client", dUnauth), "", ""}},
		{"unsupported_grant_type", oautherr.New(oautherr.UnsupportedGrantType),
			want{400, j("unsupported_grant_type", dGT), "", ""}, want{400, j("unsupported_grant_type", dGT), "", ""}},
		{"invalid_scope", oautherr.New(oautherr.InvalidScope),
			want{400, j("invalid_scope", dScope), "", ""}, want{400, j("invalid_scope", dScope), "", ""}},
		{"invalid_target", oautherr.New(oautherr.InvalidTarget),
			want{400, j("invalid_target", dTarget), "", ""}, want{400, j("invalid_target", dTarget), "", ""}},
		{"invalid_dpop_proof", oautherr.New(oautherr.InvalidDPoPProof),
			want{400, j("invalid_dpop_proof", dProof), "", ""}, want{400, j("invalid_dpop_proof", dProof), "", ""}},
		{"use_dpop_nonce", oautherr.New(oautherr.UseDPoPNonce),
			want{400, j("use_dpop_nonce", dNonce), "", ""}, want{400, j("use_dpop_nonce", dNonce), "", ""}},
		{"invalid_dpop_proof at a protected resource", &oautherr.Error{Code: oautherr.InvalidDPoPProof, DPoP: true},
			want{401, j("invalid_dpop_proof", dProof), "", dpopChallenge + `"invalid_dpop_proof"`},
			want{401, j("invalid_dpop_proof", dProof), "", dpopChallenge + `"invalid_dpop_proof"`}},
		{"use_dpop_nonce at a protected resource", &oautherr.Error{Code: oautherr.UseDPoPNonce, DPoP: true},
			want{401, j("use_dpop_nonce", dNonce), "", dpopChallenge + `"use_dpop_nonce"`},
			want{401, j("use_dpop_nonce", dNonce), "", dpopChallenge + `"use_dpop_nonce"`}},
		{"invalid_token with the DPoP scheme", &oautherr.Error{Code: oautherr.InvalidToken, DPoP: true},
			want{401, j("invalid_token", dToken), "", dpopChallenge + `"invalid_token"`},
			want{401, j("invalid_token", dToken), "", dpopChallenge + `"invalid_token"`}},
		{"not_supported", oautherr.Method("POST"),
			want{400, j("not_supported", dMethod), "POST", ""}, want{405, j("invalid_request", dMethod), "POST", ""}},
		{"account_locked", oautherr.New(oautherr.AccountLocked),
			want{401, j("account_locked", dLocked), "", ""}, want{400, j("invalid_grant", dGrant), "", ""}},
		{"account_disabled", oautherr.New(oautherr.AccountDisabled),
			want{401, j("account_disabled", dDisab), "", ""}, want{400, j("invalid_grant", dGrant), "", ""}},
		{"authorization_pending", oautherr.New(oautherr.AuthorizationPending),
			want{401, j("authorization_pending", dPending), "", ""}, want{400, j("authorization_pending", dPending), "", ""}},
		{"authorization_expired", oautherr.New(oautherr.AuthorizationExpired),
			want{401, j("authorization_expired", dExpired), "", ""}, want{400, j("expired_token", dExpired), "", ""}},
		{"slow_down", oautherr.New(oautherr.SlowDown),
			want{401, j("slow_down", dSlow), "", ""}, want{400, j("slow_down", dSlow), "", ""}},
		{"fixed description replaces the default", oautherr.Newf(oautherr.InvalidRequest, "grant_type is required."),
			want{400, j("invalid_request", "grant_type is required."), "", ""}, want{400, j("invalid_request", "grant_type is required."), "", ""}},
		{"unknown code is a server error", oautherr.New("made_up"),
			want{500, j("server_error", "The server could not handle the request. Try again later."), "", ""},
			want{500, j("server_error", "The server could not handle the request. Try again later."), "", ""}},
	}
	covered := map[oautherr.Code]bool{}
	for _, tc := range cases {
		covered[tc.err.Code] = true
		for _, p := range []struct {
			profile oautherr.Profile
			want    want
		}{{oautherr.Extended, tc.extended}, {oautherr.RFC, tc.rfc}} {
			t.Run(tc.name+"/"+string(p.profile), func(t *testing.T) {
				rec := httptest.NewRecorder()
				oautherr.Write(rec, tc.err, p.profile, realm)
				if rec.Code != p.want.status {
					t.Errorf("status = %d, want %d", rec.Code, p.want.status)
				}
				if got := rec.Body.String(); got != p.want.body {
					t.Errorf("body = %q, want %q", got, p.want.body)
				}
				h := rec.Header()
				for k, v := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store",
					"Pragma": "no-cache", "Allow": p.want.allow, "WWW-Authenticate": p.want.wwwa} {
					if got := h.Get(k); got != v {
						t.Errorf("header %s = %q, want %q", k, got, v)
					}
				}
			})
		}
	}
	for _, e := range oautherr.Table {
		if !covered[e.Code] {
			t.Errorf("table row %s has no test case", e.Code)
		}
	}
}

// TestTableRows pins the documented table itself: codes, order, statuses.
func TestTableRows(t *testing.T) {
	want := []struct {
		code   oautherr.Code
		status int
	}{
		{"access_denied", http.StatusFound}, {"invalid_request", 400}, {"invalid_client", 401}, {"invalid_grant", 400},
		{"unauthorized_client", 400}, {"unsupported_grant_type", 400}, {"invalid_scope", 400}, {"invalid_target", 400},
		{"invalid_dpop_proof", 400}, {"use_dpop_nonce", 400}, {"not_supported", 400},
		{"account_locked", 401}, {"account_disabled", 401}, {"authorization_pending", 401},
		{"authorization_expired", 401}, {"slow_down", 401},
	}
	if len(oautherr.Table) != len(want) {
		t.Fatalf("table has %d rows, want %d", len(oautherr.Table), len(want))
	}
	for i, w := range want {
		if got := oautherr.Table[i]; got.Code != w.code || got.Status != w.status || got.Description == "" {
			t.Errorf("row %d = %+v, want %s %d", i, got, w.code, w.status)
		}
	}
}

// TestDPoPNonceHeader: an error with a nonce carries it in DPoP-Nonce (RFC
// 9449 §8), one without carries none.
func TestDPoPNonceHeader(t *testing.T) {
	rec := httptest.NewRecorder()
	oautherr.Write(rec, &oautherr.Error{Code: oautherr.UseDPoPNonce, Nonce: "n1"}, oautherr.Extended, realm)
	if got := rec.Header().Get("DPoP-Nonce"); got != "n1" || rec.Code != 400 {
		t.Errorf("DPoP-Nonce = %q, status %d; want n1, 400", got, rec.Code)
	}
	rec = httptest.NewRecorder()
	oautherr.Write(rec, oautherr.New(oautherr.InvalidDPoPProof), oautherr.Extended, realm)
	if got, ok := rec.Header()["Dpop-Nonce"]; ok {
		t.Errorf("DPoP-Nonce = %q without a nonce", got)
	}
}

func TestParseProfile(t *testing.T) {
	for in, want := range map[string]oautherr.Profile{"": oautherr.Extended, "Extended": oautherr.Extended, "RFC": oautherr.RFC} {
		if got, err := oautherr.ParseProfile(in); err != nil || got != want {
			t.Errorf("ParseProfile(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := oautherr.ParseProfile("rfc"); err == nil {
		t.Error("ParseProfile(rfc) should fail")
	}
}
