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

package controllers

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

const payments = "https://payments.victim.example"

func cgpWithAudiences(name string, grants ...oauthv1alpha1.AudienceGrant) oauthv1alpha1.ClusterGrantPolicy {
	return oauthv1alpha1.ClusterGrantPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: oauthv1alpha1.ClusterGrantPolicySpec{Audiences: grants}}
}

func TestAudiencePermitted(t *testing.T) {
	victimPayments := oauthv1alpha1.AudienceGrant{Namespace: "victim", Prefixes: []string{"https://payments.victim.example"}}
	tests := []struct {
		name      string
		cgps      []oauthv1alpha1.ClusterGrantPolicy
		namespace string
		want      bool
		wantMsg   string
	}{
		{"no ClusterGrantPolicy: anyone", nil, "mallory", true, "no ClusterGrantPolicy restricts audiences"},
		{"ClusterGrantPolicies without audiences: anyone", []oauthv1alpha1.ClusterGrantPolicy{cgpWithAudiences("baseline")}, "mallory", true, "no ClusterGrantPolicy restricts audiences"},
		{"granted prefix", []oauthv1alpha1.ClusterGrantPolicy{cgpWithAudiences("apis", victimPayments)}, "victim", true,
			"ClusterGrantPolicy apis lets namespace victim claim audiences starting with https://payments.victim.example"},
		{"another namespace's prefix", []oauthv1alpha1.ClusterGrantPolicy{cgpWithAudiences("apis", victimPayments)}, "mallory", false,
			"no ClusterGrantPolicy lets namespace mallory claim audience https://payments.victim.example (spec.audiences of ClusterGrantPolicy apis restricts audiences)"},
		{"granted by a second policy", []oauthv1alpha1.ClusterGrantPolicy{cgpWithAudiences("apis", victimPayments),
			cgpWithAudiences("more", oauthv1alpha1.AudienceGrant{Namespace: "mallory", Prefixes: []string{"https://payments."}})}, "mallory", true,
			"ClusterGrantPolicy more lets namespace mallory claim audiences starting with https://payments."},
		{"a prefix that does not match", []oauthv1alpha1.ClusterGrantPolicy{cgpWithAudiences("apis",
			oauthv1alpha1.AudienceGrant{Namespace: "victim", Prefixes: []string{"https://orders.victim.example"}})}, "victim", false, "no ClusterGrantPolicy lets namespace victim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := audiencePermitted(tt.cgps, tt.namespace, payments)
			if got != tt.want || !strings.HasPrefix(msg, tt.wantMsg) {
				t.Errorf("audiencePermitted = %v, %q; want %v, %q...", got, msg, tt.want, tt.wantMsg)
			}
		})
	}
}

func resourceServer(ns, name, uid string, created time.Time, grants ...oauthv1alpha1.ResourceServerGrant) oauthv1alpha1.ResourceServer {
	return oauthv1alpha1.ResourceServer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: k8stypes.UID(uid), CreationTimestamp: metav1.NewTime(created)},
		Spec:       oauthv1alpha1.ResourceServerSpec{Audience: payments, Scopes: []oauthv1alpha1.Scope{"payments.read", "payments.write"}, Clients: grants},
	}
}

