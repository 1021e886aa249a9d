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
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
)

// governedClient is a Confidential client of namespace team compiled
// under the GrantPolicy "strict" (UID gp-strict), as the manager compiles
// it: the grant types and scopes it asked for, and those the policy
// allowed.
func governedClient(id string) snapshot.Document {
	d := clientDoc(id, "team", id)
	c := d.Client
	c.PolicyUID, c.Policy.Name, c.PolicyGeneration = "gp-strict", "strict", 2
	c.GrantTypes = []string{"authorization_code", "refresh_token"}
	c.RequestedGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}
	c.Scopes = []string{"openid", "read"}
	c.RequestedScopes = []string{"openid", "read", "write"}
	c.DefaultScopes = []string{"openid"}
	return d
}

// governedPublicClient is governedClient as a Public client.
func governedPublicClient(id string) snapshot.Document {
	d := governedClient(id)
	d.Client.Type, d.Client.TokenEndpointAuthMethod, d.Client.Secrets = "Public", "none", nil
	return d
}

// policyDoc is the document of GrantPolicy name of namespace ns with that
// UID: the policy the governed clients were compiled under, changed by mut.
func policyDoc(ns, name, uid string, mut ...func(*snapshot.GrantPolicy)) snapshot.Document {
	p := &snapshot.GrantPolicy{Policy: policy(), AllowedGrantTypes: []string{"authorization_code", "refresh_token"},
		AllowedScopes: []string{"openid", "read"}, DefaultScopes: []string{"openid"}}
	p.Policy.Name = name
	for _, m := range mut {
		m(p)
	}
	return snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindPolicy,
		Source:      snapshot.Source{Kind: "GrantPolicy", Namespace: ns, Name: name, UID: uid, Generation: 2},
		GrantPolicy: p}
}

// olderGeneration is the document of a generation before the one the
// governed clients were compiled under (a policy controller behind the
// clients' one).
func olderGeneration(d snapshot.Document) snapshot.Document {
	d.Source.Generation = 1
	return d
}

// stricter is a change of the policy: other grant types, scopes, default
// scopes, lifetimes and refresh token rotation.
func stricter(p *snapshot.GrantPolicy) {
	p.AllowedGrantTypes = []string{"client_credentials", "refresh_token"}
	p.AllowedScopes = []string{"read", "write"}
	p.DefaultScopes = []string{"write", "openid"}
	p.Policy.AccessTokenLifetimeSeconds = 300
	p.Policy.RefreshTokenLifetimeSeconds = 900
	p.Policy.AuthorizationCodeLifetimeSeconds = 30
	p.Policy.RefreshTokenRotation = "Reuse"
}

// accessLifetime sets the policy's access token lifetime.
func accessLifetime(s int64) func(*snapshot.GrantPolicy) {
	return func(p *snapshot.GrantPolicy) { p.Policy.AccessTokenLifetimeSeconds = s }
}

// expectInline fails unless c is served as governedClient compiled it.
func expectInline(t *testing.T, c *registry.Client) {
	t.Helper()
	if !slices.Equal(c.GrantTypes, []string{"authorization_code", "refresh_token"}) || !slices.Equal(c.Scopes, []string{"openid", "read"}) ||
		!slices.Equal(c.DefaultScopes, []string{"openid"}) || c.Policy.AccessTokenLifetimeSeconds != 60 ||
		c.Policy.RefreshTokenRotation != "Rotate" {
		t.Errorf("client %s is not served as compiled: grant types %v, scopes %v, default scopes %v, policy %+v", c.ID,
			c.GrantTypes, c.Scopes, c.DefaultScopes, c.Policy)
	}
}

