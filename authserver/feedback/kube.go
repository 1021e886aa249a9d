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

package feedback

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// Field managers of the authserver's server-side applies. The conditions
// and the last login time have managers of their own, so an apply of one
// never removes the other (an apply drops what its manager applied before
// and now leaves out).
const (
	FieldManager      = "authops-authserver"
	LoginFieldManager = "authops-authserver-login"
	// ReportingController names the authserver in Events.
	ReportingController = "oauth.authops.io/authserver"
)

var resources = map[string]schema.GroupVersionResource{
	"OAuthClient": oauthv1alpha1.GroupVersion.WithResource("oauthclients"),
	"Account":     oauthv1alpha1.GroupVersion.WithResource("accounts"),
}

// KubeWriter writes through the Kubernetes API: server-side apply on the
// status subresource (needs get on oauthclients and accounts, patch on
// oauthclients/status and accounts/status) and events.k8s.io Events (needs
// create on events).
type KubeWriter struct {
	Dynamic   dynamic.Interface
	Clientset kubernetes.Interface
	// Instance names this authserver replica in Events (the pod name).
	Instance string
}

// ApplyStatus applies the authserver's conditions (and the last login time)
// to the object the snapshot document came from. The object is read first:
// if it is gone, or was deleted and recreated under the same name (another
// UID; an apply does not check the UID it carries), the error wraps ErrGone
// and nothing is written.
func (k *KubeWriter) ApplyStatus(ctx context.Context, ref snapshot.Source, st Status) error {
	gvr, ok := resources[ref.Kind]
	if !ok {
		return fmt.Errorf("no status for kind %q", ref.Kind)
	}
	ri := k.Dynamic.Resource(gvr).Namespace(ref.Namespace)
	cur, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %s/%s: %w", ref.Kind, ref.Namespace, ref.Name, ErrGone)
	case err != nil:
		return err
	case string(cur.GetUID()) != ref.UID:
		return fmt.Errorf("%s %s/%s was recreated (UID %s, the snapshot names %s): %w", ref.Kind, ref.Namespace, ref.Name,
			cur.GetUID(), ref.UID, ErrGone)
	}
	body := func(status map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": gvr.GroupVersion().String(), "kind": ref.Kind,
			"metadata": map[string]any{"name": ref.Name, "namespace": ref.Namespace, "uid": ref.UID},
			"status":   status,
		}}
	}
	if len(st.Conditions) > 0 {
		conds := make([]any, 0, len(st.Conditions))
		for _, c := range st.Conditions {
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&c)
			if err != nil {
				return err
			}
			conds = append(conds, m)
		}
		if _, err := ri.ApplyStatus(ctx, ref.Name, body(map[string]any{"conditions": conds}),
			metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return err
		}
	}
	if st.LastLoginTime != nil {
		if _, err := ri.ApplyStatus(ctx, ref.Name, body(map[string]any{"lastLoginTime": st.LastLoginTime.UTC().Format(time.RFC3339)}),
			metav1.ApplyOptions{FieldManager: LoginFieldManager, Force: true}); err != nil {
			return err
		}
	}
	return nil
}

// Warn records a Warning Event about the object.
func (k *KubeWriter) Warn(ctx context.Context, ref snapshot.Source, reason, message string) error {
	gvr, ok := resources[ref.Kind]
	if !ok {
		return fmt.Errorf("no events for kind %q", ref.Kind)
	}
	if len(message) > 1024 {
		message = message[:1024]
	}
	instance := k.Instance
	if instance == "" {
		instance = "authserver"
	}
	_, err := k.Clientset.EventsV1().Events(ref.Namespace).Create(ctx, &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", ref.Name, time.Now().UnixNano()), Namespace: ref.Namespace},
		EventTime:           metav1.NewMicroTime(time.Now()),
		ReportingController: ReportingController,
		ReportingInstance:   instance,
		Action:              "Authenticate",
		Reason:              reason,
		Regarding: corev1.ObjectReference{APIVersion: gvr.GroupVersion().String(), Kind: ref.Kind,
			Namespace: ref.Namespace, Name: ref.Name, UID: types.UID(ref.UID)},
		Note: message,
		Type: corev1.EventTypeWarning,
	}, metav1.CreateOptions{})
	return err
}