func TestAudienceOwnersAndClaim(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	victim := resourceServer("victim", "payments", "b", t0)
	mallory := resourceServer("mallory", "payments", "a", t0.Add(time.Second))
	sameTime := resourceServer("other", "payments", "a", t0)
	deleting := resourceServer("old", "payments", "0", t0.Add(-time.Hour))
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}
	restrict := []oauthv1alpha1.ClusterGrantPolicy{cgpWithAudiences("apis", oauthv1alpha1.AudienceGrant{Namespace: "mallory", Prefixes: []string{"https://"}})}

	tests := []struct {
		name       string
		rss        []oauthv1alpha1.ResourceServer
		cgps       []oauthv1alpha1.ClusterGrantPolicy
		claimant   oauthv1alpha1.ResourceServer
		wantOwner  string
		wantReason string
	}{
		{"the oldest owns", []oauthv1alpha1.ResourceServer{mallory, victim}, nil, victim, "victim", oauthv1alpha1.ClaimedReason},
		{"the younger conflicts, naming the owner", []oauthv1alpha1.ResourceServer{mallory, victim}, nil, mallory, "victim", oauthv1alpha1.AudienceConflictReason},
		{"same time: the smaller UID", []oauthv1alpha1.ResourceServer{victim, sameTime}, nil, victim, "other", oauthv1alpha1.AudienceConflictReason},
		{"one being deleted owns nothing", []oauthv1alpha1.ResourceServer{deleting, mallory}, nil, mallory, "mallory", oauthv1alpha1.ClaimedReason},
		{"not permitted: the older does not own", []oauthv1alpha1.ResourceServer{mallory, victim}, restrict, victim, "mallory", oauthv1alpha1.AudienceNotPermittedReason},
		{"not permitted: the younger permitted one owns", []oauthv1alpha1.ResourceServer{mallory, victim}, restrict, mallory, "mallory", oauthv1alpha1.ClaimedReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owners := AudienceOwners(tt.rss, tt.cgps)
			if got := owners[payments]; got == nil || got.Namespace != tt.wantOwner {
				t.Fatalf("owner = %v, want namespace %s", got, tt.wantOwner)
			}
			c := AudienceClaim(&tt.claimant, owners, tt.cgps)
			if c.Reason != tt.wantReason || (c.Status == metav1.ConditionTrue) != (tt.wantReason == oauthv1alpha1.ClaimedReason) {
				t.Errorf("AudienceClaim = %s %s: %s", c.Status, c.Reason, c.Message)
			}
			if c.Reason == oauthv1alpha1.AudienceConflictReason && !strings.Contains(c.Message, "ResourceServer "+tt.wantOwner+"/payments") {
				t.Errorf("the conflict must name the owner: %s", c.Message)
			}
		})
	}
}