// TestPolicyOverlay: a client compiled under a GrantPolicy is served under
// that policy's document when the document has the UID the client names,
// the client's namespace and the policy's name; under no other document,
// not even one of another namespace or name that claims the UID.
func TestPolicyOverlay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy snapshot.Document
		under  bool
	}{
		{"matching", policyDoc("team", "strict", "gp-strict", stricter), true},
		{"another UID", policyDoc("team", "strict", "gp-other", stricter), false},
		{"another namespace claiming the UID", policyDoc("evil", "strict", "gp-strict", stricter), false},
		{"another name claiming the UID", policyDoc("team", "lax", "gp-strict", stricter), false},
		{"an older generation than the client was compiled under", olderGeneration(policyDoc("team", "strict", "gp-strict", stricter)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := registry.Build([]registry.Entry{{Origin: "a", Document: governedClient("web")},
				{Origin: "b", Document: governedPublicClient("spa")}, {Origin: "c", Document: tc.policy}}, discard)
			if r.Documents != 3 || r.Skipped != 0 {
				t.Errorf("documents %d skipped %d, want 3 and 0", r.Documents, r.Skipped)
			}
			web, ok := r.Client("web")
			if !ok {
				t.Fatal("web is not served")
			}
			spa, ok := r.Client("spa")
			if !ok {
				t.Fatal("spa is not served")
			}
			if !tc.under {
				expectInline(t, web)
				expectInline(t, spa)
				return
			}
			for _, c := range []*registry.Client{web, spa} {
				if !slices.Equal(c.GrantTypes, []string{"refresh_token", "client_credentials"}) ||
					!slices.Equal(c.Scopes, []string{"read", "write"}) || !slices.Equal(c.DefaultScopes, []string{"write"}) {
					t.Errorf("%s: grant types %v, scopes %v, default scopes %v, want the policy document's", c.ID,
						c.GrantTypes, c.Scopes, c.DefaultScopes)
				}
				if p := c.Policy; p.Name != "strict" || p.AccessTokenLifetimeSeconds != 300 || p.RefreshTokenLifetimeSeconds != 900 ||
					p.AuthorizationCodeLifetimeSeconds != 30 {
					t.Errorf("%s: policy %+v, want the policy document's", c.ID, p)
				}
				if c.AllowsGrant("authorization_code") || !c.AllowsGrant("client_credentials") || !c.AllowsScope("write") {
					t.Errorf("%s: the lookups do not follow the policy document", c.ID)
				}
			}
			if web.Policy.RefreshTokenRotation != "Reuse" || web.RotatesRefreshTokens() {
				t.Errorf("web rotates %q, want the policy document's Reuse", web.Policy.RefreshTokenRotation)
			}
			if spa.Policy.RefreshTokenRotation != "Rotate" {
				t.Errorf("the Public client rotates %q, want Rotate whatever its policy says", spa.Policy.RefreshTokenRotation)
			}
			// What the client document says of itself stays.
			if web.ID != "web" || web.Source != governedClient("web").Source || len(web.SecretDigests(t0.Add(-time.Second))) != 2 ||
				web.PolicyUID != "gp-strict" || web.Namespace != "team" {
				t.Errorf("web under its policy lost its own settings: %+v", web)
			}
		})
	}
}

// TestPolicyUIDTaken: of two policy documents claiming one UID, the
// smaller origin is served and the other skipped. One of another
// namespace that takes the UID governs no client: the client is then
// served as compiled.
func TestPolicyUIDTaken(t *testing.T) {
	r := registry.Build([]registry.Entry{{Origin: "a", Document: governedClient("web")},
		{Origin: "p1", Document: policyDoc("team", "strict", "gp-strict", accessLifetime(300))},
		{Origin: "p2", Document: policyDoc("team", "strict", "gp-strict", accessLifetime(600))}}, discard)
	if c, ok := r.Client("web"); !ok || c.Policy.AccessTokenLifetimeSeconds != 300 {
		t.Errorf("web is not served under the first policy document: %+v", c)
	}
	if r.Documents != 2 || r.Skipped != 1 {
		t.Errorf("documents %d skipped %d, want 2 and 1", r.Documents, r.Skipped)
	}
	r = registry.Build([]registry.Entry{{Origin: "a", Document: governedClient("web")},
		{Origin: "p0", Document: policyDoc("evil", "strict", "gp-strict", stricter)},
		{Origin: "p1", Document: policyDoc("team", "strict", "gp-strict", accessLifetime(300))}}, discard)
	c, ok := r.Client("web")
	if !ok {
		t.Fatal("web is not served")
	}
	expectInline(t, c)
}

// TestPolicyDocumentChanges: a Registry assembled after a policy document
// changed serves the new version at the next lookup, though the client is
// the same prepared document; the older Registry still serves the older
// version; without the policy document the client is served as compiled.
// A lookup costs no allocation once the client was served under the
// current version.
func TestPolicyDocumentChanges(t *testing.T) {
	web := registry.Prepare(registry.Entry{Origin: "a", Document: governedClient("web")})
	v1 := registry.Prepare(registry.Entry{Origin: "p", Document: policyDoc("team", "strict", "gp-strict", accessLifetime(300))})
	v2 := registry.Prepare(registry.Entry{Origin: "p", Document: policyDoc("team", "strict", "gp-strict", accessLifetime(600))})
	lifetime := func(r *registry.Registry) int64 {
		t.Helper()
		c, ok := r.Client("web")
		if !ok {
			t.Fatal("web is not served")
		}
		return c.Policy.AccessTokenLifetimeSeconds
	}
	r1 := registry.Assemble([]*registry.Prepared{web, v1}, discard)
	if got := lifetime(r1); got != 300 {
		t.Fatalf("under v1: lifetime %d, want 300", got)
	}
	first, _ := r1.Client("web")
	if again, _ := r1.Client("web"); again != first {
		t.Error("a second lookup computed the client under its policy again")
	}
	if n := testing.AllocsPerRun(100, func() { r1.Client("web") }); n != 0 {
		t.Errorf("a lookup allocates %v times", n)
	}
	r2 := registry.Assemble([]*registry.Prepared{web, v2}, discard)
	if got := lifetime(r2); got != 600 {
		t.Errorf("after the change: lifetime %d, want 600", got)
	}
	if got := lifetime(r1); got != 300 {
		t.Errorf("the older Registry: lifetime %d, want 300", got)
	}
	r3 := registry.Assemble([]*registry.Prepared{web}, discard)
	c, _ := r3.Client("web")
	expectInline(t, c)
	if got := lifetime(r2); got != 600 {
		t.Errorf("after a lookup without the policy document: lifetime %d, want 600", got)
	}
}

