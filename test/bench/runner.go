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
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/authops/authops/test/stack"
)

// Config configures a load run.
type Config struct {
	// AuthserverBin is the authserver binary; empty is stack.Bins()'s
	// ($AUTHOPS_AUTHSERVER_BIN, or built once with the flags of make build).
	AuthserverBin string
	// FloorBin is the floor reference server; empty builds ./test/bench/floor
	// into WorkDir with the same flags.
	FloorBin string
	// WorkDir holds the snapshot, the store and the logs.
	WorkDir string
	Conns   int
	// Duration of each workload run.
	Duration time.Duration
	// Rounds repeats the whole set (floor and authops interleaved).
	Rounds int
	// Codes is how many authorization codes are prepared per round.
	Codes int
	// ExtraClients are filler clients loaded into the registry.
	ExtraClients int
	// WorkloadTokens is how many ServiceAccount tokens the API server
	// issues per round for the workload_identity workload (each is
	// accepted once); 0 leaves the workload out.
	WorkloadTokens int
	// Only, if set, limits the workloads run (by name).
	Only []string
	// ProfileDir, if set, receives a CPU profile of the authserver for
	// each of its workload runs (<workload>-<round>.cpu.pprof, the whole
	// run), taken from its --pprof-bind-address.
	ProfileDir string
	// Log receives progress lines.
	Log io.Writer
}

// binaries fills in the authserver and floor binaries cfg leaves empty.
func (cfg *Config) binaries(ctx context.Context) error {
	if cfg.AuthserverBin == "" {
		b, err := stack.Bins()
		if err != nil {
			return err
		}
		cfg.AuthserverBin = b.Authserver
	}
	if cfg.FloorBin == "" {
		cfg.FloorBin = filepath.Join(cfg.WorkDir, "floor")
		return stack.Build(ctx, "./test/bench/floor", cfg.FloorBin)
	}
	return nil
}

// Report is a whole load run.
type Report struct {
	Results []Result
	// DeviceServed is false when the server does not serve the device grant.
	DeviceServed bool
}

