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
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authops/authops/test/stack"
)

const (
	// servedRounds is how many new clients TestReadyMeansServed applies,
	// one after the other; after each one's Ready, a token is requested
	// at once from every replica (issue #17: 300 in a row, 0 failures).
	servedRounds = 300
	// policyRounds is how many GrantPolicy changes TestReadyMeansServed
	// applies, alternately removing client_credentials and allowing it
	// again; after each one's Ready, a token is requested at once from
	// every replica: unauthorized_client after a removal, a token after a
	// restore.
	policyRounds = 40
	servedNS     = "served"
	servedSecret = "served-secret-0123456789abcdefghijklmnop"
	// secondReplicaLag delays everything the API server sends the second
	// replica (its snapshot watch): a replica a little slower than the
	// manager, as at 10,000 clients (apply-to-served p99 0.4-0.7 s).
	// Without it both replicas load a change within milliseconds, before
	// kubectl wait has even returned.
	secondReplicaLag = 300 * time.Millisecond
	// ignoreAckEnv, set to 1, runs the test with Ready as it was before
	// the acknowledgement (the replicas publish nothing, the manager has
	// --min-served-replicas=0), to show that it then fails.
	ignoreAckEnv = "AUTHOPS_E2E_IGNORE_ACK"
)

// TestReadyMeansServed: with two authserver replicas, the second one
// lagging (secondReplicaLag), a client that kubectl wait reports Ready gets
// a token at once from both, servedRounds clients in a row without one
// failure; a GrantPolicy change that kubectl wait reports Ready is in
// force on both, policyRounds changes in a row. Then a paused replica
// holds Ready back until its Lease ends, and is reported behind meanwhile.
func TestReadyMeansServed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	ignoreAck := os.Getenv(ignoreAckEnv) == "1"
	// The paused replica is reported behind after 5 s (default 20 s).
	managerArgs, authserverArgs := []string{"--served-lag-bound=5s"}, []string(nil)
	if ignoreAck {
		managerArgs, authserverArgs = []string{"--min-served-replicas=0"}, []string{"--publish-served=false"}
	}
	h := startWith(ctx, t, stack.Options{Namespaces: []string{servedNS}, ManagerArgs: managerArgs, AuthserverArgs: authserverArgs})
	s := h.stack
	// The second replica: same snapshot, through a lagging connection.
	second := h.startReplica(ctx, t, "authserver-2", secondReplicaLag, authserverArgs)
	replicas := []*stack.Server{s.Authserver, second}
	if !ignoreAck {
		// Both replicas acknowledge before the first client: a replica
		// the manager does not know yet is not waited for.
		h.waitServedLeases(ctx, t, 2)
	}

	files := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	h.kubectl("apply", "-f", write("setup.yaml", fmt.Sprintf(`apiVersion: oauth.authops.io/v1alpha1
kind: GrantPolicy
metadata: {name: default, namespace: %[1]s}
spec:
  allowedGrantTypes: [client_credentials]
---
apiVersion: v1
kind: Secret
metadata: {name: svc-secret, namespace: %[1]s}
stringData: {client_secret: %[2]s}
`, servedNS, servedSecret)))

	start := time.Now()
	var failures []string
	var readyToToken time.Duration
	tokenFrom := func(r *stack.Server, clientID string) error {
		cc := &clientcredentials.Config{ClientID: clientID, ClientSecret: servedSecret,
			TokenURL: r.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
		_, err := cc.Token(ctx)
		return err
	}
	for i := range servedRounds {
		name := fmt.Sprintf("svc-%d", i)
		h.kubectlQuiet("apply", "-f", write(name+".yaml", fmt.Sprintf(`apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: %s, namespace: %s}
spec:
  type: Confidential
  grantTypes: [client_credentials]
  tokenEndpointAuthMethod: client_secret_basic
  secret:
    secretRef: {name: svc-secret, key: client_secret}
`, name, servedNS)))
		h.kubectlQuiet("wait", "-n", servedNS, "--for=condition=Ready", "--timeout=60s", "oauthclient/"+name)
		readyAt := time.Now()
		for _, r := range replicas {
			if err := tokenFrom(r, servedNS+"."+name); err != nil {
				why := oauthError(err)
				if why == "" {
					why = err.Error()
				}
				failures = append(failures, fmt.Sprintf("%s on %s: %s", name, r.Name, why))
			}
		}
		readyToToken += time.Since(readyAt)
	}
	elapsed := time.Since(start)
	t.Logf("%d clients, %d token requests on %d replicas in %v (%v per client; Ready to both tokens %v on average); ignore acknowledgement: %v",
		servedRounds, servedRounds*len(replicas), len(replicas), elapsed.Round(time.Millisecond), (elapsed / servedRounds).Round(time.Millisecond),
		(readyToToken / servedRounds).Round(time.Microsecond), ignoreAck)
	if len(failures) > 0 {
		t.Errorf("%d of %d token requests right after Ready failed (%.1f%%); first: %s", len(failures), servedRounds*len(replicas),
			100*float64(len(failures))/float64(servedRounds*len(replicas)), strings.Join(failures[:min(5, len(failures))], "; "))
	}

	// A GrantPolicy change is Ready once every replica serves it: after a
	// change that removes client_credentials, the next request on every
	// replica gets unauthorized_client; after one that allows it again, a
	// token.
	policy := func(grants string) string {
		return write("toggled.yaml", fmt.Sprintf(`apiVersion: oauth.authops.io/v1alpha1
kind: GrantPolicy
metadata: {name: toggled, namespace: %s}
spec:
  allowedGrantTypes: [%s]
`, servedNS, grants))
	}
	h.kubectl("apply", "-f", policy("client_credentials, authorization_code"))
	h.kubectl("apply", "-f", write("toggled-client.yaml", fmt.Sprintf(`apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: toggled, namespace: %[1]s}
spec:
  type: Confidential
  grantTypes: [client_credentials, authorization_code]
  redirectURIs: ["https://app.example.com/callback"]
  grantPolicyRef: {name: toggled}
  secret:
    secretRef: {name: svc-secret, key: client_secret}
---
apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: cc-only, namespace: %[1]s}
spec:
  type: Confidential
  grantTypes: [client_credentials]
  grantPolicyRef: {name: toggled}
  secret:
    secretRef: {name: svc-secret, key: client_secret}
`, servedNS)))
	h.kubectlQuiet("wait", "-n", servedNS, "--for=condition=Ready", "--timeout=60s", "oauthclient/toggled", "oauthclient/cc-only", "grantpolicy/toggled")
	start = time.Now()
	var policyFailures []string
	for i := range policyRounds {
		removed := i%2 == 0
		grants := "client_credentials, authorization_code"
		if removed {
			grants = "authorization_code"
		}
		h.kubectlQuiet("apply", "-f", policy(grants))
		// kubectl wait compares the condition's observedGeneration with
		// the policy's generation: the previous change's Ready does not
		// count.
		h.kubectlQuiet("wait", "-n", servedNS, "--for=condition=Ready", "--timeout=60s", "grantpolicy/toggled")
		// toggled keeps authorization_code (restricted: unauthorized_client);
		// cc-only is left no grant (not served: invalid_client).
		for _, r := range replicas {
			for id, removedError := range map[string]string{"toggled": "unauthorized_client", "cc-only": "invalid_client"} {
				err := tokenFrom(r, servedNS+"."+id)
				switch {
				case removed && oauthError(err) != removedError:
					policyFailures = append(policyFailures, fmt.Sprintf("change %d (client_credentials removed) for %s on %s: want %s, got %v", i, id, r.Name, removedError, err))
				case !removed && err != nil:
					policyFailures = append(policyFailures, fmt.Sprintf("change %d (client_credentials allowed) for %s on %s: %v", i, id, r.Name, err))
				}
			}
		}
	}
	t.Logf("%d GrantPolicy changes, %d token requests on %d replicas in %v; ignore acknowledgement: %v",
		policyRounds, 2*policyRounds*len(replicas), len(replicas), time.Since(start).Round(time.Millisecond), ignoreAck)
	if len(policyFailures) > 0 {
		t.Errorf("%d of %d token requests right after a GrantPolicy change was Ready got the old policy; first: %s", len(policyFailures),
			2*policyRounds*len(replicas), strings.Join(policyFailures[:min(5, len(policyFailures))], "; "))
	}
	if ignoreAck {
		return
	}

	// A paused replica (SIGSTOP) keeps a new client from Ready, and its
	// status names it, until its Lease ends (30 s without renewal).
	if err := syscall.Kill(second.Proc.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(second.Proc.Pid(), syscall.SIGCONT) })
	paused := time.Now()
	h.kubectlQuiet("apply", "-f", write("paused.yaml", fmt.Sprintf(`apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: paused, namespace: %s}
spec:
  type: Confidential
  grantTypes: [client_credentials]
  secret:
    secretRef: {name: svc-secret, key: client_secret}
`, servedNS)))
	readyOf := func() string {
		out, _ := s.API.Kubectl(ctx, "get", "-n", servedNS, "oauthclient/paused", "-o",
			`jsonpath={.status.conditions[?(@.type=="Ready")].reason} {.status.servedReplicas} {.status.conditions[?(@.type=="Ready")].message}`)
		return out
	}
	eventually(ctx, t, "the paused replica holds Ready back and is named", func() error {
		if got := readyOf(); got != "NotYetServed 1/2 served by 1 of 2 authserver replicas (behind: authserver-2)" {
			return fmt.Errorf("Ready: %q", got)
		}
		return nil
	})
	// Past --served-lag-bound, still paused: condition Served and a
	// Warning Event name the replica behind.
	eventually(ctx, t, "the paused replica is reported behind", func() error {
		out, _ := s.API.Kubectl(ctx, "get", "-n", servedNS, "oauthclient/paused", "-o",
			`jsonpath={.status.conditions[?(@.type=="Served")].reason} {.status.conditions[?(@.type=="Served")].message}`)
		if !strings.HasPrefix(out, "ReplicaBehind authserver replica authserver-2 has not served this change for ") {
			return fmt.Errorf("Served: %q", out)
		}
		ev, _ := s.API.Kubectl(ctx, "get", "events", "-n", servedNS, "--field-selector", "reason=ReplicaBehind,type=Warning", "-o", "jsonpath={.items[*].message}")
		if !strings.Contains(ev, "authserver replica authserver-2 has not served snapshot revision") {
			return fmt.Errorf("no ReplicaBehind Event: %q", ev)
		}
		return nil
	})
	h.kubectlQuiet("wait", "-n", servedNS, "--for=condition=Ready", "--timeout=90s", "oauthclient/paused")
	got := readyOf()
	t.Logf("Ready %v after the pause, once the paused replica's Lease ended: %s", time.Since(paused).Round(100*time.Millisecond), got)
	if !strings.HasPrefix(got, "Reconciled 1/1 ") || !strings.HasSuffix(got, "; served by 1 of 1 authserver replicas") {
		t.Errorf("Ready after the paused replica dropped out: %q", got)
	}
	if since := time.Since(paused); since < 15*time.Second {
		t.Errorf("Ready %v after the pause: before the paused replica's Lease could end", since)
	}
	if out, _ := s.API.Kubectl(ctx, "get", "-n", servedNS, "oauthclient/paused", "-o", `jsonpath={.status.conditions[?(@.type=="Served")].reason}`); out != "" {
		t.Errorf("condition Served is still %q once Ready", out)
	}
}

