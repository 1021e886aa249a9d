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

package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authops/authops/authserver/store/pgtest"
)

const (
	// tag2 is the image tag the upgrades move to (the same binaries under
	// a new tag: the pods are replaced as for a new release).
	tag2 = "cluster-test-2"
	// ns is the namespace of every install.
	ns = "authops-system"
	// outage is how long the API server is stopped.
	outage = 60 * time.Second
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// standaloneScenarios runs, on the default install (standalone shape,
// SQLite on the PVC, one authserver, one manager), the projected-token
// check, a killed manager process and a 60s API server outage under token
// load, and last an upgrade to a new image tag.
func standaloneScenarios(t *testing.T, c *Cluster, oc *oauthClient) {
	t.Run("projected token", func(t *testing.T) { checkProjectedToken(t, c) })
	t.Run("workload identity Pod", func(t *testing.T) { checkWorkloadIdentity(t, c) })
	t.Run("manager process killed", func(t *testing.T) {
		load := oc.startLoad(t, "manager process killed", 100*time.Millisecond, 400)
		time.Sleep(5 * time.Second)
		pod := podOf(t, c, "app.kubernetes.io/component=manager")
		before, err := c.KillContainer(context.Background(), ns, pod, "manager")
		if err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		waitRestarted(t, c, pod, "manager", before)
		t.Logf("MEASURED the killed manager was Ready again after %.1fs", time.Since(killed).Seconds())
		<-load.done
		load.finish(t, true)
		c.Stage("manager process killed")
	})
	t.Run("API server stopped 60s", func(t *testing.T) {
		apiServerOutage(t, c, oc, "standalone", "app.kubernetes.io/component=manager", "manager", 1)
	})
	t.Run("upgrade SQLite", func(t *testing.T) { upgrade(t, c, oc, "SQLite (Recreate)", 50*time.Millisecond, false) })
}

// TestHelmHA installs the chart with charts/authops/ci/postgres-ha-values.yaml
// (three authserver replicas on PostgreSQL, two managers; cert-manager,
// the Ingress's TLS and the ServiceMonitor left out: this cluster has
// neither operator) against a PostgreSQL server on this machine, which the
// pods reach at the node's address. On that install: the flows through the
// Service, the leader manager killed under token load, and a rolling
// upgrade to a new image tag under token load.
func TestHelmHA(t *testing.T) {
	ip, err := nodeIP()
	if err != nil {
		t.Fatal(err)
	}
	Require(t)
	// Before the cluster, so that the database is dropped after its
	// teardown (cleanups run last-registered first).
	pgtest.ListenAlso(ip.String(), podCIDR)
	db := pgtest.NewDatabase(t)
	dsn, err := url.Parse(db.DSNWithoutPassword)
	if err != nil {
		t.Fatal(err)
	}
	if h := dsn.Hostname(); h == "127.0.0.1" || h == "localhost" {
		dsn.Host = net.JoinHostPort(ip.String(), dsn.Port())
	}
	c, ctx := startForInstall(t)
	c.MustKubectl("create", "namespace", ns)
	c.MustKubectl("create", "secret", "generic", "authops-store", "-n", ns, "--from-literal=dsn="+dsn.String(), "--from-literal=password="+db.Password)
	t.Logf("PostgreSQL for the pods: %s", dsn.Redacted())
	begin := time.Now()
	helmRun(ctx, t, c, "install", "authops", chartDir(), "--namespace", ns,
		"-f", filepath.Join(chartDir(), "ci", "postgres-ha-values.yaml"),
		"--set", "tls.certManager.enabled=false", "--set", "serviceMonitor.enabled=false",
		"--set", "image.tag="+tag, "--set", "image.pullPolicy=Never")
	oc := installed(t, c, begin)
	if n := len(strings.Fields(c.MustKubectl("get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=authops",
		"-o", `jsonpath={range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]} {end}`))); n != 3 {
		t.Errorf("the Service has %d ready endpoints, want the 3 authserver replicas", n)
	}
	t.Run("leader killed", func(t *testing.T) { leaderKilled(t, c, oc) })
	t.Run("rolling upgrade PostgreSQL", func(t *testing.T) {
		upgrade(t, c, oc, "PostgreSQL (rolling)", 40*time.Millisecond, true)
	})
}

// TestSidecarTLS installs the sidecar shape (charts/authops/ci/sidecar-values.yaml:
// the authserver in the manager's pod, TLS from an existing Secret), replaces
// the Secret's certificate and waits until the authserver serves the new
// one without a restart, then stops the API server for 60s under token
// load.
func TestSidecarTLS(t *testing.T) {
	c, ctx := startForInstall(t)
	const host = "authops.authops-system.svc" // the values' issuer host: the Service's name
	c.MustKubectl("create", "namespace", ns)
	first := tlsSecret(t, c, "authserver-tls-1", host, "create")
	begin := time.Now()
	helmRun(ctx, t, c, "install", "authops", chartDir(), "--namespace", ns,
		"-f", filepath.Join(chartDir(), "ci", "sidecar-values.yaml"),
		"--set", "image.tag="+tag, "--set", "image.pullPolicy=Never")
	installReady(t, c, begin)
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.cert)
	oc := newOAuthClient(t, c, ns, "https://"+host, &tls.Config{ServerName: host, RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err := oc.waitServed(ctx); err != nil {
		t.Fatal(err)
	}
	c.Stage("TLS install served")

	t.Run("TLS Secret replaced", func(t *testing.T) {
		if got := servedSerial(t, oc); got != first {
			t.Fatalf("served certificate %s, want the Secret's %s", got, first)
		}
		pod := podOf(t, c, "app.kubernetes.io/component=authserver")
		restarts := restartCount(t, c, pod, "authserver")
		second := tlsSecret(t, c, "authserver-tls-2", host, "replace")
		replaced := time.Now()
		if err := c.Eventually(ctx, 3*time.Minute, "the new certificate served", func() error {
			if got := servedSerial(t, oc); got != second {
				return fmt.Errorf("serial %s served, want %s", got, second)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		t.Logf("MEASURED the replaced Secret's certificate was served %.1fs after the replace (kubelet syncFrequency 10s)", time.Since(replaced).Seconds())
		if now := restartCount(t, c, pod, "authserver"); now != restarts {
			t.Errorf("the authserver container restarted (%d -> %d) to serve the new certificate", restarts, now)
		}
		if _, err := oc.backend.Token(oc.context(ctx)); err != nil {
			t.Errorf("token over TLS after the replace: %v", err)
		}
		c.Stage("TLS Secret replaced")
	})
	t.Run("token Secret", func(t *testing.T) {
		// The sidecar shape's authserver cannot have a projected token of
		// its own: a pod has one service account, the manager's.
		typ := c.MustKubectl("get", "secret", "-n", ns, "authops-authserver-token", "-o", "jsonpath={.type}")
		if typ != "kubernetes.io/service-account-token" {
			t.Errorf("the sidecar authserver's token Secret has type %q", typ)
		}
	})
	t.Run("API server stopped 60s", func(t *testing.T) {
		apiServerOutage(t, c, oc, "sidecar", "app.kubernetes.io/component=authserver", "manager", 0)
	})
}

// checkProjectedToken checks that the standalone authserver's pod mounts a
// projected, expiring ServiceAccount token of its own service account (and
// no other), that the token the kubelet wrote expires, and that no
// long-lived token Secret exists for that service account.
func checkProjectedToken(t *testing.T, c *Cluster) {
	pod := podOf(t, c, "app.kubernetes.io/component=authserver")
	var spec struct {
		Metadata struct{ UID string } `json:"metadata"`
		Spec     struct {
			ServiceAccountName           string `json:"serviceAccountName"`
			AutomountServiceAccountToken *bool  `json:"automountServiceAccountToken"`
			Volumes                      []struct {
				Name      string `json:"name"`
				Secret    any    `json:"secret"`
				Projected *struct {
					Sources []struct {
						ServiceAccountToken *struct {
							ExpirationSeconds int64  `json:"expirationSeconds"`
							Path              string `json:"path"`
						} `json:"serviceAccountToken"`
					} `json:"sources"`
				} `json:"projected"`
			} `json:"volumes"`
			Containers []struct {
				Name         string `json:"name"`
				VolumeMounts []struct {
					Name      string `json:"name"`
					MountPath string `json:"mountPath"`
				} `json:"volumeMounts"`
			} `json:"containers"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(c.MustKubectl("get", "pod", "-n", ns, pod, "-o", "json")), &spec); err != nil {
		t.Fatal(err)
	}
	s := spec.Spec
	if s.ServiceAccountName != "authops-authserver" || s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		t.Errorf("service account %q, automount %v: want authops-authserver and no automounted token", s.ServiceAccountName, s.AutomountServiceAccountToken)
	}
	var tokenVolume string
	var expiration int64
	for _, ctr := range s.Containers {
		for _, m := range ctr.VolumeMounts {
			if ctr.Name == "authserver" && m.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount" {
				tokenVolume = m.Name
			}
		}
	}
	for _, v := range s.Volumes {
		if v.Name == tokenVolume && v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.ServiceAccountToken != nil {
					expiration = src.ServiceAccountToken.ExpirationSeconds
				}
			}
		}
		if v.Secret != nil {
			t.Logf("secret volume %s: %v", v.Name, v.Secret)
		}
	}
	if tokenVolume == "" || expiration == 0 {
		t.Fatalf("the authserver's token volume %q is not a projected serviceAccountToken with expirationSeconds", tokenVolume)
	}
	// The token the kubelet wrote into the volume (on this machine).
	data, err := os.ReadFile(filepath.Join(c.Dir, "kubelet", "pods", spec.Metadata.UID, "volumes", "kubernetes.io~projected", tokenVolume, "token"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(string(data)), ".")
	var claims struct {
		Sub string `json:"sub"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
	}
	if len(parts) != 3 {
		t.Fatalf("the token file holds no JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		err = json.Unmarshal(payload, &claims)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The API server extends a token asked for with exactly 3607s (the
	// default of the automounted token) to a year when
	// --service-account-extend-token-expiration is on (its default), for
	// clients that do not reload their token: the lifetime the kubelet got
	// must be the one the volume asks for.
	if claims.Sub != "system:serviceaccount:"+ns+":authops-authserver" || claims.Exp == 0 || claims.Exp-claims.Iat > expiration {
		t.Errorf("the mounted token: sub %q, lifetime %ds: want the authserver's service account and a lifetime of at most the volume's expirationSeconds %d",
			claims.Sub, claims.Exp-claims.Iat, expiration)
	}
	secrets := c.MustKubectl("get", "secrets", "-A", "--field-selector", "type=kubernetes.io/service-account-token",
		"-o", `jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}:{.metadata.annotations.kubernetes\.io/service-account\.name} {end}`)
	for _, s := range strings.Fields(secrets) {
		if strings.HasSuffix(s, ":authops-authserver") {
			t.Errorf("a long-lived token Secret exists for the authserver: %s", s)
		}
	}
	t.Logf("MEASURED projected token: volume %s, expirationSeconds %d, the mounted token's lifetime %ds, sub %s; token Secrets in the cluster: %q",
		tokenVolume, expiration, claims.Exp-claims.Iat, claims.Sub, secrets)
}

// apiServerOutage stops the API server for 60s under token load (one
// request every 100ms, 5s before, the outage, 20s after), then checks that
// every token request succeeded, that the manager container (in the pods
// selected by managerPods) restarted at most maxRestarts times and is Ready
// without CrashLoopBackOff, and that the manager reconciles a new
// OAuthClient to Ready.
func apiServerOutage(t *testing.T, c *Cluster, oc *oauthClient, shape, managerPods, container string, maxRestarts int) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	pod := podOf(t, c, managerPods)
	before := restartCount(t, c, pod, container)
	authPod := podOf(t, c, "app.kubernetes.io/component=authserver")
	authBefore := restartCount(t, c, authPod, "authserver")
	load := oc.startLoad(t, "API server stopped 60s ("+shape+")", 100*time.Millisecond, 1000)
	time.Sleep(5 * time.Second)
	stopped := time.Now()
	if err := c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(outage)
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("MEASURED %s: the API server was down (SIGTERM to ready again) for %.1fs", shape, back.Sub(stopped).Seconds())
	c.Stage("API server stopped (" + shape + ")")
	// Watch the manager for 20s after the API server is back.
	crashLoop := false
	for time.Since(back) < 20*time.Second {
		if reason, _ := c.Kubectl(ctx, "get", "pod", "-n", ns, pod, "-o",
			`jsonpath={.status.containerStatuses[?(@.name=="`+container+`")].state.waiting.reason}`); reason == "CrashLoopBackOff" {
			crashLoop = true
		}
		time.Sleep(time.Second)
	}
	load.finish(t, true)
	if err := c.Eventually(ctx, 2*time.Minute, "the manager Ready", func() error {
		out, err := c.Kubectl(ctx, "get", "pod", "-n", ns, pod, "-o", `jsonpath={.status.containerStatuses[?(@.name=="`+container+`")].ready}`)
		if err == nil && out != "true" {
			err = fmt.Errorf("ready=%q", out)
		}
		return err
	}); err != nil {
		t.Error(err)
	}
	after := restartCount(t, c, pod, container)
	authAfter := restartCount(t, c, authPod, "authserver")
	if after > before {
		// Why the manager ended: how its previous container ended, and its
		// last lines.
		last, err := c.Kubectl(ctx, "get", "pod", "-n", ns, pod, "-o",
			`jsonpath={.status.containerStatuses[?(@.name=="`+container+`")].lastState.terminated}`)
		if err != nil {
			last = err.Error()
		}
		prev, err := c.Kubectl(ctx, "logs", "-n", ns, pod, "-c", container, "--previous", "--tail=3")
		if err != nil {
			prev = err.Error()
		}
		t.Logf("MEASURED %s: the manager's previous container: %s; its last lines:\n%s", shape, last, prev)
	}
	ready := time.Now()
	name := "after-outage-" + shape
	applyClient(t, c, name)
	c.MustKubectl("wait", "-n", samplesNamespace, "--for=condition=Ready", "--timeout=120s", "oauthclient/"+name)
	t.Logf("MEASURED %s: manager restarts during the outage %d (CrashLoopBackOff seen: %t), authserver restarts %d; a new OAuthClient Ready %.1fs after the manager was",
		shape, after-before, crashLoop, authAfter-authBefore, time.Since(ready).Seconds())
	if after-before > maxRestarts || crashLoop {
		t.Errorf("the manager restarted %d times (at most %d expected), CrashLoopBackOff %t", after-before, maxRestarts, crashLoop)
	}
	if authAfter != authBefore {
		t.Errorf("the authserver container restarted %d times", authAfter-authBefore)
	}
	c.Stage("manager recovered (" + shape + ")")
}

// leaderKilled kills the leading manager (its process with SIGKILL, then
// its pod, force-deleted: no lease hand-over) under token load, and
// measures how long until another manager holds the Lease and a new
// OAuthClient is Ready.
func leaderKilled(t *testing.T, c *Cluster, oc *oauthClient) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	holder := func() string {
		out, _ := c.Kubectl(ctx, "get", "lease", "-n", ns, "manager.authops.io", "-o", "jsonpath={.spec.holderIdentity}")
		return out
	}
	old := holder()
	leader, _, _ := strings.Cut(old, "_")
	if leader == "" {
		t.Fatalf("no leader in Lease manager.authops.io: %q", old)
	}
	load := oc.startLoad(t, "leader manager killed", 50*time.Millisecond, 2000)
	time.Sleep(3 * time.Second)
	if _, err := c.KillContainer(ctx, ns, leader, "manager"); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	c.MustKubectl("delete", "pod", "-n", ns, leader, "--grace-period=0", "--force", "--wait=false")
	var now string
	if err := c.Eventually(ctx, 2*time.Minute, "a new leader", func() error {
		now = holder()
		if pod, _, _ := strings.Cut(now, "_"); pod == "" || pod == leader {
			return fmt.Errorf("holder %q", now)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	takeover := time.Since(killed)
	applyClient(t, c, "after-takeover")
	c.MustKubectl("wait", "-n", samplesNamespace, "--for=condition=Ready", "--timeout=120s", "oauthclient/after-takeover")
	t.Logf("MEASURED leader killed: Lease holder %s -> %s after %.1fs (leaseDuration 15s); a new OAuthClient Ready %.1fs after the kill",
		old, now, takeover.Seconds(), time.Since(killed).Seconds())
	time.Sleep(2 * time.Second)
	load.finish(t, true)
	c.Stage("leader killed")
}

// upgrade moves the release to a new image tag under token load (one
// request per every) and checks that the web app's refresh token, issued
// before, works after. wantNoFailure makes a failed token request fail the
// test (the rolling upgrade); otherwise the failures are reported (SQLite's
// Recreate stops the one authserver before it starts the new one).
func upgrade(t *testing.T, c *Cluster, oc *oauthClient, what string, every time.Duration, wantNoFailure bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	if err := c.ImportAuthops(ctx, tag2); err != nil {
		t.Fatal(err)
	}
	c.Stage("second image tag")
	load := oc.startLoad(t, "upgrade "+what, every, int((3*time.Minute)/every))
	time.Sleep(3 * time.Second)
	begin := time.Now()
	helmRun(ctx, t, c, "upgrade", "authops", chartDir(), "--namespace", ns, "--reuse-values", "--set", "image.tag="+tag2)
	for _, d := range strings.Fields(c.MustKubectl("get", "deployments", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}")) {
		c.MustKubectl("rollout", "status", "-n", ns, "deployment/"+d, "--timeout=240s")
	}
	took := time.Since(begin)
	// Until the Service answers again (SQLite: the new pod's endpoint) and
	// every old pod has stopped (the rollout is complete once the new ones
	// are Ready; the old ones serve on through their preStop pause).
	if err := oc.waitServed(ctx); err != nil {
		t.Error(err)
	}
	if err := c.Eventually(ctx, 2*time.Minute, "the old pods gone", func() error {
		images, err := c.Kubectl(ctx, "get", "pods", "-n", ns, "-o", `jsonpath={range .items[*]}{.spec.containers[*].image} {end}`)
		if err == nil && strings.Contains(images, ":"+tag+" ") {
			err = fmt.Errorf("pods of the old tag: %s", images)
		}
		return err
	}); err != nil {
		t.Error(err)
	}
	t.Logf("MEASURED upgrade %s: the last old pod was gone %.1fs after helm upgrade began", what, time.Since(begin).Seconds())
	time.Sleep(3 * time.Second)
	load.finish(t, wantNoFailure)
	for _, image := range strings.Fields(c.MustKubectl("get", "deployments", "-n", ns, "-o", `jsonpath={.items[*].spec.template.spec.containers[*].image}`)) {
		if image != ImageRepository+":"+tag2 {
			t.Errorf("a Deployment runs %s after the upgrade, want tag %s", image, tag2)
		}
	}
	t.Logf("MEASURED upgrade %s: helm upgrade to rollouts complete in %.1fs", what, took.Seconds())
	if err := oc.refresh(oc.context(ctx)); err != nil {
		t.Errorf("the refresh token issued before the upgrade, after it: %v", err)
	} else {
		t.Logf("MEASURED upgrade %s: the refresh token issued before the upgrade was redeemed after it", what)
	}
	c.Stage("upgrade " + what)
}

// podOf returns the name of the one running pod in ns with the label
// selector.
func podOf(t *testing.T, c *Cluster, selector string) string {
	t.Helper()
	out := strings.Fields(c.MustKubectl("get", "pods", "-n", ns, "-l", selector, "--field-selector", "status.phase=Running",
		"-o", "jsonpath={.items[*].metadata.name}"))
	if len(out) == 0 {
		t.Fatalf("no running pod with %s", selector)
	}
	return out[0]
}

// restartCount returns a container's restart count.
func restartCount(t *testing.T, c *Cluster, pod, container string) int {
	t.Helper()
	n, err := strconv.Atoi(c.MustKubectl("get", "pod", "-n", ns, pod, "-o",
		`jsonpath={.status.containerStatuses[?(@.name=="`+container+`")].restartCount}`))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitRestarted waits until the container has restarted since before and
// is Ready again.
func waitRestarted(t *testing.T, c *Cluster, pod, container string, before int) {
	t.Helper()
	if err := c.Eventually(context.Background(), 2*time.Minute, container+" restarted and Ready", func() error {
		out, err := c.Kubectl(context.Background(), "get", "pod", "-n", ns, pod, "-o",
			`jsonpath={.status.containerStatuses[?(@.name=="`+container+`")].restartCount} {.status.containerStatuses[?(@.name=="`+container+`")].ready}`)
		if err != nil {
			return err
		}
		if f := strings.Fields(out); len(f) != 2 || f[0] == strconv.Itoa(before) || f[1] != "true" {
			return fmt.Errorf("restartCount and ready: %q", out)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// applyClient creates a public device-flow OAuthClient in the samples'
// namespace under the strict policy.
func applyClient(t *testing.T, c *Cluster, name string) {
	t.Helper()
	path, err := c.write(name+".yaml", `apiVersion: oauth.authops.io/v1alpha1
kind: OAuthClient
metadata: {name: `+name+`, namespace: `+samplesNamespace+`}
spec:
  type: Public
  displayName: `+name+`
  grantTypes: [urn:ietf:params:oauth:grant-type:device_code]
  scopes: [openid]
  grantPolicyRef: {name: strict}
  tokenEndpointAuthMethod: none
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.MustKubectl("apply", "-f", path)
}

// tlsSecret issues a serving certificate for host from the cluster's CA
// and creates (or replaces) the authserver's TLS Secret with it, returning
// the certificate's serial number.
func tlsSecret(t *testing.T, c *Cluster, name, host, verb string) string {
	t.Helper()
	if err := c.ca.issue(identity{name: name, user: host, server: true, dns: []string{host}}); err != nil {
		t.Fatal(err)
	}
	manifest := c.MustKubectl("create", "secret", "tls", "authops-serving-tls", "-n", ns,
		"--cert="+c.ca.path(name+".crt"), "--key="+c.ca.path(name+".key"), "--dry-run=client", "-o", "yaml")
	path, err := c.write(name+"-secret.yaml", manifest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if verb == "create" {
		c.MustKubectl("create", "-f", path)
	} else {
		c.MustKubectl("replace", "-f", path)
	}
	pair, err := tls.LoadX509KeyPair(c.ca.path(name+".crt"), c.ca.path(name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber.String()
}

// servedSerial makes a new TLS connection to the Service and returns the
// serial number of the certificate it presents (verified against the CA).
func servedSerial(t *testing.T, oc *oauthClient) string {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: oc.transport.TLS}
	conn, err := d.DialContext(context.Background(), "tcp", oc.transport.Address)
	if err != nil {
		return "error: " + err.Error()
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
}
