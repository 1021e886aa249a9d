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

// Package cluster runs a real single-node Kubernetes cluster on this
// machine for the real-cluster suite: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet and kube-proxy built from
// source (make cluster-assets), containerd and runc from Debian packages,
// the bridge CNI plugin, certificates made here, everything under a temp
// folder. Images are imported from tarballs (package image); nothing is
// pulled. Stop, a signal, or the next run's sweep removes everything the
// cluster made.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authops/authops/test/cluster/image"
	"github.com/authops/authops/test/envtest"
	"github.com/authops/authops/test/stack"
)

// EnvRequire makes a missing prerequisite (root, containerd, the source-built
// binaries) fail the suite instead of skipping it: CI sets it.
const EnvRequire = "AUTHOPS_REQUIRE_CLUSTER"

// PauseImage is the sandbox image containerd runs for every pod; the
// harness builds and imports it.
const PauseImage = "registry.k8s.io/pause:3.10"

// ServiceIP is the first address of the Service range: the API server's
// Service (kubernetes.default).
const ServiceIP = "10.96.0.1"

// binaries the cluster runs from the assets folder (bin/k8s).
var assetBins = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}

// hostBins are the Debian packages' programs the cluster needs.
var hostBins = []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ip6tables", "conntrack", "ip", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "/usr/lib/cni/portmap"}

// Require skips the test, loudly, when this machine cannot run the
// cluster, or fails it when $AUTHOPS_REQUIRE_CLUSTER=1 (CI).
func Require(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	assets, _ := assetsDir()
	for _, b := range assetBins {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			missing = append(missing, filepath.Join(assets, b)+" (make cluster-assets)")
		}
	}
	for _, b := range hostBins {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b+" (apt-get install containerd runc containernetworking-plugins iptables conntrack iproute2)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "the real-cluster suite needs " + strings.Join(missing, ", ")
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg + "; $" + EnvRequire + "=1 requires it")
	}
	t.Skip("SKIPPED: " + msg + " (CI sets $" + EnvRequire + "=1 and fails instead)")
}

// assetsDir is $KUBEBUILDER_ASSETS, else bin/k8s.
func assetsDir() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	return filepath.Join(envtest.RepoRoot(), "bin", "k8s"), nil
}

// Cluster is a running single-node cluster.
type Cluster struct {
	// Dir holds everything of the cluster: certificates, configuration,
	// data, logs.
	Dir string
	// Kubeconfig is an administrator's (system:masters).
	Kubeconfig string
	// NodeName and NodeIP name the one node; the API server listens on
	// NodeIP, which pods reach too.
	NodeName string
	NodeIP   net.IP

	t       *testing.T
	assets  string
	ca      *ca
	st      state
	procs   []*stack.Proc
	args    map[string][]string // of each process started, for a restart
	apiURL  string              // https://NodeIP:port
	socket  string              // containerd's
	began   time.Time           // of the current stage
	started time.Time
	stages  []string

	stopOnce sync.Once
	stopErr  error
}

// active is the running cluster, for the signal handler.
var (
	activeMu sync.Mutex
	active   *Cluster
)

// Start brings up a cluster for the test, after sweeping what an earlier
// run left, and registers its teardown. It fails the test when the cluster
// does not come up (the logs are in Dir until the teardown).
func Start(t *testing.T) *Cluster {
	t.Helper()
	Require(t)
	lock, err := acquireLock(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Close() }) // last: after the teardown
	if err := sweepStale(t.Logf); err != nil {
		t.Fatalf("sweeping a previous cluster: %v", err)
	}
	assets, _ := assetsDir()
	dir, err := os.MkdirTemp("", "authops-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Dir: dir, t: t, assets: assets, NodeName: "authops-node", began: time.Now(), started: time.Now(),
		st: state{Dir: dir, Sysctls: map[string]string{}, KubeProxy: filepath.Join(assets, "kube-proxy")}}
	if err := c.st.save(); err != nil {
		t.Fatal(err)
	}
	activeMu.Lock()
	active = c
	activeMu.Unlock()
	watchSignals()
	// go test's -timeout ends the binary without running cleanups: tear the
	// cluster down a minute before it.
	if deadline, ok := t.Deadline(); ok {
		watchdog := time.AfterFunc(time.Until(deadline)-time.Minute, func() {
			fmt.Fprintln(os.Stderr, "cluster: the test's deadline is a minute away: tearing the cluster down")
			c.stopOnce.Do(func() { c.stopErr = c.teardown(stderrf) })
		})
		t.Cleanup(func() { watchdog.Stop() })
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("cluster teardown: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.up(ctx); err != nil {
		c.dumpLogs()
		t.Fatalf("bringing the cluster up: %v", err)
	}
	c.Stage("node Ready")
	c.t.Logf("cluster up in %.1fs", time.Since(c.started).Seconds())
	return c
}

