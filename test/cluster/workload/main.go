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

// Command workload is the program of the real-cluster suite's workload
// identity Pod: it reads the Pod's projected ServiceAccount token, sends it
// as the RFC 7523 client assertion of a client_credentials request, and
// prints one JSON line: the HTTP status, the error if any, and the claims
// of the access token it got (never the token itself). It exits 0 only
// with an access token.
//
// Configured by environment variables: TOKEN_FILE (the projected token),
// TOKEN_URL (the token endpoint as the Pod reaches it), HOST (the issuer's
// host, sent as the Host header), CLIENT_ID and SCOPE.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// result is the line the program prints.
type result struct {
	Status           int            `json:"status"`
	Error            string         `json:"error,omitempty"`
	ErrorDescription string         `json:"error_description,omitempty"`
	TokenType        string         `json:"token_type,omitempty"`
	ExpiresIn        int            `json:"expires_in,omitempty"`
	Scope            string         `json:"scope,omitempty"`
	Claims           map[string]any `json:"claims,omitempty"`
	// Files are the files of the Pod's token folders: the test checks
	// that only the projected token is mounted.
	Files []string `json:"files"`
}

func main() {
	r, err := run()
	if err != nil {
		r.Error = err.Error()
	}
	line, _ := json.Marshal(r)
	fmt.Println(string(line))
	if err != nil || r.TokenType == "" {
		os.Exit(1)
	}
}

func run() (result, error) {
	var r result
	for _, dir := range []string{"/var/run/authops", "/var/run/secrets/kubernetes.io/serviceaccount"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), "..") {
				r.Files = append(r.Files, dir+"/"+e.Name())
			}
		}
	}
	assertion, err := os.ReadFile(os.Getenv("TOKEN_FILE"))
	if err != nil {
		return r, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {os.Getenv("CLIENT_ID")},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {strings.TrimSpace(string(assertion))},
		"scope":                 {os.Getenv("SCOPE")},
	}
	req, err := http.NewRequest(http.MethodPost, os.Getenv("TOKEN_URL"), strings.NewReader(form.Encode()))
	if err != nil {
		return r, err
	}
	req.Host = os.Getenv("HOST")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return r, err
	}
	var tok struct {
		AccessToken      string `json:"access_token"`
		TokenType        string `json:"token_type"`
		ExpiresIn        int    `json:"expires_in"`
		Scope            string `json:"scope"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		return r, fmt.Errorf("the token endpoint answered %d with a body that is not JSON: %w", resp.StatusCode, err)
	}
	r.Error, r.ErrorDescription = tok.Error, tok.ErrorDescription
	if tok.AccessToken == "" {
		return r, nil
	}
	r.TokenType, r.ExpiresIn, r.Scope = tok.TokenType, tok.ExpiresIn, tok.Scope
	parts := strings.Split(tok.AccessToken, ".")
	if len(parts) != 3 {
		return r, fmt.Errorf("the access token is not a JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(payload, &r.Claims)
}
