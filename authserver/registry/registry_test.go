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

package registry_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func policy() snapshot.Policy {
	return snapshot.Policy{PKCE: "Required", Consent: "Auto", ErrorProfile: "RFC", RefreshTokenRotation: "Rotate",
		AccessTokenLifetimeSeconds: 60, RefreshTokenLifetimeSeconds: 60, AuthorizationCodeLifetimeSeconds: 60,
		DeviceCodeLifetimeSeconds: 60, DevicePollIntervalSeconds: 5, LockoutMaxFailedAttempts: 3,
		LockoutWindowSeconds: 60, LockoutDurationSeconds: 60}
}

func clientDoc(id, ns, name string) snapshot.Document {
	notAfter := t0
	return snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindClient,
		Source: snapshot.Source{Kind: "OAuthClient", Namespace: ns, Name: name, UID: "u-" + name, Generation: 3},
		Client: &snapshot.Client{ID: id, Namespace: ns, Type: "Confidential", TokenEndpointAuthMethod: "client_secret_basic",
			Secrets:    []snapshot.SecretDigest{{SHA256: strings.Repeat("ab", 32)}, {SHA256: strings.Repeat("cd", 32), NotAfter: &notAfter}},
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"a"}, Policy: policy()}}
}

func accountDoc(ns, user string) snapshot.Document {
	return snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindAccount,
		Source:  snapshot.Source{Kind: "Account", Namespace: ns, Name: user, UID: "u-" + user},
		Account: &snapshot.Account{Subject: ns + "/" + user, Namespace: ns, Username: user}}
}

func rsDoc(ns, name, audience string) snapshot.Document {
	return snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindResourceServer,
		Source: snapshot.Source{Kind: "ResourceServer", Namespace: ns, Name: name, UID: "u-rs-" + name, Generation: 2},
		ResourceServer: &snapshot.ResourceServer{ID: "rs/" + ns + "/" + name, Namespace: ns, Audience: audience,
			Scopes: []string{"pay"}, Secrets: []snapshot.SecretDigest{{SHA256: strings.Repeat("ef", 32)}}}}
}

func keyDoc(t *testing.T, keys ...snapshot.Key) snapshot.Document {
	for i := range keys {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[i].PrivateKeyPEM, _ = snapshot.EncodePrivateKey(k)
		keys[i].Algorithm = "ES256"
	}
	return snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindKeySet,
		Source: snapshot.Source{Kind: "Secret", Name: snapshot.KeySetSecretName, UID: "k"}, KeySet: &snapshot.KeySet{Keys: keys}}
}

func TestBuild(t *testing.T) {
	h := time.Hour
	bad := clientDoc("bad", "ns", "bad")
	bad.Client.Type = "Strange"
	r := registry.Build([]registry.Entry{
		{Origin: "a", Document: clientDoc("web", "ns", "web")},
		{Origin: "b", Document: clientDoc("web", "other", "web")}, // duplicate ID: skipped
		{Origin: "c", Document: bad},                              // invalid: skipped
		{Origin: "d", Document: accountDoc("ns", "alice")},
		{Origin: "e", Document: accountDoc("ns", "alice")}, // duplicate username: skipped
		{Origin: "f", Document: keyDoc(t,
			snapshot.Key{ID: "old", PublishFrom: t0.Add(-3 * h), SignFrom: t0.Add(-3 * h), SignUntil: t0.Add(h), PublishUntil: t0.Add(2 * h)},
			snapshot.Key{ID: "new", PublishFrom: t0.Add(-2 * h), SignFrom: t0.Add(-h), SignUntil: t0.Add(5 * h), PublishUntil: t0.Add(6 * h)},
			snapshot.Key{ID: "next", PublishFrom: t0.Add(-h), SignFrom: t0.Add(h), SignUntil: t0.Add(9 * h), PublishUntil: t0.Add(10 * h)})},
	}, discard)
	if r.Documents != 3 || r.Skipped != 3 {
		t.Errorf("documents %d skipped %d, want 3 and 3", r.Documents, r.Skipped)
	}
	c, ok := r.Client("web")
	if !ok || c.Source.Namespace != "ns" || c.Source.Generation != 3 {
		t.Fatalf("client = %+v", c)
	}
	if !c.AllowsGrant("client_credentials") || c.AllowsGrant("password") || !c.AllowsScope("a") || c.AllowsScope("b") {
		t.Error("grant or scope lookups wrong")
	}
	if !c.PKCERequired() || c.Profile() != "RFC" {
		t.Error("policy lookups wrong")
	}
	if n := len(c.SecretDigests(t0.Add(-time.Second))); n != 2 {
		t.Errorf("before NotAfter: %d digests", n)
	}
	if n := len(c.SecretDigests(t0)); n != 1 {
		t.Errorf("at NotAfter: %d digests", n)
	}
	if _, ok := r.Account("ns", "alice"); !ok {
		t.Error("alice missing")
	}
	if _, ok := r.AccountBySubject("ns/alice"); !ok {
		t.Error("alice by subject missing")
	}
	if k, ok := r.SigningKey(t0); !ok || k.ID != "new" {
		t.Errorf("signing key at t0 = %v", k)
	}
	if k, ok := r.SigningKey(t0.Add(2 * h)); !ok || k.ID != "next" {
		t.Errorf("signing key at t0+2h = %v", k)
	}
	if _, ok := r.SigningKey(t0.Add(20 * h)); ok {
		t.Error("a key signs after every window")
	}
	var ids []string
	for _, k := range r.PublishedKeys(t0) {
		ids = append(ids, k.ID)
	}
	if strings.Join(ids, ",") != "old,new,next" {
		t.Errorf("published at t0: %v", ids)
	}
}

