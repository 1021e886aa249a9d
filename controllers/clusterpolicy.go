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
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// The ClusterGrantPolicy rules as pure functions (docs/security.md, the
// tenancy model): which namespace owns a client ID (ClientIDGrants), the
// ceiling over one namespace (CeilingFor), and what it cuts from a
// GrantPolicy (Ceiling.Cap).

// clientIDGrant is one entry of a ClusterGrantPolicy's spec.clientIDs: an
// exact client ID or a prefix, granted to one namespace.
type clientIDGrant struct {
	value     string
	prefix    bool
	namespace string
	policy    string
}

// entry is the grant as the admission policy's ConfigMap holds it: a
// prefix ends in "*".
func (g clientIDGrant) entry() string {
	if g.prefix {
		return g.value + "*"
	}
	return g.value
}

func (g clientIDGrant) describe() string {
	kind := "clientID"
	if g.prefix {
		kind = "clientID prefix"
	}
	return fmt.Sprintf("%s %s granted to namespace %s by ClusterGrantPolicy %s", kind, g.value, g.namespace, g.policy)
}

// ClientIDGrants is what the spec.clientIDs of every ClusterGrantPolicy
// grant, together: the owner of each granted ID or prefix, and the grants
// that overlap another namespace's (granted to neither).
type ClientIDGrants struct {
	ids      map[string]string
	prefixes map[string]string
	// entries are the granted entries per namespace, sorted.
	entries map[string][]string
	// conflicts are the overlaps per ClusterGrantPolicy, one sentence each.
	conflicts map[string][]string
}

// IndexClientIDGrants indexes the clientIDs grants of policies. Two grants
// to different namespaces overlap when they are the same ID, or one is a
// prefix the other (ID or prefix) starts with; both are then granted to
// neither namespace, and each ClusterGrantPolicy involved gets the overlap
// in Conflicts.
func IndexClientIDGrants(policies []oauthv1alpha1.ClusterGrantPolicy) ClientIDGrants {
	policies = slices.Clone(policies)
	sort.Slice(policies, func(i, j int) bool { return policies[i].Name < policies[j].Name })
	var all []clientIDGrant
	ids, prefixes := map[string][]int{}, map[string][]int{}
	for _, p := range policies {
		for _, g := range p.Spec.ClientIDs {
			for _, id := range g.IDs {
				ids[id] = append(ids[id], len(all))
				all = append(all, clientIDGrant{value: id, namespace: g.Namespace, policy: p.Name})
			}
			for _, prefix := range g.Prefixes {
				prefixes[prefix] = append(prefixes[prefix], len(all))
				all = append(all, clientIDGrant{value: prefix, prefix: true, namespace: g.Namespace, policy: p.Name})
			}
		}
	}

	idx := ClientIDGrants{ids: map[string]string{}, prefixes: map[string]string{}, entries: map[string][]string{}, conflicts: map[string][]string{}}
	overlapping := make([]bool, len(all))
	reported := map[[2]int]bool{}
	for i, g := range all {
		// The grants g overlaps: the same ID, and every prefix g starts
		// with (a longer prefix starting with g finds g the same way).
		var others []int
		if !g.prefix {
			others = append(others, ids[g.value]...)
		}
		for k := 1; k <= len(g.value); k++ {
			others = append(others, prefixes[g.value[:k]]...)
		}
		for _, j := range others {
			o := all[j]
			if o.namespace == g.namespace {
				continue
			}
			overlapping[i], overlapping[j] = true, true
			pair := [2]int{min(i, j), max(i, j)}
			if reported[pair] {
				continue
			}
			reported[pair] = true
			first, second := all[pair[0]], all[pair[1]]
			msg := fmt.Sprintf("%s overlaps %s", first.describe(), second.describe())
			idx.conflicts[first.policy] = append(idx.conflicts[first.policy], msg)
			if second.policy != first.policy {
				idx.conflicts[second.policy] = append(idx.conflicts[second.policy], msg)
			}
		}
	}
	for i, g := range all {
		if overlapping[i] {
			continue
		}
		if g.prefix {
			idx.prefixes[g.value] = g.namespace
		} else {
			idx.ids[g.value] = g.namespace
		}
		if !slices.Contains(idx.entries[g.namespace], g.entry()) {
			idx.entries[g.namespace] = append(idx.entries[g.namespace], g.entry())
		}
	}
	for _, e := range idx.entries {
		slices.Sort(e)
	}
	return idx
}

