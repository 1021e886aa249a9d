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
	"cmp"
	"log/slog"
	"maps"
	"slices"

	"github.com/authops/authops/authserver/snapshot"
)

// assembler builds each Registry from the previous one and the documents
// that changed since, so that a rebuild costs the changes, not the number
// of documents: at 100,000 clients a rebuild after one change copies one
// shard of about 100 clients and the table of shards, where assembling
// every document took tens of milliseconds and a second map of every
// client (see BenchmarkRebuildOneChange). It agrees with [Assemble] over
// the same documents: the same documents served, the same ones skipped,
// the same counts (TestAssemblerAgreesWithAssemble).
//
// Only one goroutine uses an assembler (the loader's rebuild).
type assembler struct {
	log *slog.Logger
	// cur is the last Registry built; apply changes next, its successor.
	cur *Registry

	// next is the table of shards of the next Registry: nil until a change
	// touches a client, then a copy of cur's table in which the touched
	// shards are copies too (cloned), so that cur never changes.
	next   *clientShards
	cloned [clientShardCount]bool
	// touched are the client IDs whose losers changed since the last
	// build, with their losers before (see reconcile). An ID that only one
	// document claims is never touched: the first sync does not walk
	// every client twice.
	touched map[string][]*Client

	// losers are, by client ID, the usable documents that claim a served
	// client ID and lose it to one of a smaller origin, in origin order.
	// The winner is the Registry's client; when it goes, the first loser
	// is served. An ID has losers only while two documents claim it.
	losers map[string][]*Client
	// clientSkips is, by origin, why each losing client document was
	// last logged as skipped: a document is logged when it becomes a
	// loser, not at every build.
	clientSkips       map[string]string
	nClients, nLosers int

	// others are the usable documents other than clients and policy
	// documents, by origin: accounts, resource servers and key sets are
	// few (an account or a resource server claims two keys, which a
	// document of a smaller origin may each take), so a change to one of
	// them assembles them all again, in origin order as Assemble does; a
	// change that touches only clients copies none of them.
	others      map[string]*otherDoc
	othersDirty bool
	// otherSkips is, by origin, why each other document is skipped (as
	// logged); nOthers how many are served.
	otherSkips map[string]string
	nOthers    int
	// invalid is, by origin, why each document that cannot be used is
	// skipped (as logged).
	invalid map[string]string

	// claims are, by UID, the usable policy documents claiming it, in
	// origin order: the first is served, the others are skipped. A policy
	// change costs its UID's claims and a copy of the map of served
	// policy documents, never the clients the policy governs (a client
	// finds its policy document when it is looked up, Registry.Client),
	// nor the other policy documents.
	claims map[string][]*Prepared
	// claimsTouched are the UIDs whose claims changed since the last
	// build, with their claims before.
	claimsTouched map[string][]*Prepared
	// policySkips is, by origin, why each losing policy document was last
	// logged as skipped; policyLosers how many lose.
	policySkips  map[string]string
	policyLosers int
}

func newAssembler(log *slog.Logger) *assembler {
	return &assembler{log: log, cur: &Registry{}, touched: map[string][]*Client{}, losers: map[string][]*Client{},
		clientSkips: map[string]string{}, others: map[string]*otherDoc{}, otherSkips: map[string]string{},
		invalid: map[string]string{}, claims: map[string][]*Prepared{}, claimsTouched: map[string][]*Prepared{},
		policySkips: map[string]string{}}
}

