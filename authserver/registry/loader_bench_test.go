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
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/authops/authops/authserver/snapshot"
)

// fakeWatch drives a KubeLoader the way its informer does, without an API
// server: each Secret goes through the loader's transform into a cache
// indexed like the informer's, its event is queued, and rebuild reads the
// cache through a lister. The benchmarks measure the loader's own work (and
// what it keeps) this way, apart from the network and the API server.
type fakeWatch struct {
	l      *KubeLoader
	store  cache.Indexer
	lister corelisters.SecretNamespaceLister
	rv     int64
}

const fakeNamespace = "authops-system"

func newFakeWatch() *fakeWatch { return newFakeWatchLog(slog.New(slog.DiscardHandler)) }

func newFakeWatchLog(log *slog.Logger) *fakeWatch {
	l := &KubeLoader{Namespace: fakeNamespace, Holder: NewHolder(), Log: log}
	l.reset()
	store := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	return &fakeWatch{l: l, store: store, lister: corelisters.NewSecretLister(store).Secrets(fakeNamespace)}
}

// secret is the snapshot Secret the manager writes for d, as a watch
// decodes it: every string its own allocation (a decoded object shares
// none), the labels and annotations the manager sets.
func (w *fakeWatch) secret(name string, d snapshot.Document) *corev1.Secret {
	data, err := snapshot.Encode(d)
	if err != nil {
		panic(err)
	}
	w.rv++
	c := strings.Clone
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: c(name), Namespace: c(fakeNamespace), ResourceVersion: strconv.FormatInt(w.rv, 10),
			UID: types.UID(c("00000000-0000-4000-8000-" + fmt.Sprintf("%012d", w.rv))), CreationTimestamp: metav1.Now(),
			Labels: map[string]string{c(snapshot.LabelSnapshot): c(string(d.Kind)), c(snapshot.LabelManagedBy): c(snapshot.ManagedBy)},
			Annotations: map[string]string{c("oauth.authops.io/source"): c(d.Source.Namespace + "/" + d.Source.Name),
				c("oauth.authops.io/policy"): c("default@0123456789abcdef")}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{c(snapshot.DataKey): data},
	}
}

// put creates or updates the Secret name holding d.
func (w *fakeWatch) put(name string, d snapshot.Document) { w.putSecret(w.secret(name, d)) }

// putSecret creates or updates a Secret.
func (w *fakeWatch) putSecret(s *corev1.Secret) {
	obj, err := w.l.transform(s)
	if err != nil {
		panic(err)
	}
	if err := w.store.Update(obj); err != nil {
		panic(err)
	}
	w.l.enqueue(obj)
}

// remove deletes the Secret name.
func (w *fakeWatch) remove(name string) {
	obj, ok, _ := w.store.GetByKey(fakeNamespace + "/" + name)
	if !ok {
		return
	}
	if err := w.store.Delete(obj); err != nil {
		panic(err)
	}
	w.l.forget(obj)
	w.l.enqueue(obj)
}

func (w *fakeWatch) rebuild() { w.l.rebuild(w.lister) }

// typicalClient is a client document as the manager compiles it for an
// OAuthClient of a web application under a named GrantPolicy: one secret
// digest, one redirect URI, the authorization code and refresh grants,
// a few scopes. Clients of one namespace share the policy.
func typicalClient(i int) (string, snapshot.Document) {
	ns := fmt.Sprintf("team-%03d", i%500)
	name := fmt.Sprintf("app-%06d", i)
	uid := fmt.Sprintf("%08x-1111-4222-8333-%012x", i, i)
	sum := sha256.Sum256([]byte(name))
	d := snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindClient,
		Source: snapshot.Source{Kind: "OAuthClient", Namespace: ns, Name: name, UID: uid, Generation: 1},
		Client: &snapshot.Client{ID: ns + "." + name, Namespace: ns, Type: snapshot.ClientConfidential,
			TokenEndpointAuthMethod: snapshot.AuthClientSecretBasic,
			Secrets:                 []snapshot.SecretDigest{{SHA256: hex.EncodeToString(sum[:])}},
			RedirectURIs:            []string{"https://" + name + "." + ns + ".example.com/callback"},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			RequestedGrantTypes:     []string{"authorization_code", "refresh_token"},
			Scopes:                  []string{"openid", "profile", "email", "read"},
			DefaultScopes:           []string{"openid"},
			Policy: snapshot.Policy{Name: "default", PKCE: "Required", Consent: "Auto", ErrorProfile: "Extended",
				RefreshTokenRotation: "Rotate", AccessTokenLifetimeSeconds: 3600, RefreshTokenLifetimeSeconds: 86400,
				AuthorizationCodeLifetimeSeconds: 600, DeviceCodeLifetimeSeconds: 600, DevicePollIntervalSeconds: 5,
				LockoutMaxFailedAttempts: 5, LockoutWindowSeconds: 300, LockoutDurationSeconds: 300}}}
	return "authops-client-" + uid, d
}

