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
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
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
	// Debounce is the least time between two rebuilds (default 100ms): a
	// change after a quiet period is served at once, and a burst of changes
	// is grouped into one rebuild per interval.
	Debounce time.Duration
	// Served, when set, is called after each rebuild with the snapshot
	// revision the new Registry serves: the highest resourceVersion (as an
	// integer, see [snapshot.ParseRevision]) of the Secret events applied
	// so far. The served acknowledgement (authserver/served) publishes it.
	Served func(revision int64)

	mu sync.Mutex
	// secrets holds what the loader keeps of each snapshot Secret (by
	// namespace/name, its origin): one entry per Secret, the loader's only
	// state in proportion to the clients besides the Registry. The entries
	// are pointers, changed in place: assigning to a map's existing key
	// replaces the key too, and a key from an event would be a second
	// copy of the origin its documents hold.
	secrets map[string]*secretState
	// pending holds the Secrets (namespace/name) changed since the last
	// rebuild, recorded by the event handlers under mu.
	pending map[string]struct{}
	// pendingRev is the highest resourceVersion among the events behind
	// pending; revision is what the last rebuild applied.
	pendingRev, revision int64

	// The rebuild goroutine's own state: the Secrets whose bad version
	// was logged, and the assembler that applies the pending Secrets'
	// documents only, so that a rebuild costs the changes, not a pass
	// over every Secret.
	bad map[string]string // namespace/name → resourceVersion already logged as bad
	asm *assembler
}

// secretState is what the loader keeps of one snapshot Secret (under mu).
type secretState struct {
	// versions are the Secret's versions decoded once when the informer
	// received them (see transform) and not applied yet, newest last. The
	// transform runs when a change is queued, so the cache may still show
	// an older version for a moment: a few versions are kept, and dropped
	// once a rebuild applied them or a newer one, so that no earlier
	// document outlives its replacement.
	versions []decodedDoc
	// applied is the document the last rebuild took from the Secret's
	// version appliedRV (nil: none usable; appliedRV "": none seen).
	applied   *Prepared
	appliedRV string
}

// keptVersions bounds the decoded versions kept per Secret.
const keptVersions = 4

type decodedDoc struct {
	rv   string
	prep *Prepared // nil when the Secret could not be decoded
	err  error
	// retired: the Secret is a retired entry (snapshot.AnnotationRetired),
	// served as absent.
	retired bool
}

// transform decodes and prepares (see [Prepare]) a Secret's document as the
// informer receives it and keeps only what the loader reads afterwards: the
// informer's cache holds, of each Secret, its name, namespace and
// resourceVersion (at 100,000 clients the raw documents alone are hundreds
// of megabytes, and the labels, UID and timestamps of each Secret hundreds of
// bytes), and a rebuild decodes nothing again.
func (l *KubeLoader) transform(obj any) (any, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	ns := s.Namespace
	if ns == l.Namespace {
		ns = l.Namespace // one copy for every Secret
	}
	origin := l.origin(ns, s.Name)
	_, retired := s.Annotations[snapshot.AnnotationRetired]
	if s.Data != nil || retired {
		c := decodedDoc{rv: s.ResourceVersion, retired: retired}
		if !retired {
			d, err := decodeSecret(s)
			if err != nil {
				c.err = err
			} else {
				c.prep = Prepare(Entry{Origin: origin, Document: d})
			}
		}
		l.mu.Lock()
		st := l.secrets[origin]
		if st == nil {
			st = &secretState{}
			l.secrets[origin] = st
		}
		st.versions = append(st.versions, c)
		if len(st.versions) > keptVersions {
			st.versions = slices.Delete(st.versions, 0, len(st.versions)-keptVersions)
		}
		l.mu.Unlock()
	}
	// The name shares the origin's bytes.
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: origin[len(ns)+1:],
		ResourceVersion: s.ResourceVersion}}, nil
}

// origin is a Secret's origin, namespace/name: the string the loader
// already holds for it if any, so that its versions share one copy.
func (l *KubeLoader) origin(ns, name string) string {
	origin := ns + "/" + name
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.secrets[origin]
	if st == nil {
		return origin
	}
	if st.applied != nil {
		return st.applied.Origin
	}
	for _, v := range st.versions {
		if v.prep != nil {
			return v.prep.Origin
		}
	}
	return origin
}