// grantee is the namespace a ClusterGrantPolicy grants id to (the exact ID,
// else the longest granted prefix), or "".
func (g ClientIDGrants) grantee(id string) string {
	if ns, ok := g.ids[id]; ok {
		return ns
	}
	for k := len(id); k > 0; k-- {
		if ns, ok := g.prefixes[id[:k]]; ok {
			return ns
		}
	}
	return ""
}

// OwningNamespace is the namespace client ID id belongs to: the one a
// ClusterGrantPolicy grants it to, else the part before its first "."
// ("<namespace>." is a namespace's own prefix; namespace names have no
// "."), else none ("").
func (g ClientIDGrants) OwningNamespace(id string) string {
	if ns := g.grantee(id); ns != "" {
		return ns
	}
	if i := strings.IndexByte(id, '.'); i > 0 {
		return id[:i]
	}
	return ""
}

// Permitted says whether the client ns/name may use client ID id
// (explicit: set in spec.clientID, else the default <ns>.<name>), with a
// message that says, when not, what to change. The message names no other
// namespace: the tenant reading it may not know them.
func (g ClientIDGrants) Permitted(id, ns, name string, explicit bool) (bool, string) {
	owner := g.OwningNamespace(id)
	switch {
	case owner == ns && g.grantee(id) == ns:
		return true, fmt.Sprintf("clientID %s is granted to namespace %s by a ClusterGrantPolicy", id, ns)
	case owner == ns:
		return true, fmt.Sprintf("clientID %s starts with %q", id, ns+".")
	case !explicit:
		return false, fmt.Sprintf("the default clientID %s is granted to another namespace by a ClusterGrantPolicy (spec.clientIDs); "+
			"recreate the client with a spec.clientID that starts with %q, or have the grant changed. The client is not served", id, ns+".")
	case strings.HasPrefix(id, ns+"."):
		return false, fmt.Sprintf("clientID %s is granted to another namespace by a ClusterGrantPolicy (spec.clientIDs); "+
			"remove spec.clientID to use the default %s.%s. The client is not served", id, ns, name)
	}
	return false, fmt.Sprintf("clientID %s must start with %q or be granted to namespace %s by a ClusterGrantPolicy (spec.clientIDs); "+
		"remove spec.clientID to use the default %s.%s. The client is not served", id, ns+".", ns, ns, name)
}

// Conflicts are the overlaps a ClusterGrantPolicy's clientIDs grants are
// part of, one sentence each.
func (g ClientIDGrants) Conflicts(policy string) []string { return g.conflicts[policy] }

// ConfigMapData is the granted entries as the admission policy reads them
// (ClientIDGrantsConfigMap): key a namespace, value its comma-separated
// entries, a prefix ending in "*". Overlapping grants are left out.
func (g ClientIDGrants) ConfigMapData() map[string]string {
	data := make(map[string]string, len(g.entries))
	for ns, e := range g.entries {
		data[ns] = strings.Join(e, ",")
	}
	return data
}

// Selects says whether a ClusterGrantPolicy's ceiling applies to a
// namespace with these labels. An unset or empty namespaceSelector selects
// every namespace, and so does one that cannot be parsed (the ceiling is
// a restriction: it fails closed; the ClusterGrantPolicy's status says so).
func Selects(p *oauthv1alpha1.ClusterGrantPolicy, nsLabels map[string]string) bool {
	if p.Spec.NamespaceSelector == nil {
		return true
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.NamespaceSelector)
	if err != nil {
		return true
	}
	return sel.Matches(labels.Set(nsLabels))
}

// limit is one setting of a Ceiling and the ClusterGrantPolicy it comes
// from ("" when no ClusterGrantPolicy sets it).
type limit[T any] struct {
	value T
	by    string
}

