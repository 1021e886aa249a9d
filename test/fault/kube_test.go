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

package fault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/test/bench"
	"github.com/authops/authops/test/stack"
)

const operatorNS = "authops-system"

// startAPIServer starts the source-built API server (CRDs installed, the
// operator namespace created) and returns it; the test may stop and start
// its kube-apiserver process again (etcd keeps running, see
// stack.APIServer.Process). Its log is shown if the test failed.
func startAPIServer(t *testing.T) *stack.APIServer {
	t.Helper()
	ctrllog.SetLogger(logr.Discard())
	a, err := stack.StartAPIServer(context.Background(), stack.APIServerOptions{Dir: t.TempDir(), User: "fault-admin",
		Namespaces: []string{operatorNS}})
	if err != nil {
		t.Fatalf("the test API server must be built (make envtest-assets), never skipped: %v", err)
	}
	t.Cleanup(func() {
		_ = a.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(a.Log)
			t.Logf("kube-apiserver log:\n%s", tail(b, 6000))
		}
	})
	return a
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func snapshotSecret(t *testing.T, name string, d snapshot.Document) *corev1.Secret {
	b, err := snapshot.Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{snapshot.LabelSnapshot: string(d.Kind)}
	if d.Kind == snapshot.KindKeySet {
		// The authserver takes signing keys only from the manager's Secret.
		name, labels[snapshot.LabelManagedBy] = snapshot.KeySetSecretName, snapshot.ManagedBy
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: name, Labels: labels},
		Data: map[string][]byte{snapshot.DataKey: b}}
}

