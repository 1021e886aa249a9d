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

// Package registry holds the compiled snapshot in memory: an immutable
// [Registry] built from snapshot documents, swapped atomically in a [Holder]
// by a loader (a watch of labelled Secrets in Kubernetes, or a directory of
// documents for tests and local runs). Requests read the current Registry
// once and use it to the end, so a swap never mixes two snapshots in one
// request.
package registry

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/snapshot"
)

// Entry is one document with the name of where it came from (a Secret's
// namespace/name or a file name), for logs.
type Entry struct {
	Origin   string
	Document snapshot.Document
}

// Client is an effective client with lookups prepared. Its Secrets and
// JWKS are dropped once decoded: SecretDigests and PublicKeys serve them.
type Client struct {
	snapshot.Client
	Source  snapshot.Source
	digests []digest
	// keys are the parsed JWKS of a private_key_jwt client.
	keys []jose.JSONWebKey
	// origin is the Origin of the client's document: of two documents
	// claiming one client ID, the smaller origin is served.
	origin string
	// memo is the client under the last policy document it was served
	// under (see Client.under): the only thing of a published Registry
	// that is written, atomically, and never seen as anything but a cache.
	memo atomic.Pointer[Client]
	// underPolicy is, for a client served under its policy document (a
	// memo), that document.
	underPolicy *Policy
}

// PublicKeys returns the public keys of a private_key_jwt client (nil for
// the other methods).
func (c *Client) PublicKeys() []jose.JSONWebKey { return c.keys }

type digest struct {
	sum      [sha256.Size]byte
	notAfter *time.Time
}

// Profile returns the client's error profile.
func (c *Client) Profile() oautherr.Profile {
	p, err := oautherr.ParseProfile(c.Policy.ErrorProfile)
	if err != nil {
		return oautherr.Extended
	}
	return p
}

// Public reports whether the client is a public client (no secret).
func (c *Client) Public() bool { return c.Type == snapshot.ClientPublic }

// AllowsGrant reports whether the grant type is effective for the client.
// A client has a handful of grant types and scopes: a linear search is as
// fast as a map and costs no memory per client (10,000 clients).
func (c *Client) AllowsGrant(g string) bool { return slices.Contains(c.GrantTypes, g) }

// AllowsScope reports whether the scope is effective for the client.
func (c *Client) AllowsScope(s string) bool { return slices.Contains(c.Scopes, s) }

// Resource returns the resource (RFC 8707) a ResourceServer grants the
// client for the audience aud.
func (c *Client) Resource(aud string) (*snapshot.Resource, bool) {
	for i := range c.Resources {
		if c.Resources[i].Audience == aud {
			return &c.Resources[i], true
		}
	}
	return nil, false
}

// grantedAudiences are the client's default audiences that are also among
// its resources: the server never puts an audience into a token that no
// ResourceServer grants the client, even when a document (of an older
// manager, or a wrong one) lists it.
func grantedAudiences(c *snapshot.Client) []string {
	var out []string
	for _, a := range c.Audiences {
		if slices.ContainsFunc(c.Resources, func(r snapshot.Resource) bool { return r.Audience == a }) {
			out = append(out, a)
		}
	}
	return out
}

// SecretDigests returns the SHA-256 digests of the client's secrets that are
// valid at now (a rotated-out secret stops at its NotAfter).
func (c *Client) SecretDigests(now time.Time) [][]byte { return validDigests(c.digests, now) }

// validDigests returns the digests valid at now.
func validDigests(ds []digest, now time.Time) [][]byte {
	var out [][]byte
	for i := range ds {
		if d := &ds[i]; d.notAfter == nil || now.Before(*d.notAfter) {
			out = append(out, d.sum[:])
		}
	}
	return out
}

// decodeDigests decodes the hex SHA-256 digests of a document's secrets.
func decodeDigests(secrets []snapshot.SecretDigest) ([]digest, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	out := make([]digest, len(secrets))
	for i, s := range secrets {
		// Validate has checked the length; decoding a longer one would
		// not fit the array.
		if len(s.SHA256) != 2*sha256.Size {
			return nil, errors.New("secret digest is not a hex SHA-256 digest")
		}
		if _, err := hex.Decode(out[i].sum[:], []byte(s.SHA256)); err != nil {
			return nil, errors.New("secret digest is not hex")
		}
		out[i].notAfter = s.NotAfter
	}
	return out, nil
}

// ResourceServer is an API that owns its audience, with its introspection
// credentials prepared.
type ResourceServer struct {
	snapshot.ResourceServer
	Source  snapshot.Source
	digests []digest
}

