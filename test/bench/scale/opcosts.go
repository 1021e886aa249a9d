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

package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/test/bench"
)

// runOpCosts measures what each kind of API write a client costs the API
// server and etcd, one kind at a time, with neither manager nor authserver
// running: the OAuthClient create (the user's, with the admission policy
// adding the finalizer), a Secret create (the credentials Secret and the
// snapshot entry are each one), and the status write (a merge patch with
// an optimistic lock, as the manager writes it) of a status shaped like a
// Ready client's, with all its conditions and with one condition only.
// Each kind runs N times (16 in parallel) and is repeated reps times,
// alternating, so that drift shows as spread rather than as a difference.
func runOpCosts(ctx context.Context, o options, c client.Client, apiPid, etcdPid int) error {
	const reps = 3
	n := o.clients
	clients := make([][]*oauthv1alpha1.OAuthClient, reps)
	type cost struct{ api, etcd []float64 }
	costs := map[string]*cost{}
	measure := func(kind string, fn func(i int) error) error {
		api0, etcd0 := bench.CPUTicks(apiPid), bench.CPUTicks(etcdPid)
		if err := inParallel(ctx, n, fn); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		api, etcd := bench.CPUTicks(apiPid)-api0, bench.CPUTicks(etcdPid)-etcd0
		if costs[kind] == nil {
			costs[kind] = &cost{}
		}
		costs[kind].api = append(costs[kind].api, float64(api)*10/float64(n))
		costs[kind].etcd = append(costs[kind].etcd, float64(etcd)*10/float64(n))
		return nil
	}
	// Each status write changes every condition's reason, so that none is
	// skipped as unchanged.
	write := 0
	statusWrite := func(rep, conditions int) func(i int) error {
		write++
		reason := fmt.Sprintf("Write%d", write)
		return func(i int) error {
			oc := clients[rep][i]
			base := oc.DeepCopy()
			readyStatus(oc, reason, conditions)
			return c.Status().Patch(ctx, oc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		}
	}
	for rep := range reps {
		clients[rep] = make([]*oauthv1alpha1.OAuthClient, n)
		if err := measure("OAuthClient create (with the admission policy)", func(i int) error {
			oc := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: nsName(i % o.namespaces), Name: fmt.Sprintf("op-%d-%05d", rep, i)},
				Spec: oauthv1alpha1.OAuthClientSpec{Type: oauthv1alpha1.ClientTypeConfidential,
					GrantTypes: []oauthv1alpha1.GrantType{oauthv1alpha1.GrantTypeClientCredentials},
					Scopes:     []oauthv1alpha1.Scope{"read"}}}
			clients[rep][i] = oc
			return c.Create(ctx, oc)
		}); err != nil {
			return err
		}
		if err := measure("Secret create (credentials Secret or snapshot entry)", func(i int) error {
			oc := clients[rep][i]
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: oc.Namespace, Name: oc.Name + "-credentials",
				Labels: map[string]string{"app.kubernetes.io/managed-by": "authops"}},
				Data: map[string][]byte{"client_id": []byte(oc.Namespace + "/" + oc.Name),
					"client_secret": []byte("QmVuY2hTZWNyZXRCZW5jaFNlY3JldEJlbmNoU2VjcmV0"),
					"token_url":     []byte("https://authops.authops-system.svc/oauth2/token")}}
			return c.Create(ctx, s)
		}); err != nil {
			return err
		}
		// The first status write of each client (as the manager's first
		// reconcile), then one with a single condition and one with all:
		// both replace a status of the same shape.
		if err := measure("status write, first (all conditions)", statusWrite(rep, -1)); err != nil {
			return err
		}
		if err := measure("status write, one condition", statusWrite(rep, 1)); err != nil {
			return err
		}
		if err := measure("status write, all conditions", statusWrite(rep, -1)); err != nil {
			return err
		}
	}
	fmt.Printf("\n| API write (%d each, 16 in parallel, %d repetitions) | API server CPU ms per write | etcd CPU ms per write |\n| --- | --- | --- |\n", n, reps)
	for _, kind := range []string{"OAuthClient create (with the admission policy)", "Secret create (credentials Secret or snapshot entry)",
		"status write, first (all conditions)", "status write, all conditions", "status write, one condition"} {
		k := costs[kind]
		fmt.Printf("| %s | %s | %s |\n", kind, spread(k.api), spread(k.etcd))
	}
	fmt.Printf("| load average at the end | %s | |\n", loadAvg())
	return nil
}

// spread prints the median and the range of a few samples.
func spread(v []float64) string {
	s := slices.Sorted(slices.Values(v))
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s[len(s)/2], s[0], s[len(s)-1])
}

// readyStatus gives oc a status shaped like a Ready confidential
// client_credentials client's: the conditions the manager sets (all of
// them when conditions < 0, else the first conditions), with reason for
// every condition and messages of the usual length, and the effective
// settings.
func readyStatus(oc *oauthv1alpha1.OAuthClient, reason string, conditions int) {
	all := []struct{ typ, message string }{
		{oauthv1alpha1.ReadyCondition, "served by every replica of the authorization server"},
		{oauthv1alpha1.SecretReadyCondition, "client secret generated into Secret " + oc.Name + "-credentials"},
		{oauthv1alpha1.PolicyResolvedCondition, "no grantPolicyRef: the built-in defaults apply"},
		{oauthv1alpha1.GrantTypesAllowedCondition, "every requested grant type is allowed"},
		{oauthv1alpha1.ScopesAllowedCondition, "every requested scope is allowed"},
		{oauthv1alpha1.RefreshTokenRotationAllowedCondition, "refresh token rotation is allowed"},
		{oauthv1alpha1.ClientIDAllowedCondition, "the client ID is the default, namespace/name"},
		{oauthv1alpha1.ClientIDAvailableCondition, "the client ID is claimed by this client"},
		{oauthv1alpha1.AudiencesGrantedCondition, "every requested audience is granted"},
	}
	if conditions >= 0 {
		all = all[:conditions]
	}
	oc.Status.Conditions = nil
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	for _, cond := range all {
		apimeta.SetStatusCondition(&oc.Status.Conditions, metav1.Condition{Type: cond.typ, Status: metav1.ConditionTrue,
			Reason: reason, Message: cond.message, ObservedGeneration: oc.Generation, LastTransitionTime: now})
	}
	oc.Status.ObservedGeneration = oc.Generation
	oc.Status.ClientID = oc.Namespace + "/" + oc.Name
	oc.Status.CredentialsSecretName = oc.Name + "-credentials"
	oc.Status.GrantTypes = []oauthv1alpha1.GrantType{oauthv1alpha1.GrantTypeClientCredentials}
	oc.Status.Scopes = []oauthv1alpha1.Scope{"read"}
}
