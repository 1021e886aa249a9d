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
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
)

// The decisions about audiences, as pure functions: which namespaces may
// claim an audience (ClusterGrantPolicy spec.audiences), which
// ResourceServer owns it, and what a client is granted by the owners.

// audiencePermitted says whether a ResourceServer in namespace may claim
// audience, and why. While no ClusterGrantPolicy sets spec.audiences every
// namespace may claim every audience; once one does, a namespace may claim
// only the audiences starting with a prefix some ClusterGrantPolicy grants
// it.
func audiencePermitted(cgps []oauthv1alpha1.ClusterGrantPolicy, namespace, audience string) (bool, string) {
	var restricting []string
	for _, cgp := range cgps {
		if len(cgp.Spec.Audiences) == 0 {
			continue
		}
		restricting = append(restricting, cgp.Name)
		for _, g := range cgp.Spec.Audiences {
			if g.Namespace != namespace {
				continue
			}
			for _, p := range g.Prefixes {
				if strings.HasPrefix(audience, p) {
					return true, fmt.Sprintf("ClusterGrantPolicy %s lets namespace %s claim audiences starting with %s", cgp.Name, namespace, p)
				}
			}
		}
	}
	if len(restricting) == 0 {
		return true, "no ClusterGrantPolicy restricts audiences"
	}
	sort.Strings(restricting)
	return false, fmt.Sprintf(
		"no ClusterGrantPolicy lets namespace %s claim audience %s (spec.audiences of ClusterGrantPolicy %s restricts audiences); the ResourceServer is not served and grants nothing. "+
			"Ask a cluster administrator to grant namespace %s a prefix of it, or change spec.audience",
		namespace, audience, strings.Join(restricting, ", "), namespace)
}

// AudienceOwners maps each audience to the ResourceServer that owns it: the
// oldest (by creationTimestamp, then UID) of those claiming it that their
// namespace may claim it (audiencePermitted). ResourceServers being deleted
// own nothing.
func AudienceOwners(rss []oauthv1alpha1.ResourceServer, cgps []oauthv1alpha1.ClusterGrantPolicy) map[string]*oauthv1alpha1.ResourceServer {
	owners := map[string]*oauthv1alpha1.ResourceServer{}
	for i := range rss {
		rs := &rss[i]
		if !rs.DeletionTimestamp.IsZero() {
			continue
		}
		if ok, _ := audiencePermitted(cgps, rs.Namespace, rs.Spec.Audience); !ok {
			continue
		}
		if owner := owners[rs.Spec.Audience]; owner == nil || older(rs, owner) {
			owners[rs.Spec.Audience] = rs
		}
	}
	return owners
}

// older says whether a comes before b: created earlier, or at the same time
// with the smaller UID.
func older(a, b metav1.Object) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	return ta.Before(&tb) || (ta.Equal(&tb) && a.GetUID() < b.GetUID())
}

// AudienceClaim is the AudienceClaimed condition of rs, given the owners of
// the audiences (AudienceOwners, from every ResourceServer) and the
// ClusterGrantPolicies.
func AudienceClaim(rs *oauthv1alpha1.ResourceServer, owners map[string]*oauthv1alpha1.ResourceServer, cgps []oauthv1alpha1.ClusterGrantPolicy) metav1.Condition {
	cond := metav1.Condition{Type: oauthv1alpha1.AudienceClaimedCondition, Status: metav1.ConditionFalse}
	aud := rs.Spec.Audience
	permitted, why := audiencePermitted(cgps, rs.Namespace, aud)
	owner := owners[aud]
	switch {
	case !permitted:
		cond.Reason, cond.Message = oauthv1alpha1.AudienceNotPermittedReason, why
	case owner == nil || owner.UID != rs.UID:
		cond.Reason = oauthv1alpha1.AudienceConflictReason
		cond.Message = fmt.Sprintf("audience %s is already claimed by ResourceServer %s, which is older; this ResourceServer is not served and grants nothing. "+
			"Delete one of them, or change spec.audience", aud, objectName(owner))
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, oauthv1alpha1.ClaimedReason
		cond.Message = fmt.Sprintf("audience %s belongs to this ResourceServer (%s)", aud, why)
	}
	return cond
}