// Ceiling is every ClusterGrantPolicy selecting a namespace, merged: for
// each setting the most restrictive value, and the ClusterGrantPolicy it
// comes from (the first by name among equals). The zero Ceiling caps
// nothing.
type Ceiling struct {
	// Policies are the names of the ClusterGrantPolicies that select the
	// namespace, sorted.
	Policies []string
	// refusedGrantTypes maps each grant type some ClusterGrantPolicy does
	// not allow to the first such policy.
	refusedGrantTypes map[oauthv1alpha1.GrantType]string
	// refusedProfiles does the same for error profiles.
	refusedProfiles map[oauthv1alpha1.ErrorProfile]string

	// The smallest maximum lifetimes.
	maxAccessToken, maxRefreshToken, maxAuthorizationCode, maxDeviceCode limit[time.Duration]
	// pkceRequired, parRequired, dpopRequired and dpopNonceRequired name
	// the first ClusterGrantPolicy requiring PKCE, pushed authorization
	// requests, DPoP and DPoP nonces.
	pkceRequired, parRequired, dpopRequired, dpopNonceRequired string
}

// CeilingFor merges the ceilings of the policies that select a namespace
// with labels nsLabels: allowedGrantTypes and allowedErrorProfiles
// intersected, each maximum lifetime the smallest, PKCE, pushed
// authorization requests, DPoP and DPoP nonces Required if any says so.
func CeilingFor(nsLabels map[string]string, policies []oauthv1alpha1.ClusterGrantPolicy) Ceiling {
	policies = slices.Clone(policies)
	sort.Slice(policies, func(i, j int) bool { return policies[i].Name < policies[j].Name })
	c := Ceiling{refusedGrantTypes: map[oauthv1alpha1.GrantType]string{}, refusedProfiles: map[oauthv1alpha1.ErrorProfile]string{}}
	for i := range policies {
		p := &policies[i]
		if !Selects(p, nsLabels) {
			continue
		}
		c.Policies = append(c.Policies, p.Name)
		s := p.Spec
		if s.AllowedGrantTypes != nil {
			for _, g := range oauthv1alpha1.AllGrantTypes {
				if _, seen := c.refusedGrantTypes[g]; !seen && !slices.Contains(s.AllowedGrantTypes, g) {
					c.refusedGrantTypes[g] = p.Name
				}
			}
		}
		if s.AllowedErrorProfiles != nil {
			for _, e := range errorProfileOrder {
				if _, seen := c.refusedProfiles[e]; !seen && !slices.Contains(s.AllowedErrorProfiles, e) {
					c.refusedProfiles[e] = p.Name
				}
			}
		}
		for _, m := range []struct {
			l   *limit[time.Duration]
			max *metav1.Duration
		}{
			{&c.maxAccessToken, s.MaxAccessTokenLifetime},
			{&c.maxRefreshToken, s.MaxRefreshTokenLifetime},
			{&c.maxAuthorizationCode, s.MaxAuthorizationCodeLifetime},
			{&c.maxDeviceCode, s.MaxDeviceCodeLifetime},
		} {
			if m.max != nil && (m.l.by == "" || m.max.Duration < m.l.value) {
				*m.l = limit[time.Duration]{value: m.max.Duration, by: p.Name}
			}
		}
		if s.PKCE == oauthv1alpha1.PKCERequired && c.pkceRequired == "" {
			c.pkceRequired = p.Name
		}
		if s.PushedAuthorizationRequests == oauthv1alpha1.PushedAuthorizationRequestsRequired && c.parRequired == "" {
			c.parRequired = p.Name
		}
		if s.DPoP == oauthv1alpha1.DPoPRequired && c.dpopRequired == "" {
			c.dpopRequired = p.Name
		}
		if s.DPoPNonce == oauthv1alpha1.DPoPNonceRequired && c.dpopNonceRequired == "" {
			c.dpopNonceRequired = p.Name
		}
	}
	return c
}

