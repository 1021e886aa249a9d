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

package served_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/served"
	"github.com/authops/authops/authserver/snapshot"
	testenv "github.com/authops/authops/test/envtest"
)

// TestServedLease runs the loader and the publisher against the
// source-built API server: the replica's Lease appears with the revision of
// the snapshot it loaded, and follows a changed snapshot Secret (its new
// resourceVersion) with one write per rebuild at most.
func TestServedLease(t *testing.T) {
	g := NewWithT(t)
	const ns = "authops-system"
	_, cs := testenv.StartClientset(t, ns)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The revision counts applied events, whether or not the document is
	// usable: this one is not a valid document.
	s, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "authops-client-x", Namespace: ns,
			Labels: map[string]string{snapshot.LabelSnapshot: string(snapshot.KindClient)}},
		Data: map[string][]byte{snapshot.DataKey: []byte("{}")}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub := &served.Publisher{Client: cs, Namespace: ns, Replica: "replica-0", Log: log, Renew: time.Hour}
	loader := &registry.KubeLoader{Client: cs, Namespace: ns, Holder: registry.NewHolder(), Log: log, Served: pub.Served}
	go pub.Run(ctx)
	go func() { _ = loader.Run(ctx) }()

	revision := func() int64 {
		l, err := cs.CoordinationV1().Leases(ns).Get(ctx, served.Name("replica-0"), metav1.GetOptions{})
		if err != nil {
			return -1
		}
		n, _ := strconv.ParseInt(l.Annotations[snapshot.AnnotationServedRevision], 10, 64)
		return n
	}
	rv := func(s *corev1.Secret) int64 { n, _ := snapshot.ParseRevision(s.ResourceVersion); return n }
	g.Eventually(revision, 10*time.Second, 20*time.Millisecond).Should(Equal(rv(s)))
	g.Expect(pub.Writes()).To(Equal(1))

	for i := range 3 {
		s.Data[snapshot.DataKey] = []byte(`{"n":` + strconv.Itoa(i) + `}`)
		s, err = cs.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Eventually(revision, 10*time.Second, 20*time.Millisecond).Should(Equal(rv(s)))
	}
	// One write per change at most (each change here is one rebuild).
	g.Expect(pub.Writes()).To(BeNumerically("<=", 4))

	// Other Secrets of the namespace are not snapshot events.
	_, err = cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: ns}},
		metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Consistently(revision, "300ms").Should(Equal(rv(s)))
}
