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

package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// Kinds are the authops kinds that report Ready.
var Kinds = []string{"GrantPolicy", "OAuthClient", "Account", "ResourceServer"}

// ApplyDir creates every object of every YAML file in dir (a
// kustomization.yaml aside) in namespace ns; an object that exists is left
// as it is. It returns one line per object created: "kind name (file)".
func ApplyDir(ctx context.Context, c client.Client, dir, ns string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		objs, err := decodeFile(f)
		if err != nil {
			return applied, err
		}
		for _, u := range objs {
			u.SetNamespace(ns)
			if err := c.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
				return applied, fmt.Errorf("%s: %s %s: %w", f, u.GetKind(), u.GetName(), err)
			}
			applied = append(applied, fmt.Sprintf("%s %s (%s)", strings.ToLower(u.GetKind()), u.GetName(), filepath.Base(f)))
		}
	}
	return applied, nil
}

// decodeFile returns the objects of a YAML (or JSON) file.
func decodeFile(f string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(f)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(u.Object) != 0 {
			objs = append(objs, u)
		}
	}
}

// WaitReady waits until every object of Kinds in namespace ns has
// Ready=True for its current generation (or is a disabled Account that says
// so), and names those that are not when timeout has passed.
func WaitReady(ctx context.Context, c client.Client, ns string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		notReady, err := notReady(ctx, c, ns)
		if err != nil {
			return err
		}
		if len(notReady) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			sort.Strings(notReady)
			return fmt.Errorf("not Ready after %s:\n  %s", timeout, strings.Join(notReady, "\n  "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// notReady lists "kind/name: why" for each object of Kinds in ns that is
// not Ready.
func notReady(ctx context.Context, c client.Client, ns string) ([]string, error) {
	var out []string
	for _, kind := range Kinds {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion(oauthv1alpha1.GroupVersion.String())
		list.SetKind(kind + "List")
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		for _, u := range list.Items {
			if ok, msg := ready(u); !ok {
				out = append(out, fmt.Sprintf("%s/%s: %s", strings.ToLower(kind), u.GetName(), msg))
			}
		}
	}
	return out, nil
}

// ready reports whether u has Ready=True observed at its generation (or is
// a disabled Account that says so), and otherwise the Ready message.
func ready(u unstructured.Unstructured) (bool, string) {
	raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	data, _ := json.Marshal(raw)
	var conds []metav1.Condition
	_ = json.Unmarshal(data, &conds)
	cond := meta.FindStatusCondition(conds, oauthv1alpha1.ReadyCondition)
	disabled, _, _ := unstructured.NestedBool(u.Object, "spec", "disabled")
	switch {
	case cond == nil:
		return false, "no Ready condition yet"
	case cond.Status != metav1.ConditionTrue && cond.Reason == oauthv1alpha1.DisabledReason && disabled:
		return true, "" // a disabled object (the bob sample) is as expected when it says so
	case cond.Status != metav1.ConditionTrue:
		return false, cond.Reason + ": " + cond.Message
	case cond.ObservedGeneration != u.GetGeneration():
		return false, "Ready for an older generation"
	}
	return true, ""
}