// SecretDigests returns the SHA-256 digests of the ResourceServer's secrets
// that are valid at now.
func (rs *ResourceServer) SecretDigests(now time.Time) [][]byte { return validDigests(rs.digests, now) }

// PARRequired reports whether authorization requests must be pushed first
// (RFC 9126).
func (c *Client) PARRequired() bool {
	return c.Policy.PushedAuthorizationRequests == snapshot.PARRequired
}

// PKCERequired reports whether authorization requests need a code challenge.
func (c *Client) PKCERequired() bool { return c.Public() || c.Policy.PKCE == snapshot.PKCERequired }

// DPoPRequired reports whether every token request of the client must carry
// a DPoP proof (RFC 9449): its policy says Required, or the client asks for
// DPoP-bound access tokens (dpopBoundAccessTokens).
func (c *Client) DPoPRequired() bool {
	return c.DPoPBoundAccessTokens || c.Policy.DPoP == snapshot.DPoPRequired
}

// DPoPNonceRequired reports whether the client's DPoP proofs must carry a
// nonce this server issued (RFC 9449 §8).
func (c *Client) DPoPNonceRequired() bool { return c.Policy.DPoPNonce == snapshot.DPoPNonceRequired }

// RotatesRefreshTokens reports whether every refresh returns a new refresh
// token and retires the old one: under policy Rotate, and for a Public
// client whatever its policy says (RFC 9700 §2.2.2, §4.14.2). The controller
// compiles Rotate for Public clients; this holds even for a snapshot that
// does not.
func (c *Client) RotatesRefreshTokens() bool {
	return c.Public() || c.Policy.RefreshTokenRotation != snapshot.RotationReuse
}

// Seconds converts a policy value in seconds to a Duration.
func Seconds(s int64) time.Duration { return time.Duration(s) * time.Second }

// Account is an account that can log in.
type Account struct {
	snapshot.Account
	Source snapshot.Source
	// sessionBinding and grantBinding are computed once, when the document
	// is prepared (see newAccount).
	sessionBinding, grantBinding string
}

// newAccount prepares an account document: its bindings.
func newAccount(a snapshot.Account, src snapshot.Source) *Account {
	epoch := strconv.FormatInt(a.DisabledCount, 10)
	return &Account{Account: a, Source: src,
		sessionBinding: binding("session", src.UID, epoch, a.PasswordBcrypt),
		grantBinding:   binding("grant", src.UID, epoch)}
}

// binding is a short fingerprint of the parts (unambiguous: each is
// length-prefixed).
func binding(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// SessionBinding fingerprints what a login session depends on: the Account
// object (its UID: a deleted and recreated account is another one), its
// password hash (a changed password ends sessions) and its DisabledCount
// (re-enabling does not bring back sessions that disabling ended). A
// session stored with another binding is refused.
func (a *Account) SessionBinding() string { return a.sessionBinding }

// GrantBinding fingerprints what a refresh token family depends on: the
// Account object's UID and its DisabledCount (not the password: changing a
// password leaves refresh tokens valid, see docs/security.md).
func (a *Account) GrantBinding() string { return a.grantBinding }

// Key is a parsed signing key: key material only (package tokens signs and
// verifies with it).
type Key struct {
	ID           string
	Private      *ecdsa.PrivateKey
	PublishFrom  time.Time
	SignFrom     time.Time
	SignUntil    time.Time
	PublishUntil time.Time
}

func newKey(k snapshot.Key) (*Key, error) {
	priv, err := k.PrivateKey()
	if err != nil {
		return nil, err
	}
	return &Key{ID: k.ID, Private: priv, PublishFrom: k.PublishFrom, SignFrom: k.SignFrom, SignUntil: k.SignUntil,
		PublishUntil: k.PublishUntil}, nil
}

// Public returns the key's public JWK.
func (k *Key) Public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.Private.PublicKey, KeyID: k.ID, Algorithm: string(jose.ES256), Use: "sig"}
}

// Registry is one immutable compiled snapshot. The zero value is an empty
// registry (no clients, no accounts, no keys, no resource servers).
//
// A Registry shares with the previous one what did not change (see
// assembler): its clients are sharded, so that a change to one client
// copies one shard's map and the table of shards, never all the clients;
// its other maps are few and shared whole until one of their documents
// changes. Nothing a published Registry holds is ever written again, but
// the clients' memos of their policy documents (see Client.under).
type Registry struct {
	clients  *clientShards       // nil when there are no clients
	accounts map[string]*Account // namespace + "/" + username
	subjects map[string]*Account
	keys     []*Key
	// resourceServers by ID (rs/<namespace>/<name>) and by audience.
	resourceServers map[string]*ResourceServer
	audiences       map[string]*ResourceServer
	// policies are the GrantPolicy documents by their source's UID.
	policies map[string]*Policy
	// Documents is how many documents were loaded; Skipped how many were
	// refused (logged). A client document that is loaded counts as loaded
	// even while its client is served as absent (no usable grant, see
	// Client): whether it is depends on its policy document, and counting
	// would take a walk of the clients at each policy change.
	Documents, Skipped int
}

