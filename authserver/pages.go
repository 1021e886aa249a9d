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
{{define "hidden"}}{{range $k, $v := .Carried}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">{{end}}<input type="hidden" name="csrf_token" value="{{.CSRF}}">{{end}}

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

// errorPage shows an authorization error that must not be redirected
// (unknown client, unregistered redirect URI), with status 400.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, e *oautherr.Error) {
	resp := oautherr.Resolve(e, s.profile, s.issuer)
	info(r).errCode = e.Code
	s.render(w, "error", http.StatusBadRequest, pageData{Title: "Sign-in request not valid",
		Code: string(resp.Body.Error), Description: resp.Body.ErrorDescription})
}

func displayName(c *registry.Client) string {
	if c.DisplayName != "" {
		return c.DisplayName
	}
	return c.ID
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, ar *authRequest, e *oautherr.Error, status int) {
	d := pageData{Title: "Sign in", Client: displayName(ar.client), Action: s.issuerURL.Path + PathAuthorize,
		Carried: ar.carried, CSRF: s.csrfToken(w, r, s.oauthPath())}
	if e != nil {
		d.Description = s.loginErrorText(r, ar.client, e)
	}
	s.render(w, "login", status, d)
}

// loginErrorText is what the login pages say about a failed login: the
// table's description, and for a locked account until when and what to do.
func (s *Server) loginErrorText(r *http.Request, c *registry.Client, e *oautherr.Error) string {
	desc := oautherr.Resolve(e, oautherr.Extended, "").Body.ErrorDescription
	switch e.Code {
	case oautherr.AccountLocked:
		until := ""
		if acc, ok := s.reg.Current().Account(c.Namespace, r.PostForm.Get("username")); ok {
			if lo, err := s.store.GetLockout(r.Context(), acc.Subject); err == nil && lo.LockedAt(s.clock.Now()) {
				until = " until " + lo.LockedUntil.UTC().Format("15:04:05 MST (2006-01-02)")
			}
		}
		return desc + " There were too many failed sign-in attempts: sign-in is blocked" + until +
			". Wait and try again, or ask your administrator."
	case oautherr.AccountDisabled:
		return desc + " Ask your administrator to enable it."
	}
	return desc
}

func (s *Server) consentPage(w http.ResponseWriter, r *http.Request, ar *authRequest, acc *registry.Account) {
	name := acc.DisplayName
	if name == "" {
		name = acc.Username
	}
	s.render(w, "consent", http.StatusOK, pageData{Title: "Allow access?", Client: displayName(ar.client), Account: name,
		Scopes: ar.scopes, Action: s.issuerURL.Path + PathAuthorize, Carried: ar.carried, CSRF: s.csrfToken(w, r, s.oauthPath())})
}