// BenchmarkRebuildOneChange measures one rebuild of the Kubernetes loader
// after one client document changed, among N served clients: what each
// change of a burst costs between the watch event and the new Registry
// (decoding and preparing the document happen in the watch, untimed).
// policy/... is a change of the policy document of a GrantPolicy that
// 1,000 of 100,000 clients were compiled under, among the policy
// documents of 496 namespaces: the change is served by that document
// alone (each of the 1,000 clients is computed under it at its next
// lookup, see BenchmarkClientLookup/overlay-miss).
func BenchmarkRebuildOneChange(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			w := newFakeWatch()
			for i := range n {
				w.put(typicalClient(i))
			}
			w.rebuild()
			if got := w.l.Holder.Current().Documents; got != n {
				b.Fatalf("%d documents served, want %d", got, n)
			}
			rebuilds(b, w, func(i int) {
				name, d := typicalClient(i * 7919 % n)
				d.Client.DisplayName = "version " + strconv.Itoa(i)
				w.put(name, d)
			})
		})
	}
	// A policy change rewrites its clients' entries (1,000 in the scale
	// run), which reach the loader in groups: one rebuild after 50
	// changed entries costs the same at every size only if what it
	// copies does not grow with the clients.
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("entries=50/clients=%d", n), func(b *testing.B) {
			w := newFakeWatch()
			for i := range n {
				w.put(typicalClient(i))
			}
			w.rebuild()
			rebuilds(b, w, func(i int) {
				for j := range 50 {
					name, d := typicalClient((i*50 + j) * 7919 % n)
					d.Client.DisplayName = "version " + strconv.Itoa(i)
					w.put(name, d)
				}
			})
		})
	}
	b.Run("policy/clients=100000/governed=1000", func(b *testing.B) {
		const n = 100000
		w := newFakeWatch()
		namespaces := map[string]int{}
		for i := range n {
			name, d := governedClient(i)
			namespaces[d.Client.Namespace]++
			w.put(name, d)
		}
		for ns := range namespaces {
			w.put(benchPolicy(ns, 3600))
		}
		w.rebuild()
		r := w.l.Holder.Current()
		_, big := governedClient(0)
		if r.Documents != n+len(namespaces) || namespaces[big.Client.Namespace] != 1000 {
			b.Fatalf("%d documents served, %d clients under the policy; want %d and 1000", r.Documents,
				namespaces[big.Client.Namespace], n+len(namespaces))
		}
		rebuilds(b, w, func(i int) { w.put(benchPolicy(big.Client.Namespace, int64(100000+i))) })
		if c, ok := w.l.Holder.Current().Client(big.Client.ID); !ok || c.Policy.AccessTokenLifetimeSeconds < 100000 {
			b.Fatalf("the policy change is not served: %+v", c)
		}
	})
}

// rebuilds times one rebuild after each change.
func rebuilds(b *testing.B, w *fakeWatch, change func(i int)) {
	// The collector runs between rebuilds (every 32), untimed, not during
	// them: the garbage of the untimed changes would otherwise start
	// collections of the whole heap (at 100,000 clients a long one) that
	// land on some rebuilds and not others.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		if i%32 == 31 {
			runtime.GC()
		}
		change(i)
		b.StartTimer()
		w.rebuild()
		i++
	}
}

// governedClient is typicalClient compiled under its namespace's
// GrantPolicy "default", which it names by UID; every 100th client is of
// the namespace team-big (1,000 of 100,000 clients).
func governedClient(i int) (string, snapshot.Document) {
	name, d := typicalClient(i)
	if i%100 == 0 {
		d.Source.Namespace, d.Client.Namespace = "team-big", "team-big"
		d.Client.ID = "team-big." + d.Source.Name
	}
	d.Client.PolicyUID = benchPolicyUID(d.Client.Namespace)
	d.Client.RequestedScopes = d.Client.Scopes
	return name, d
}

func benchPolicyUID(ns string) string { return "gp-uid-" + ns }

// benchPolicy is the Secret name and document of a namespace's GrantPolicy
// "default", as the clients of governedClient were compiled under it (but
// for the access token lifetime).
func benchPolicy(ns string, accessLifetime int64) (string, snapshot.Document) {
	_, c := typicalClient(0)
	p := c.Client.Policy
	p.AccessTokenLifetimeSeconds = accessLifetime
	return "authops-policy-" + ns, snapshot.Document{Version: snapshot.Version, Kind: snapshot.KindPolicy,
		Source: snapshot.Source{Kind: "GrantPolicy", Namespace: ns, Name: p.Name, UID: benchPolicyUID(ns), Generation: 1},
		GrantPolicy: &snapshot.GrantPolicy{Policy: p, AllowedGrantTypes: c.Client.GrantTypes, AnyScope: true,
			DefaultScopes: c.Client.DefaultScopes}}
}

// BenchmarkHeapPerClient reports the heap the Kubernetes loader keeps per
// served client (B/client: live heap after a GC, above the empty loader's),
// with everything the loader holds: the informer's cached Secret, the
// decoded and prepared documents, the Registry. versions=2 has every
// document updated once after the first sync (what a policy change leaves).
// Run it once per size:
//
//	go test ./authserver/registry -run '^$' -bench BenchmarkHeapPerClient -benchtime 1x
func BenchmarkHeapPerClient(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		for _, versions := range []int{1, 2} {
			b.Run(fmt.Sprintf("clients=%d/versions=%d", n, versions), func(b *testing.B) {
				for b.Loop() {
					before := liveHeap()
					w := newFakeWatch()
					for v := range versions {
						for i := range n {
							name, d := typicalClient(i)
							d.Source.Generation = int64(v + 1)
							w.put(name, d)
						}
						w.rebuild()
					}
					after := liveHeap()
					if got := w.l.Holder.Current().Documents; got != n {
						b.Fatalf("%d documents served, want %d", got, n)
					}
					b.ReportMetric(float64(after-before)/float64(n), "B/client")
					runtime.KeepAlive(w)
				}
			})
		}
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	var ms runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	time.Sleep(10 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