// errorProfileOrder is the order in which a capped GrantPolicy gets an
// allowed error profile.
var errorProfileOrder = []oauthv1alpha1.ErrorProfile{oauthv1alpha1.ErrorProfileExtended, oauthv1alpha1.ErrorProfileRFC}

// GrantPolicy fields a Cut names.
const (
	FieldAllowedGrantTypes           = "allowedGrantTypes"
	FieldAccessTokenLifetime         = "accessTokenLifetime"
	FieldRefreshTokenLifetime        = "refreshTokenLifetime"
	FieldAuthorizationCodeLifetime   = "authorizationCodeLifetime"
	FieldDeviceCodeLifetime          = "deviceCodeLifetime"
	FieldPKCE                        = "pkce"
	FieldPushedAuthorizationRequests = "pushedAuthorizationRequests"
	FieldDPoP                        = "dpop"
	FieldDPoPNonce                   = "dpopNonce"
	FieldErrorProfile                = "errorProfile"
)

// Cut is one thing a ClusterGrantPolicy took from a GrantPolicy: a grant
// type removed (From), or a value lowered or changed from From to To.
type Cut struct {
	Field    string
	From, To string
	// Policy names the ClusterGrantPolicy.
	Policy string
}

// String says what was cut and by which ClusterGrantPolicy.
func (c Cut) String() string {
	switch c.Field {
	case FieldAllowedGrantTypes:
		return fmt.Sprintf("%s: %s removed by ClusterGrantPolicy %s", c.Field, c.From, c.Policy)
	case FieldPKCE, FieldPushedAuthorizationRequests, FieldDPoP, FieldDPoPNonce, FieldErrorProfile:
		return fmt.Sprintf("%s %s changed to %s by ClusterGrantPolicy %s", c.Field, c.From, c.To, c.Policy)
	}
	return fmt.Sprintf("%s %s capped to %s by ClusterGrantPolicy %s", c.Field, c.From, c.To, c.Policy)
}

// Cuts render as one sentence: "a; b; c".
type Cuts []Cut

func (cs Cuts) String() string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return strings.Join(parts, "; ")
}

// removedGrantType names the ClusterGrantPolicy that removed grant type g,
// or "".
func (cs Cuts) removedGrantType(g oauthv1alpha1.GrantType) string {
	for _, c := range cs {
		if c.Field == FieldAllowedGrantTypes && c.From == string(g) {
			return c.Policy
		}
	}
	return ""
}

// Policies are the ClusterGrantPolicies named by the cuts, without
// repeats, in order.
func (cs Cuts) Policies() []string {
	var out []string
	for _, c := range cs {
		if !slices.Contains(out, c.Policy) {
			out = append(out, c.Policy)
		}
	}
	return out
}

