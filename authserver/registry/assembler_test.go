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

package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authops/authops/authserver/snapshot"
)

// logRecorder is a slog.Handler that keeps what is logged as text.
type logRecorder struct {
	mu      sync.Mutex
	records []loggedRecord
}

// loggedRecord is one log record: its message, origin and error, and all
// its attributes as text.
type loggedRecord struct {
	msg, origin, err, attrs string
}

// key identifies a skip: a document logged as skipped for a reason.
func (r loggedRecord) key() string { return r.msg + "|" + r.origin + "|" + r.err }

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := loggedRecord{msg: r.Message}
	var attrs []string
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a.Key+"="+a.Value.String())
		switch a.Key {
		case "origin":
			rec.origin = a.Value.String()
		case "error":
			rec.err = a.Value.String()
		}
		return true
	})
	rec.attrs = strings.Join(attrs, " ")
	h.mu.Lock()
	h.records = append(h.records, rec)
	h.mu.Unlock()
	return nil
}

// take returns the records logged since the last take.
func (h *logRecorder) take() []loggedRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.records
	h.records = nil
	return out
}

// docGen draws documents from a small universe of client IDs, usernames,
// subjects, resource server IDs, audiences, key IDs and GrantPolicy
// namespaces, names and UIDs, so that random documents conflict often and
// policy documents often govern a client, or claim its policy's UID from
// another namespace or under another name.
type docGen struct {
	rnd  *mrand.Rand
	pems []string
	n    int
}

func newDocGen(t testing.TB, seed uint64) *docGen {
	g := &docGen{rnd: mrand.New(mrand.NewPCG(seed, 20))}
	for range 3 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pem, err := snapshot.EncodePrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		g.pems = append(g.pems, pem)
	}
	return g
}

func (g *docGen) pick(of ...string) string { return of[g.rnd.IntN(len(of))] }

// genPolicy is the policy of generated documents.
func genPolicy() snapshot.Policy {
	return snapshot.Policy{PKCE: "Required", Consent: "Auto", ErrorProfile: "RFC", RefreshTokenRotation: "Rotate",
		AccessTokenLifetimeSeconds: 60, RefreshTokenLifetimeSeconds: 60, AuthorizationCodeLifetimeSeconds: 60,
		DeviceCodeLifetimeSeconds: 60, DevicePollIntervalSeconds: 5, LockoutMaxFailedAttempts: 3, LockoutWindowSeconds: 60,
		LockoutDurationSeconds: 60}
}

// grantSets are the grant type lists of generated clients and policies:
// some without a usable grant.
var grantSets = [][]string{{}, {snapshot.GrantRefreshToken}, {snapshot.GrantAuthorizationCode},
	{snapshot.GrantAuthorizationCode, snapshot.GrantRefreshToken}}

