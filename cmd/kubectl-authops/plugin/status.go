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

package plugin

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"text/tabwriter"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// status prints what every authserver replica serves, from its served
// Lease (snapshot.ServedLeasePrefix): the snapshot revision, how many
// snapshot entries it has not applied yet (lag), when it last renewed and
// whether it is live; then how many objects are Ready, wait to be served
// (NotYetServed) or are not Ready for another reason.
func status(ctx context.Context, c client.Client, operatorNS string, out io.Writer) error {
	leases := &coordinationv1.LeaseList{}
	if err := c.List(ctx, leases, client.InNamespace(operatorNS), client.MatchingLabels{snapshot.LabelServed: "true"}); err != nil {
		return fmt.Errorf("the served Leases in %s: %w", operatorNS, err)
	}
	// The snapshot entries' revisions, to say how far behind each replica
	// is (metadata only: no Secret data is read).
	entries := &metav1.PartialObjectMetadataList{}
	entries.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "SecretList"})
	var revisions []int64
	entriesErr := c.List(ctx, entries, client.InNamespace(operatorNS), client.HasLabels{snapshot.LabelSnapshot})
	for _, e := range entries.Items {
		if rev, ok := snapshot.ParseRevision(e.ResourceVersion); ok {
			revisions = append(revisions, rev)
		}
	}
	now := time.Now()
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPLICA\tREVISION\tLAG\tRENEWED\tLIVE")
	sort.Slice(leases.Items, func(i, j int) bool { return leases.Items[i].Name < leases.Items[j].Name })
	live := 0
	for _, l := range leases.Items {
		name := l.Name[len(snapshot.ServedLeasePrefix):]
		if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
			name = *l.Spec.HolderIdentity
		}
		rev, ok := snapshot.ParseRevision(l.Annotations[snapshot.AnnotationServedRevision])
		if !ok {
			fmt.Fprintf(tw, "%s\t-\t-\t-\tno revision published\n", name)
			continue
		}
		lag := "?"
		if entriesErr == nil {
			behind := 0
			for _, r := range revisions {
				if r > rev {
					behind++
				}
			}
			lag = "0"
			if behind > 0 {
				lag = fmt.Sprintf("%d %s", behind, plural(behind, "entry", "entries"))
			}
		}
		renewed, alive := "-", "no"
		if l.Spec.RenewTime != nil && l.Spec.LeaseDurationSeconds != nil {
			renewed = now.Sub(l.Spec.RenewTime.Time).Round(time.Second).String() + " ago"
			if l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second).After(now) {
				alive = "yes"
				live++
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", name, rev, lag, renewed, alive)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d of %d replicas live", live, len(leases.Items))
	if entriesErr == nil && len(revisions) > 0 {
		fmt.Fprintf(out, "; newest snapshot revision %d (%d entries)", slices.Max(revisions), len(revisions))
	}
	fmt.Fprintln(out)
	if entriesErr != nil {
		fmt.Fprintf(out, "LAG unknown: listing the snapshot entries in %s: %v\n", operatorNS, entriesErr)
	}

	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tREADY\tNOT YET SERVED\tNOT READY")
	for _, kind := range []struct {
		name string
		list client.ObjectList
	}{
		{"OAuthClient", &oauthv1alpha1.OAuthClientList{}},
		{"GrantPolicy", &oauthv1alpha1.GrantPolicyList{}},
		{"ResourceServer", &oauthv1alpha1.ResourceServerList{}},
		{"Account", &oauthv1alpha1.AccountList{}},
	} {
		if err := c.List(ctx, kind.list); err != nil {
			return fmt.Errorf("listing %s objects: %w", kind.name, err)
		}
		var ready, waiting, notReady int
		for _, conds := range conditionsOf(kind.list) {
			switch c := apimeta.FindStatusCondition(conds, oauthv1alpha1.ReadyCondition); {
			case c != nil && c.Status == metav1.ConditionTrue:
				ready++
			case c != nil && c.Reason == oauthv1alpha1.NotYetServedReason:
				waiting++
			default:
				notReady++
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", kind.name, ready, waiting, notReady)
	}
	return tw.Flush()
}

// conditionsOf returns the conditions of every object of a list.
func conditionsOf(list client.ObjectList) [][]metav1.Condition {
	var out [][]metav1.Condition
	switch l := list.(type) {
	case *oauthv1alpha1.OAuthClientList:
		for _, o := range l.Items {
			out = append(out, o.Status.Conditions)
		}
	case *oauthv1alpha1.GrantPolicyList:
		for _, o := range l.Items {
			out = append(out, o.Status.Conditions)
		}
	case *oauthv1alpha1.ResourceServerList:
		for _, o := range l.Items {
			out = append(out, o.Status.Conditions)
		}
	case *oauthv1alpha1.AccountList:
		for _, o := range l.Items {
			out = append(out, o.Status.Conditions)
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
