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
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/authops/authops/authserver/snapshot"
)

// KubeLoader watches the Secrets labelled [snapshot.LabelSnapshot] in one
// namespace (the compiled snapshot and the signing-key Secret) and stores a
// new Registry into the Holder after each change. The watch keeps its cache
// while the API server is unreachable, so the last good snapshot keeps
// serving; the holder turns ready after the first full sync.
type KubeLoader struct {
	Client    kubernetes.Interface
	Namespace string
	Holder    *Holder
	Log       *slog.Logger
	// Debounce groups bursts of changes into one rebuild (default 100ms).
	Debounce time.Duration

	bad map[string]string // namespace/name → resourceVersion already logged as bad
	// decoded keeps each Secret's decoded document by resourceVersion, so a
	// rebuild decodes only the Secrets that changed since the last one.
	decoded map[string]decodedDoc
}

type decodedDoc struct {
	rv  string
	doc snapshot.Document
}

// stripSecret drops what the loader never reads from the informer's copy of
// a Secret (managed fields, annotations such as last-applied-configuration),
// which is most of the cached size of a small document.
func stripSecret(obj any) (any, error) {
	if s, ok := obj.(*corev1.Secret); ok {
		s.ManagedFields = nil
		s.Annotations = nil
	}
	return obj, nil
}

// Run watches until ctx ends. It returns an error only if the first sync
// cannot complete before ctx ends.
func (l *KubeLoader) Run(ctx context.Context) error {
	debounce := l.Debounce
	if debounce <= 0 {
		debounce = 100 * time.Millisecond
	}
	l.bad = map[string]string{}
	l.decoded = map[string]decodedDoc{}
	factory := informers.NewSharedInformerFactoryWithOptions(l.Client, 0,
		informers.WithNamespace(l.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = snapshot.LabelSnapshot }),
		informers.WithTransform(stripSecret))
	secrets := factory.Core().V1().Secrets()
	informer := secrets.Informer()
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return fmt.Errorf("snapshot watch in namespace %q did not sync: %w", l.Namespace, ctx.Err())
	}
	lister := secrets.Lister().Secrets(l.Namespace)
	l.rebuild(lister.List)
	l.Holder.MarkReady()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(debounce):
		}
		l.rebuild(lister.List)
	}
}

func (l *KubeLoader) rebuild(list func(labels.Selector) ([]*corev1.Secret, error)) {
	secrets, err := list(labels.Everything())
	if err != nil {
		l.Log.Error("listing snapshot Secrets from the cache failed, keeping the last snapshot", "error", err)
		return
	}
	var entries []Entry
	skipped := 0
	seen := map[string]bool{}
	for _, s := range secrets {
		origin := s.Namespace + "/" + s.Name
		seen[origin] = true
		if c, ok := l.decoded[origin]; ok && c.rv == s.ResourceVersion && s.ResourceVersion != "" {
			entries = append(entries, Entry{Origin: origin, Document: c.doc})
			continue
		}
		d, err := decodeSecret(s)
		if err != nil {
			delete(l.decoded, origin)
			skipped++
			if l.bad[origin] != s.ResourceVersion {
				l.bad[origin] = s.ResourceVersion
				l.Log.Error("snapshot document skipped", "origin", origin, "error", err)
			}
			continue
		}
		delete(l.bad, origin)
		l.decoded[origin] = decodedDoc{rv: s.ResourceVersion, doc: d}
		entries = append(entries, Entry{Origin: origin, Document: d})
	}
	for origin := range l.bad {
		if !seen[origin] {
			delete(l.bad, origin)
		}
	}
	for origin := range l.decoded {
		if !seen[origin] {
			delete(l.decoded, origin)
		}
	}
	r := Build(entries, l.Log)
	r.Skipped += skipped
	l.Holder.Store(r)
	l.Log.Info("snapshot loaded", "source", "kubernetes", "namespace", l.Namespace, "documents", r.Documents, "skipped", r.Skipped)
}

func decodeSecret(s *corev1.Secret) (snapshot.Document, error) {
	data, ok := s.Data[snapshot.DataKey]
	if !ok {
		return snapshot.Document{}, fmt.Errorf("secret has no %q key", snapshot.DataKey)
	}
	d, err := snapshot.Decode(data)
	if err != nil {
		return d, err
	}
	if label := s.Labels[snapshot.LabelSnapshot]; label != string(d.Kind) {
		return snapshot.Document{}, fmt.Errorf("label %s=%q does not match document kind %q", snapshot.LabelSnapshot, label, d.Kind)
	}
	return d, nil
}