// forget drops the decoded versions of a deleted Secret up to the deleted
// one (a newer Secret of the same name may have been decoded meanwhile).
// What a rebuild applied stays until the rebuild that withdraws it.
func (l *KubeLoader) forget(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	origin := s.Namespace + "/" + s.Name
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.secrets[origin]
	if st == nil {
		return
	}
	if i := slices.IndexFunc(st.versions, func(c decodedDoc) bool { return c.rv == s.ResourceVersion }); i >= 0 {
		st.versions = slices.Delete(st.versions, 0, i+1)
	}
	if len(st.versions) == 0 {
		st.versions = nil
		if st.appliedRV == "" {
			delete(l.secrets, origin)
		}
	}
}

// Run watches until ctx ends. It returns an error only if the first sync
// cannot complete before ctx ends.
func (l *KubeLoader) Run(ctx context.Context) error {
	debounce := l.Debounce
	if debounce <= 0 {
		debounce = 100 * time.Millisecond
	}
	l.reset()
	factory := informers.NewSharedInformerFactoryWithOptions(l.Client, 0,
		informers.WithNamespace(l.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = snapshot.LabelSnapshot }),
		informers.WithTransform(l.transform))
	secrets := factory.Core().V1().Secrets()
	informer := secrets.Informer()
	changed := make(chan struct{}, 1)
	notify := func(obj any) {
		l.enqueue(obj)
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: func(obj any) { l.forget(obj); notify(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return fmt.Errorf("snapshot watch in namespace %q did not sync: %w", l.Namespace, ctx.Err())
	}
	lister := secrets.Lister().Secrets(l.Namespace)
	// The first rebuild takes every Secret (the initial list's events may
	// still be on their way to the handlers).
	if all, err := lister.List(labels.Everything()); err == nil {
		l.mu.Lock()
		for _, s := range all {
			l.pending[s.Namespace+"/"+s.Name] = struct{}{}
			l.notePending(s.ResourceVersion)
		}
		l.mu.Unlock()
	}
	l.rebuild(lister)
	last := time.Now()
	l.Holder.MarkReady()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		// A change after a quiet period is served at once; during a burst
		// the changes that arrive meanwhile are grouped into one rebuild per
		// Debounce interval.
		if wait := debounce - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		last = time.Now()
		l.rebuild(lister)
	}
}

// reset empties the loader's state, before a watch starts.
func (l *KubeLoader) reset() {
	l.bad = map[string]string{}
	l.asm = newAssembler(l.Log)
	l.mu.Lock()
	l.secrets = map[string]*secretState{}
	l.pending = map[string]struct{}{}
	l.pendingRev, l.revision = 0, 0
	l.mu.Unlock()
}

// enqueue records a Secret event's Secret as pending for the next rebuild.
func (l *KubeLoader) enqueue(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if s, ok := obj.(*corev1.Secret); ok {
		l.mu.Lock()
		l.pending[s.Namespace+"/"+s.Name] = struct{}{}
		l.notePending(s.ResourceVersion)
		l.mu.Unlock()
	}
}

// rebuild brings the prepared documents of the pending Secrets up to date
// and stores a Registry assembled from all of them.
func (l *KubeLoader) rebuild(lister corelisters.SecretNamespaceLister) {
	start := time.Now()
	l.mu.Lock()
	pending := l.pending
	l.pending = map[string]struct{}{}
	// The cache holds each pending Secret at least at the version of its
	// event (the informer updates it before it calls the handlers), so
	// this rebuild applies every event up to pendingRev.
	l.revision = max(l.revision, l.pendingRev)
	revision := l.revision
	l.mu.Unlock()
	for origin := range pending {
		l.refresh(lister, origin)
	}
	r := l.asm.build()
	r.Skipped += len(l.bad)
	l.Holder.Store(r)
	l.Holder.observeBuild(time.Since(start))
	l.Log.Info("snapshot loaded", "source", "kubernetes", "namespace", l.Namespace, "documents", r.Documents, "skipped", r.Skipped,
		"changed", len(pending), "revision", revision)
	if l.Served != nil {
		l.Served(revision)
	}
}

