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

// Command scale is the control-plane scale run: against the source-built
// API server (test/envtest) it starts the real manager and authserver
// binaries (Kubernetes loader), creates N OAuthClients across the
// namespaces with GrantPolicies, and reports the time until all are Ready
// and until the authserver serves all of them, both processes' peak RSS,
// API writes per client, and the latency from a GrantPolicy change to the
// authserver's changed answer. See docs/benchmarks.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/go-logr/logr"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/controllers"
	"github.com/authops/authops/test/bench"
	"github.com/authops/authops/test/envtest"
	"github.com/authops/authops/test/stack"
)

const operatorNS = "authops-system"

type options struct {
	clients, namespaces, policies, changes int
	// policyClients is how many clients policy-0 governs (all in the first
	// namespace): the size of the measured change, the same at every N.
	policyClients int
	// etcdQuota is etcd's --quota-backend-bytes.
	etcdQuota          int64
	jsonPath           string
	qps                float64
	burst, concurrency int
	workDir            string
	bins               stack.Binaries
	timeout            time.Duration
	// snapshotOnly skips the manager: the compiled snapshot Secrets are
	// written directly, to measure the authserver alone.
	snapshotOnly bool
	// createsOnly skips both planes: the API server's cost of the creates.
	createsOnly bool
	opCosts     bool
	profileAt   float64
	// noAdmission leaves out config/admission (the policies every install
	// has): the clients then arrive without the manager's finalizer, which
	// the manager adds with one more write each.
	noAdmission bool
}

func main() {
	var o options
	root := envtest.RepoRoot()
	flag.IntVar(&o.clients, "clients", 10000, "OAuthClients to create.")
	flag.IntVar(&o.namespaces, "namespaces", 100, "Namespaces the clients are spread over.")
	flag.IntVar(&o.policies, "policies", 10, "GrantPolicies (policy-k in namespace k; the clients there reference it, the others use the built-in defaults).")
	flag.IntVar(&o.policyClients, "policy-clients", 1000, "Clients in the first namespace, all governed by policy-0, the GrantPolicy the changes touch (0: spread the clients evenly).")
	flag.Int64Var(&o.etcdQuota, "etcd-quota-bytes", 8<<30, "etcd's --quota-backend-bytes (its default, 2 GiB, is too small for 100,000 clients and their history).")
	flag.StringVar(&o.jsonPath, "json", "", "Also write the measures to this file as JSON (for --combine).")
	combineFiles := flag.String("combine", "", "Comma-separated JSON files of runs at several sizes: print the growth table and exit (no run).")
	flag.IntVar(&o.changes, "changes", 50, "GrantPolicy changes of each kind (access token lifetime; client_credentials allowed or not) for the apply-to-served latency.")
	flag.Float64Var(&o.qps, "manager-qps", 500, "The manager's --kube-api-qps.")
	flag.IntVar(&o.burst, "manager-burst", 1000, "The manager's --kube-api-burst.")
	flag.IntVar(&o.concurrency, "manager-concurrency", 100, "The manager's --max-concurrent-reconciles.")
	flag.StringVar(&o.workDir, "work-dir", filepath.Join(root, "bin", "scale"), "Kubeconfig, store and logs.")
	flag.StringVar(&o.bins.Manager, "manager", "", "Prebuilt manager binary (make build; default: $AUTHOPS_MANAGER_BIN, else build it).")
	flag.StringVar(&o.bins.Authserver, "authserver", "", "Prebuilt authserver binary (make build; default: $AUTHOPS_AUTHSERVER_BIN, else build it).")
	flag.DurationVar(&o.timeout, "timeout", 0, "Give up after this long (default: 10 minutes plus 30 ms per client, 60 minutes for 100,000).")
	flag.BoolVar(&o.createsOnly, "creates-only", false, "No manager, no authserver: create the N OAuthClients and report the time and the machine's CPU (what the API server alone costs).")
	flag.Float64Var(&o.profileAt, "profile-at", 0, "Take the 20-second CPU profiles of the manager, the authserver and the API server from the create of this fraction of the clients (0: from 10 s after the first create).")
	flag.BoolVar(&o.opCosts, "op-costs", false, "No manager, no authserver: the API server's and etcd's CPU per kind of write a client costs (OAuthClient create, Secret create, status write), --clients of each.")
	flag.BoolVar(&o.noAdmission, "no-admission", false, "Leave out config/admission (installed by Helm and kustomize): no snapshot finalizer at creation, so the manager patches it onto every client.")
	flag.BoolVar(&o.snapshotOnly, "snapshot-only", false, "No manager: write N compiled client documents as snapshot Secrets directly and measure the authserver alone (time to serve them all, peak RSS).")
	flag.Parse()
	if *combineFiles != "" {
		if err := combine(os.Stdout, strings.Split(*combineFiles, ",")); err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
		return
	}
	if o.timeout == 0 {
		o.timeout = 10*time.Minute + time.Duration(o.clients)*30*time.Millisecond
	}
	// On an interrupt or a termination the context ends, and run's
	// deferred stops end the authserver, the manager, kube-apiserver and
	// etcd (whose data folder envtest removes).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
}

