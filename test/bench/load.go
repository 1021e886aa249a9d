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

// Package bench is the authops benchmark harness: a load generator that
// drives the real authserver binary (SQLite store, snapshot from a
// directory) and the floor reference server side by side on loopback, and
// the control-plane scale run. See docs/benchmarks.md.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Request is one request a workload sends.
type Request struct {
	Path  string
	Form  string // form-urlencoded body
	User  string // HTTP Basic, already form-encoded per RFC 6749 §2.3.1
	Pass  string
	DPoP  string // a DPoP proof (RFC 9449), sent in the DPoP header
	basic string // the Authorization header value
}

// Workload is a named stream of requests with the answer each expects.
type Workload struct {
	Name string
	// Target is "floor" or "authops": which server it runs against.
	Target string
	// Next returns worker w's next request (called from worker w only).
	// ok=false ends the worker early (prepared material used up).
	Next func(w int) (Request, bool)
	// Check says whether a response is the expected answer; OnBody sees the
	// body (for chains such as refresh rotation). Either may be nil.
	Check  func(status int, body []byte) bool
	OnBody func(w int, body []byte)
}

// Result is one workload run's numbers.
type Result struct {
	Workload   string  `json:"workload"`
	Target     string  `json:"target"`
	Seconds    float64 `json:"seconds"`
	OK         int64   `json:"ok"`
	Unexpected int64   `json:"unexpected"`
	Errors     int64   `json:"errors"`
	RPS        float64 `json:"rps"`
	P50ms      float64 `json:"p50ms"`
	P99ms      float64 `json:"p99ms"`
	P999ms     float64 `json:"p999ms"`
	// CPUmsPerReq is the server's user+system CPU over the run divided by
	// the requests answered (expected or not).
	CPUmsPerReq float64 `json:"cpuMsPerReq"`
	// PeakRSSMiB is the server's VmHWM after the run (the peak is reset
	// before each run where the kernel allows it).
	PeakRSSMiB float64 `json:"peakRssMiB"`
	// LoadAvg is the 1-minute load average at the end of the run: the
	// machine is shared.
	LoadAvg string `json:"loadAvg"`
	// Statuses counts the answers by HTTP status.
	Statuses   map[int]int64 `json:"statuses"`
	FirstError string        `json:"firstError,omitempty"`
}

// Run drives wl against baseURL (a server with process id pid) with conns
// keep-alive connections for d.
func Run(ctx context.Context, baseURL string, pid int, wl Workload, conns int, d time.Duration) Result {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resetPeakRSS(pid)
	cpu0 := CPUTicks(pid)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		ok, unexpected, errs atomic.Int64
		firstErr             atomic.Value
		wg                   sync.WaitGroup
		lat                  = make([][]time.Duration, conns)
		statuses             = make([]map[int]int64, conns)
	)
	start := time.Now()
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 4096)
			statuses[w] = map[int]int64{}
			for ctx.Err() == nil {
				rq, more := wl.Next(w)
				if !more {
					return
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+rq.Path, strings.NewReader(rq.Form))
				if err != nil {
					errs.Add(1)
					return
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if rq.User != "" {
					req.SetBasicAuth(rq.User, rq.Pass)
				}
				if rq.DPoP != "" {
					req.Header.Set("DPoP", rq.DPoP)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
					continue
				}
				b := bytes.NewBuffer(buf[:0])
				_, err = io.Copy(b, resp.Body)
				resp.Body.Close()
				el := time.Since(t0)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				lat[w] = append(lat[w], el)
				statuses[w][resp.StatusCode]++
				if wl.Check == nil || wl.Check(resp.StatusCode, b.Bytes()) {
					ok.Add(1)
				} else {
					unexpected.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, truncate(b.String(), 200)))
				}
				if wl.OnBody != nil {
					wl.OnBody(w, b.Bytes())
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	cpu1 := CPUTicks(pid)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	n := int64(len(all))
	r := Result{Workload: wl.Name, Target: wl.Target, Seconds: el, OK: ok.Load(), Unexpected: unexpected.Load(),
		Errors: errs.Load(), RPS: float64(ok.Load()) / el,
		P50ms: pct(all, 0.50), P99ms: pct(all, 0.99), P999ms: pct(all, 0.999),
		PeakRSSMiB: float64(PeakRSSKiB(pid)) / 1024, LoadAvg: loadAvg()}
	if n > 0 && cpu0 >= 0 && cpu1 >= 0 {
		r.CPUmsPerReq = float64(cpu1-cpu0) * 1000 / clkTck / float64(n)
	}
	r.Statuses = map[int]int64{}
	for _, m := range statuses {
		for k, v := range m {
			r.Statuses[k] += v
		}
	}
	if v, _ := firstErr.Load().(string); v != "" {
		r.FirstError = v
	}
	return r
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(float64(len(sorted))*p), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// clkTck is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clkTck = 100

// CPUTicks returns utime+stime of pid in clock ticks, -1 if unreadable.
func CPUTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces; fields after it are
	// separated by single spaces. utime and stime are fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return u + st
}

// PeakRSSKiB reads VmHWM of pid (0 when it cannot).
func PeakRSSKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// resetPeakRSS resets VmHWM to the current RSS (Linux clear_refs 5).
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// --- workloads ---

// tokenOK expects a 200 with an access token.
func tokenOK(status int, body []byte) bool {
	return status == http.StatusOK && bytes.Contains(body, []byte(`"access_token":"`))
}