// Cap returns spec, with the built-in defaults filled in, within the
// ceiling, and the cuts that took: grant types the ceiling does not allow
// removed, lifetimes lowered to the maxima (and the access token lifetime
// to the refresh token lifetime, which it may not exceed), PKCE, pushed
// authorization requests, DPoP and DPoP nonces required, and an error
// profile outside the allowed ones replaced by the first allowed in the
// order Extended, RFC (RFC when the ClusterGrantPolicies leave none).
// Capping never fails: the capped spec compiles whenever spec
// does. spec is not modified.
func (c Ceiling) Cap(spec oauthv1alpha1.GrantPolicySpec) (oauthv1alpha1.GrantPolicySpec, Cuts) {
	spec = withDefaults(spec)
	var cuts Cuts

	allowed := make([]oauthv1alpha1.GrantType, 0, len(spec.AllowedGrantTypes))
	for _, g := range spec.AllowedGrantTypes {
		if by, refused := c.refusedGrantTypes[g]; refused {
			cuts = append(cuts, Cut{Field: FieldAllowedGrantTypes, From: string(g), Policy: by})
			continue
		}
		allowed = append(allowed, g)
	}
	spec.AllowedGrantTypes = allowed

	for _, d := range []struct {
		field string
		v     **metav1.Duration
		max   limit[time.Duration]
	}{
		{FieldAccessTokenLifetime, &spec.AccessTokenLifetime, c.maxAccessToken},
		{FieldRefreshTokenLifetime, &spec.RefreshTokenLifetime, c.maxRefreshToken},
		{FieldAuthorizationCodeLifetime, &spec.AuthorizationCodeLifetime, c.maxAuthorizationCode},
		{FieldDeviceCodeLifetime, &spec.DeviceCodeLifetime, c.maxDeviceCode},
	} {
		if d.max.by != "" && (*d.v).Duration > d.max.value {
			cuts = append(cuts, Cut{Field: d.field, From: shortDuration((*d.v).Duration), To: shortDuration(d.max.value), Policy: d.max.by})
			*d.v = &metav1.Duration{Duration: d.max.value}
		}
	}
	if spec.AccessTokenLifetime.Duration > spec.RefreshTokenLifetime.Duration && slices.ContainsFunc(cuts, func(c Cut) bool { return c.Field == FieldRefreshTokenLifetime }) {
		cuts = append(cuts, Cut{Field: FieldAccessTokenLifetime, From: shortDuration(spec.AccessTokenLifetime.Duration),
			To: shortDuration(spec.RefreshTokenLifetime.Duration), Policy: c.maxRefreshToken.by})
		spec.AccessTokenLifetime = &metav1.Duration{Duration: spec.RefreshTokenLifetime.Duration}
	}

	if c.pkceRequired != "" && spec.PKCE != oauthv1alpha1.PKCERequired {
		cuts = append(cuts, Cut{Field: FieldPKCE, From: string(spec.PKCE), To: string(oauthv1alpha1.PKCERequired), Policy: c.pkceRequired})
		spec.PKCE = oauthv1alpha1.PKCERequired
	}
	if c.parRequired != "" && spec.PushedAuthorizationRequests != oauthv1alpha1.PushedAuthorizationRequestsRequired {
		cuts = append(cuts, Cut{Field: FieldPushedAuthorizationRequests, From: string(spec.PushedAuthorizationRequests),
			To: string(oauthv1alpha1.PushedAuthorizationRequestsRequired), Policy: c.parRequired})
		spec.PushedAuthorizationRequests = oauthv1alpha1.PushedAuthorizationRequestsRequired
	}
	if c.dpopRequired != "" && spec.DPoP != oauthv1alpha1.DPoPRequired {
		cuts = append(cuts, Cut{Field: FieldDPoP, From: string(spec.DPoP), To: string(oauthv1alpha1.DPoPRequired), Policy: c.dpopRequired})
		spec.DPoP = oauthv1alpha1.DPoPRequired
	}
	if c.dpopNonceRequired != "" && spec.DPoPNonce != oauthv1alpha1.DPoPNonceRequired {
		cuts = append(cuts, Cut{Field: FieldDPoPNonce, From: string(spec.DPoPNonce), To: string(oauthv1alpha1.DPoPNonceRequired),
			Policy: c.dpopNonceRequired})
		spec.DPoPNonce = oauthv1alpha1.DPoPNonceRequired
	}

	if by, refused := c.refusedProfiles[spec.ErrorProfile]; refused {
		to := oauthv1alpha1.ErrorProfileRFC
		for _, e := range errorProfileOrder {
			if _, no := c.refusedProfiles[e]; !no {
				to = e
				break
			}
		}
		if to != spec.ErrorProfile {
			cuts = append(cuts, Cut{Field: FieldErrorProfile, From: string(spec.ErrorProfile), To: string(to), Policy: by})
			spec.ErrorProfile = to
		}
	}
	return spec, cuts
}

// shortDuration renders d as a person writes it: 24h, 1h30m, 90s as 1m30s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// grantsCover says whether any clientIDs grant of policies, overlapping or
// not, covers client ID id: a change of those policies may change who
// owns it.
func grantsCover(policies []oauthv1alpha1.ClusterGrantPolicy, id string) bool {
	for _, p := range policies {
		for _, g := range p.Spec.ClientIDs {
			if slices.Contains(g.IDs, id) || slices.ContainsFunc(g.Prefixes, func(prefix string) bool { return strings.HasPrefix(id, prefix) }) {
				return true
			}
		}
	}
	return false
}