func run(ctx context.Context, o options) error {
	// The informer and envtest log through controller-runtime; this
	// program reports through logf.
	ctrllog.SetLogger(logr.Discard())
	if o.bins.Manager == "" || o.bins.Authserver == "" {
		b, err := stack.Bins()
		if err != nil {
			return err
		}
		o.bins = b
	}
	api, err := stack.StartAPIServer(ctx, stack.APIServerOptions{Dir: o.workDir, User: "scale-admin",
		EtcdFlags: map[string]string{"quota-backend-bytes": strconv.FormatInt(o.etcdQuota, 10)}})
	if err != nil {
		return err
	}
	defer func() { _ = api.Stop() }()
	// The store of the last run (no tokens are issued here but the
	// probe's) is not this run's.
	removeStores := func() {
		for _, f := range []string{"state.db", "state.db-wal", "state.db-shm", "state-snapshot-only.db"} {
			_ = os.Remove(filepath.Join(o.workDir, f))
		}
	}
	removeStores()
	// (Deferred before the authserver's stop, so it runs after it.)
	defer removeStores()
	apiPid, etcdPid := childPid("kube-apiserver"), childPid("etcd")
	if apiPid == 0 || etcdPid == 0 {
		return fmt.Errorf("no kube-apiserver (%d) or etcd (%d) child process", apiPid, etcdPid)
	}
	kubeconfig := api.Kubeconfig
	cfg := rest.CopyConfig(api.Config)
	cfg.QPS, cfg.Burst = 5000, 10000
	scheme := stack.Scheme()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	for i := -1; i < o.namespaces; i++ {
		name := operatorNS
		if i >= 0 {
			name = nsName(i)
		}
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			return err
		}
	}
	policy := func(k int, withCC bool) *oauthv1alpha1.GrantPolicy {
		gts := []oauthv1alpha1.GrantType{oauthv1alpha1.GrantTypeAuthorizationCode, oauthv1alpha1.GrantTypeRefreshToken}
		if withCC {
			gts = append(gts, oauthv1alpha1.GrantTypeClientCredentials)
		}
		return &oauthv1alpha1.GrantPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: nsName(k), Name: fmt.Sprintf("policy-%d", k)},
			Spec: oauthv1alpha1.GrantPolicySpec{AllowedGrantTypes: gts}}
	}
	for k := range min(o.policies, o.namespaces) {
		if err := c.Create(ctx, policy(k, true)); err != nil {
			return err
		}
	}
	if !o.noAdmission {
		if err := applyAdmission(ctx, c); err != nil {
			return err
		}
	}

	if o.snapshotOnly {
		return runSnapshotOnly(ctx, o, c, kubeconfig)
	}
	if o.createsOnly {
		return runCreatesOnly(ctx, o, c, cfg, apiPid, etcdPid)
	}
	if o.opCosts {
		return runOpCosts(ctx, o, c, apiPid, etcdPid)
	}
	// The two planes.
	addr := func() string { a, _ := stack.FreeAddr(); return a }
	asMetrics, mgrPprof, asPprof := addr(), addr(), addr()
	asSrv, err := stack.NewAuthserver(stack.AuthserverOptions{Bin: o.bins.Authserver, Kubeconfig: kubeconfig,
		Namespace: operatorNS, Store: "sqlite://" + filepath.Join(o.workDir, "state.db"), Metrics: asMetrics,
		Args: []string{"--pprof-bind-address=" + asPprof, "--log-level=WARN"}, Log: filepath.Join(o.workDir, "authserver.log")})
	if err != nil {
		return err
	}
	mgrSrv, err := stack.NewManager(stack.ManagerOptions{Bin: o.bins.Manager, Kubeconfig: kubeconfig, Namespace: operatorNS,
		Issuer: asSrv.URL, Args: []string{"--kube-api-qps=" + strconv.FormatFloat(o.qps, 'f', -1, 64),
			"--kube-api-burst=" + strconv.Itoa(o.burst), "--max-concurrent-reconciles=" + strconv.Itoa(o.concurrency),
			"--zap-log-level=error", "--pprof-bind-address=" + mgrPprof}, Log: filepath.Join(o.workDir, "manager.log")})
	if err != nil {
		return err
	}
	if err := stack.StartAll(ctx, mgrSrv, asSrv); err != nil {
		return err
	}
	defer mgrSrv.Stop()
	defer asSrv.Stop()
	mgr, as, issuer := mgrSrv.Proc, asSrv.Proc, asSrv.URL
	// Wait for the signing key set to be loaded (one document).
	base, err := waitDocuments(ctx, asMetrics, 1, time.Minute)
	if err != nil {
		return err
	}

	// Watch the clients' Ready conditions through an informer.
	// (Without managed fields: at 100,000 clients they are most of the
	// cached bytes.)
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return err
	}
	ready, err := countReady(ctx, informers)
	if err != nil {
		return err
	}
	if _, err := informers.GetInformer(ctx, &oauthv1alpha1.GrantPolicy{}); err != nil {
		return err
	}
	// The replicas' served Leases: every update is one API write.
	leaseWrites, err := countLeaseWrites(ctx, informers)
	if err != nil {
		return err
	}
	go func() { _ = informers.Start(ctx) }()
	informers.WaitForCacheSync(ctx)
	leasesFrom := time.Now()

	writes0, err := apiWrites(ctx, cfg)
	if err != nil {
		return err
	}
	by0, _ := apiRequestsBy(ctx, cfg)
	logf("creating %d OAuthClients in %d namespaces (%d GrantPolicies)", o.clients, o.namespaces, o.policies)
	// 20-second CPU profiles of the manager's reconciling, the
	// authserver's loading and the API server (through its own
	// /debug/pprof: the run's credentials are the cluster admin's), from
	// 10 s after the first create, or with --profile-at from the create of
	// that fraction of the clients (to compare sizes at the same point).
	apiHTTP, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	profiles := func(delay time.Duration) {
		for name, address := range map[string]string{"manager": "http://" + mgrPprof, "authserver": "http://" + asPprof} {
			go saveProfile(ctx, http.DefaultClient, address, filepath.Join(o.workDir, name+".cpu.pprof"), delay, 20*time.Second)
		}
		go saveProfile(ctx, apiHTTP, strings.TrimSuffix(cfg.Host, "/"), filepath.Join(o.workDir, "kube-apiserver.cpu.pprof"), delay, 20*time.Second)
	}
	profileAt := -1
	if o.profileAt > 0 {
		profileAt = min(o.clients-1, int(o.profileAt*float64(o.clients)))
	} else {
		profiles(10 * time.Second)
	}
	// The authserver's memory with only the key set: the empty baseline.
	asBaseKiB := rssKiB(as.Pid())
	build0 := metricValues(asMetrics, buildSum, buildCount)
	mgrCPU0, asCPU0, selfCPU0, busy0 := bench.CPUTicks(mgr.Pid()), bench.CPUTicks(as.Pid()), bench.CPUTicks(os.Getpid()), machineBusyTicks()
	apiCPU0, etcdCPU0 := bench.CPUTicks(apiPid), bench.CPUTicks(etcdPid)
	start := time.Now()
	if err := createClients(ctx, c, o, func(i int) {
		if i == profileAt {
			logf("profiling from the create of client %d", i)
			profiles(0)
		}
	}); err != nil {
		return err
	}
	created := time.Since(start)
	logf("created in %s", created.Round(time.Millisecond))

	var readyAt, servedAt time.Duration
	for readyAt == 0 || servedAt == 0 {
		if ctx.Err() != nil {
			return fmt.Errorf("gave up: %w (ready at %s, served at %s)", ctx.Err(), readyAt, servedAt)
		}
		if readyAt == 0 {
			if n := int(ready.Load()); n >= o.clients {
				readyAt = time.Since(start)
				logf("all %d Ready after %s", n, readyAt.Round(time.Millisecond))
			}
		}
		if servedAt == 0 {
			if n, err := documents(asMetrics); err == nil && n >= base+o.clients {
				servedAt = time.Since(start)
				logf("authserver serves all %d after %s", o.clients, servedAt.Round(time.Millisecond))
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	mgrCPU, asCPU := bench.CPUTicks(mgr.Pid())-mgrCPU0, bench.CPUTicks(as.Pid())-asCPU0
	apiCPU, etcdCPU := bench.CPUTicks(apiPid)-apiCPU0, bench.CPUTicks(etcdPid)-etcdCPU0
	asServedKiB := rssKiB(as.Pid())
	build1 := metricValues(asMetrics, buildSum, buildCount)
	selfCPU, busy := bench.CPUTicks(os.Getpid())-selfCPU0, machineBusyTicks()-busy0
	writes1, err := apiWrites(ctx, cfg)
	if err != nil {
		return err
	}
	by1, _ := apiRequestsBy(ctx, cfg)
	for k, v := range by1 {
		if d := v - by0[k]; d >= int64(o.clients)/100 {
			logf("API requests %-45s %d (%.2f per client)", k, d, float64(d)/float64(o.clients))
		}
	}
	readsPerClient := float64(sumVerbs(by1, []string{"GET", "LIST"})-sumVerbs(by0, []string{"GET", "LIST"})) / float64(o.clients)
	// The creates of this program are not the manager's writes.
	perClient := float64(writes1-writes0-int64(o.clients)) / float64(o.clients)

	res := &result{Clients: o.clients}
	perClientMs := func(ticks int64) float64 { return float64(ticks) * 10 / float64(o.clients) }
	res.add("all Ready and served after", "s", max(readyAt, servedAt).Seconds(), linear)
	res.add("API writes per client", "", perClient, constant)
	res.add("API reads per client", "", readsPerClient, constant)
	res.add("API server CPU per client", "ms", perClientMs(apiCPU), constant)
	res.add("etcd CPU per client", "ms", perClientMs(etcdCPU), constant)
	res.add("manager CPU", "s", float64(mgrCPU)/100, linear)
	res.add("authserver CPU", "s", float64(asCPU)/100, linear)
	res.add("manager peak RSS", "MiB", float64(bench.PeakRSSKiB(mgr.Pid()))/1024, linear)
	res.add("authserver peak RSS", "MiB", float64(bench.PeakRSSKiB(as.Pid()))/1024, linear)
	res.add("authserver RSS above the empty baseline per client", "KiB", float64(asServedKiB-asBaseKiB)/float64(o.clients), constant)
	if n := build1[1] - build0[1]; n > 0 {
		res.add("authserver rebuilds while loading", "", n, linear)
		res.add("authserver rebuild time while loading, mean", "ms", (build1[0]-build0[0])/n*1000, linear)
	}
	fmt.Printf("\n| measure | value |\n| --- | --- |\n")
	fmt.Printf("| clients / namespaces / GrantPolicies | %d / %d / %d |\n", o.clients, o.namespaces, o.policies)
	fmt.Printf("| manager flags | --kube-api-qps=%g --kube-api-burst=%d --max-concurrent-reconciles=%d |\n", o.qps, o.burst, o.concurrency)
	fmt.Printf("| creation (16 parallel creates) | %s |\n", created.Round(time.Millisecond))
	fmt.Printf("| all Ready after | %s |\n", readyAt.Round(time.Millisecond))
	fmt.Printf("| authserver serves all after | %s |\n", servedAt.Round(time.Millisecond))
	fmt.Printf("| API writes per client (manager, authserver) | %.2f |\n", perClient)
	fmt.Printf("| API reads (GET, LIST) per client | %.2f |\n", readsPerClient)
	fmt.Printf("| CPU until all Ready and served: manager / authserver | %.1fs / %.1fs |\n", float64(mgrCPU)/100, float64(asCPU)/100)
	fmt.Printf("| CPU until all Ready and served: API server / etcd (per client) | %.1fs / %.1fs (%.2f ms / %.2f ms) |\n",
		float64(apiCPU)/100, float64(etcdCPU)/100, perClientMs(apiCPU), perClientMs(etcdCPU))
	fmt.Printf("| machine CPU busy until then: total / this program (creates, watch) / the rest (API server, etcd, other work) | %.1fs / %.1fs / %.1fs |\n",
		float64(busy)/100, float64(selfCPU)/100, float64(busy-mgrCPU-asCPU-selfCPU)/100)
	fmt.Printf("| manager peak RSS | %.1f MiB |\n", float64(bench.PeakRSSKiB(mgr.Pid()))/1024)
	fmt.Printf("| authserver peak RSS | %.1f MiB |\n", float64(bench.PeakRSSKiB(as.Pid()))/1024)
	fmt.Printf("| authserver RSS: key set only / all served (above the baseline per client) | %.1f MiB / %.1f MiB (%.2f KiB) |\n",
		float64(asBaseKiB)/1024, float64(asServedKiB)/1024, float64(asServedKiB-asBaseKiB)/float64(o.clients))
	if n := build1[1] - build0[1]; n > 0 {
		fmt.Printf("| authserver registry rebuilds while loading: count / mean / total | %.0f / %.1f ms / %.1fs |\n",
			n, (build1[0]-build0[0])/n*1000, build1[0]-build0[0])
	}
	// Apply-to-served latency: toggle client_credentials in policy-0 and
	// time until the token requests of the probe clients (the first, the
	// middle and the last of policy-0's, by name) all flip.
	probes, err := probeClients(ctx, c, nsName(0))
	if err != nil {
		return err
	}
	for _, p := range probes {
		if s := tokenStatus(issuer, p.id, p.secret); s != http.StatusOK {
			return fmt.Errorf("probe client %s gets %d before any change", p.id, s)
		}
	}
	// every is true when f holds for every probe client.
	every := func(f func(id, secret string) bool) bool {
		for _, p := range probes {
			if !f(p.id, p.secret) {
				return false
			}
		}
		return true
	}
	// Let the backlog (GrantPolicy status counts) drain first: a change
	// right after the creation burst waits behind it.
	settle := time.Now()
	if err := waitWritesSettle(ctx, cfg, 2*time.Second, 3*time.Minute); err != nil {
		return err
	}
	logf("API writes settled %s after all Ready", time.Since(settle).Round(time.Millisecond))
	// Two kinds of change, each o.changes times: the access token lifetime
	// (every client of the policy stays Ready; the probe's token response
	// changes its expires_in), and client_credentials in the allowed grant
	// types (every client of the policy flips between Ready and
	// NoUsableGrant, its snapshot entry is removed and created again, and
	// each flip is an Event; the probe's answer flips between 200 and 401).
	lifetimes := []time.Duration{10 * time.Minute, 20 * time.Minute}
	scenarios := []struct {
		name   string
		change func(gp *oauthv1alpha1.GrantPolicy, i int)
		served func(i int) bool
	}{
		{"access token lifetime", func(gp *oauthv1alpha1.GrantPolicy, i int) {
			gp.Spec.AccessTokenLifetime = &metav1.Duration{Duration: lifetimes[i%2]}
		}, func(i int) bool {
			return every(func(id, secret string) bool {
				return tokenExpiresIn(issuer, id, secret) == int(lifetimes[i%2].Seconds())
			})
		}},
		{"client_credentials allowed or not", func(gp *oauthv1alpha1.GrantPolicy, i int) {
			gp.Spec.AllowedGrantTypes = policy(0, i%2 == 1).Spec.AllowedGrantTypes
		}, func(i int) bool {
			return every(func(id, secret string) bool { return (tokenStatus(issuer, id, secret) == http.StatusOK) == (i%2 == 1) })
		}},
	}
	if o.policies == 0 {
		scenarios = nil
	}
	// Ready reports a change only once the authserver serves it: a probe
	// that still gets the old answer when the policy turns Ready counts
	// as a violation.
	policyReady := func(gen int64) bool {
		gp := &oauthv1alpha1.GrantPolicy{}
		if err := informers.Get(ctx, client.ObjectKey{Namespace: nsName(0), Name: "policy-0"}, gp); err != nil {
			return false
		}
		ready := apimeta.FindStatusCondition(gp.Status.Conditions, "Ready")
		return ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration >= gen
	}
	violations := 0
	changeClients := o.clientsIn(0)
	for _, sc := range scenarios {
		b0 := metricValues(asMetrics, buildSum, buildCount)
		var served, ready []time.Duration
		for i := range o.changes {
			gp := &oauthv1alpha1.GrantPolicy{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: nsName(0), Name: "policy-0"}, gp); err != nil {
				return err
			}
			sc.change(gp, i)
			t0 := time.Now()
			if err := c.Update(ctx, gp); err != nil {
				return err
			}
			var servedAt, readyAt time.Duration
			for servedAt == 0 || readyAt == 0 {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if time.Since(t0) > time.Minute {
					return fmt.Errorf("policy change %d (%s) not served and Ready after a minute (served %v, Ready %v)", i, sc.name, servedAt, readyAt)
				}
				if readyAt == 0 && policyReady(gp.Generation) {
					readyAt = time.Since(t0)
					if !sc.served(i) {
						violations++
					}
				}
				if servedAt == 0 && sc.served(i) {
					servedAt = time.Since(t0)
				}
				time.Sleep(5 * time.Millisecond)
			}
			served, ready = append(served, servedAt), append(ready, readyAt)
			// Let the rest of the change (the other clients' reconciles,
			// status and Events) finish before the next one.
			if err := waitWritesSettle(ctx, cfg, 500*time.Millisecond, time.Minute); err != nil {
				return err
			}
		}
		logf("apply-to-served latencies (%s) in order: %v", sc.name, served)
		logf("apply-to-Ready latencies (%s) in order: %v", sc.name, ready)
		for _, m := range []struct {
			what string
			lat  []time.Duration
		}{{"apply-to-served", served}, {"apply-to-Ready", ready}} {
			p50, p99, worst := quantiles(m.lat)
			fmt.Printf("| %s p50 / p99 / max, %s (%d changes, %d clients each) | %s / %s / %s |\n", m.what, sc.name, len(m.lat),
				changeClients, p50.Round(time.Millisecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond))
			res.add(fmt.Sprintf("%s p50, %s (%d clients)", m.what, sc.name, changeClients), "s", p50.Seconds(), constant)
			res.add(fmt.Sprintf("%s p99, %s (%d clients)", m.what, sc.name, changeClients), "s", p99.Seconds(), constant)
		}
		b1 := metricValues(asMetrics, buildSum, buildCount)
		perChange := (b1[0] - b0[0]) / float64(o.changes)
		fmt.Printf("| authserver rebuild time per change, %s: total / rebuilds | %.1f ms / %.2f |\n", sc.name, perChange*1000, (b1[1]-b0[1])/float64(o.changes))
		res.add("authserver rebuild time per change, "+sc.name, "ms", perChange*1000, constant)
	}
	if len(scenarios) > 0 {
		fmt.Printf("| policy changes Ready before the authserver served them | %d of %d |\n", violations, len(scenarios)*o.changes)
	}
	minutes := time.Since(leasesFrom).Minutes()
	for _, r := range leaseWrites.replicas() {
		fmt.Printf("| served Lease writes, replica %s (whole run: creation and changes, %.1f min) | %d (%.1f per minute) |\n",
			r.name, minutes, r.writes, float64(r.writes)/minutes)
	}
	// A restarted authserver: the time until it serves every document
	// again, and its memory then (no churn: its steady state).
	// (What it served before: with an odd --changes the last change left
	// policy-0's clients without a usable grant, and unserved.)
	served, err := documents(asMetrics)
	if err != nil {
		return err
	}
	asSrv.Stop()
	restart := time.Now()
	// Launch, not Start: Start gives readiness (the first full sync) a
	// minute, which a large snapshot may need more than.
	if err := asSrv.Launch(); err != nil {
		return err
	}
	if _, err := waitDocuments(ctx, asMetrics, served, time.Until(deadline(ctx))); err != nil {
		return fmt.Errorf("the restarted authserver: %w", err)
	}
	restarted := time.Since(restart)
	restartKiB := rssKiB(asSrv.Proc.Pid())
	fmt.Printf("| restarted authserver serves all after | %s |\n", restarted.Round(time.Millisecond))
	fmt.Printf("| restarted authserver RSS serving all (above the baseline per client) | %.1f MiB (%.2f KiB) |\n",
		float64(restartKiB)/1024, float64(restartKiB-asBaseKiB)/float64(o.clients))
	res.add("restarted authserver serves all after", "s", restarted.Seconds(), linear)
	res.add("restarted authserver RSS above the empty baseline per client", "KiB", float64(restartKiB-asBaseKiB)/float64(o.clients), constant)
	if size, err := etcdDBSize(api); err == nil {
		fmt.Printf("| etcd database size at the end (per client) | %.1f MiB (%.1f KiB) |\n", size/(1<<20), size/1024/float64(o.clients))
		res.add("etcd database size", "MiB", size/(1<<20), linear)
	} else {
		logf("etcd database size: %v", err)
	}
	fmt.Printf("| load average at the end | %s |\n", loadAvg())
	if o.jsonPath != "" {
		return res.write(o.jsonPath)
	}
	return nil
}

// deadline is ctx's deadline (run's always has one).
func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(time.Hour)
	}
	return d
}

