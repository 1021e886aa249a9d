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
	"text/tabwriter"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/controllers"
)

// explain prints, for each grant type and scope, what a token request of
// the client gets and which policy decides it (controllers.Explain: the
// controller's own policy lookup and intersection).
func explain(ctx context.Context, c client.Client, ns, name string, out io.Writer) error {
	obj := &oauthv1alpha1.OAuthClient{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		return fmt.Errorf("OAuthClient %s/%s: %w", ns, name, err)
	}
	e, err := controllers.Explain(ctx, c, obj)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "OAuthClient %s/%s, client_id %s\n", ns, name, e.ClientID)
	fmt.Fprintf(out, "Policy: %s\n", e.Policy)
	if ready := apimeta.FindStatusCondition(obj.Status.Conditions, oauthv1alpha1.ReadyCondition); ready != nil {
		fmt.Fprintf(out, "Ready: %s (%s): %s\n", ready.Status, ready.Reason, ready.Message)
	}
	if e.Blocked != "" {
		fmt.Fprintf(out, "Every request gets invalid_client: %s\n", e.Blocked)
	}
	for _, section := range []struct {
		title   string
		answers []controllers.Answer
	}{{"GRANT TYPE", e.GrantTypes}, {"SCOPE", e.Scopes}} {
		fmt.Fprintln(out)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tANSWER\tDECIDED BY\n", section.title)
		for _, a := range section.answers {
			answer := "allowed"
			if a.Error != "" {
				answer = fmt.Sprintf("%s: %s", a.Error, a.Description)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, answer, a.DecidedBy)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
