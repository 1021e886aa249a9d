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
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/authops/authops/test/procs"
)

// Config configures a load run.
type Config struct {
	// Root is the repository root (where go.mod is).
	Root string
	// AuthserverBin and FloorBin are built there when empty.
	AuthserverBin, FloorBin string
	// FloorDir is the floor module (built with go build -C).
	FloorDir string
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
	// Only, if set, limits the workloads run (by name).
	Only []string
	// Log receives progress lines.
	Log io.Writer
}

// Build builds the authserver and the floor into dir.
func Build(ctx context.Context, root, floorDir, dir string) (authserver, floor string, err error) {
	authserver, floor = filepath.Join(dir, "authserver"), filepath.Join(dir, "floor")
	for _, c := range [][]string{
		{"go", "build", "-o", authserver, "./cmd/authserver"},
		{"go", "build", "-C", floorDir, "-o", floor, "."},
	} {
		cmd := exec.CommandContext(ctx, c[0], c[1:]...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("%s: %w\n%s", strings.Join(c, " "), err, out)
		}
	}
	return authserver, floor, nil
}

type server struct {
	url  string
	proc *procs.Proc
}

func startServer(ctx context.Context, name, bin string, args func(addr, probe string) []string, readyPath, logPath string) (*server, error) {
	port, err := procs.FreePort()
	if err != nil {
		return nil, err
	}
	probe, err := procs.FreePort()
	if err != nil {
		return nil, err
	}
	addr, probeAddr := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", probe)
	p, err := procs.Start(name, bin, args(addr, probeAddr), logPath)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ready := "http://" + probeAddr + readyPath
	if readyPath == "" {
		ready = "http://" + addr + "/"
	}
	if err := waitAnswer(wctx, ready, p); err != nil {
		p.Stop(2 * time.Second)
		return nil, err
	}
	return &server{url: "http://" + addr, proc: p}, nil
}

// waitAnswer waits for url to answer at all (the floor has no probe: any
// HTTP answer will do) or 200 for a probe.
func waitAnswer(ctx context.Context, url string, p *procs.Proc) error {
	if strings.HasSuffix(url, "/readyz") {
		return procs.WaitHTTP(ctx, url, p)
	}
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.Exited():
			return fmt.Errorf("%s exited; see %s", p.Name, p.Log)
		case <-time.After(100 * time.Millisecond):
		}
	}
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
	// Absolute paths: the binaries are started with paths under WorkDir,
	// and `go build -C` runs in another directory.
	for _, p := range []*string{&cfg.WorkDir, &cfg.FloorDir, &cfg.AuthserverBin, &cfg.FloorBin} {
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
	if cfg.AuthserverBin == "" || cfg.FloorBin == "" {
		logf("building authserver and floor into %s", cfg.WorkDir)
		a, f, err := Build(ctx, cfg.Root, cfg.FloorDir, cfg.WorkDir)
		if err != nil {
			return nil, err
		}
		cfg.AuthserverBin, cfg.FloorBin = a, f
	}
	docs, err := Documents(cfg.ExtraClients)
	if err != nil {
		return nil, err
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
	floor, err := startServer(ctx, "floor", cfg.FloorBin, func(addr, _ string) []string { return []string{"-addr", addr} },
		"", filepath.Join(cfg.WorkDir, "floor.log"))
	if err != nil {
		return nil, err
	}
	defer floor.proc.Stop(2 * time.Second)
	var issuer string
	as, err := startServer(ctx, "authserver", cfg.AuthserverBin, func(addr, probe string) []string {
		issuer = "http://" + addr
		return []string{"--issuer", issuer, "--listen-address", addr, "--snapshot-dir", snapDir,
			"--store", "sqlite://" + dbPath, "--health-probe-bind-address", probe, "--metrics-bind-address", "0",
			"--log-level", "WARN", "--throttle=false"}
	}, "/readyz", filepath.Join(cfg.WorkDir, "authserver.log"))
	if err != nil {
		return nil, err
	}
	defer as.proc.Stop(5 * time.Second)
	logf("floor %s (pid %d), authserver %s (pid %d)", floor.url, floor.proc.Pid(), as.url, as.proc.Pid())

	rep := &Report{DeviceServed: deviceServed(ctx, as.url, prep.Devices[0])}
	want := func(name string) bool { return len(cfg.Only) == 0 || slices.Contains(cfg.Only, name) }
	run := func(s *server, wl Workload) {
		if !want(wl.Name) || ctx.Err() != nil {
			return
		}
		r := Run(ctx, s.url, s.proc.Pid(), wl, cfg.Conns, cfg.Duration)
		logf("%-8s %-20s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6.2f ms  cpu %6.3f ms/req  rss %6.1f MiB  ok %d unexpected %d errors %d statuses %v load %s %s",
			r.Target, r.Workload, r.RPS, r.P50ms, r.P99ms, r.P999ms, r.CPUmsPerReq, r.PeakRSSMiB, r.OK, r.Unexpected, r.Errors, r.Statuses, r.LoadAvg, r.FirstError)
		rep.Results = append(rep.Results, r)
	}
	for round := range cfg.Rounds {
		logf("round %d", round+1)
		run(floor, ClientCredentials("floor"))
		run(as, ClientCredentials("authops"))
		run(floor, BadSecret("floor"))
		run(as, BadSecret("authops"))
		if want("introspection") {
			tok, err := FetchToken(ctx, as.url)
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