// doc is a random document; about one in ten cannot be used.
func (g *docGen) doc() snapshot.Document {
	g.n++
	src := snapshot.Source{Kind: "Thing", Namespace: "ns", Name: fmt.Sprintf("n%d", g.n), UID: fmt.Sprintf("u%d", g.n)}
	d := snapshot.Document{Version: snapshot.Version, Source: src}
	switch k := g.rnd.IntN(23); {
	case k < 11, k == 19:
		d.Kind = snapshot.KindClient
		requested := []string{snapshot.GrantAuthorizationCode, snapshot.GrantRefreshToken}
		d.Client = &snapshot.Client{ID: g.pick("a", "b", "c", "d"), Namespace: g.pick("ns", "other"), Type: snapshot.ClientPublic,
			TokenEndpointAuthMethod: snapshot.AuthNone, GrantTypes: grantSets[g.rnd.IntN(len(grantSets))],
			RequestedGrantTypes: requested, Scopes: []string{g.pick("x", "y")}, RequestedScopes: []string{"x", "y"},
			Policy: genPolicy()}
		if g.rnd.IntN(3) > 0 {
			d.Client.PolicyUID, d.Client.Policy.Name = g.pick("p1", "p2"), g.pick("pa", "pb")
		}
		if k == 19 {
			d.Client.Type = "Strange" // cannot be used
		}
	case k >= 20:
		d.Kind = snapshot.KindPolicy
		d.Source = snapshot.Source{Kind: "GrantPolicy", Namespace: g.pick("ns", "other"), Name: g.pick("pa", "pb"),
			UID: g.pick("p1", "p2", "p3"), Generation: int64(g.n)}
		d.GrantPolicy = &snapshot.GrantPolicy{Policy: genPolicy(), AllowedGrantTypes: grantSets[g.rnd.IntN(len(grantSets))],
			DefaultScopes: []string{"x"}}
		d.GrantPolicy.Policy.Name = d.Source.Name
		d.GrantPolicy.Policy.AccessTokenLifetimeSeconds = int64(60 + g.n)
		if g.rnd.IntN(2) == 0 {
			d.GrantPolicy.AnyScope = true
		} else {
			d.GrantPolicy.AllowedScopes = []string{g.pick("x", "y")}
		}
		if g.rnd.IntN(10) == 0 {
			d.GrantPolicy.Policy.Name = "another" // cannot be used
		}
	case k < 14:
		d.Kind = snapshot.KindAccount
		d.Account = &snapshot.Account{Namespace: "ns", Username: g.pick("u1", "u2", "u3"), Subject: g.pick("s1", "s2", "s3")}
	case k < 17:
		d.Kind = snapshot.KindResourceServer
		d.ResourceServer = &snapshot.ResourceServer{ID: g.pick("rs/ns/x", "rs/ns/y", "rs/ns/z"), Namespace: "ns",
			Audience: g.pick("aud1", "aud2", "aud3")}
	default:
		d.Kind = snapshot.KindKeySet
		d.KeySet = &snapshot.KeySet{}
		for range 1 + g.rnd.IntN(2) {
			i := g.rnd.IntN(len(g.pems))
			d.KeySet.Keys = append(d.KeySet.Keys, snapshot.Key{ID: fmt.Sprintf("k%d", i), Algorithm: snapshot.AlgES256,
				PrivateKeyPEM: g.pems[i], PublishFrom: t0, SignFrom: t0, SignUntil: t0.Add(time.Hour), PublishUntil: t0.Add(time.Hour)})
		}
	}
	return d
}

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// TestAssemblerAgreesWithAssemble applies random sequences of document
// additions, changes and removals (which often conflict) to an assembler
// and checks each Registry it builds against Assemble over the same
// documents: the same client document, policy document, account, resource
// server and key for every key, each client served the same way (under
// the same policy document, as compiled, or absent), the same counts; and
// that each build logs exactly the documents newly skipped (once when they
// become skipped, not at every build).
func TestAssemblerAgreesWithAssemble(t *testing.T) {
	var total servedWays
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { total.add(checkAssembler(t, seed, 60)) })
	}
	// The documents drawn exercise every way of serving a client.
	if total.inline == 0 || total.under == 0 || total.absent == 0 {
		t.Errorf("clients served inline %d, under a policy document %d, absent %d times: want each", total.inline,
			total.under, total.absent)
	}
}

// servedWays counts the lookups of clients a document claims by how the
// client was served.
type servedWays struct{ inline, under, absent int }

func (w *servedWays) add(o servedWays) {
	w.inline, w.under, w.absent = w.inline+o.inline, w.under+o.under, w.absent+o.absent
}

// count counts how r serves the clients of the generated documents.
func (w *servedWays) count(r *Registry) {
	for _, id := range []string{"a", "b", "c", "d"} {
		e, claimed := r.entry(id)
		c, ok := r.Client(id)
		switch {
		case !claimed:
		case !ok:
			w.absent++
		case c == e:
			w.inline++
		default:
			w.under++
		}
	}
}