// quantiles returns the p50, p99 and maximum of lat (sorting it).
func quantiles(lat []time.Duration) (p50, p99, worst time.Duration) {
	if len(lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(int(float64(len(lat))*p), len(lat)-1)] }
	return q(0.5), q(0.99), lat[len(lat)-1]
}

// leaseWrites counts the writes of each replica's served Lease, as seen by
// a watch (an update event is one write; renewals included).
type leaseWrites struct {
	mu sync.Mutex
	n  map[string]int
}

type replicaWrites struct {
	name   string
	writes int
}

func (w *leaseWrites) add(o any) {
	l, ok := o.(*coordinationv1.Lease)
	if !ok || l.Namespace != operatorNS || l.Labels[snapshot.LabelServed] != "true" {
		return
	}
	w.mu.Lock()
	w.n[l.Name]++
	w.mu.Unlock()
}

func (w *leaseWrites) replicas() []replicaWrites {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []replicaWrites
	for name, n := range w.n {
		out = append(out, replicaWrites{strings.TrimPrefix(name, snapshot.ServedLeasePrefix), n})
	}
	slices.SortFunc(out, func(a, b replicaWrites) int { return strings.Compare(a.name, b.name) })
	return out
}

// countLeaseWrites counts, from now on, the updates of the served Leases
// in the operator namespace.
func countLeaseWrites(ctx context.Context, c cache.Cache) (*leaseWrites, error) {
	inf, err := c.GetInformer(ctx, &coordinationv1.Lease{})
	if err != nil {
		return nil, err
	}
	w := &leaseWrites{n: map[string]int{}}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{UpdateFunc: func(_, o any) { w.add(o) }})
	return w, err
}