// acquireLock takes the machine's cluster lock, waiting (at most 30
// minutes) while another run, from any checkout, holds it.
func acquireLock(t *testing.T) (*os.File, error) {
	f, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for waited := time.Duration(0); ; waited += time.Second {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return f, nil
		case !errors.Is(err, syscall.EWOULDBLOCK):
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", lockFile, err)
		case waited == 0:
			t.Logf("another real-cluster run holds %s: waiting for it", lockFile)
		case waited > 30*time.Minute:
			f.Close()
			return nil, fmt.Errorf("another real-cluster run held %s for 30 minutes", lockFile)
		}
		time.Sleep(time.Second)
	}
}

// stderrf logs to standard error, where a test's log may no longer go.
func stderrf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

var signalsOnce sync.Once

// watchSignals tears the active cluster down on SIGINT or SIGTERM (go
// test's Ctrl-C), then exits.
func watchSignals() {
	signalsOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			s := <-ch
			fmt.Fprintf(os.Stderr, "cluster: %v: tearing the cluster down\n", s)
			activeMu.Lock()
			c := active
			activeMu.Unlock()
			if c != nil {
				// Once: a teardown already under way (Stop) finishes first.
				c.stopOnce.Do(func() { c.stopErr = c.teardown(stderrf) })
				if c.stopErr != nil {
					fmt.Fprintf(os.Stderr, "cluster teardown: %v\n", c.stopErr)
				}
			}
			os.Exit(1)
		}()
	})
}

// Stage logs how long the cluster has taken since the previous stage (or
// since Start) and records it for the summary the teardown prints.
func (c *Cluster) Stage(name string) time.Duration {
	d := time.Since(c.began)
	c.began = time.Now()
	line := fmt.Sprintf("stage %-40s %6.1fs", name, d.Seconds())
	c.stages = append(c.stages, line)
	c.t.Log(line)
	return d
}

// up starts everything, in order, and waits until the node is Ready and
// the default ServiceAccount exists.
func (c *Cluster) up(ctx context.Context) error {
	var err error
	if c.NodeIP, err = nodeIP(); err != nil {
		return err
	}
	pki := filepath.Join(c.Dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	if c.ca, err = newCA(pki); err != nil {
		return err
	}
	if err := c.issueCertificates(); err != nil {
		return err
	}
	for _, k := range append([]string{"net/ipv4/ip_forward"}, kubeletSysctls...) {
		v, err := os.ReadFile("/proc/sys/" + k)
		if err != nil {
			return err
		}
		c.st.Sysctls[k] = strings.TrimSpace(string(v))
	}
	if err := c.st.save(); err != nil {
		return err
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return err
	}
	if err := c.startControlPlane(ctx); err != nil {
		return err
	}
	c.Stage("control plane ready")
	if err := c.startContainerd(ctx); err != nil {
		return err
	}
	if err := c.importPause(ctx); err != nil {
		return err
	}
	c.Stage("containerd and pause image")
	if err := c.startNode(); err != nil {
		return err
	}
	if err := c.Eventually(ctx, 2*time.Minute, "node Ready", func() error {
		out, err := c.Kubectl(ctx, "get", "node", c.NodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err == nil && out != "True" {
			err = fmt.Errorf("Ready=%q", out)
		}
		return err
	}); err != nil {
		return err
	}
	return c.Eventually(ctx, time.Minute, "the default ServiceAccount", func() error {
		_, err := c.Kubectl(ctx, "get", "serviceaccount", "default", "-n", "default")
		return err
	})
}

// nodeIP returns the first IPv4 address of an up interface that is not the
// loopback or the cluster's bridge.
func nodeIP() (net.IP, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || i.Name == bridgeName {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.To4(), nil
			}
		}
	}
	return nil, errors.New("no IPv4 address for the node")
}