func checkAssembler(t *testing.T, seed uint64, batches int) (ways servedWays) {
	g := newDocGen(t, seed)
	incLog, refLog := &logRecorder{}, &logRecorder{}
	a := newAssembler(slog.New(incLog))
	docs := map[string]*Prepared{}
	origins := make([]string, 14)
	for i := range origins {
		origins[i] = fmt.Sprintf("o%02d", i)
	}
	var before map[string]loggedRecord
	for batch := range batches {
		// Each origin changes at most once per build, as in the loader
		// (its pending Secrets are a set).
		changed := g.rnd.Perm(len(origins))[:1+g.rnd.IntN(5)]
		for _, i := range changed {
			origin := origins[i]
			old := docs[origin]
			var p *Prepared
			if old == nil || g.rnd.IntN(4) > 0 {
				p = Prepare(Entry{Origin: origin, Document: g.doc()})
				docs[origin] = p
			} else {
				delete(docs, origin)
			}
			a.apply(old, p)
		}
		got := a.build()
		want := Assemble(slices.Collect(maps.Values(docs)), slog.New(refLog))
		where := fmt.Sprintf("seed %d batch %d", seed, batch)
		compareRegistries(t, where, got, want)
		ways.count(got)

		// The reference logs every skipped document: what it logs now
		// and did not log for the previous build is what the assembler
		// must log, once.
		skips := map[string]loggedRecord{}
		for _, r := range refLog.take() {
			skips[r.key()] = r
		}
		var wantLogged []string
		for k, r := range skips {
			if _, ok := before[k]; !ok {
				wantLogged = append(wantLogged, r.attrs)
			}
		}
		var gotLogged []string
		for _, r := range incLog.take() {
			gotLogged = append(gotLogged, r.attrs)
		}
		slices.Sort(wantLogged)
		slices.Sort(gotLogged)
		if !slices.Equal(gotLogged, wantLogged) {
			t.Fatalf("%s: logged\n  %s\nwant\n  %s", where, strings.Join(gotLogged, "\n  "), strings.Join(wantLogged, "\n  "))
		}
		before = skips
	}
	return ways
}

// compareRegistries fails the test unless got serves what want serves.
func compareRegistries(t *testing.T, where string, got, want *Registry) {
	t.Helper()
	if got.Documents != want.Documents || got.Skipped != want.Skipped {
		t.Fatalf("%s: documents %d skipped %d, want %d and %d", where, got.Documents, got.Skipped, want.Documents, want.Skipped)
	}
	for _, uid := range []string{"p1", "p2", "p3"} {
		if got.policies[uid] != want.policies[uid] {
			t.Fatalf("%s: policy document %q differs", where, uid)
		}
	}
	for _, id := range []string{"a", "b", "c", "d", "rs/ns/x", "rs/ns/y", "rs/ns/z"} {
		ge, _ := got.entry(id)
		we, _ := want.entry(id)
		if ge != we {
			t.Fatalf("%s: client document of %q is %v, want %v", where, id, origin(ge), origin(we))
		}
		// Both serve the client under the same policy document, or
		// neither does: the client's memo returns the same copy.
		gc, gok := got.Client(id)
		wc, wok := want.Client(id)
		if gc != wc || gok != wok {
			t.Fatalf("%s: client %q is served as %+v, want %+v", where, id, gc, wc)
		}
		grs, _ := got.ResourceServer(id)
		wrs, _ := want.ResourceServer(id)
		if grs != wrs || got.Known(id) != want.Known(id) {
			t.Fatalf("%s: resource server %q differs", where, id)
		}
	}
	for _, u := range []string{"u1", "u2", "u3"} {
		ga, _ := got.Account("ns", u)
		wa, _ := want.Account("ns", u)
		if ga != wa {
			t.Fatalf("%s: account %q differs", where, u)
		}
	}
	for _, s := range []string{"s1", "s2", "s3"} {
		ga, _ := got.AccountBySubject(s)
		wa, _ := want.AccountBySubject(s)
		if ga != wa {
			t.Fatalf("%s: subject %q differs", where, s)
		}
	}
	for _, aud := range []string{"aud1", "aud2", "aud3"} {
		grs, _ := got.ResourceServerByAudience(aud)
		wrs, _ := want.ResourceServerByAudience(aud)
		if grs != wrs {
			t.Fatalf("%s: audience %q differs", where, aud)
		}
	}
	if !slices.Equal(got.PublishedKeys(t0), want.PublishedKeys(t0)) {
		t.Fatalf("%s: published keys differ", where)
	}
}

func origin(c *Client) string {
	if c == nil {
		return "none"
	}
	return c.origin
}