// TestResourceServers: ResourceServer documents are indexed by ID and by
// audience; a second claim of either is skipped; a client's resources are
// looked up by audience.
func TestResourceServers(t *testing.T) {
	web := clientDoc("web", "ns", "web")
	web.Client.Resources = []snapshot.Resource{{Audience: "https://pay.example", Scopes: []string{"pay"}, WithheldScopes: []string{"refund"}}}
	web.Client.Audiences = []string{"https://pay.example"}
	noAudience := rsDoc("ns", "broken", "")
	noAudience.ResourceServer.Audience = ""
	r := registry.Build([]registry.Entry{
		{Origin: "a", Document: rsDoc("ns", "payments", "https://pay.example")},
		{Origin: "b", Document: rsDoc("other", "payments", "https://pay.example")}, // audience taken: skipped
		{Origin: "c", Document: rsDoc("ns", "payments", "https://other.example")},  // ID taken: skipped
		{Origin: "d", Document: noAudience},                                        // invalid: skipped
		{Origin: "e", Document: web},
	}, discard)
	if r.Documents != 2 || r.Skipped != 3 {
		t.Errorf("documents %d skipped %d, want 2 and 3", r.Documents, r.Skipped)
	}
	rs, ok := r.ResourceServer("rs/ns/payments")
	if !ok || rs.Audience != "https://pay.example" || rs.Source.Generation != 2 || len(rs.SecretDigests(t0)) != 1 {
		t.Fatalf("resource server = %+v", rs)
	}
	if byAud, ok := r.ResourceServerByAudience("https://pay.example"); !ok || byAud != rs {
		t.Errorf("by audience = %+v", byAud)
	}
	if _, ok := r.ResourceServerByAudience("https://other.example"); ok {
		t.Error("the skipped document's audience is served")
	}
	if _, ok := r.ResourceServer("rs/other/payments"); ok {
		t.Error("the loser of an audience is served")
	}
	if _, ok := r.Client("rs/ns/payments"); ok {
		t.Error("a resource server is a client")
	}
	c, _ := r.Client("web")
	if res, ok := c.Resource("https://pay.example"); !ok || res.WithheldScopes[0] != "refund" {
		t.Errorf("resource = %+v", res)
	}
	if _, ok := c.Resource("https://other.example"); ok {
		t.Error("an ungranted resource is found")
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, v any) { writeDoc(t, dir, name, v) }
	write("web.json", clientDoc("web", "ns", "web"))
	write("alice.json", accountDoc("ns", "alice"))
	write("payments.json", rsDoc("ns", "payments", "https://pay.example"))
	if err := os.WriteFile(filepath.Join(dir, "broken.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := clientDoc("old", "ns", "old")
	old.Version = "snapshot.oauth.authops.io/v0"
	write("old.json", old)
	if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte("ignored"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := registry.LoadDir(dir, discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.Documents != 3 || r.Skipped != 2 {
		t.Errorf("documents %d skipped %d", r.Documents, r.Skipped)
	}
	if _, ok := r.ResourceServerByAudience("https://pay.example"); !ok {
		t.Error("the resource server file is not loaded")
	}
	if _, err := registry.LoadDir(filepath.Join(dir, "missing"), discard); err == nil {
		t.Error("missing directory is not an error")
	}
}

func TestHolder(t *testing.T) {
	h := registry.NewHolder()
	if h.Ready() || h.Current() == nil {
		t.Fatal("new holder")
	}
	if _, ok := h.Current().Client("web"); ok {
		t.Fatal("empty registry has a client")
	}
	h.Store(registry.Build([]registry.Entry{{Origin: "a", Document: clientDoc("web", "ns", "web")}}, discard))
	h.MarkReady()
	if _, ok := h.Current().Client("web"); !ok || !h.Ready() {
		t.Fatal("store")
	}
}

// TestFileLoader: the loader marks the holder ready after the first load,
// picks up a changed directory, and keeps the last snapshot if the
// directory disappears.
func TestFileLoader(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, d snapshot.Document) { writeDoc(t, dir, name, d) }
	write("web.json", clientDoc("web", "ns", "web"))
	h := registry.NewHolder()
	l := &registry.FileLoader{Dir: dir, Holder: h, Log: discard, Interval: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("ready", h.Ready)
	write("api.json", clientDoc("api", "ns", "api"))
	waitFor("api client", func() bool { _, ok := h.Current().Client("api"); return ok })
	last := h.Current()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if h.Current() != last {
		t.Error("a vanished directory replaced the snapshot")
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestHolderConcurrent swaps registries while readers use them (run with
// -race).
func TestHolderConcurrent(t *testing.T) {
	h := registry.NewHolder()
	a := registry.Build([]registry.Entry{{Origin: "a", Document: clientDoc("web", "ns", "web")}}, discard)
	b := registry.Build(nil, discard)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					r := h.Current()
					if c, ok := r.Client("web"); ok && c.ID != "web" {
						t.Error("torn read")
					}
				}
			}
		}()
	}
	for i := range 1000 {
		if i%2 == 0 {
			h.Store(a)
		} else {
			h.Store(b)
		}
	}
	close(stop)
	wg.Wait()
}

// writeDoc writes v (a document, usually) as JSON to dir/name, as a
// snapshot directory holds it.
func writeDoc(t *testing.T, dir, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