// startReplica starts another authserver replica (its own SQLite store:
// client_credentials needs no shared state) reading the snapshot through a
// connection that delays everything the API server sends by lag.
func (h *harness) startReplica(ctx context.Context, t *testing.T, name string, lag time.Duration, args []string) *stack.Server {
	t.Helper()
	r, err := stack.NewAuthserver(stack.AuthserverOptions{Name: name, Store: "sqlite://" + filepath.Join(h.dir, name+".db"),
		Kubeconfig: laggedKubeconfig(t, h.stack.API.Kubeconfig, lag), Namespace: stack.OperatorNamespace, Args: args,
		Log: filepath.Join(h.dir, name+".log")})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// waitServedLeases waits until n replicas publish their served Lease.
func (h *harness) waitServedLeases(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	eventually(ctx, t, fmt.Sprintf("%d replicas publish their served Lease", n), func() error {
		out, err := h.stack.API.Kubectl(ctx, "get", "leases", "-n", stack.OperatorNamespace, "-l", "oauth.authops.io/served=true", "-o", "name")
		if got := len(strings.Fields(out)); err != nil || got != n {
			return fmt.Errorf("%d Leases (%v)", got, err)
		}
		return nil
	})
}

// kubectlQuiet is kubectl without logging its output (loops).
func (h *harness) kubectlQuiet(args ...string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := h.stack.API.Kubectl(ctx, args...); err != nil {
		h.t.Fatal(err)
	}
}