// RunLoad prepares the snapshot and store, starts both servers and runs
// every workload cfg.Rounds times.
func RunLoad(ctx context.Context, cfg Config) (*Report, error) {
	logf := func(format string, a ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", a...)
		}
	}
	// Absolute paths: the floor is built from the repository's root.
	for _, p := range []*string{&cfg.WorkDir, &cfg.AuthserverBin, &cfg.FloorBin} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o700); err != nil {
		return nil, err
	}
	if err := cfg.binaries(ctx); err != nil {
		return nil, err
	}
	docs, err := Documents(cfg.ExtraClients)
	if err != nil {
		return nil, err
	}
	want := func(name string) bool { return len(cfg.Only) == 0 || slices.Contains(cfg.Only, name) }
	// workload_identity: the source-built API server issues the tokens and
	// publishes the keys the authserver verifies them with.
	var wi *workloadIdentity
	var authserverArgs []string
	if cfg.WorkloadTokens > 0 && want("workload_identity") {
		logf("starting the API server for workload_identity")
		if wi, err = startWorkloadIdentity(ctx, cfg.WorkDir); err != nil {
			return nil, fmt.Errorf("workload_identity: %w", err)
		}
		defer func() { _ = wi.api.Stop() }()
		docs = append(docs, wi.document())
		authserverArgs = append(authserverArgs, "--kubeconfig="+wi.api.Kubeconfig)
	}
	var pprofAddr string
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, err
		}
		if pprofAddr, err = stack.FreeAddr(); err != nil {
			return nil, err
		}
		authserverArgs = append(authserverArgs, "--pprof-bind-address="+pprofAddr)
	}
	snapDir := filepath.Join(cfg.WorkDir, "snapshot")
	_ = os.RemoveAll(snapDir)
	if err := WriteSnapshotDir(snapDir, docs); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(cfg.WorkDir, "state.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(dbPath + suffix)
	}
	logf("preparing %d codes, %d refresh tokens, %d device codes", cfg.Codes*cfg.Rounds, cfg.Conns*cfg.Rounds, 20000)
	prep, err := PrepareStore(ctx, dbPath, cfg.Codes*cfg.Rounds, cfg.Conns*cfg.Rounds, 20000)
	if err != nil {
		return nil, fmt.Errorf("preparing the store: %w", err)
	}
	floorAddr, err := stack.FreeAddr()
	if err != nil {
		return nil, err
	}
	floor := stack.NewServer("floor", cfg.FloorBin, "http://"+floorAddr, floorAddr, []string{"-addr", floorAddr},
		filepath.Join(cfg.WorkDir, "floor.log"))
	as, err := stack.NewAuthserver(stack.AuthserverOptions{Bin: cfg.AuthserverBin, SnapshotDir: snapDir,
		Store: "sqlite://" + dbPath, Args: append([]string{"--log-level=WARN", "--throttle=false"}, authserverArgs...),
		Log: filepath.Join(cfg.WorkDir, "authserver.log")})
	if err != nil {
		return nil, err
	}
	var saTokens []string
	if wi != nil {
		logf("issuing %d ServiceAccount tokens (TokenRequest, audience %s)", cfg.WorkloadTokens*cfg.Rounds, as.URL)
		if saTokens, err = wi.tokens(ctx, as.URL, cfg.WorkloadTokens*cfg.Rounds); err != nil {
			return nil, fmt.Errorf("workload_identity: %w", err)
		}
	}
	if err := stack.StartAll(ctx, floor, as); err != nil {
		return nil, err
	}
	defer floor.Stop()
	defer as.Stop()
	logf("floor %s (pid %d), authserver %s (pid %d)", floor.URL, floor.Proc.Pid(), as.URL, as.Proc.Pid())

	rep := &Report{DeviceServed: deviceServed(ctx, as.URL, prep.Devices[0])}
	round := 0
	run := func(s *stack.Server, wl Workload) {
		if !want(wl.Name) || ctx.Err() != nil {
			return
		}
		var profiled chan struct{}
		if pprofAddr != "" && s == as {
			profiled = make(chan struct{})
			path := filepath.Join(cfg.ProfileDir, fmt.Sprintf("%s-%d.cpu.pprof", wl.Name, round+1))
			go func() {
				defer close(profiled)
				if err := SaveCPUProfile(ctx, http.DefaultClient, "http://"+pprofAddr, path, cfg.Duration); err != nil {
					logf("profile %s: %v", path, err)
				}
			}()
		}
		r := Run(ctx, s.URL, s.Proc.Pid(), wl, cfg.Conns, cfg.Duration)
		if profiled != nil {
			<-profiled
		}
		logf("%-8s %-20s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6.2f ms  cpu %6.3f ms/req  rss %6.1f MiB  ok %d unexpected %d errors %d statuses %v load %s %s",
			r.Target, r.Workload, r.RPS, r.P50ms, r.P99ms, r.P999ms, r.CPUmsPerReq, r.PeakRSSMiB, r.OK, r.Unexpected, r.Errors, r.Statuses, r.LoadAvg, r.FirstError)
		rep.Results = append(rep.Results, r)
	}
	for ; round < cfg.Rounds; round++ {
		logf("round %d", round+1)
		run(floor, ClientCredentials("floor"))
		run(as, ClientCredentials("authops"))
		if want("client_credentials_dpop") {
			wl, err := ClientCredentialsDPoP(as.URL, cfg.Conns)
			if err != nil {
				return rep, err
			}
			run(as, wl)
		}
		run(floor, BadSecret("floor"))
		run(as, BadSecret("authops"))
		if wi != nil {
			run(as, WorkloadIdentity(saTokens[round*cfg.WorkloadTokens:(round+1)*cfg.WorkloadTokens]))
		}
		if want("introspection") {
			tok, err := FetchToken(ctx, as.URL)
			if err != nil {
				return rep, err
			}
			run(as, Introspection(tok))
		}
		run(as, CodeExchange(prep.Codes[round*cfg.Codes:(round+1)*cfg.Codes]))
		run(as, RefreshRotation(prep.Refresh[round*cfg.Conns:(round+1)*cfg.Conns]))
		if rep.DeviceServed {
			run(as, DevicePolling(prep.Devices))
		}
	}
	if !rep.DeviceServed {
		logf("device_polling: not run, the server does not serve the device_code grant (unsupported_grant_type)")
	}
	return rep, nil
}

// SaveCPUProfile writes a CPU profile of d (whole seconds, at least one)
// taken from the pprof handlers under base (scheme and host) with hc.
func SaveCPUProfile(ctx context.Context, hc *http.Client, base, path string, d time.Duration) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, max(1, int(d.Round(time.Second).Seconds()))), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// deviceServed probes whether the device_code grant is served.
func deviceServed(ctx context.Context, baseURL, deviceCode string) bool {
	wl := DevicePolling([]string{deviceCode})
	rq, _ := wl.Next(0)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+rq.Path, strings.NewReader(rq.Form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return !strings.Contains(string(b), "unsupported_grant_type")
}