func TestComputeAudiences(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	byRef := resourceServer("victim", "payments", "v", t0, oauthv1alpha1.ResourceServerGrant{
		ClientRefs: []oauthv1alpha1.ClientReference{{Name: "checkout"}}, Scopes: []oauthv1alpha1.Scope{"payments.write"}})
	bySelector := resourceServer("victim", "payments", "v", t0,
		oauthv1alpha1.ResourceServerGrant{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}, Scopes: []oauthv1alpha1.Scope{"payments.read"}},
		oauthv1alpha1.ResourceServerGrant{ClientRefs: []oauthv1alpha1.ClientReference{{Namespace: "shop", Name: "checkout"}}, Scopes: []oauthv1alpha1.Scope{"payments.write"}})
	client := func(ns, name string, audiences ...string) *oauthv1alpha1.OAuthClient {
		return &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: "u"}, Spec: oauthv1alpha1.OAuthClientSpec{Audiences: audiences}}
	}
	owners := func(rs oauthv1alpha1.ResourceServer) map[string]*oauthv1alpha1.ResourceServer {
		return map[string]*oauthv1alpha1.ResourceServer{rs.Spec.Audience: &rs}
	}
	tests := []struct {
		name          string
		client        *oauthv1alpha1.OAuthClient
		labels        map[string]string
		owners        map[string]*oauthv1alpha1.ResourceServer
		wantResources []snapshot.Resource
		wantAudiences []string
		wantReason    string
		wantMessage   string
	}{
		{"audience spoofing: nobody claims it", client("mallory", "evil", payments), nil, nil, nil, nil, oauthv1alpha1.AudienceNotGrantedReason,
			"audience https://payments.victim.example is not granted to this client: no ResourceServer claims it; tokens do not carry it and requests with resource=https://payments.victim.example get invalid_target"},
		{"audience spoofing: the owner does not grant it", client("mallory", "checkout", payments), nil, owners(byRef), nil, nil, oauthv1alpha1.AudienceNotGrantedReason,
			"audience https://payments.victim.example is not granted to this client: ResourceServer victim/payments does not grant it to this client; tokens do not carry it"},
		{"granted by clientRefs, namespace defaulting to the ResourceServer's", client("victim", "checkout", payments), nil, owners(byRef),
			[]snapshot.Resource{{Audience: payments, Scopes: []string{"payments.write"}, WithheldScopes: []string{"payments.read"}}}, []string{payments}, oauthv1alpha1.GrantedReason,
			"every audience of the client is granted"},
		{"granted without naming it: a resource, not a default audience", client("victim", "checkout"), nil, owners(byRef),
			[]snapshot.Resource{{Audience: payments, Scopes: []string{"payments.write"}, WithheldScopes: []string{"payments.read"}}}, nil, oauthv1alpha1.GrantedReason,
			"the client names no audiences; ResourceServers grant it https://payments.victim.example"},
		{"granted by namespaceSelector and clientRefs: scopes are the union", client("shop", "checkout", payments), map[string]string{"team": "shop"}, owners(bySelector),
			[]snapshot.Resource{{Audience: payments, Scopes: []string{"payments.read", "payments.write"}}}, []string{payments}, oauthv1alpha1.GrantedReason, ""},
		{"namespaceSelector only", client("shop", "cart", payments), map[string]string{"team": "shop"}, owners(bySelector),
			[]snapshot.Resource{{Audience: payments, Scopes: []string{"payments.read"}, WithheldScopes: []string{"payments.write"}}}, []string{payments}, oauthv1alpha1.GrantedReason, ""},
		{"labels that do not match", client("shop", "cart", payments), map[string]string{"team": "other"}, owners(bySelector), nil, nil, oauthv1alpha1.AudienceNotGrantedReason, ""},
		{"no audiences, nothing granted", client("shop", "cart"), nil, nil, nil, nil, oauthv1alpha1.GrantedReason, "the client names no audiences and no ResourceServer grants it one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ComputeAudiences(tt.client, tt.labels, tt.owners)
			if diff := cmp.Diff(tt.wantResources, a.Resources); diff != "" {
				t.Errorf("Resources (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAudiences, a.Audiences); diff != "" {
				t.Errorf("Audiences (-want +got):\n%s", diff)
			}
			c := a.AudiencesGranted
			if c.Reason != tt.wantReason || !strings.HasPrefix(c.Message, tt.wantMessage) {
				t.Errorf("AudiencesGranted = %s %s: %s", c.Status, c.Reason, c.Message)
			}
			if (c.Status == metav1.ConditionFalse) != (a.Restriction != "") {
				t.Errorf("Restriction %q with AudiencesGranted %s", a.Restriction, c.Status)
			}
			doc := CompileClient(ClientInput{Client: tt.client, ClientID: "x", Policy: testPolicy(t), Audiences: a})
			if _, err := snapshot.Encode(doc); err != nil {
				t.Errorf("the compiled client is invalid: %v", err)
			}
		})
	}
}

func testPolicy(t *testing.T) snapshot.Policy {
	t.Helper()
	p, err := CompilePolicy("", BuiltinPolicy())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCompileResourceServer(t *testing.T) {
	rs := resourceServer("victim", "payments", "v", time.Now())
	doc := CompileResourceServer(&rs, []snapshot.SecretDigest{{SHA256: Digest("s")}})
	if _, err := snapshot.Encode(doc); err != nil {
		t.Fatal(err)
	}
	want := &snapshot.ResourceServer{ID: "rs/victim/payments", Namespace: "victim", Audience: payments,
		Scopes: []string{"payments.read", "payments.write"}, Secrets: []snapshot.SecretDigest{{SHA256: Digest("s")}}}
	if diff := cmp.Diff(want, doc.ResourceServer); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