// apply records that one origin's document changed from before to after
// (nil: none); both have that origin. The change is served by the next
// build.
func (a *assembler) apply(before, after *Prepared) {
	if before == after {
		return
	}
	origin := cmp.Or(before, after).Origin
	if before != nil {
		switch {
		case before.client != nil:
			a.removeClient(before.client)
		case before.other.err != nil:
			// Logged again only if the new document is skipped for
			// another reason (below).
		case before.other.kind == snapshot.KindPolicy:
			a.removePolicy(before)
		default:
			delete(a.others, origin)
			a.othersDirty = true
		}
	}
	was, wasInvalid := a.invalid[origin]
	delete(a.invalid, origin)
	switch {
	case after == nil:
	case after.client != nil:
		a.addClient(after.client)
	case after.other.err != nil:
		why := after.other.err.Error()
		if !wasInvalid || was != why {
			logSkipped(a.log, after, after.other.err)
		}
		a.invalid[origin] = why
	case after.other.kind == snapshot.KindPolicy:
		a.addPolicy(after)
	default:
		a.others[origin] = after.other
		a.othersDirty = true
	}
}

// shard returns the shard of a client ID in the next Registry, copied
// from the current one on the first change.
func (a *assembler) shard(id string) map[string]*Client {
	if a.next == nil {
		a.next = new(clientShards)
		if a.cur.clients != nil {
			*a.next = *a.cur.clients
		}
	}
	i := clientShard(id)
	if !a.cloned[i] {
		if a.next[i] == nil {
			a.next[i] = map[string]*Client{}
		} else {
			a.next[i] = maps.Clone(a.next[i])
		}
		a.cloned[i] = true
	}
	return a.next[i]
}

// touch records that a client ID's losers change, with its losers before
// the first change (the lists are never changed in place).
func (a *assembler) touch(id string) {
	if _, ok := a.touched[id]; !ok {
		a.touched[id] = a.losers[id]
	}
}

// addClient serves a client document unless a document of a smaller
// origin claims its ID; the loser waits in losers.
func (a *assembler) addClient(c *Client) {
	m := a.shard(c.ID)
	w, ok := m[c.ID]
	if !ok {
		m[c.ID] = c
		a.nClients++
		return
	}
	a.touch(c.ID)
	if c.origin < w.origin {
		m[c.ID] = c
		c = w
	}
	l := a.losers[c.ID]
	i, _ := slices.BinarySearchFunc(l, c.origin, func(x *Client, o string) int { return cmp.Compare(x.origin, o) })
	a.losers[c.ID] = slices.Insert(slices.Clip(l), i, c)
	a.nLosers++
}

// removeClient withdraws a client document: the first loser of its ID,
// if any, is served in its place.
func (a *assembler) removeClient(c *Client) {
	m := a.shard(c.ID)
	l := a.losers[c.ID]
	if m[c.ID] == c && len(l) == 0 {
		delete(m, c.ID)
		a.nClients--
		return
	}
	a.touch(c.ID)
	if m[c.ID] == c {
		m[c.ID], l = l[0], l[1:]
	} else if i := slices.Index(l, c); i >= 0 {
		l = slices.Delete(slices.Clone(l), i, i+1)
	} else {
		return
	}
	a.nLosers--
	if len(l) == 0 {
		delete(a.losers, c.ID)
	} else {
		a.losers[c.ID] = l
	}
}

// build returns the Registry of every document applied so far, sharing
// with the previous one what did not change, and logs the documents that
// became skipped.
func (a *assembler) build() *Registry {
	r := &Registry{}
	*r = *a.cur
	if a.next != nil {
		r.clients = a.next
		a.next = nil
		clear(a.cloned[:])
	}
	a.reconcile()
	if a.othersDirty {
		a.assembleOthers(r)
	}
	if len(a.claimsTouched) > 0 {
		a.assemblePolicies(r)
	}
	r.Documents = a.nClients + a.nOthers + len(r.policies)
	r.Skipped = a.nLosers + len(a.otherSkips) + a.policyLosers + len(a.invalid)
	a.cur = r
	return r
}