// TestClientWithoutUsableGrantIsAbsent: a client with no grant type but
// refresh_token, as compiled or under its policy document, is served as
// absent (not known), yet its document is loaded; a later policy document
// that allows a grant serves it again, with no change to its document.
func TestClientWithoutUsableGrantIsAbsent(t *testing.T) {
	refreshOnly := clientDoc("refresh-only", "team", "refresh-only")
	refreshOnly.Client.GrantTypes = []string{"refresh_token"}
	none := clientDoc("none", "team", "none")
	none.Client.GrantTypes = []string{}
	r := registry.Build([]registry.Entry{{Origin: "a", Document: refreshOnly}, {Origin: "b", Document: none},
		{Origin: "c", Document: governedClient("web")},
		{Origin: "d", Document: policyDoc("team", "strict", "gp-strict", func(p *snapshot.GrantPolicy) {
			p.AllowedGrantTypes = []string{"refresh_token", "password"}
		})}}, discard)
	for _, id := range []string{"refresh-only", "none", "web"} {
		if c, ok := r.Client(id); ok || c != nil || r.Known(id) {
			t.Errorf("%s has no usable grant and is served", id)
		}
	}
	if r.Documents != 4 || r.Skipped != 0 {
		t.Errorf("documents %d skipped %d, want 4 and 0", r.Documents, r.Skipped)
	}

	// The manager writes a client that its policy leaves without a
	// usable grant with the grants it has: none.
	doc := governedClient("api")
	doc.Client.GrantTypes, doc.Client.Scopes, doc.Client.DefaultScopes = []string{}, nil, nil
	api := registry.Prepare(registry.Entry{Origin: "a", Document: doc})
	nothing := registry.Prepare(registry.Entry{Origin: "p", Document: policyDoc("team", "strict", "gp-strict", func(p *snapshot.GrantPolicy) {
		p.AllowedGrantTypes = []string{"password"}
	})})
	allowed := registry.Prepare(registry.Entry{Origin: "p", Document: policyDoc("team", "strict", "gp-strict", func(p *snapshot.GrantPolicy) {
		p.AllowedGrantTypes = []string{"client_credentials"}
	})})
	if _, ok := registry.Assemble([]*registry.Prepared{api, nothing}, discard).Client("api"); ok {
		t.Error("a client its policy document leaves without a usable grant is served")
	}
	r = registry.Assemble([]*registry.Prepared{api, allowed}, discard)
	c, ok := r.Client("api")
	if !ok || !slices.Equal(c.GrantTypes, []string{"client_credentials"}) || !r.Known("api") {
		t.Errorf("the policy document allowing client_credentials does not serve the client: %v", c)
	}
}

// TestLoadDirPolicyDocument: the file loader serves a client under its
// policy document's file, and as compiled once the file is gone.
func TestLoadDirPolicyDocument(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, d snapshot.Document) { writeDoc(t, dir, name, d) }
	write("web.json", governedClient("web"))
	write("policy.json", policyDoc("team", "strict", "gp-strict", accessLifetime(300)))
	r, err := registry.LoadDir(dir, discard)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := r.Client("web"); !ok || c.Policy.AccessTokenLifetimeSeconds != 300 || r.Documents != 2 {
		t.Fatalf("web is not served under its policy document: %+v", c)
	}
	if err := os.Remove(filepath.Join(dir, "policy.json")); err != nil {
		t.Fatal(err)
	}
	if r, err = registry.LoadDir(dir, discard); err != nil {
		t.Fatal(err)
	}
	c, ok := r.Client("web")
	if !ok {
		t.Fatal("web is not served")
	}
	expectInline(t, c)
}

// TestPolicyMemoConcurrent looks clients up in two registries with two
// versions of their policy document at once (run with -race): each lookup
// serves its Registry's version, however the clients' memos change.
func TestPolicyMemoConcurrent(t *testing.T) {
	var clients []*registry.Prepared
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%d", i)
		clients = append(clients, registry.Prepare(registry.Entry{Origin: ids[i], Document: governedClient(ids[i])}))
	}
	v := func(lifetime int64) []*registry.Prepared {
		p := registry.Prepare(registry.Entry{Origin: "p", Document: policyDoc("team", "strict", "gp-strict", accessLifetime(lifetime))})
		return append([]*registry.Prepared{p}, clients...)
	}
	rs := map[int64]*registry.Registry{300: registry.Assemble(v(300), discard), 600: registry.Assemble(v(600), discard)}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				want := []int64{300, 600}[(g+i)%2]
				c, ok := rs[want].Client(ids[i%len(ids)])
				if !ok || c.Policy.AccessTokenLifetimeSeconds != want {
					t.Errorf("a Registry serves %+v, want its policy document's lifetime %d", c, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
