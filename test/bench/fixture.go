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

package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the store's driver, for the bulk preparation of codes

	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/authserver/store"
)

// The benchmark's clients and account. The secret is the floor's, so both
// servers get byte-identical client_credentials requests.
const (
	ClientCC     = "bench"
	ClientWeb    = "bench-web"
	ClientDevice = "bench-device"
	// ClientFlooded is the target of the bad-secret flood: the server's
	// failed-authentication limiter counts per (client, source address), so
	// flooding ClientCC would throttle the other workloads.
	ClientFlooded = "bench-flooded"
	Secret        = "benchsecret"
	Namespace     = "bench"
	Username      = "alice"
	Subject       = Namespace + "/" + Username
	RedirectURI   = "http://127.0.0.1/callback"
	// Verifier is the PKCE code_verifier of every prepared code.
	Verifier = "bench-verifier-0123456789-0123456789-0123456789"
)

func policy() snapshot.Policy {
	return snapshot.Policy{Name: "bench", PKCE: "Optional", Consent: "Auto", ErrorProfile: "Extended",
		RefreshTokenRotation: "Rotate", AccessTokenLifetimeSeconds: 3600, RefreshTokenLifetimeSeconds: 86400,
		AuthorizationCodeLifetimeSeconds: 600, DeviceCodeLifetimeSeconds: 600, DevicePollIntervalSeconds: 1,
		LockoutMaxFailedAttempts: 5, LockoutWindowSeconds: 300, LockoutDurationSeconds: 300}
}

func digest(secret string) snapshot.SecretDigest {
	d := sha256.Sum256([]byte(secret))
	return snapshot.SecretDigest{SHA256: hex.EncodeToString(d[:])}
}

func clientDoc(c snapshot.Client) snapshot.Document {
	c.Namespace = Namespace
	c.Policy = policy()
	return snapshot.Document{Kind: snapshot.KindClient, Client: &c,
		Source: snapshot.Source{Kind: "OAuthClient", Namespace: Namespace, Name: c.ID, UID: "uid-" + c.ID, Generation: 1}}
}

// Documents returns the snapshot the benchmark serves: a signing key set,
// one account, a client_credentials client, a web client (authorization
// code and refresh with rotation), a device client, and extra filler
// clients (so the registry has a realistic size).
func Documents(extraClients int) ([]snapshot.Document, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pemKey, err := snapshot.EncodePrivateKey(k)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	docs := []snapshot.Document{
		{Kind: snapshot.KindKeySet, Source: snapshot.Source{Kind: "Secret", Name: snapshot.KeySetSecretName, UID: "keys"},
			KeySet: &snapshot.KeySet{Keys: []snapshot.Key{{ID: "k1", Algorithm: "ES256", PrivateKeyPEM: pemKey,
				PublishFrom: now.Add(-time.Hour), SignFrom: now.Add(-time.Hour), SignUntil: now.Add(48 * time.Hour),
				PublishUntil: now.Add(72 * time.Hour)}}}},
		{Kind: snapshot.KindAccount, Source: snapshot.Source{Kind: "Account", Namespace: Namespace, Name: Username, UID: "uid-alice"},
			// No password: the benchmark never logs in (codes are prepared in the store).
			Account: &snapshot.Account{Subject: Subject, Namespace: Namespace, Username: Username}},
		clientDoc(snapshot.Client{ID: ClientCC, Type: "Confidential", TokenEndpointAuthMethod: "client_secret_basic",
			Secrets: []snapshot.SecretDigest{digest(Secret)}, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"read"}, DefaultScopes: []string{"read"}, Audiences: []string{"api"},
			Resources: []snapshot.Resource{{Audience: "api"}}}),
		clientDoc(snapshot.Client{ID: ClientFlooded, Type: "Confidential", TokenEndpointAuthMethod: "client_secret_basic",
			Secrets: []snapshot.SecretDigest{digest(Secret)}, GrantTypes: []string{"client_credentials"},
			Scopes: []string{"read"}, DefaultScopes: []string{"read"}, Audiences: []string{"api"},
			Resources: []snapshot.Resource{{Audience: "api"}}}),
		clientDoc(snapshot.Client{ID: ClientWeb, Type: "Confidential", TokenEndpointAuthMethod: "client_secret_basic",
			Secrets: []snapshot.SecretDigest{digest(Secret)}, RedirectURIs: []string{RedirectURI},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "read"}}),
		clientDoc(snapshot.Client{ID: ClientDevice, Type: "Public", TokenEndpointAuthMethod: "none",
			GrantTypes: []string{"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"}, Scopes: []string{"read"}}),
	}
	for i := range extraClients {
		id := fmt.Sprintf("filler-%05d", i)
		docs = append(docs, clientDoc(snapshot.Client{ID: id, Type: "Confidential", TokenEndpointAuthMethod: "client_secret_basic",
			Secrets: []snapshot.SecretDigest{digest(id)}, GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}}))
	}
	return docs, nil
}