func clientCredentials(base, id string) int {
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=read"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, bench.Secret)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAPIServerDown: the kube-apiserver process the authserver binary
// watches its snapshot through is stopped (etcd stays up) for longer than
// the default leader election renew deadline (10s). Meanwhile the
// authserver keeps serving the last snapshot and /readyz stays ready
// (readiness means "can answer from a synced snapshot and the store", and
// a stale snapshot is the documented behaviour; failing readiness would
// take every replica out of the Service at once and turn an API server
// outage into an OAuth outage). The API server is started again, on the
// same port with the same certificates, and a client added then is served
// without restarting the authserver.
//
// Two managers ride out the same outage without exiting, as the Helm
// chart's sidecar shape runs them (where a manager exit would make the pod,
// and with it the authserver, NotReady): the leader, whose renew deadline
// is longer than the outage, and one started during the outage, which waits
// for the API server (answering its probes) instead of exiting. Once the API
// server is back they reconcile a new OAuthClient to Ready.
func TestAPIServerDown(t *testing.T) {
	ctx := context.Background()
	api := startAPIServer(t)
	c, apiServer := api.Client, api.Process
	docs, err := bench.Documents(0)
	if err != nil {
		t.Fatal(err)
	}
	var late snapshot.Document
	for i, d := range docs {
		if d.Kind == snapshot.KindClient && d.Client.ID == bench.ClientFlooded {
			late = d // created once the API server is back
			continue
		}
		if err := c.Create(ctx, snapshotSecret(t, fmt.Sprintf("doc-%d", i), d)); err != nil {
			t.Fatal(err)
		}
	}
	s := newServer(t, "authserver", "sqlite://"+filepath.Join(t.TempDir(), "state.db"),
		stack.AuthserverOptions{Kubeconfig: api.Kubeconfig, Namespace: operatorNS})
	s.start()
	if st := clientCredentials(s.base, bench.ClientCC); st != http.StatusOK {
		t.Fatalf("before the outage: %d", st)
	}
	leader, late2 := outageManager(t, api, "manager-leader"), outageManager(t, api, "manager-late")
	if err := leader.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitForLeader(t, c)
	hostBefore := apiServer.SecureServing.URL("https", "/").Host
	stopping := time.Now()
	if err := apiServer.Stop(); err != nil {
		t.Fatalf("stopping the API server: %v", err)
	}
	stopped, down := time.Now(), true
	t.Logf("API server stopped in %v", stopped.Sub(stopping).Round(100*time.Millisecond))
	// Whatever happens, the environment's cleanup finds it running.
	t.Cleanup(func() {
		if down {
			_ = apiServer.Start()
		}
	})
	if err := c.Get(ctx, client.ObjectKey{Name: operatorNS}, &corev1.Namespace{}); err == nil {
		t.Fatal("the API server still answers after Stop")
	}
	if err := late2.Launch(); err != nil {
		t.Fatal(err)
	}
	// Longer than the default renew deadline (10s), shorter than the
	// managers' (see outageManager).
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if st := clientCredentials(s.base, bench.ClientCC); st != http.StatusOK {
			t.Fatalf("API server down: token request %d", st)
		}
		if st := s.ready(); st != http.StatusOK {
			t.Fatalf("API server down: /readyz %d", st)
		}
		for _, m := range []*stack.Server{leader, late2} {
			select {
			case <-m.Proc.Exited():
				t.Fatalf("API server down: %s exited: %v\n%s", m.Name, m.Proc.Err(), m.LogTail(3000))
			default:
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, m := range []*stack.Server{leader, late2} {
		if st := m.Ready(); st != http.StatusOK {
			t.Errorf("API server down: %s /readyz %d", m.Name, st)
		}
	}
	if st := clientCredentials(s.base, bench.ClientFlooded); st != http.StatusUnauthorized {
		t.Fatalf("a client not in the snapshot got %d while the API server was down", st)
	}
	if err := apiServer.Start(); err != nil {
		t.Fatalf("starting the API server again: %v", err)
	}
	down = false
	restarted := time.Now()
	if host := apiServer.SecureServing.URL("https", "/").Host; host != hostBefore {
		t.Fatalf("the API server came back on %s, not %s", host, hostBefore)
	}
	t.Logf("API server down for %v", restarted.Sub(stopped).Round(100*time.Millisecond))
	if err := c.Create(ctx, snapshotSecret(t, "doc-late", late)); err != nil {
		t.Fatal(err)
	}
	for clientCredentials(s.base, bench.ClientFlooded) != http.StatusOK {
		if time.Since(restarted) > 90*time.Second {
			t.Fatal("the client created after the API server came back is not served 90s later")
		}
		time.Sleep(250 * time.Millisecond)
	}
	if st := s.ready(); st != http.StatusOK {
		t.Errorf("/readyz after the API server came back: %d", st)
	}
	select {
	case <-s.Proc.Exited():
		t.Fatal("the authserver exited")
	default:
	}
	t.Logf("caught up %v after the API server came back", time.Since(restarted).Round(100*time.Millisecond))

	// The managers reconcile again, and neither exited on the way.
	oc := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: managerNS, Name: "after-outage"},
		Spec: oauthv1alpha1.OAuthClientSpec{Type: "Confidential", GrantTypes: []oauthv1alpha1.GrantType{"client_credentials"},
			Scopes: []oauthv1alpha1.Scope{"read"}, TokenEndpointAuthMethod: "client_secret_basic"}}
	if err := c.Create(ctx, oc); err != nil {
		t.Fatal(err)
	}
	for !meta.IsStatusConditionTrue(oc.Status.Conditions, oauthv1alpha1.ReadyCondition) {
		if time.Since(restarted) > 90*time.Second {
			t.Fatalf("an OAuthClient created after the API server came back is not Ready 90s later: %v", oc.Status.Conditions)
		}
		time.Sleep(250 * time.Millisecond)
		if err := c.Get(ctx, client.ObjectKeyFromObject(oc), oc); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []*stack.Server{leader, late2} {
		select {
		case <-m.Proc.Exited():
			t.Errorf("%s exited: %v\n%s", m.Name, m.Proc.Err(), m.LogTail(3000))
		default:
		}
	}
	t.Logf("managers reconciled %v after the API server came back", time.Since(restarted).Round(100*time.Millisecond))
}

// managerNS is the operator namespace of the managers in TestAPIServerDown:
// not the authserver's, whose snapshot the test writes itself (a manager
// there would remove documents it did not compile).
const managerNS = "authops-managers"

// outageManager prepares a leader-elected manager whose renew deadline
// (60s) outlasts TestAPIServerDown's outage, as the chart's sidecar shape
// sets it (107s) to outlast a minute. No authserver serves its namespace:
// --min-served-replicas=0.
func outageManager(t *testing.T, api *stack.APIServer, name string) *stack.Server {
	t.Helper()
	if err := api.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNS}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	m, err := stack.NewManager(stack.ManagerOptions{Kubeconfig: api.Kubeconfig, Namespace: managerNS, Issuer: "http://127.0.0.1:1",
		Args: []string{"--min-served-replicas=0", "--leader-elect", "--leader-election-namespace=" + managerNS,
			"--leader-elect-lease-duration=80s", "--leader-elect-renew-deadline=60s", "--leader-elect-retry-period=2s"},
		Log: filepath.Join(t.TempDir(), name+".log")})
	if err != nil {
		t.Fatal(err)
	}
	m.Name = name
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, m.LogTail(4000))
		}
	})
	return m
}

// waitForLeader waits until a manager holds the leader election Lease.
func waitForLeader(t *testing.T, c client.Client) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var l coordinationv1.Lease
		err := c.Get(context.Background(), client.ObjectKey{Namespace: managerNS, Name: "manager.authops.io"}, &l)
		if err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no manager leads 60s after it started: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestManagerRestartMidReconcile: the manager is killed (SIGKILL) while it