// countReady counts, from the OAuthClient informer's events, the clients
// that are Ready at their generation: O(1) per event, where listing the
// cache every poll costs O(N) (a deep copy of 10,000 objects every 250 ms
// took a third of a core from the machine under test).
func countReady(ctx context.Context, c cache.Cache) (*atomic.Int64, error) {
	inf, err := c.GetInformer(ctx, &oauthv1alpha1.OAuthClient{})
	if err != nil {
		return nil, err
	}
	n := &atomic.Int64{}
	one := func(o any) int64 {
		if oc, ok := o.(*oauthv1alpha1.OAuthClient); ok && oc.Status.ObservedGeneration == oc.Generation &&
			apimeta.IsStatusConditionTrue(oc.Status.Conditions, "Ready") {
			return 1
		}
		return 0
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { n.Add(one(o)) },
		UpdateFunc: func(old, o any) { n.Add(one(o) - one(old)) },
		DeleteFunc: func(o any) { n.Add(-one(o)) },
	})
	return n, err
}

// The authserver's metrics the run reads: documents loaded, and the sum
// and count of the registry's rebuild times.
const (
	loadedDocuments = `authops_authserver_snapshot_documents{state="loaded"}`
	buildSum        = "authops_authserver_registry_build_seconds_sum"
	buildCount      = "authops_authserver_registry_build_seconds_count"
)

