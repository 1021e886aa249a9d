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

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authops/authops/test/stack"
)

const (
	rotationNS     = "rotation"
	rotationSecret = "rotation-secret-0123456789abcdefghijklm"
	// rotationWorkers request tokens at the same time during the forced
	// rotation.
	rotationWorkers = 4
	// rotationAfter is how many tokens signed by the new key the load
	// loop verifies before it stops.
	rotationAfter = 300
	// rotationMaxRequests bounds the load loop.
	rotationMaxRequests = 20000
	// rotationReplicaLag delays what the API server sends the second
	// replica, so that it loads the new key set well after the first.
	rotationReplicaLag = time.Second
)

// TestForcedKeyRotationUnderLoad: with two authserver replicas (the second
// lagging rotationReplicaLag), rotationWorkers workers request tokens
// (client_credentials) round robin from both replicas and verify each
// token's signature with go-oidc's RemoteKeySet against the other
// replica's JWKS, the way a resource server does (a cached JWKS, fetched
// again for an unknown kid). Meanwhile the signing key is rotated by
// annotating the key set Secret. No request and no verification may fail;
// tokens signed by the old key still verify after the rotation.
func TestForcedKeyRotationUnderLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	h := startWith(ctx, t, stack.Options{Namespaces: []string{rotationNS}})
	s := h.stack
	replicas := []*stack.Server{s.Authserver, h.startReplica(ctx, t, "authserver-2", rotationReplicaLag, nil)}
	h.waitServedLeases(ctx, t, 2)
	manifest := filepath.Join(t.TempDir(), "rotation.yaml")
	if err := os.WriteFile(manifest, []byte(fmt.Sprintf(`apiVersion: oauth.authops.io/v1alpha1
kind: GrantPolicy
metadata: {name: default, namespace: %[1]s}
spec:
  allowedGrantTypes: [client_credentials]
---
apiVersion: v1
kind: Secret
metadata: {name: svc-secret, namespace: %[1]s}
stringData: {client_secret: %[2]s}
---
apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: svc, namespace: %[1]s}
spec:
  type: Confidential
  grantTypes: [client_credentials]
  secret:
    secretRef: {name: svc-secret, key: client_secret}
`, rotationNS, rotationSecret)), 0o600); err != nil {
		t.Fatal(err)
	}
	h.kubectl("apply", "-f", manifest)
	h.kubectl("wait", "-n", rotationNS, "--for=condition=Ready", "--timeout=60s", "oauthclient/svc")

	// Each replica's JWKS, cached as a resource server caches it.
	keySets := make([]*oidc.RemoteKeySet, len(replicas))
	for i, r := range replicas {
		keySets[i] = oidc.NewRemoteKeySet(ctx, r.URL+"/oauth2/jwks")
	}
	var (
		requests, failed, verified atomic.Int64
		mu                         sync.Mutex
		failures                   []string
		byKid                      = map[string]int{}
		oldTokens                  []string
		rotated                    atomic.Bool
		newKid                     atomic.Value
		afterRotation              atomic.Int64
	)
	fail := func(msg string) {
		failed.Add(1)
		mu.Lock()
		if len(failures) < 10 {
			failures = append(failures, msg)
		}
		mu.Unlock()
	}
	one := func(n int64) {
		issuer, verifier := replicas[n%2], keySets[(n+1)%2]
		cc := &clientcredentials.Config{ClientID: rotationNS + ".svc", ClientSecret: rotationSecret,
			TokenURL: issuer.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
		tok, err := cc.Token(ctx)
		if err != nil {
			fail(fmt.Sprintf("token from %s: %v", issuer.Name, err))
			return
		}
		if _, err := verifier.VerifySignature(ctx, tok.AccessToken); err != nil {
			fail(fmt.Sprintf("token from %s against the JWKS of the other replica: %v", issuer.Name, err))
			return
		}
		verified.Add(1)
		jws, err := jose.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			fail(err.Error())
			return
		}
		kid := jws.Signatures[0].Header.KeyID
		mu.Lock()
		byKid[kid]++
		if !rotated.Load() && len(oldTokens) < 20 {
			oldTokens = append(oldTokens, tok.AccessToken)
		}
		mu.Unlock()
		if nk, _ := newKid.Load().(string); nk != "" && kid == nk {
			afterRotation.Add(1)
		}
	}
	var wg sync.WaitGroup
	for range rotationWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && afterRotation.Load() < rotationAfter {
				n := requests.Add(1)
				if n > rotationMaxRequests {
					requests.Add(-1)
					return
				}
				one(n)
			}
		}()
	}

	// Warm up, then ask for a rotation and follow it to its end.
	eventually(ctx, t, "100 tokens before the rotation", func() error {
		if n := verified.Load(); n < 100 {
			return fmt.Errorf("%d verified", n)
		}
		return nil
	})
	const keySet = "secret/authops-signing-keys"
	mu.Lock()
	var oldKid string
	for kid := range byKid {
		oldKid = kid
	}
	kids := len(byKid)
	mu.Unlock()
	if kids != 1 {
		t.Fatalf("tokens carry %d kids before the rotation", kids)
	}
	rotated.Store(true) // oldTokens holds tokens signed before the request only
	h.kubectl("annotate", "-n", stack.OperatorNamespace, keySet, "--overwrite", "oauth.authops.io/rotate-signing-key=e2e-1")
	asked := time.Now()
	var publishedAfter time.Duration
	eventually(ctx, t, "the manager publishes the new key", func() error {
		out, err := s.API.Kubectl(ctx, "get", "-n", stack.OperatorNamespace, keySet, "-o", `jsonpath={.metadata.annotations.oauth\.authops\.io/signing-key-rotating}{","}{.metadata.annotations.oauth\.authops\.io/signing-key-rotated}`)
		if err != nil || (out != "e2e-1," && out != ",e2e-1") {
			return fmt.Errorf("annotations %q (%v)", out, err)
		}
		publishedAfter = time.Since(asked)
		return nil
	})
	eventually(ctx, t, "the new key signs", func() error {
		out, err := s.API.Kubectl(ctx, "get", "-n", stack.OperatorNamespace, keySet, "-o", `jsonpath={.metadata.annotations.oauth\.authops\.io/signing-key-rotated}`)
		if err != nil || out != "e2e-1" {
			return fmt.Errorf("signing-key-rotated %q (%v)", out, err)
		}
		return nil
	})
	switchedAfter := time.Since(asked)
	// The new key is the one tokens carry from now on.
	eventually(ctx, t, "a token signed by the new key", func() error {
		mu.Lock()
		defer mu.Unlock()
		for kid := range byKid {
			if kid != oldKid {
				newKid.Store(kid)
				return nil
			}
		}
		return fmt.Errorf("only %s so far", oldKid)
	})
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("forced rotation under load: %d token requests, %d failed, %d tokens verified against the other replica's JWKS (kid %s: %d, kid %s: %d); new key published %v and signing %v after the annotation",
		requests.Load(), failed.Load(), verified.Load(), oldKid, byKid[oldKid], newKid.Load(), byKid[newKid.Load().(string)],
		publishedAfter.Round(time.Millisecond), switchedAfter.Round(time.Millisecond))
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed during the forced rotation; first: %s", failed.Load(), requests.Load(), strings.Join(failures, "; "))
	}
	if afterRotation.Load() < rotationAfter {
		t.Errorf("only %d tokens signed by the new key within %d requests", afterRotation.Load(), rotationMaxRequests)
	}
	if len(byKid) != 2 {
		t.Errorf("tokens carry %d kids, want the old and the new: %v", len(byKid), byKid)
	}
	// The old key stays published: its tokens verify on both replicas,
	// also with a JWKS fetched after the rotation.
	for i, r := range replicas {
		fresh := oidc.NewRemoteKeySet(ctx, r.URL+"/oauth2/jwks")
		for _, tok := range oldTokens {
			if _, err := fresh.VerifySignature(ctx, tok); err != nil {
				t.Errorf("a token signed by the old key no longer verifies against the JWKS of %s (replica %d): %v", r.Name, i, err)
				break
			}
		}
	}
}