// clientShardCount is the number of shards of a Registry's clients: at
// 100,000 clients a shard holds about 100, and a rebuild after one change
// copies those and the 8 KiB table of shards.
const clientShardCount = 1024

// clientShards are the clients of a Registry by client ID, in the shard
// of the ID's hash.
type clientShards [clientShardCount]map[string]*Client

// shardSeed seeds the shards' hash, unpredictable from outside so that
// no set of client IDs can be chosen to fill one shard.
var shardSeed = maphash.MakeSeed()

// clientShard is the shard of a client ID.
func clientShard(id string) int {
	return int(maphash.String(shardSeed, id) % clientShardCount)
}

// Client returns a client by client_id, as it is served: under the policy
// document it names, if the Registry has that one (a [Policy] of the
// client's namespace with the UID and name the client was compiled
// under), else as compiled. A client without a usable grant (see
// [snapshot.Client.Usable]) is served as absent: every request that names
// it gets invalid_client, as for an unknown client ID. Every request finds
// its client here.
func (r *Registry) Client(id string) (*Client, bool) {
	c, ok := r.entry(id)
	if !ok {
		return nil, false
	}
	c = r.served(c)
	if !c.Usable() {
		return nil, false
	}
	return c, true
}

// entry returns the client a document compiled, by client_id: the one
// that claims the ID, as compiled, usable or not.
func (r *Registry) entry(id string) (*Client, bool) {
	if r.clients == nil {
		return nil, false
	}
	c, ok := r.clients[clientShard(id)][id]
	return c, ok
}

// ResourceServer returns a ResourceServer by its ID (rs/<namespace>/<name>).
func (r *Registry) ResourceServer(id string) (*ResourceServer, bool) {
	rs, ok := r.resourceServers[id]
	return rs, ok
}

// Known reports whether id is a served client's ID (see Client) or a
// ResourceServer's ID.
func (r *Registry) Known(id string) bool {
	if _, ok := r.Client(id); ok {
		return true
	}
	_, ok := r.resourceServers[id]
	return ok
}

// ResourceServerByAudience returns the ResourceServer that owns an audience.
func (r *Registry) ResourceServerByAudience(aud string) (*ResourceServer, bool) {
	rs, ok := r.audiences[aud]
	return rs, ok
}

// Account returns the account of a namespace with that username.
func (r *Registry) Account(namespace, username string) (*Account, bool) {
	a, ok := r.accounts[namespace+"/"+username]
	return a, ok
}

// AccountBySubject returns an account by its sub claim.
func (r *Registry) AccountBySubject(sub string) (*Account, bool) {
	a, ok := r.subjects[sub]
	return a, ok
}

// SigningKey returns the key that signs at now: of the keys whose signing
// window holds now, the one that started signing last.
func (r *Registry) SigningKey(now time.Time) (*Key, bool) {
	var best *Key
	for _, k := range r.keys {
		if !now.Before(k.SignFrom) && now.Before(k.SignUntil) && (best == nil || k.SignFrom.After(best.SignFrom)) {
			best = k
		}
	}
	return best, best != nil
}

// PublishedKeys returns the keys published (in JWKS, and accepted when
// verifying tokens) at now.
func (r *Registry) PublishedKeys(now time.Time) []*Key {
	var out []*Key
	for _, k := range r.keys {
		if !now.Before(k.PublishFrom) && now.Before(k.PublishUntil) {
			out = append(out, k)
		}
	}
	return out
}

// Build compiles documents into a Registry. A document that cannot be used
// (a client ID or account username that another document already claims,
// an unparsable key) is logged and skipped; the rest still load. Documents
// are taken in Origin order, so conflicts resolve the same way every time.
func Build(entries []Entry, log *slog.Logger) *Registry {
	items := make([]*Prepared, 0, len(entries))
	for _, e := range entries {
		items = append(items, Prepare(e))
	}
	return Assemble(items, log)
}