// documents reads authops_authserver_snapshot_documents{state="loaded"}.
func documents(metricsAddr string) (int, error) {
	v, err := scrape("http://"+metricsAddr+"/metrics", loadedDocuments)
	return int(v[0]), err
}

// metricValues reads some of the authserver's metrics (0 for those it
// cannot read).
func metricValues(metricsAddr string, names ...string) []float64 {
	v, _ := scrape("http://"+metricsAddr+"/metrics", names...)
	return v
}

// scrape reads the values of the named series (name with its labels, as
// written) from a Prometheus text endpoint; the error names the first one
// missing.
func scrape(url string, names ...string) ([]float64, error) {
	out := make([]float64, len(names))
	resp, err := httpClient.Get(url)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if i := slices.Index(names, name); ok && i >= 0 {
			if out[i], err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
				return out, err
			}
			found++
		}
	}
	if found < len(names) {
		return out, fmt.Errorf("%s does not have all of %v", url, names)
	}
	return out, sc.Err()
}

// etcdDBSize is etcd's etcd_mvcc_db_total_size_in_bytes: the size of its
// database file, history and free pages included.
func etcdDBSize(api *stack.APIServer) (float64, error) {
	v, err := scrape(api.Env.ControlPlane.Etcd.URL.String()+"/metrics", "etcd_mvcc_db_total_size_in_bytes")
	return v[0], err
}

