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
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authops/authops/authserver"
	"github.com/authops/authops/authserver/snapshot"
)

// TestPolicyDocumentServed: the token endpoint serves a client compiled
// under a GrantPolicy under that policy's document, so that a policy
// change is served by the one document, with the client's unchanged: a
// policy that removes the client's only grant leaves it absent
// (invalid_client), one that allows it again with another access token
// lifetime serves tokens of that lifetime; without the document the client
// is served as compiled.
func TestPolicyDocumentServed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// cc, compiled under the GrantPolicy machines of its namespace.
	f.edit(func(d *snapshot.Document) {
		if d.Client != nil && d.Client.ID == "cc" {
			d.Client.PolicyUID, d.Client.Policy.Name = "uid-machines", "machines"
			d.Client.RequestedScopes = []string{"api.read", "api.write"}
		}
	})
	ccDoc := func() snapshot.Document {
		for _, e := range f.docs {
			if e.Document.Client != nil && e.Document.Client.ID == "cc" {
				return e.Document
			}
		}
		t.Fatal("no document of cc")
		return snapshot.Document{}
	}
	compiled := ccDoc()
	machines := func(mut ...func(*snapshot.GrantPolicy)) snapshot.Document {
		p := &snapshot.GrantPolicy{Policy: policy(func(p *snapshot.Policy) { p.Name = "machines" }),
			AllowedGrantTypes: []string{"client_credentials"}, AllowedScopes: []string{"api.read", "api.write"},
			DefaultScopes: []string{"api.read"}}
		for _, m := range mut {
			m(p)
		}
		return snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindPolicy,
			Source:      snapshot.Source{Kind: "GrantPolicy", Namespace: "team", Name: "machines", UID: "uid-machines", Generation: 1},
			GrantPolicy: p}
	}
	cc := clientcredentials.Config{ClientID: "cc", ClientSecret: ccSecret, TokenURL: f.issuer + authserver.PathToken,
		AuthStyle: oauth2.AuthStyleInParams}
	expiresIn := func() float64 {
		t.Helper()
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := tok.Extra("expires_in").(float64)
		return v
	}
	refused := func(status int, code string) {
		t.Helper()
		_, err := cc.Token(ctx)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response.StatusCode != status || re.ErrorCode != code {
			t.Fatalf("token request: %v, want %s (%d)", err, code, status)
		}
	}

	if got := expiresIn(); got != 600 {
		t.Fatalf("as compiled: expires_in %v, want 600", got)
	}
	f.put(machines())
	if got := expiresIn(); got != 600 {
		t.Fatalf("under the policy document it was compiled under: expires_in %v, want 600", got)
	}

	// The policy no longer allows client_credentials, cc's only grant.
	f.put(machines(func(p *snapshot.GrantPolicy) { p.AllowedGrantTypes = []string{"authorization_code"} }))
	refused(http.StatusUnauthorized, "invalid_client")
	// It allows password, which cc asked for too: cc is served, without
	// client_credentials.
	f.put(machines(func(p *snapshot.GrantPolicy) { p.AllowedGrantTypes = []string{"password"} }))
	refused(http.StatusBadRequest, "unauthorized_client")
	// client_credentials again, with another access token lifetime.
	f.put(machines(func(p *snapshot.GrantPolicy) { p.Policy.AccessTokenLifetimeSeconds = 1200 }))
	if got := expiresIn(); got != 1200 {
		t.Errorf("after the policy change: expires_in %v, want 1200", got)
	}
	if !reflect.DeepEqual(ccDoc(), compiled) {
		t.Fatal("the client's document changed")
	}

	// Without the policy document, cc is served as compiled.
	f.remove(machines())
	if got := expiresIn(); got != 600 {
		t.Errorf("without the policy document: expires_in %v, want 600", got)
	}
}