// objectName is "<namespace>/<name>", or "another object" for nil.
func objectName(o metav1.Object) string {
	if o == nil || o.GetName() == "" {
		return "another object"
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// grantsClient says whether rs grants the client (in a namespace with
// nsLabels) tokens for its audience, and the scopes of spec.scopes it may
// have in them: the union over every spec.clients entry that matches the
// client, by namespaceSelector or by clientRefs (namespace defaulting to
// the ResourceServer's).
func grantsClient(rs *oauthv1alpha1.ResourceServer, c *oauthv1alpha1.OAuthClient, nsLabels map[string]string) (bool, []string) {
	granted := false
	var scopes []string
	for _, g := range rs.Spec.Clients {
		if !grantMatches(rs.Namespace, g, c.Namespace, c.Name, nsLabels) {
			continue
		}
		granted = true
		for _, s := range g.Scopes {
			if !slices.Contains(scopes, string(s)) {
				scopes = append(scopes, string(s))
			}
		}
	}
	sort.Strings(scopes)
	return granted, scopes
}

// grantMatches says whether one spec.clients entry of a ResourceServer in
// rsNamespace matches the client namespace/name. An invalid selector
// matches nothing.
func grantMatches(rsNamespace string, g oauthv1alpha1.ResourceServerGrant, namespace, name string, nsLabels map[string]string) bool {
	if g.NamespaceSelector != nil {
		if sel, err := metav1.LabelSelectorAsSelector(g.NamespaceSelector); err == nil && sel.Matches(labels.Set(nsLabels)) {
			return true
		}
	}
	return slices.ContainsFunc(g.ClientRefs, func(ref oauthv1alpha1.ClientReference) bool {
		ns := ref.Namespace
		if ns == "" {
			ns = rsNamespace
		}
		return ns == namespace && ref.Name == name
	})
}

// AudienceAccess is what a client is granted by the ResourceServers owning
// audiences.
type AudienceAccess struct {
	// Resources are the granted audiences (sorted), with the scopes granted
	// and withheld for each.
	Resources []snapshot.Resource
	// Audiences are the client's spec.audiences that are granted: the aud
	// of its tokens when a request names no resource.
	Audiences []string
	// Granted are the granted audiences, sorted (status.audiences).
	Granted []string
	// AudiencesGranted is the AudiencesGranted condition.
	AudiencesGranted metav1.Condition
	// Restriction is the condition's message when it is False, else empty.
	Restriction string
}

// ComputeAudiences compiles what the owners of audiences (AudienceOwners)
// grant the client, whose namespace has nsLabels, and explains the
// spec.audiences entries that are not granted: tokens do not carry them and
// requests naming them as resource get invalid_target.
func ComputeAudiences(c *oauthv1alpha1.OAuthClient, nsLabels map[string]string, owners map[string]*oauthv1alpha1.ResourceServer) AudienceAccess {
	var a AudienceAccess
	for aud, rs := range owners {
		ok, scopes := grantsClient(rs, c, nsLabels)
		if !ok {
			continue
		}
		var withheld []string
		for _, s := range rs.Spec.Scopes {
			if !slices.Contains(scopes, string(s)) {
				withheld = append(withheld, string(s))
			}
		}
		sort.Strings(withheld)
		a.Resources = append(a.Resources, snapshot.Resource{Audience: aud, Scopes: scopes, WithheldScopes: withheld})
		a.Granted = append(a.Granted, aud)
	}
	slices.SortFunc(a.Resources, func(x, y snapshot.Resource) int { return strings.Compare(x.Audience, y.Audience) })
	sort.Strings(a.Granted)

	var denied []string
	for _, aud := range c.Spec.Audiences {
		if slices.Contains(a.Granted, aud) {
			a.Audiences = append(a.Audiences, aud)
			continue
		}
		why := "no ResourceServer claims it"
		if rs := owners[aud]; rs != nil {
			why = fmt.Sprintf("ResourceServer %s does not grant it to this client", objectName(rs))
		}
		denied = append(denied, fmt.Sprintf("audience %s is not granted to this client: %s; tokens do not carry it and requests with resource=%s get invalid_target", aud, why, aud))
	}
	a.AudiencesGranted = metav1.Condition{Type: oauthv1alpha1.AudiencesGrantedCondition, Status: metav1.ConditionTrue, Reason: oauthv1alpha1.GrantedReason}
	switch {
	case len(denied) > 0:
		a.Restriction = strings.Join(denied, "; ")
		a.AudiencesGranted.Status, a.AudiencesGranted.Reason, a.AudiencesGranted.Message = metav1.ConditionFalse, oauthv1alpha1.AudienceNotGrantedReason, a.Restriction
	case len(a.Granted) == 0:
		a.AudiencesGranted.Message = "the client names no audiences and no ResourceServer grants it one"
	case len(c.Spec.Audiences) == 0:
		a.AudiencesGranted.Message = fmt.Sprintf("the client names no audiences; ResourceServers grant it %s (requests may name them as resource)", strings.Join(a.Granted, ", "))
	default:
		a.AudiencesGranted.Message = fmt.Sprintf("every audience of the client is granted; ResourceServers grant it %s", strings.Join(a.Granted, ", "))
	}
	return a
}

// CompileResourceServer builds the snapshot document of a ResourceServer
// that owns its audience, with the digests of its valid secrets.
func CompileResourceServer(rs *oauthv1alpha1.ResourceServer, digests []snapshot.SecretDigest) snapshot.Document {
	scopes := make([]string, 0, len(rs.Spec.Scopes))
	for _, s := range rs.Spec.Scopes {
		scopes = append(scopes, string(s))
	}
	return snapshot.Document{
		Kind: snapshot.KindResourceServer,
		Source: snapshot.Source{
			Kind:       "ResourceServer",
			Namespace:  rs.Namespace,
			Name:       rs.Name,
			UID:        string(rs.UID),
			Generation: rs.Generation,
		},
		ResourceServer: &snapshot.ResourceServer{
			ID:        ResourceServerID(rs),
			Namespace: rs.Namespace,
			Audience:  rs.Spec.Audience,
			Scopes:    scopes,
			Secrets:   digests,
		},
	}
}