// Prepared is one document made ready for a Registry: validated, with its
// client's secret digests decoded or its keys parsed. It is immutable, so a
// loader prepares each document once, when it arrives, and assembles every
// later Registry from the prepared documents: a rebuild after one change
// among 100,000 clients costs that change (see assembler and
// docs/benchmarks.md). Keys are shared by the registries assembled from the
// same key set document, and so is what they remember of verified tokens.
type Prepared struct {
	Origin string
	// client is set for a usable client document, the many: one costs
	// its Client and this struct of four words.
	client *Client
	// other is set for any other document, and for one that cannot be
	// used.
	other *otherDoc
}

// otherDoc is a prepared document that is not a usable client.
type otherDoc struct {
	source  snapshot.Source
	kind    snapshot.Kind
	account *Account
	keys    []*Key
	rs      *ResourceServer
	policy  *Policy
	err     error
}

// Err is why the document cannot be used, or nil.
func (p *Prepared) Err() error {
	if p.other != nil {
		return p.other.err
	}
	return nil
}

// source is the object the document was compiled from.
func (p *Prepared) source() snapshot.Source {
	if p.client != nil {
		return p.client.Source
	}
	return p.other.source
}

// Prepare validates a document and builds what a Registry holds of it.
func Prepare(e Entry) *Prepared {
	d := e.Document
	p := &Prepared{Origin: e.Origin}
	fail := func(err error) *Prepared {
		p.client, p.other = nil, &otherDoc{source: d.Source, kind: d.Kind, err: err}
		return p
	}
	if err := d.Validate(); err != nil {
		return fail(err)
	}
	if d.Kind == snapshot.KindClient {
		c := d.Client
		ds, err := decodeDigests(c.Secrets)
		if err != nil {
			return fail(fmt.Errorf("client %q: %w", c.ID, err))
		}
		cl := &Client{Client: *c, Source: d.Source, digests: ds, origin: e.Origin}
		if c.TokenEndpointAuthMethod == snapshot.AuthPrivateKeyJWT {
			if cl.keys, err = snapshot.ParseJWKS(c.JWKS); err != nil {
				return fail(fmt.Errorf("client %q: jwks: %w", c.ID, err))
			}
		}
		cl.Audiences = grantedAudiences(c)
		// What was decoded is not kept twice.
		cl.Secrets, cl.JWKS = nil, nil
		shared.client(&cl.Client, &cl.Source)
		p.client = cl
		return p
	}
	o := &otherDoc{source: d.Source, kind: d.Kind}
	p.other = o
	switch d.Kind {
	case snapshot.KindResourceServer:
		rs := d.ResourceServer
		ds, err := decodeDigests(rs.Secrets)
		if err != nil {
			return fail(fmt.Errorf("resource server %q: %w", rs.ID, err))
		}
		o.rs = &ResourceServer{ResourceServer: *rs, Source: d.Source, digests: ds}
	case snapshot.KindAccount:
		o.account = newAccount(*d.Account, d.Source)
	case snapshot.KindPolicy:
		o.policy = &Policy{GrantPolicy: *d.GrantPolicy, Source: d.Source}
	case snapshot.KindKeySet:
		for _, k := range d.KeySet.Keys {
			key, err := newKey(k)
			if err != nil {
				return fail(fmt.Errorf("key %s: %w", k.ID, err))
			}
			for _, have := range o.keys {
				if have.ID == k.ID {
					return fail(fmt.Errorf("key ID %q appears twice in the key set", k.ID))
				}
			}
			o.keys = append(o.keys, key)
		}
	}
	return p
}

// Assemble builds a Registry from prepared documents, in Origin order; a
// document that cannot be used, or that claims what an earlier one claimed,
// is logged and skipped.
func Assemble(items []*Prepared, log *slog.Logger) *Registry {
	items = slices.Clone(items)
	slices.SortFunc(items, func(a, b *Prepared) int { return cmp.Compare(a.Origin, b.Origin) })
	return assembleSorted(items, log)
}

// assembleSorted is Assemble for items already in Origin order: the whole
// build, which the assembler's rebuilds must agree with.
func assembleSorted(items []*Prepared, log *slog.Logger) *Registry {
	r := &Registry{}
	r.clearOthers()
	r.clearPolicies()
	clients := 0
	for _, p := range items {
		if p.client != nil {
			clients++
		}
	}
	for _, p := range items {
		var err error
		if c := p.client; c != nil {
			err = r.addClient(c, clients/clientShardCount)
		} else {
			err = r.addOther(p.other)
		}
		if err != nil {
			r.Skipped++
			logSkipped(log, p, err)
			continue
		}
		r.Documents++
	}
	return r
}

// logSkipped logs a document that is skipped.
func logSkipped(log *slog.Logger, p *Prepared, err error) {
	src := p.source()
	log.Error("snapshot document skipped", "origin", p.Origin, "sourceKind", src.Kind,
		"sourceNamespace", src.Namespace, "sourceName", src.Name, "error", err)
}

