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
	"encoding/json"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/snapshot"
	testenv "github.com/authops/authops/test/envtest"
)

// TestKubeLoader runs the loader against the source-built API server: it
// syncs, skips a bad document without dropping the rest, follows updates and
// deletes, ignores other namespaces and unlabelled Secrets, and keeps the
// last snapshot when the API server goes away.
func TestKubeLoader(t *testing.T) {
	g := NewWithT(t)
	cfg, cs := testenv.StartClientset(t, "authops-system", "elsewhere")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The loader reaches the API server through a proxy the test can cut.
	u, err := url.Parse(cfg.Host)
	g.Expect(err).NotTo(HaveOccurred())
	proxy := newProxy(t, u.Host)
	loaderCfg := rest.CopyConfig(cfg)
	loaderCfg.Host = u.Scheme + "://" + proxy.addr()
	loaderCS, err := kubernetes.NewForConfig(loaderCfg)
	g.Expect(err).NotTo(HaveOccurred())
	secret := func(ns, name string, d snapshot.Document, label bool) *corev1.Secret {
		b, err := json.Marshal(d)
		g.Expect(err).NotTo(HaveOccurred())
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Data: map[string][]byte{snapshot.DataKey: b}}
		if label {
			s.Labels = map[string]string{snapshot.LabelSnapshot: string(d.Kind)}
		}
		return s
	}
	create := func(s *corev1.Secret) {
		_, err := cs.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
	}
	create(secret("authops-system", "client-web", clientDoc("web", "team", "web"), true))
	create(secret("authops-system", "account-alice", accountDoc("team", "alice"), true))
	bad := secret("authops-system", "client-bad", clientDoc("bad", "team", "bad"), true)
	bad.Data[snapshot.DataKey] = []byte(`{"version":"snapshot.oauth.authops.io/v1","kind":"client"}`)
	create(bad)
	mislabelled := secret("authops-system", "client-mis", clientDoc("mis", "team", "mis"), true)
	mislabelled.Labels[snapshot.LabelSnapshot] = "account"
	create(mislabelled)
	create(secret("authops-system", "client-unlabelled", clientDoc("unlabelled", "team", "u"), false))
	create(secret("elsewhere", "client-foreign", clientDoc("foreign", "team", "f"), true))

	h := registry.NewHolder()
	// Every rebuild is timed (authops_authserver_registry_build_seconds).
	var builds atomic.Int64
	h.OnBuild(func(d time.Duration) {
		if d > 0 {
			builds.Add(1)
		}
	})
	loader := &registry.KubeLoader{Client: loaderCS, Namespace: "authops-system", Holder: h, Log: discard, Debounce: 10 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- loader.Run(ctx) }()

	g.Eventually(h.Ready, 30*time.Second, 50*time.Millisecond).Should(BeTrue())
	r := h.Current()
	_, ok := r.Client("web")
	g.Expect(ok).To(BeTrue())
	_, ok = r.Account("team", "alice")
	g.Expect(ok).To(BeTrue())
	for _, id := range []string{"bad", "mis", "unlabelled", "foreign"} {
		_, ok := r.Client(id)
		g.Expect(ok).To(BeFalse(), id)
	}
	g.Expect(r.Documents).To(Equal(2))
	g.Expect(r.Skipped).To(Equal(2))

	// An update is seen; a delete removes the client.
	create(secret("authops-system", "client-api", clientDoc("api", "team", "api"), true))
	g.Eventually(func() bool { _, ok := h.Current().Client("api"); return ok }, 10*time.Second, 20*time.Millisecond).Should(BeTrue())
	g.Expect(builds.Load()).To(BeNumerically(">=", 2), "the first sync and the update are timed rebuilds")
	g.Expect(cs.CoreV1().Secrets("authops-system").Delete(ctx, "client-web", metav1.DeleteOptions{})).To(Succeed())
	g.Eventually(func() bool { _, ok := h.Current().Client("web"); return ok }, 10*time.Second, 20*time.Millisecond).Should(BeFalse())

	// Rebuilds take only the changed Secrets: an update that breaks a
	// document removes its client and counts it skipped, fixing it serves
	// it again, and of two documents claiming one client ID the first
	// origin wins until it goes away.
	update := func(s *corev1.Secret) {
		_, err := cs.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
	}
	served := func(id string) func() string {
		return func() string {
			c, ok := h.Current().Client(id)
			if !ok {
				return ""
			}
			return c.Source.Name
		}
	}
	broken := secret("authops-system", "client-api", clientDoc("api", "team", "api"), true)
	broken.Data[snapshot.DataKey] = []byte(`{"version":"snapshot.oauth.authops.io/v1","kind":"client"}`)
	update(broken)
	g.Eventually(served("api"), 10*time.Second, 20*time.Millisecond).Should(BeEmpty())
	g.Expect(h.Current().Skipped).To(Equal(3))
	update(secret("authops-system", "client-api", clientDoc("api", "team", "api-fixed"), true))
	g.Eventually(served("api"), 10*time.Second, 20*time.Millisecond).Should(Equal("api-fixed"))
	g.Expect(h.Current().Skipped).To(Equal(2))
	create(secret("authops-system", "client-z-second", clientDoc("dup", "team", "second"), true))
	g.Eventually(served("dup"), 10*time.Second, 20*time.Millisecond).Should(Equal("second"))
	create(secret("authops-system", "client-a-first", clientDoc("dup", "team", "first"), true))
	g.Eventually(served("dup"), 10*time.Second, 20*time.Millisecond).Should(Equal("first"))
	g.Expect(h.Current().Skipped).To(Equal(3), "the second claim of a client ID is skipped")
	g.Expect(cs.CoreV1().Secrets("authops-system").Delete(ctx, "client-a-first", metav1.DeleteOptions{})).To(Succeed())
	g.Eventually(served("dup"), 10*time.Second, 20*time.Millisecond).Should(Equal("second"))
	g.Expect(h.Current().Documents).To(Equal(3)) // alice, api, dup

	// A retired entry (the manager keeps the Secret, without a document,
	// for a client it no longer serves) is served as absent, not counted
	// skipped; serving it again brings the client back.
	skippedBefore := h.Current().Skipped
	retired := secret("authops-system", "client-api", clientDoc("api", "team", "api"), true)
	retired.Data = nil
	retired.Annotations = map[string]string{snapshot.AnnotationRetired: "NoUsableGrant"}
	update(retired)
	g.Eventually(served("api"), 10*time.Second, 20*time.Millisecond).Should(BeEmpty())
	g.Expect(h.Current().Skipped).To(Equal(skippedBefore), "a retired entry is not a skipped document")
	update(secret("authops-system", "client-api", clientDoc("api", "team", "api-back"), true))
	g.Eventually(served("api"), 10*time.Second, 20*time.Millisecond).Should(Equal("api-back"))

	// Signing keys come only from the manager's Secret (its name, labelled
	// managed by authops): a key set in another labelled Secret, even one
	// labelled like the manager's, is neither published nor used to sign.
	now := time.Now()
	keys := func(kid string) snapshot.Document {
		return keyDoc(t, snapshot.Key{ID: kid, PublishFrom: now.Add(-time.Hour), SignFrom: now.Add(-time.Hour),
			SignUntil: now.Add(time.Hour), PublishUntil: now.Add(2 * time.Hour)})
	}
	kids := func() []string {
		var out []string
		for _, k := range h.Current().PublishedKeys(time.Now()) {
			out = append(out, k.ID)
		}
		return out
	}
	managed := func(s *corev1.Secret) *corev1.Secret {
		s.Labels[snapshot.LabelManagedBy] = snapshot.ManagedBy
		return s
	}
	skipped := h.Current().Skipped
	create(managed(secret("authops-system", "evil-keys", keys("evil"), true)))
	g.Eventually(func() int { return h.Current().Skipped }, 10*time.Second, 20*time.Millisecond).Should(Equal(skipped + 1))
	g.Expect(kids()).To(BeEmpty())
	create(secret("authops-system", snapshot.KeySetSecretName, keys("unmanaged"), true))
	g.Eventually(func() int { return h.Current().Skipped }, 10*time.Second, 20*time.Millisecond).Should(Equal(skipped + 2))
	g.Expect(kids()).To(BeEmpty())
	update(managed(secret("authops-system", snapshot.KeySetSecretName, keys("real"), true)))
	g.Eventually(kids, 10*time.Second, 20*time.Millisecond).Should(Equal([]string{"real"}))
	signer, ok := h.Current().SigningKey(time.Now())
	g.Expect(ok).To(BeTrue())
	g.Expect(signer.ID).To(Equal("real"))
	g.Expect(cs.CoreV1().Secrets("authops-system").Delete(ctx, "evil-keys", metav1.DeleteOptions{})).To(Succeed())

	// A ResourceServer document is served by ID and audience, and goes
	// with its Secret.
	create(secret("authops-system", "authops-resourceserver-x", rsDoc("team", "payments", "https://pay.example"), true))
	rsServed := func() bool { _, ok := h.Current().ResourceServerByAudience("https://pay.example"); return ok }
	g.Eventually(rsServed, 10*time.Second, 20*time.Millisecond).Should(BeTrue())
	_, ok = h.Current().ResourceServer("rs/team/payments")
	g.Expect(ok).To(BeTrue())
	g.Expect(cs.CoreV1().Secrets("authops-system").Delete(ctx, "authops-resourceserver-x", metav1.DeleteOptions{})).To(Succeed())
	g.Eventually(rsServed, 10*time.Second, 20*time.Millisecond).Should(BeFalse())

	// A policy document (labelled policy) serves the clients compiled
	// under its GrantPolicy; once it is deleted they are served as
	// compiled.
	create(secret("authops-system", "client-governed", governedClient("governed"), true))
	create(secret("authops-system", "authops-policy-strict", policyDoc("team", "strict", "gp-strict", accessLifetime(300)), true))
	lifetime := func() int64 {
		c, ok := h.Current().Client("governed")
		if !ok {
			return 0
		}
		return c.Policy.AccessTokenLifetimeSeconds
	}
	g.Eventually(lifetime, 10*time.Second, 20*time.Millisecond).Should(Equal(int64(300)))
	g.Expect(cs.CoreV1().Secrets("authops-system").Delete(ctx, "authops-policy-strict", metav1.DeleteOptions{})).To(Succeed())
	g.Eventually(lifetime, 10*time.Second, 20*time.Millisecond).Should(Equal(int64(60)))
	g.Expect(cs.CoreV1().Secrets("authops-system").Delete(ctx, "client-governed", metav1.DeleteOptions{})).To(Succeed())
	g.Eventually(lifetime, 10*time.Second, 20*time.Millisecond).Should(Equal(int64(0)))

	// The API server becomes unreachable: the last snapshot keeps serving,
	// and the holder stays ready.
	before := h.Current()
	proxy.cut()
	g.Consistently(func() *registry.Registry { return h.Current() }, 2*time.Second, 100*time.Millisecond).Should(BeIdenticalTo(before))
	_, ok = h.Current().Client("api")
	g.Expect(ok).To(BeTrue())
	g.Expect(h.Ready()).To(BeTrue())
	cancel()
	g.Eventually(done, 10*time.Second).Should(Receive(BeNil()))
}

// proxy forwards TCP connections to a target until cut.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// cut stops accepting and drops every open connection.
func (p *proxy) cut() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}