// rssKiB is a process's resident memory now (VmRSS), in KiB.
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// childPid is the pid of this program's child process with the command
// name comm (envtest starts etcd and kube-apiserver itself), or 0.
func childPid(comm string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if s[open+1:end] == comm && len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			return pid
		}
	}
	return 0
}

func waitDocuments(ctx context.Context, metricsAddr string, n int, d time.Duration) (int, error) {
	deadline := time.Now().Add(d)
	for {
		got, err := documents(metricsAddr)
		if err == nil && got >= n {
			return got, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, fmt.Errorf("authserver has %d documents, want %d (%v)", got, n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// namespaceOf is the namespace of the i-th client: the first policyClients
// go to namespace 0 (policy-0's, the one the changes touch, so a change
// concerns the same number of clients at every size), the others are
// spread over the other namespaces.
func (o options) namespaceOf(i int) int {
	if o.policyClients <= 0 || o.namespaces < 2 {
		return i % o.namespaces
	}
	if i < o.policyClients {
		return 0
	}
	return 1 + (i-o.policyClients)%(o.namespaces-1)
}

// clientsIn is the number of clients in namespace ns.
func (o options) clientsIn(ns int) int {
	n := 0
	for i := range o.clients {
		if o.namespaceOf(i) == ns {
			n++
		}
	}
	return n
}

// nsName is the name of the i-th bench namespace.
func nsName(i int) string { return fmt.Sprintf("bench-%03d", i) }

// inParallel runs fn for 0..n-1 on 16 workers and returns the first error
// (the workers stop at it, or when ctx ends).
func inParallel(ctx context.Context, n int, fn func(i int) error) error {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// createClients creates the N OAuthClients with 16 parallel creates,
// calling before(i), if not nil, before the i-th.
func createClients(ctx context.Context, c client.Client, o options, before func(i int)) error {
	return inParallel(ctx, o.clients, func(i int) error {
		if before != nil {
			before(i)
		}
		ns := o.namespaceOf(i)
		oc := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: nsName(ns), Name: fmt.Sprintf("client-%05d", i)},
			Spec: oauthv1alpha1.OAuthClientSpec{Type: oauthv1alpha1.ClientTypeConfidential,
				GrantTypes: []oauthv1alpha1.GrantType{oauthv1alpha1.GrantTypeClientCredentials},
				Scopes:     []oauthv1alpha1.Scope{"read"}}}
		if ns < o.policies {
			oc.Spec.GrantPolicyRef = &oauthv1alpha1.LocalObjectReference{Name: fmt.Sprintf("policy-%d", ns)}
		}
		if i == 0 {
			oc.Name = "probe"
		}
		return c.Create(ctx, oc)
	})
}

// runCreatesOnly measures what the API server alone costs: the N creates
// with no manager and no authserver (the floor of the control-plane run).
func runCreatesOnly(ctx context.Context, o options, c client.Client, cfg *rest.Config, apiPid, etcdPid int) error {
	selfCPU0, busy0 := bench.CPUTicks(os.Getpid()), machineBusyTicks()
	apiCPU0, etcdCPU0 := bench.CPUTicks(apiPid), bench.CPUTicks(etcdPid)
	// A CPU profile of the API server from the create of the last fifth
	// on, when it holds most of the N objects (for as long as the rest of
	// the creates should take, at most 20 s): profiles at two sizes show
	// where its cost per create grows.
	apiHTTP, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	profiled := make(chan struct{})
	var profileOnce sync.Once
	at := o.clients * 4 / 5
	start := time.Now()
	if err := createClients(ctx, c, o, func(i int) {
		if i == at {
			profileOnce.Do(func() {
				go func() {
					defer close(profiled)
					saveProfile(ctx, apiHTTP, strings.TrimSuffix(cfg.Host, "/"),
						filepath.Join(o.workDir, "kube-apiserver.creates.cpu.pprof"), 0, max(time.Second, min(20*time.Second, time.Since(start)/4)))
				}()
			})
		}
	}); err != nil {
		return err
	}
	created := time.Since(start)
	selfCPU, busy := bench.CPUTicks(os.Getpid())-selfCPU0, machineBusyTicks()-busy0
	apiCPU, etcdCPU := bench.CPUTicks(apiPid)-apiCPU0, bench.CPUTicks(etcdPid)-etcdCPU0
	fmt.Printf("\n| measure | value |\n| --- | --- |\n")
	fmt.Printf("| clients / namespaces (creates only: no manager, no authserver) | %d / %d |\n", o.clients, o.namespaces)
	fmt.Printf("| CPU of the creates: API server / etcd, per client | %.2f ms / %.2f ms |\n",
		float64(apiCPU)*10/float64(o.clients), float64(etcdCPU)*10/float64(o.clients))
	fmt.Printf("| creation (16 parallel creates) | %s |\n", created.Round(time.Millisecond))
	fmt.Printf("| machine CPU busy: total / this program / the rest (API server, etcd) | %.1fs / %.1fs / %.1fs |\n",
		float64(busy)/100, float64(selfCPU)/100, float64(busy-selfCPU)/100)
	fmt.Printf("| load average at the end | %s |\n", loadAvg())
	profileOnce.Do(func() { close(profiled) })
	<-profiled
	return nil
}

// saveProfile saves a CPU profile of length d, taken after a delay from
// the server at base (scheme and host); a failure is logged.
func saveProfile(ctx context.Context, hc *http.Client, base, path string, delay, d time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(delay):
	}
	if err := bench.SaveCPUProfile(ctx, hc, base, path, d); err != nil && ctx.Err() == nil {
		logf("profile %s: %v", path, err)
	}
}

// waitWritesSettle waits until the API server sees fewer than 5 writes in
// one period, or at most limit.
func waitWritesSettle(ctx context.Context, cfg *rest.Config, period, limit time.Duration) error {
	start := time.Now()
	for prev := int64(-1); time.Since(start) < limit; {
		w, err := apiWrites(ctx, cfg)
		if err != nil {
			return err
		}
		if prev >= 0 && w-prev < 5 {
			return nil
		}
		prev = w
		time.Sleep(period)
	}
	return nil
}

// tokenExpiresIn is expires_in of a client_credentials token response, or
// -1 for another answer.
func tokenExpiresIn(issuer, id, secret string) int {
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := httpClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var body struct {
		ExpiresIn int `json:"expires_in"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
		return -1
	}
	return body.ExpiresIn
}

// writeVerbs are the verbs of apiserver_request_total that write.
var writeVerbs = []string{"POST", "PUT", "PATCH", "DELETE", "APPLY"}

// apiWrites sums the API server's apiserver_request_total for writing verbs.
func apiWrites(ctx context.Context, cfg *rest.Config) (int64, error) {
	m, err := apiRequestsBy(ctx, cfg)
	return sumVerbs(m, writeVerbs), err
}

// sumVerbs sums the counts of apiRequestsBy for some verbs.
func sumVerbs(m map[string]int64, verbs []string) int64 {
	var total int64
	for k, v := range m {
		verb, _, _ := strings.Cut(k, " ")
		if slices.Contains(verbs, verb) {
			total += v
		}
	}
	return total
}

// apiRequestsBy is the API server's apiserver_request_total by
// "verb resource/subresource" (reads too: GET, LIST, WATCH).
func apiRequestsBy(ctx context.Context, cfg *rest.Config) (map[string]int64, error) {
	out := map[string]int64{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		s := string(line)
		if !strings.HasPrefix(s, "apiserver_request_total{") {
			continue
		}
		verb := label(s, "verb")
		i := strings.LastIndexByte(s, ' ')
		f, err := strconv.ParseFloat(s[i+1:], 64)
		if err == nil {
			out[verb+" "+label(s, "resource")+"/"+label(s, "subresource")] += int64(f)
		}
	}
	return out, nil
}

func label(line, name string) string {
	_, after, ok := strings.Cut(line, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, `"`)
	return v
}

// probeClient is a client whose token requests the bench makes.
type probeClient struct{ id, secret string }

// probeClients are the first, the middle and the last client of a
// namespace by name (the first is "probe"), with their credentials.
func probeClients(ctx context.Context, c client.Client, ns string) ([]probeClient, error) {
	list := &oauthv1alpha1.OAuthClientList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("no OAuthClient in namespace %s", ns)
	}
	slices.SortFunc(list.Items, func(a, b oauthv1alpha1.OAuthClient) int { return strings.Compare(a.Name, b.Name) })
	// "probe" sorts after "client-…": put it first.
	idx := slices.IndexFunc(list.Items, func(o oauthv1alpha1.OAuthClient) bool { return o.Name == "probe" })
	picked := []int{idx, len(list.Items) / 2, 0, len(list.Items) - 1}
	var out []probeClient
	seen := map[int]bool{}
	for _, i := range picked {
		if i < 0 || seen[i] || len(out) == 3 {
			continue
		}
		seen[i] = true
		oc := &list.Items[i]
		s := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: oc.Name + "-oauth-credentials"}, s); err != nil {
			return nil, err
		}
		if len(s.Data["client_secret"]) == 0 || oc.Status.ClientID == "" {
			return nil, fmt.Errorf("OAuthClient %s/%s has no client_id or client_secret yet", ns, oc.Name)
		}
		out = append(out, probeClient{id: oc.Status.ClientID, secret: string(s.Data["client_secret"])})
	}
	return out, nil
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func tokenStatus(issuer, id, secret string) int {
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// machineBusyTicks is the machine's non-idle CPU time in clock ticks, from
// the cpu line of /proc/stat (user, nice, system, irq, softirq, steal).
func machineBusyTicks() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return busy
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// runSnapshotOnly measures the authserver alone: the snapshot Secrets the
// manager would write are created directly (generated documents: a key
// set, an account, the benchmark clients and N filler clients).
func runSnapshotOnly(ctx context.Context, o options, c client.Client, kubeconfig string) error {
	docs, err := bench.Documents(o.clients)
	if err != nil {
		return err
	}
	metrics, err := stack.FreeAddr()
	if err != nil {
		return err
	}
	srv, err := stack.NewAuthserver(stack.AuthserverOptions{Bin: o.bins.Authserver, Kubeconfig: kubeconfig, Namespace: operatorNS,
		Store: "sqlite://" + filepath.Join(o.workDir, "state-snapshot-only.db"), Metrics: metrics,
		Args: []string{"--log-level=WARN"}, Log: filepath.Join(o.workDir, "authserver.log")})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	defer srv.Stop()
	as := srv.Proc
	logf("writing %d snapshot Secrets", len(docs))
	start := time.Now()
	if err := inParallel(ctx, len(docs), func(i int) error {
		b, err := snapshot.Encode(docs[i])
		if err != nil {
			return err
		}
		return c.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: fmt.Sprintf("authops-bench-%05d", i),
				Labels: map[string]string{snapshot.LabelSnapshot: string(docs[i].Kind)}},
			Data: map[string][]byte{snapshot.DataKey: b}})
	}); err != nil {
		return err
	}
	written := time.Since(start)
	if _, err := waitDocuments(ctx, metrics, len(docs), o.timeout); err != nil {
		return err
	}
	served := time.Since(start)
	// A token from one of the loaded clients proves the snapshot serves.
	status := tokenStatus(srv.URL, bench.ClientCC, bench.Secret)
	fmt.Printf("\n| measure (authserver alone, snapshot Secrets written directly) | value |\n| --- | --- |\n")
	fmt.Printf("| snapshot documents | %d (%d filler clients) |\n", len(docs), o.clients)
	fmt.Printf("| Secrets written (16 parallel creates) | %s |\n", written.Round(time.Millisecond))
	fmt.Printf("| authserver serves all after | %s |\n", served.Round(time.Millisecond))
	fmt.Printf("| client_credentials answer | %d |\n", status)
	fmt.Printf("| authserver peak RSS | %.1f MiB |\n", float64(bench.PeakRSSKiB(as.Pid()))/1024)
	fmt.Printf("| load average at the end | %s |\n", loadAvg())
	return nil
}