// errClientTaken is why a client document that claims a served client ID
// is skipped.
func errClientTaken(id string) error {
	return fmt.Errorf("client ID %q is already taken by another document", id)
}

// errPolicyTaken is why a policy document that claims a served policy
// UID is skipped.
func errPolicyTaken(uid string) error {
	return fmt.Errorf("GrantPolicy UID %q is already taken by another document", uid)
}

// addClient adds a client to a Registry being built, in new shards of
// about perShard clients, unless its ID is taken.
func (r *Registry) addClient(c *Client, perShard int) error {
	if r.clients == nil {
		r.clients = new(clientShards)
	}
	i := clientShard(c.ID)
	m := r.clients[i]
	if m == nil {
		m = make(map[string]*Client, perShard)
		r.clients[i] = m
	}
	if _, dup := m[c.ID]; dup {
		return errClientTaken(c.ID)
	}
	m[c.ID] = c
	return nil
}

// clearOthers gives a Registry being built new, empty maps of accounts
// and resource servers, and no keys.
func (r *Registry) clearOthers() {
	r.accounts, r.subjects = map[string]*Account{}, map[string]*Account{}
	r.resourceServers, r.audiences = map[string]*ResourceServer{}, map[string]*ResourceServer{}
	r.keys = nil
}

// clearPolicies gives a Registry being built a new, empty map of policy
// documents.
func (r *Registry) clearPolicies() { r.policies = map[string]*Policy{} }

// addOther adds a document other than a client to a Registry being built,
// unless it cannot be used or claims what is taken.
func (r *Registry) addOther(o *otherDoc) error {
	if o.err != nil {
		return o.err
	}
	switch o.kind {
	case snapshot.KindAccount:
		a := o.account
		key := a.Namespace + "/" + a.Username
		if _, dup := r.accounts[key]; dup {
			return fmt.Errorf("username %q in namespace %q is already taken by another document", a.Username, a.Namespace)
		}
		if _, dup := r.subjects[a.Subject]; dup {
			return fmt.Errorf("subject %q is already taken by another document", a.Subject)
		}
		r.accounts[key] = a
		r.subjects[a.Subject] = a
	case snapshot.KindKeySet:
		for _, k := range o.keys {
			for _, have := range r.keys {
				if have.ID == k.ID {
					return fmt.Errorf("key ID %q is already taken by another document", k.ID)
				}
			}
		}
		r.keys = append(r.keys, o.keys...)
	case snapshot.KindResourceServer:
		rs := o.rs
		if _, dup := r.resourceServers[rs.ID]; dup {
			return fmt.Errorf("resource server ID %q is already taken by another document", rs.ID)
		}
		if _, dup := r.audiences[rs.Audience]; dup {
			return fmt.Errorf("audience %q is already owned by another document", rs.Audience)
		}
		r.resourceServers[rs.ID] = rs
		r.audiences[rs.Audience] = rs
	case snapshot.KindPolicy:
		p := o.policy
		if _, dup := r.policies[p.Source.UID]; dup {
			return errPolicyTaken(p.Source.UID)
		}
		r.policies[p.Source.UID] = p
	}
	return nil
}

// Holder holds the current Registry. Loaders store into it; request handlers
// read it. It starts empty and not ready.
type Holder struct {
	current atomic.Pointer[Registry]
	ready   atomic.Bool
	onBuild atomic.Pointer[func(time.Duration)]
}

// NewHolder returns a Holder with an empty registry.
func NewHolder() *Holder {
	h := &Holder{}
	h.current.Store(Build(nil, slog.New(slog.DiscardHandler)))
	return h
}

// Current returns the current registry (never nil).
func (h *Holder) Current() *Registry { return h.current.Load() }

// Store swaps in a new registry.
func (h *Holder) Store(r *Registry) { h.current.Store(r) }

// OnBuild sets the function told how long each rebuild took (the
// authops_authserver_registry_build_seconds histogram); nil tells no one.
func (h *Holder) OnBuild(f func(time.Duration)) { h.onBuild.Store(&f) }

// observeBuild tells the OnBuild function how long a rebuild took.
func (h *Holder) observeBuild(d time.Duration) {
	if f := h.onBuild.Load(); f != nil && *f != nil {
		(*f)(d)
	}
}

// MarkReady records that a first full sync has been stored.
func (h *Holder) MarkReady() { h.ready.Store(true) }

// Ready reports whether a first full sync has been stored.
func (h *Holder) Ready() bool { return h.ready.Load() }