// notePending records the resourceVersion of a pending event (under mu).
func (l *KubeLoader) notePending(rv string) {
	if n, ok := snapshot.ParseRevision(rv); ok {
		l.pendingRev = max(l.pendingRev, n)
	}
}

// refresh updates one Secret's prepared document from the informer's cache:
// gone, unusable (logged once per version), or its prepared document.
func (l *KubeLoader) refresh(lister corelisters.SecretNamespaceLister, origin string) {
	_, name, _ := strings.Cut(origin, "/")
	s, err := lister.Get(name)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			l.Log.Error("reading a snapshot Secret from the cache failed, keeping its last document", "origin", origin, "error", err)
			return
		}
		delete(l.bad, origin)
		l.settle(origin, nil, "")
		return
	}
	var (
		c  decodedDoc
		ok bool
	)
	l.mu.Lock()
	var appliedRV string
	if st := l.secrets[origin]; st != nil {
		appliedRV = st.appliedRV
		if i := slices.IndexFunc(st.versions, func(v decodedDoc) bool { return v.rv == s.ResourceVersion }); i >= 0 {
			c, ok = st.versions[i], true
			// Versions up to the cached one are done with.
			st.versions = slices.Delete(st.versions, 0, i+1)
			if len(st.versions) == 0 {
				st.versions = nil
			}
		}
	}
	l.mu.Unlock()
	if !ok && appliedRV == s.ResourceVersion {
		// An event that changed nothing the loader reads: this version
		// is applied already.
		return
	}
	if ok && c.retired {
		// Served as absent, like a deleted Secret.
		delete(l.bad, origin)
		l.settle(origin, nil, s.ResourceVersion)
		return
	}
	err = c.err
	if err == nil && c.prep != nil {
		err = c.prep.Err()
	}
	if !ok {
		err = fmt.Errorf("secret has no decoded %q (the key is missing, or the watch has not decoded version %s yet)", snapshot.DataKey, s.ResourceVersion)
	}
	if err != nil {
		if l.bad[origin] != s.ResourceVersion {
			l.bad[origin] = s.ResourceVersion
			if errors.Is(err, errForeignKeySet) {
				l.Log.Warn("signing keys rejected", "secret", origin, "reason", err.Error())
			} else {
				l.Log.Error("snapshot document skipped", "origin", origin, "error", err)
			}
		}
		l.settle(origin, nil, s.ResourceVersion)
		return
	}
	delete(l.bad, origin)
	l.settle(origin, c.prep, s.ResourceVersion)
}

// settle records that a Secret's version rv ("": the Secret is gone)
// serves the document p (nil: none), and tells the assembler.
func (l *KubeLoader) settle(origin string, p *Prepared, rv string) {
	l.mu.Lock()
	st := l.secrets[origin]
	var old *Prepared
	switch {
	case st == nil && rv != "":
		// A version that was never decoded (see refresh).
		l.secrets[origin] = &secretState{appliedRV: rv}
	case st == nil:
	case rv == "" && len(st.versions) == 0:
		old = st.applied
		delete(l.secrets, origin)
	default:
		old = st.applied
		st.applied, st.appliedRV = p, rv
	}
	l.mu.Unlock()
	l.asm.apply(old, p)
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
	if d.Kind == snapshot.KindKeySet && (s.Name != snapshot.KeySetSecretName || s.Labels[snapshot.LabelManagedBy] != snapshot.ManagedBy) {
		return snapshot.Document{}, errForeignKeySet
	}
	return d, nil
}

// errForeignKeySet rejects a key set outside the manager's Secret: signing
// keys are read only from the Secret named [snapshot.KeySetSecretName]
// labelled [snapshot.LabelManagedBy]=[snapshot.ManagedBy], so that whoever
// may create some other Secret in the namespace cannot add a key the
// authserver signs with or accepts.
var errForeignKeySet = fmt.Errorf("signing keys are read only from the Secret %s labelled %s=%s",
	snapshot.KeySetSecretName, snapshot.LabelManagedBy, snapshot.ManagedBy)
