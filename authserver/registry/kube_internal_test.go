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
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/authops/authops/authserver/snapshot"
)

// TestKubeLoaderRebuilds drives the loader's rebuilds through a fake watch
// (TestKubeLoader runs it against an API server): of two documents claiming
// one client ID the smaller origin is served and the other is logged as
// skipped once, not at every rebuild nor for its next version; the loser
// is served when the winner goes; a bad version is logged once; a retired
// entry is absent and not skipped; and no decoded version outlives the
// rebuild that applied it.
func TestKubeLoaderRebuilds(t *testing.T) {
	rec := &logRecorder{}
	w := newFakeWatchLog(slog.New(rec))
	client := func(id, name string) snapshot.Document {
		_, d := typicalClient(len(name))
		d.Client.ID, d.Source.Name = id, name
		return d
	}
	skipLogs := func() []loggedRecord {
		var out []loggedRecord
		for _, r := range rec.take() {
			if r.msg == "snapshot document skipped" {
				out = append(out, r)
			}
		}
		return out
	}
	served := func(id string) string {
		c, ok := w.l.Holder.Current().Client(id)
		if !ok {
			return ""
		}
		return c.Source.Name
	}
	counts := func(documents, skipped int) {
		t.Helper()
		r := w.l.Holder.Current()
		if r.Documents != documents || r.Skipped != skipped {
			t.Fatalf("documents %d skipped %d, want %d and %d", r.Documents, r.Skipped, documents, skipped)
		}
	}

	w.put("z-second", client("dup", "second"))
	w.put("web", client("web", "web"))
	w.rebuild()
	if served("dup") != "second" || served("web") != "web" || len(skipLogs()) != 0 {
		t.Fatal("first sync")
	}
	w.put("a-first", client("dup", "first"))
	w.rebuild()
	logs := skipLogs()
	if served("dup") != "first" || len(logs) != 1 || logs[0].origin != fakeNamespace+"/z-second" ||
		logs[0].err != `client ID "dup" is already taken by another document` {
		t.Fatalf("the smaller origin is not served, or the loser not logged once: %v", logs)
	}
	counts(2, 1)
	w.put("web", client("web", "web-2"))
	w.rebuild()
	w.put("z-second", client("dup", "second-2"))
	w.rebuild()
	if logs := skipLogs(); len(logs) != 0 || served("web") != "web-2" {
		t.Fatalf("a loser is logged again: %v", logs)
	}
	w.remove("a-first")
	w.rebuild()
	if served("dup") != "second-2" {
		t.Fatal("the loser is not served when the winner goes")
	}
	counts(2, 0)

	bad := w.secret("broken", client("broken", "broken"))
	bad.Data[snapshot.DataKey] = []byte(`{"version":"snapshot.oauth.authops.io/v1","kind":"client"}`)
	w.putSecret(bad)
	w.rebuild()
	w.put("web", client("web", "web-3"))
	w.rebuild()
	if logs := skipLogs(); len(logs) != 1 || logs[0].origin != fakeNamespace+"/broken" {
		t.Fatalf("a bad version is not logged once: %v", logs)
	}
	counts(2, 1)

	retired := w.secret("web", client("web", "web"))
	retired.Data = nil
	retired.Annotations[snapshot.AnnotationRetired] = "NoUsableGrant"
	w.putSecret(retired)
	w.rebuild()
	if served("web") != "" {
		t.Fatal("a retired entry is served")
	}
	counts(1, 1)

	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	for origin, st := range w.l.secrets {
		if len(st.versions) != 0 {
			t.Errorf("%s keeps %d decoded versions after the rebuild", origin, len(st.versions))
		}
	}
	if _, ok := w.l.secrets[fakeNamespace+"/a-first"]; ok {
		t.Error("a deleted Secret is remembered")
	}
}