// WriteSnapshotDir writes docs as one JSON file each, for --snapshot-dir.
func WriteSnapshotDir(dir string, docs []snapshot.Document) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i, d := range docs {
		b, err := snapshot.Encode(d)
		if err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("doc-%05d.json", i)), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Prepared is the runtime state put into the store before the server
// starts.
type Prepared struct {
	Codes   []string // authorization codes of ClientWeb for Subject, PKCE S256 with Verifier
	Refresh []string // refresh tokens of ClientWeb, one family each
	Devices []string // pending device codes of ClientDevice
}

// PrepareStore creates the SQLite store at path (through the store package,
// so the schema is migrated) and fills it in one transaction each: the
// store's own API commits (and syncs) per record, far too slow for tens of
// thousands of codes.
func PrepareStore(ctx context.Context, path string, codes, refresh, devices int) (*Prepared, error) {
	st, err := store.OpenSQLite(ctx, path)
	if err != nil {
		return nil, err
	}
	p := &Prepared{}
	now := time.Now()
	for range refresh {
		raw := newSecret()
		if err := st.CreateRefreshToken(ctx, store.RefreshToken{Hash: store.HashToken(raw), FamilyID: store.NewID(),
			ClientID: ClientWeb, AccountID: Subject, Scopes: []string{"read"}, AuthTime: now,
			ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
			_ = st.Close()
			return nil, err
		}
		p.Refresh = append(p.Refresh, raw)
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=synchronous(OFF)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	sum := sha256.Sum256([]byte(Verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	ins, err := tx.PrepareContext(ctx, `INSERT INTO auth_codes (hash, client_id, redirect_uri,
		code_challenge, code_challenge_method, scopes, account_id, nonce, auth_time, extra,
		created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`)
	if err != nil {
		return nil, fmt.Errorf("the auth_codes schema changed? %w", err)
	}
	for range codes {
		raw := newSecret()
		h := store.HashToken(raw)
		if _, err := ins.ExecContext(ctx, h[:], ClientWeb, RedirectURI, challenge, "S256", "openid read", Subject, "",
			now.UnixMicro(), []byte(nil), now.UnixMicro(), now.Add(time.Hour).UnixMicro()); err != nil {
			return nil, err
		}
		p.Codes = append(p.Codes, raw)
	}
	dev, err := tx.PrepareContext(ctx, `INSERT INTO device_auths (device_hash, user_code, client_id,
		scopes, status, interval_seconds, created_at, expires_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7)`)
	if err != nil {
		return nil, fmt.Errorf("the device_auths schema changed? %w", err)
	}
	for i := range devices {
		raw := newSecret()
		h := store.HashToken(raw)
		if _, err := dev.ExecContext(ctx, h[:], fmt.Sprintf("BNCH%04X", i), ClientDevice, "read", 1,
			now.UnixMicro(), now.Add(time.Hour).UnixMicro()); err != nil {
			return nil, err
		}
		p.Devices = append(p.Devices, raw)
	}
	return p, tx.Commit()
}

func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