// errorIs expects the given status and error code.
func errorIs(want int, codes ...string) func(int, []byte) bool {
	return func(status int, body []byte) bool {
		if status != want {
			return false
		}
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return slices.Contains(codes, e.Error)
	}
}

// ClientCredentials is the floor's exact request.
func ClientCredentials(target string) Workload {
	rq := Request{Path: "/oauth2/token", Form: "grant_type=client_credentials&scope=read", User: ClientCC, Pass: Secret}
	return Workload{Name: "client_credentials", Target: target, Next: func(int) (Request, bool) { return rq, true }, Check: tokenOK}
}

// ClientCredentialsDPoP is ClientCredentials with a fresh DPoP proof
// (RFC 9449, ES256, one key per connection) on every request: the server
// verifies the proof and records its jti in the store. The proofs are made
// by the load generator, on the same machine.
func ClientCredentialsDPoP(baseURL string, conns int) (Workload, error) {
	proofs := make([]*DPoPProver, conns)
	for i := range proofs {
		p, err := NewDPoPProver()
		if err != nil {
			return Workload{}, err
		}
		proofs[i] = p
	}
	htu := baseURL + "/oauth2/token"
	return Workload{Name: "client_credentials_dpop", Target: "authops", Check: dpopTokenOK,
		Next: func(w int) (Request, bool) {
			return Request{Path: "/oauth2/token", Form: "grant_type=client_credentials&scope=read", User: ClientCC, Pass: Secret,
				DPoP: proofs[w].Proof("POST", htu, time.Now())}, true
		}}, nil
}

// dpopTokenOK expects a 200 with a DPoP-bound access token.
func dpopTokenOK(status int, body []byte) bool {
	return tokenOK(status, body) && bytes.Contains(body, []byte(`"token_type":"DPoP"`))
}

// BadSecret floods the token endpoint with a wrong secret of a known
// client: invalid_client 401, or 429 too_many_requests once the server's
// failed-authentication limiter steps in (both are rejections; Result.Statuses
// tells how many of each). The floor knows only the client "bench".
func BadSecret(target string) Workload {
	id := ClientFlooded
	if target == "floor" {
		id = ClientCC
	}
	rq := Request{Path: "/oauth2/token", Form: "grant_type=client_credentials&scope=read", User: id, Pass: "wrongsecret"}
	return Workload{Name: "bad_secret", Target: target, Next: func(int) (Request, bool) { return rq, true },
		Check: func(status int, _ []byte) bool {
			return status == http.StatusUnauthorized || status == http.StatusTooManyRequests
		}}
}

// Introspection introspects one access token of ClientCC, as ClientCC.
func Introspection(token string) Workload {
	rq := Request{Path: "/oauth2/introspect", Form: "token=" + url.QueryEscape(token) + "&token_type_hint=access_token",
		User: ClientCC, Pass: Secret}
	return Workload{Name: "introspection", Target: "authops", Next: func(int) (Request, bool) { return rq, true },
		Check: func(status int, body []byte) bool {
			return status == http.StatusOK && bytes.HasPrefix(body, []byte(`{"active":true`))
		}}
}

// CodeExchange redeems the prepared codes, each once (PKCE S256).
func CodeExchange(codes []string) Workload {
	var next atomic.Int64
	return Workload{Name: "code_exchange", Target: "authops", Check: tokenOK,
		Next: func(int) (Request, bool) {
			i := next.Add(1) - 1
			if i >= int64(len(codes)) {
				return Request{}, false
			}
			return Request{Path: "/oauth2/token", User: ClientWeb, Pass: Secret,
				Form: "grant_type=authorization_code&code=" + codes[i] + "&redirect_uri=" + url.QueryEscape(RedirectURI) +
					"&code_verifier=" + Verifier}, true
		}}
}

// RefreshRotation gives each worker one refresh-token chain: every answer's
// new refresh token is the worker's next request.
func RefreshRotation(tokens []string) Workload {
	cur := slices.Clone(tokens)
	return Workload{Name: "refresh_rotation", Target: "authops", Check: tokenOK,
		Next: func(w int) (Request, bool) {
			if w >= len(cur) || cur[w] == "" {
				return Request{}, false
			}
			return Request{Path: "/oauth2/token", User: ClientWeb, Pass: Secret,
				Form: "grant_type=refresh_token&refresh_token=" + cur[w]}, true
		},
		OnBody: func(w int, body []byte) {
			var r struct {
				RefreshToken string `json:"refresh_token"`
			}
			_ = json.Unmarshal(body, &r)
			cur[w] = r.RefreshToken // "" ends the chain
		}}
}

// DevicePolling polls the prepared pending device codes round-robin.
// authorization_pending and slow_down (a code polled again within its
// interval) are both the expected "not yet" answers.
func DevicePolling(devices []string) Workload {
	var next atomic.Int64
	return Workload{Name: "device_polling", Target: "authops",
		Check: errorIs(http.StatusUnauthorized, "authorization_pending", "slow_down"),
		Next: func(int) (Request, bool) {
			i := (next.Add(1) - 1) % int64(len(devices))
			return Request{Path: "/oauth2/token", Form: "grant_type=" + url.QueryEscape("urn:ietf:params:oauth:grant-type:device_code") +
				"&device_code=" + devices[i] + "&client_id=" + ClientDevice}, true
		}}
}

// FetchToken gets one client_credentials access token.
func FetchToken(ctx context.Context, baseURL string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/oauth2/token",
		strings.NewReader("grant_type=client_credentials&scope=read"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(ClientCC, Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.AccessToken == "" {
		return "", errors.New("no access token: " + resp.Status)
	}
	return r.AccessToken, nil
}