// TestRebuildWhileServing reads every client of the current Registry
// while rebuilds change them (run with -race): a rebuild never writes what
// a published Registry holds, and a Registry read once stays the same.
func TestRebuildWhileServing(t *testing.T) {
	w := newFakeWatch()
	const n = 300
	for i := range n {
		w.put(typicalClient(i))
	}
	w.rebuild()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := w.l.Holder.Current()
				first := map[string]*Client{}
				for i := range n {
					_, d := typicalClient(i)
					c, _ := r.Client(d.Client.ID)
					first[d.Client.ID] = c
				}
				for id, c := range first {
					if again, _ := r.Client(id); again != c {
						t.Error("a published Registry changed")
						return
					}
				}
			}
		}()
	}
	for i := range 200 {
		name, d := typicalClient(i * 7 % n)
		if i%5 == 0 {
			w.remove(name)
		} else {
			d.Client.DisplayName = fmt.Sprint(i)
			w.put(name, d)
		}
		w.rebuild()
	}
	close(stop)
	wg.Wait()
}

// TestKubeLoaderPolicyDocuments drives policy documents through the
// loader's rebuilds: a client is served under its policy document's
// Secret, follows its changes with no change to its own Secret, and is
// served as compiled once the Secret is gone; a second document claiming
// the policy's UID is logged as skipped once.
func TestKubeLoaderPolicyDocuments(t *testing.T) {
	rec := &logRecorder{}
	w := newFakeWatchLog(slog.New(rec))
	name, d := typicalClient(1)
	d.Client.PolicyUID = "gp-uid"
	d.Client.RequestedScopes = d.Client.Scopes
	id := d.Client.ID
	policy := func(lifetime int64, grants ...string) snapshot.Document {
		p := d.Client.Policy
		p.AccessTokenLifetimeSeconds = lifetime
		return snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindPolicy,
			Source:      snapshot.Source{Kind: "GrantPolicy", Namespace: d.Client.Namespace, Name: p.Name, UID: "gp-uid"},
			GrantPolicy: &snapshot.GrantPolicy{Policy: p, AllowedGrantTypes: grants, AnyScope: true}}
	}
	lifetime := func() int64 {
		t.Helper()
		c, ok := w.l.Holder.Current().Client(id)
		if !ok {
			return 0
		}
		return c.Policy.AccessTokenLifetimeSeconds
	}
	w.put(name, d)
	w.put("authops-policy-x", policy(60, "authorization_code", "refresh_token"))
	w.rebuild()
	if got := lifetime(); got != 60 {
		t.Fatalf("lifetime %d under the policy document, want 60", got)
	}
	clientRV := w.l.secrets[fakeNamespace+"/"+name].appliedRV
	w.put("authops-policy-x", policy(120, "authorization_code", "refresh_token"))
	w.rebuild()
	if got := lifetime(); got != 120 {
		t.Fatalf("lifetime %d after the policy document changed, want 120", got)
	}
	w.put("authops-policy-x", policy(120, "password"))
	w.rebuild()
	if got := lifetime(); got != 0 {
		t.Fatal("a client its policy document leaves without a usable grant is served")
	}
	if w.l.secrets[fakeNamespace+"/"+name].appliedRV != clientRV {
		t.Fatal("the client's Secret changed")
	}
	w.put("authops-policy-x", policy(180, "authorization_code"))
	w.rebuild()
	if got := lifetime(); got != 180 {
		t.Fatalf("lifetime %d once the policy document allows a grant again, want 180", got)
	}
	rec.take()
	w.put("authops-policy-z", policy(240, "authorization_code"))
	w.rebuild()
	w.put("authops-policy-z", policy(300, "authorization_code"))
	w.rebuild()
	var logs []loggedRecord
	for _, r := range rec.take() {
		if r.msg == "snapshot document skipped" {
			logs = append(logs, r)
		}
	}
	if len(logs) != 1 || logs[0].origin != fakeNamespace+"/authops-policy-z" || lifetime() != 180 {
		t.Fatalf("the second claim of the UID is not skipped and logged once: %v", logs)
	}
	if r := w.l.Holder.Current(); r.Documents != 2 || r.Skipped != 1 {
		t.Fatalf("documents %d skipped %d, want 2 and 1", r.Documents, r.Skipped)
	}
	w.remove("authops-policy-x")
	w.rebuild()
	if got := lifetime(); got != 300 {
		t.Fatalf("lifetime %d once the first claim is gone, want the second's 300", got)
	}
	w.remove("authops-policy-z")
	w.rebuild()
	if got := lifetime(); got != 3600 {
		t.Fatalf("lifetime %d without a policy document, want the compiled 3600", got)
	}
}