// issueCertificates makes the serving and client certificates of every
// component, and the ServiceAccount signing key.
func (c *Cluster) issueCertificates() error {
	ids := []identity{
		{name: "apiserver", user: "kube-apiserver", server: true,
			dns: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
			ips: []net.IP{c.NodeIP, net.ParseIP(ServiceIP), net.ParseIP("127.0.0.1")}},
		{name: "admin", user: "authops-test-admin", groups: []string{"system:masters"}},
		{name: "controller-manager", user: "system:kube-controller-manager"},
		{name: "scheduler", user: "system:kube-scheduler"},
		{name: "kube-proxy", user: "system:kube-proxy"},
		{name: "kubelet-client", user: "system:node:" + c.NodeName, groups: []string{"system:nodes"}},
		{name: "kubelet", user: c.NodeName, server: true, dns: []string{c.NodeName}, ips: []net.IP{c.NodeIP}},
		{name: "apiserver-kubelet-client", user: "kube-apiserver-kubelet-client", groups: []string{"system:masters"}},
	}
	for _, id := range ids {
		if err := c.ca.issue(id); err != nil {
			return fmt.Errorf("certificate %s: %w", id.name, err)
		}
	}
	return writeServiceAccountKey(c.ca.dir)
}

// start runs an asset binary (or a host program when bin is absolute) with
// args and records its PID.
func (c *Cluster) start(name, bin string, args ...string) (*stack.Proc, error) {
	if !filepath.IsAbs(bin) {
		bin = filepath.Join(c.assets, bin)
	}
	p, err := stack.StartProcess(name, bin, args, filepath.Join(c.Dir, name+".log"))
	if err != nil {
		return nil, err
	}
	if c.args == nil {
		c.args = map[string][]string{}
	}
	c.args[name] = append([]string{bin}, args...)
	c.procs = append(c.procs, p)
	c.st.Pids = append(c.st.Pids, namedPid{Name: name, Pid: p.Pid()})
	return p, c.st.save()
}