// TestAssemblerSharesUnchanged: a build after a change to one client
// copies that client's shard only, and shares the accounts and policy
// documents; a change to an account shares every client shard and the
// policy documents; a change to a policy document shares every client
// shard and the accounts, and is served.
func TestAssemblerSharesUnchanged(t *testing.T) {
	g := newDocGen(t, 1)
	a := newAssembler(slog.New(slog.DiscardHandler))
	client := func(origin, id string, policy ...string) *Prepared {
		d := g.doc()
		for d.Kind != snapshot.KindClient || d.Client.Type != snapshot.ClientPublic {
			d = g.doc()
		}
		d.Client.ID, d.Client.Namespace = id, "ns"
		d.Client.GrantTypes = []string{snapshot.GrantAuthorizationCode}
		d.Client.PolicyUID, d.Client.Policy.Name = "", ""
		if len(policy) == 2 {
			d.Client.PolicyUID, d.Client.Policy.Name = policy[0], policy[1]
		}
		return Prepare(Entry{Origin: origin, Document: d})
	}
	policyDoc := func(lifetime int64) *Prepared {
		p := genPolicy()
		p.Name, p.AccessTokenLifetimeSeconds = "pa", lifetime
		return Prepare(Entry{Origin: "policy", Document: snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindPolicy,
			Source:      snapshot.Source{Kind: "GrantPolicy", Namespace: "ns", Name: "pa", UID: "p1"},
			GrantPolicy: &snapshot.GrantPolicy{Policy: p, AllowedGrantTypes: []string{snapshot.GrantAuthorizationCode}, AnyScope: true}}})
	}
	docs := map[string]*Prepared{}
	for i := range 3000 {
		o := fmt.Sprintf("c%05d", i)
		docs[o] = client(o, fmt.Sprintf("id-%d", i))
		a.apply(nil, docs[o])
	}
	acct := Prepare(Entry{Origin: "acct", Document: snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindAccount,
		Source: snapshot.Source{Name: "alice", UID: "u"}, Account: &snapshot.Account{Namespace: "ns", Username: "alice", Subject: "ns/alice"}}})
	a.apply(nil, acct)
	a.apply(nil, client("c99999", "governed", "p1", "pa"))
	policy := policyDoc(120)
	a.apply(nil, policy)
	r1 := a.build()

	changed := client("c00007", "id-7")
	a.apply(docs["c00007"], changed)
	r2 := a.build()
	if c, _ := r2.Client("id-7"); c != changed.client {
		t.Fatal("the change is not served")
	}
	if c, _ := r1.Client("id-7"); c != docs["c00007"].client {
		t.Fatal("the previous Registry changed")
	}
	shards, shared := 0, 0
	for i := range r1.clients {
		if r1.clients[i] != nil {
			shards++
			if sameMap(r1.clients[i], r2.clients[i]) {
				shared++
			}
		}
	}
	if shared != shards-1 {
		t.Errorf("%d of %d shards shared, want all but the changed one", shared, shards)
	}
	if !sameMap(r1.accounts, r2.accounts) || !sameMap(r1.policies, r2.policies) {
		t.Error("a client change copied the accounts or the policy documents")
	}

	a.apply(acct, nil)
	r3 := a.build()
	if r3.clients != r2.clients || !sameMap(r2.policies, r3.policies) {
		t.Error("an account change copied the clients or the policy documents")
	}
	if _, ok := r3.Account("ns", "alice"); ok {
		t.Error("the removed account is served")
	}

	changedPolicy := policyDoc(240)
	a.apply(policy, changedPolicy)
	r4 := a.build()
	if r4.clients != r3.clients || !sameMap(r3.accounts, r4.accounts) {
		t.Error("a policy change copied the clients or the accounts")
	}
	for r, want := range map[*Registry]int64{r3: 120, r4: 240} {
		if c, ok := r.Client("governed"); !ok || c.Policy.AccessTokenLifetimeSeconds != want {
			t.Errorf("a Registry serves the governed client with %+v, want its policy document's lifetime %d", c, want)
		}
	}
}

// sameMap reports whether two maps are the same map (not merely equal).
func sameMap[M ~map[K]V, K comparable, V any](a, b M) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
