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
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/registry"
)

// The pages are small, server-rendered and accessible: a language, a title,
// labelled inputs, an alert role for errors, no script.
var pages = template.Must(template.New("layout").Parse(`{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
label,input,button{display:block;font-size:1rem}input{width:100%;padding:.4rem;margin:.2rem 0 1rem;box-sizing:border-box}
button{padding:.5rem 1rem;margin:.5rem .5rem 0 0;display:inline-block}[role=alert]{border:2px solid #b00020;padding:.5rem;margin-bottom:1rem}</style>
</head><body><main>
<h1>{{.Title}}</h1>{{end}}
{{define "bottom"}}</main></body></html>{{end}}
{{define "hidden"}}{{range $k, $vs := .Carried}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">{{end}}{{end}}<input type="hidden" name="csrf_token" value="{{.CSRF}}">{{end}}

{{define "error"}}{{template "top" .}}
<div role="alert"><p>{{.Description}}</p><p>Error code: <code>{{.Code}}</code></p></div>
<p>Go back to the application and try again. If this keeps happening, tell the application's administrator.</p>
{{template "bottom" .}}{{end}}

{{define "login"}}{{template "top" .}}
<p>Sign in to continue to <strong>{{.Client}}</strong>.</p>
{{if .Description}}<div role="alert" id="login-error"><p>{{.Description}}</p></div>{{end}}
<form method="post" action="{{.Action}}">
{{template "hidden" .}}<input type="hidden" name="authops_action" value="login">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required autofocus{{if .Description}} aria-describedby="login-error"{{end}}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
{{template "bottom" .}}{{end}}

{{define "consent"}}{{template "top" .}}
<p><strong>{{.Client}}</strong> asks to act on behalf of <strong>{{.Account}}</strong> with these permissions:</p>
{{if .UserCode}}<p>Only allow this if your device shows the code <strong id="shown-code">{{.UserCode}}</strong>.</p>{{end}}
<ul>{{range .Scopes}}<li><code>{{.}}</code></li>{{else}}<li>no extra permissions</li>{{end}}</ul>
<form method="post" action="{{.Action}}">
{{template "hidden" .}}<input type="hidden" name="authops_action" value="consent">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
{{template "bottom" .}}{{end}}

{{define "device"}}{{template "top" .}}
<p>Enter the code shown on your device.</p>
{{if .Description}}<div role="alert" id="code-error"><p>{{.Description}}</p></div>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}"><input type="hidden" name="authops_action" value="code">
<label for="user_code">Code</label>
<input id="user_code" name="user_code" value="{{.UserCode}}" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus{{if .Description}} aria-describedby="code-error"{{end}}>
<button type="submit">Continue</button>
</form>
{{template "bottom" .}}{{end}}

{{define "signed_out"}}{{template "top" .}}
<p id="result">You are signed out.</p>
<p>You can close this page.</p>
{{template "bottom" .}}{{end}}

{{define "device_done"}}{{template "top" .}}
<p id="result">{{.Description}}</p>
<p>You can close this page and return to your device.</p>
{{template "bottom" .}}{{end}}
`))

type pageData struct {
	Title       string
	Code        string
	Description string
	Client      string
	Account     string
	Scopes      []string
	Action      string
	Carried     url.Values
	CSRF        string
	UserCode    string
}

func (s *Server) render(w http.ResponseWriter, name string, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, d); err != nil {
		s.log.Error("rendering a page failed", "page", name, "error", err)
	}
}

func displayName(c *registry.Client) string {
	if c.DisplayName != "" {
		return c.DisplayName
	}
	return c.ID
}

// setPageHeaders sets the headers of every page (the authorization
// endpoint's answers, the device page).
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: under no-referrer browsers send
	// "Origin: null" with the pages' form posts (Fetch §3.2.5), which the
	// Origin check must refuse. Other sites still get no Referer.
	h.Set("Referrer-Policy", "same-origin")
	oautherr.NoStore(h)
}

// readPageForm returns the request's parameters (the query of a GET, the
// form body of a POST) and, for a POST from one of the pages, its action.
func readPageForm(w http.ResponseWriter, r *http.Request) (url.Values, string, *oautherr.Error) {
	if r.Method != http.MethodPost {
		return r.URL.Query(), "", nil
	}
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, "", oautherr.Newf(oautherr.InvalidRequest, "The Content-Type must be application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, "", oautherr.Newf(oautherr.InvalidRequest, "The request body is too large or not valid form encoding.")
	}
	return r.PostForm, r.PostForm.Get("authops_action"), nil
}