// reconcile logs the client documents that lost their ID since the last
// build, once: a document that lost and won again within the changes of
// one build, or that still loses in a new version, is not logged again.
func (a *assembler) reconcile() {
	for id, before := range a.touched {
		now := a.losers[id]
		why := errClientTaken(id)
		for _, c := range now {
			if a.clientSkips[c.origin] != why.Error() {
				a.clientSkips[c.origin] = why.Error()
				logSkipped(a.log, &Prepared{Origin: c.origin, client: c}, why)
			}
		}
		for _, c := range before {
			lost := slices.ContainsFunc(now, func(x *Client) bool { return x.origin == c.origin })
			if !lost && a.clientSkips[c.origin] == why.Error() {
				delete(a.clientSkips, c.origin)
			}
		}
	}
	// A new map, not a cleared one: a cleared map keeps its size, which
	// every later build would walk.
	if len(a.touched) > 0 {
		a.touched = map[string][]*Client{}
	}
}

// assembleOthers gives r new maps of accounts and resource servers, and
// its keys, from the other documents in origin order.
func (a *assembler) assembleOthers(r *Registry) {
	r.clearOthers()
	skips := map[string]string{}
	a.nOthers = 0
	for _, origin := range slices.Sorted(maps.Keys(a.others)) {
		o := a.others[origin]
		if err := r.addOther(o); err != nil {
			skips[origin] = err.Error()
			if a.otherSkips[origin] != err.Error() {
				logSkipped(a.log, &Prepared{Origin: origin, other: o}, err)
			}
			continue
		}
		a.nOthers++
	}
	a.otherSkips = skips
	a.othersDirty = false
}

// addPolicy adds a usable policy document to the claims of its UID.
func (a *assembler) addPolicy(p *Prepared) {
	uid := p.other.policy.Source.UID
	a.touchPolicy(uid)
	l := a.claims[uid]
	i, _ := slices.BinarySearchFunc(l, p.Origin, func(x *Prepared, o string) int { return cmp.Compare(x.Origin, o) })
	a.claims[uid] = slices.Insert(slices.Clip(l), i, p)
}

// removePolicy withdraws a usable policy document from the claims of its
// UID.
func (a *assembler) removePolicy(p *Prepared) {
	uid := p.other.policy.Source.UID
	a.touchPolicy(uid)
	l := a.claims[uid]
	if i := slices.Index(l, p); i >= 0 {
		l = slices.Delete(slices.Clone(l), i, i+1)
	}
	if len(l) == 0 {
		delete(a.claims, uid)
	} else {
		a.claims[uid] = l
	}
}

// touchPolicy records that a UID's claims change, with its claims before
// the first change (the lists are never changed in place).
func (a *assembler) touchPolicy(uid string) {
	if _, ok := a.claimsTouched[uid]; !ok {
		a.claimsTouched[uid] = a.claims[uid]
	}
}

// assemblePolicies gives r a copy of the map of policy documents in which
// each touched UID is served by its first claim, and logs the documents
// that became skipped, once (as reconcile does for clients).
func (a *assembler) assemblePolicies(r *Registry) {
	if r.policies == nil {
		r.clearPolicies()
	} else {
		r.policies = maps.Clone(r.policies)
	}
	for uid, before := range a.claimsTouched {
		now := a.claims[uid]
		if len(now) == 0 {
			delete(r.policies, uid)
		} else {
			r.policies[uid] = now[0].other.policy
		}
		why := errPolicyTaken(uid).Error()
		for _, p := range losing(now) {
			if a.policySkips[p.Origin] != why {
				a.policySkips[p.Origin] = why
				logSkipped(a.log, p, errPolicyTaken(uid))
			}
		}
		for _, p := range losing(before) {
			lost := slices.ContainsFunc(losing(now), func(x *Prepared) bool { return x.Origin == p.Origin })
			if !lost && a.policySkips[p.Origin] == why {
				delete(a.policySkips, p.Origin)
			}
		}
		a.policyLosers += len(losing(now)) - len(losing(before))
	}
	a.claimsTouched = map[string][]*Prepared{}
}

// losing are the claims of a UID that lose it: all but the first.
func losing(claims []*Prepared) []*Prepared {
	if len(claims) == 0 {
		return nil
	}
	return claims[1:]
}