// reconciles 40 new OAuthClients that generate their secrets, and started
// again. Every client ends Ready with exactly one credentials Secret whose
// secret was generated once (a client that had one before the kill keeps
// it), one snapshot document whose only digest is that secret's, and no
// snapshot document without a client.
func TestManagerRestartMidReconcile(t *testing.T) {
	ctx := context.Background()
	api := startAPIServer(t)
	c := api.Client
	const n = 40
	ns := "faults"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	// No authserver runs here: --min-served-replicas=0 makes Ready mean
	// compiled, which is what this test is about.
	m, err := stack.NewManager(stack.ManagerOptions{Kubeconfig: api.Kubeconfig, Namespace: operatorNS,
		Issuer: "http://127.0.0.1:1", Args: []string{"--min-served-replicas=0"}, Log: filepath.Join(t.TempDir(), "manager.log")})
	if err != nil {
		t.Fatal(err)
	}
	// Not waiting for it to be ready: the clients are created while it
	// starts, so that it reconciles them all at once.
	startManager := func() {
		if err := m.Launch(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(m.Stop)
	defer func() {
		if t.Failed() {
			t.Logf("manager log:\n%s", m.LogTail(4000))
		}
	}()
	startManager()
	for i := range n {
		oc := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("client-%02d", i)},
			Spec: oauthv1alpha1.OAuthClientSpec{Type: "Confidential", GrantTypes: []oauthv1alpha1.GrantType{"client_credentials"},
				Scopes: []oauthv1alpha1.Scope{"read"}, TokenEndpointAuthMethod: "client_secret_basic"}}
		if err := c.Create(ctx, oc); err != nil {
			t.Fatal(err)
		}
	}
	// Kill it once some, not all, clients have their credentials.
	secretsOf := func() map[string]string {
		var list corev1.SecretList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, s := range list.Items {
			out[s.Name] = string(s.Data["client_secret"])
		}
		return out
	}
	deadline := time.Now().Add(90 * time.Second)
	var before map[string]string
	for {
		before = secretsOf()
		if len(before) >= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("manager killed with %d of %d credentials Secrets written", len(before), n)
	startManager()

	ready := func(oc *oauthv1alpha1.OAuthClient) bool {
		return meta.IsStatusConditionTrue(oc.Status.Conditions, oauthv1alpha1.ReadyCondition)
	}
	var clients oauthv1alpha1.OAuthClientList
	for {
		if err := c.List(ctx, &clients, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		nReady := 0
		for i := range clients.Items {
			if ready(&clients.Items[i]) {
				nReady++
			}
		}
		if nReady == n {
			break
		}
		if time.Now().After(deadline.Add(60 * time.Second)) {
			t.Fatalf("%d of %d clients Ready", nReady, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	after := secretsOf()
	if len(after) != n {
		t.Errorf("%d Secrets in the client namespace for %d clients: %v", len(after), n, keys(after))
	}
	for name, v := range before {
		if v != "" && after[name] != v {
			t.Errorf("%s: the secret generated before the restart was replaced", name)
		}
	}
	var snaps corev1.SecretList
	if err := c.List(ctx, &snaps, client.InNamespace(operatorNS), client.MatchingLabels{snapshot.LabelSnapshot: string(snapshot.KindClient)}); err != nil {
		t.Fatal(err)
	}
	byUID := map[string]snapshot.Document{}
	for _, s := range snaps.Items {
		var d snapshot.Document
		if err := json.Unmarshal(s.Data[snapshot.DataKey], &d); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if _, dup := byUID[d.Source.UID]; dup {
			t.Errorf("two snapshot documents for %s", d.Source.Name)
		}
		byUID[d.Source.UID] = d
	}
	if len(byUID) != n {
		t.Errorf("%d client snapshot documents for %d clients", len(byUID), n)
	}
	for _, oc := range clients.Items {
		d, ok := byUID[string(oc.UID)]
		if !ok {
			t.Errorf("%s: no snapshot document", oc.Name)
			continue
		}
		sum := sha256.Sum256([]byte(after[oc.Name+"-oauth-credentials"]))
		if len(d.Client.Secrets) != 1 || d.Client.Secrets[0].SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: snapshot digests %v do not match the one credentials Secret", oc.Name, d.Client.Secrets)
		}
		delete(byUID, string(oc.UID))
	}
	for uid, d := range byUID {
		t.Errorf("orphaned snapshot document %s (%s)", d.Source.Name, uid)
	}
	var cred corev1.Secret
	err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "client-00-oauth-credentials"}, &cred)
	if apierrors.IsNotFound(err) || len(cred.OwnerReferences) != 1 {
		t.Errorf("credentials Secret not owned by its client: %v %v", err, cred.OwnerReferences)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