// startControlPlane starts etcd, kube-apiserver (on NodeIP), and once it is
// ready kube-controller-manager and kube-scheduler.
func (c *Cluster) startControlPlane(ctx context.Context) error {
	etcdClient, err := stack.FreePort()
	if err != nil {
		return err
	}
	etcdPeer, err := stack.FreePort()
	if err != nil {
		return err
	}
	apiPort, err := stack.FreePort()
	if err != nil {
		return err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	if _, err := c.start("etcd", "etcd", "--data-dir="+filepath.Join(c.Dir, "etcd"), "--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL, fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", etcdPeer),
		"--unsafe-no-fsync"); err != nil {
		return err
	}
	pki := c.ca.path
	apiserver, err := c.start("kube-apiserver", "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address="+c.NodeIP.String(), fmt.Sprintf("--secure-port=%d", apiPort), "--advertise-address="+c.NodeIP.String(),
		"--tls-cert-file="+pki("apiserver.crt"), "--tls-private-key-file="+pki("apiserver.key"),
		"--client-ca-file="+pki("ca.crt"),
		"--kubelet-client-certificate="+pki("apiserver-kubelet-client.crt"), "--kubelet-client-key="+pki("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority="+pki("ca.crt"),
		// kubectl logs and exec reach the kubelet at the node's address; its
		// name resolves nowhere.
		"--kubelet-preferred-address-types=InternalIP",
		"--service-cluster-ip-range="+serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc", "--api-audiences=https://kubernetes.default.svc",
		"--service-account-key-file="+pki("sa.pub"), "--service-account-signing-key-file="+pki("sa.key"),
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--shutdown-watch-termination-grace-period=2s", "--profiling=false")
	if err != nil {
		return err
	}
	server := fmt.Sprintf("https://%s:%d", c.NodeIP, apiPort)
	c.apiURL = server
	for _, name := range []string{"admin", "controller-manager", "scheduler", "kube-proxy", "kubelet-client"} {
		path, err := c.ca.kubeconfig(name, server)
		if err != nil {
			return err
		}
		if name == "admin" {
			c.Kubeconfig = path
		}
	}
	if err := c.waitReadyz(ctx, server+"/readyz", apiserver); err != nil {
		return err
	}
	if _, err := c.start("kube-controller-manager", "kube-controller-manager",
		"--kubeconfig="+pki("controller-manager.kubeconfig"), "--leader-elect=false", "--secure-port=0",
		"--use-service-account-credentials", "--service-account-private-key-file="+pki("sa.key"),
		"--root-ca-file="+pki("ca.crt"), "--service-cluster-ip-range="+serviceCIDR,
		"--cluster-signing-cert-file="+pki("ca.crt"), "--cluster-signing-key-file="+pki("ca.key"),
		// The API server outage scenarios stop the only API server for 60s,
		// during which the kubelet cannot renew its node Lease either. With
		// the default 40s grace the node controller can, on its first pass
		// after the API server returns, mark the one node NotReady, and with
		// it every pod, before it sees the kubelet's next renewal: an outage
		// of the test cluster's own making, not of the workload under test.
		"--node-monitor-grace-period=3m"); err != nil {
		return err
	}
	_, err = c.start("kube-scheduler", "kube-scheduler", "--kubeconfig="+pki("scheduler.kubeconfig"), "--leader-elect=false",
		"--secure-port=0")
	return err
}

// waitReadyz polls the API server's /readyz as the administrator.
func (c *Cluster) waitReadyz(ctx context.Context, url string, p *stack.Proc) error {
	cert, err := tls.LoadX509KeyPair(c.ca.path("admin.crt"), c.ca.path("admin.key"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.cert)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: pool}}}
	return c.Eventually(ctx, 2*time.Minute, "kube-apiserver /readyz", func() error {
		select {
		case <-p.Exited():
			return fmt.Errorf("kube-apiserver exited: %v\n%s", p.Err(), p.LogTail(2000))
		default:
		}
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
}

// Eventually retries f every 250ms until it succeeds or within passes.
func (c *Cluster) Eventually(ctx context.Context, within time.Duration, what string, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not within %s: %w", what, within, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Kubectl runs kubectl as the administrator and returns its standard output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	return stack.RunKubectl(ctx, c.Kubeconfig, args...)
}

// MustKubectl runs kubectl and fails the test when it fails.
func (c *Cluster) MustKubectl(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := c.Kubectl(ctx, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// Ctr runs ctr against the cluster's containerd, in the k8s.io namespace
// (the CRI's).
func (c *Cluster) Ctr(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", c.socket, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// ImportImage loads an image tarball (package image) into containerd.
func (c *Cluster) ImportImage(ctx context.Context, tarball string) error {
	_, err := c.Ctr(ctx, "images", "import", tarball)
	return err
}

// importPause builds the sandbox program and imports it as PauseImage.
func (c *Cluster) importPause(ctx context.Context) error {
	bin := filepath.Join(c.Dir, "images", "pause")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	if err := stack.Build(ctx, "./test/cluster/image/pause", bin); err != nil {
		return err
	}
	tar := bin + ".tar"
	if err := image.Write(image.Pause(bin), PauseImage, tar); err != nil {
		return err
	}
	return c.ImportImage(ctx, tar)
}

// Stop deletes every pod through the kubelet (so the CNI plugin tears their
// networks down), then tears the cluster down (see teardown), printing the
// stage times. It runs once; t.Cleanup calls it.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		if c.t.Failed() {
			c.dumpLogs()
		}
		c.deletePods()
		c.stopErr = c.teardown(c.t.Logf)
		c.Stage("teardown")
		c.t.Logf("cluster stages:\n%s", strings.Join(c.stages, "\n"))
	})
	return c.stopErr
}

// deletePods stops the controllers that would make new pods, then deletes
// every pod and waits until the kubelet has stopped them.
func (c *Cluster) deletePods() {
	for _, p := range c.procs {
		if p.Name == "kube-controller-manager" {
			p.Stop(10 * time.Second)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := c.Kubectl(ctx, "delete", "pods", "--all", "--all-namespaces", "--grace-period=5", "--timeout=80s"); err != nil {
		c.t.Logf("deleting the pods through the kubelet (the teardown kills what is left): %v", err)
	}
}

// teardown stops the processes by PID (their Proc reaps them) and
// removes what the cluster made.
func (c *Cluster) teardown(logf func(string, ...any)) error {
	activeMu.Lock()
	if active == c {
		active = nil
	}
	activeMu.Unlock()
	return teardown(&c.st, logf)
}

// dumpLogs shows the end of every process log.
func (c *Cluster) dumpLogs() {
	for _, p := range c.procs {
		c.t.Logf("--- last lines of %s ---\n%s", p.Name, lastLines(p.LogTail(6000), 40))
	}
}