// applyAdmission applies config/admission as the installs do and waits
// until a client's create passes the snapshot finalizer policy: the API
// server loads policies asynchronously, and types the policy's apply
// configuration from its OpenAPI, which knows the new CRDs a few seconds
// later (until then creates fail with 503).
func applyAdmission(ctx context.Context, c client.Client) error {
	if _, err := stack.ApplyDir(ctx, c, filepath.Join(envtest.RepoRoot(), "config", "admission"), ""); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		probe := &oauthv1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, GenerateName: "admission-probe-"},
			Spec: oauthv1alpha1.OAuthClientSpec{GrantTypes: []oauthv1alpha1.GrantType{oauthv1alpha1.GrantTypeClientCredentials}}}
		err := c.Create(ctx, probe)
		if err == nil {
			admitted := slices.Contains(probe.Finalizers, controllers.Finalizer)
			// Nothing reconciles it yet: the finalizer is removed here.
			probe.Finalizers = nil
			if err := c.Update(ctx, probe); err != nil {
				return err
			}
			if err := client.IgnoreNotFound(c.Delete(ctx, probe)); err != nil {
				return err
			}
			if admitted {
				return nil
			}
			err = fmt.Errorf("a new OAuthClient arrived without %s", controllers.Finalizer)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the admission policies of config/admission are not in effect after a minute: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
