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

package stack

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// readyWithin bounds the wait for a started server's readiness probe.
const readyWithin = time.Minute

// Server is a binary run as a server on loopback: prepared with its
// arguments by NewManager, NewAuthserver or NewServer, then started (and
// started again after Stop or Kill, with the same arguments, ports and
// store) by Start.
type Server struct {
	Name string
	// URL is where it serves, http://127.0.0.1:<port> (the authserver's
	// issuer).
	URL string
	// Health is the address of its health probes (/readyz).
	Health string
	// Proc is the current process; nil before the first Start.
	Proc *Proc
	bin  string
	args []string
	log  string
}

// NewServer prepares a server that runs bin with args, writes its output to
// log and is ready when http://health/readyz answers 200.
func NewServer(name, bin, url, health string, args []string, log string) *Server {
	return &Server{Name: name, URL: url, Health: health, bin: bin, args: args, log: log}
}

// AuthserverOptions configures NewAuthserver.
type AuthserverOptions struct {
	// Name names the process in errors (default "authserver") and is its
	// --replica-name (its served Lease), unless Args set one.
	Name string
	// Bin is the binary; empty is Bins().Authserver.
	Bin string
	// Addr is the listen address; the issuer is http://Addr. Empty picks
	// a free loopback port.
	Addr string
	// Store is the store URL: sqlite://<path> or a PostgreSQL DSN (required).
	Store string
	// The snapshot comes from the API server (Kubeconfig and Namespace)
	// or from a folder (SnapshotDir).
	Kubeconfig, Namespace, SnapshotDir string
	// Metrics is the metrics address; empty turns metrics off.
	Metrics string
	// Args are further flags.
	Args []string
	// Log is the file for its output (required).
	Log string
}

// NewAuthserver prepares an authserver on loopback.
func NewAuthserver(o AuthserverOptions) (*Server, error) {
	if o.Store == "" || o.Log == "" {
		return nil, errMissing("AuthserverOptions.Store or Log")
	}
	if o.Name == "" {
		o.Name = "authserver"
	}
	var err error
	if o.Bin == "" {
		o.Bin, err = binary(func(b Binaries) string { return b.Authserver })
	}
	if err == nil && o.Addr == "" {
		o.Addr, err = FreeAddr()
	}
	health, herr := FreeAddr()
	if err != nil || herr != nil {
		return nil, fmt.Errorf("preparing %s: %w", o.Name, firstErr(err, herr))
	}
	if o.Metrics == "" {
		o.Metrics = "0"
	}
	issuer := "http://" + o.Addr
	args := []string{"--issuer=" + issuer, "--listen-address=" + o.Addr, "--store=" + o.Store,
		"--health-probe-bind-address=" + health, "--metrics-bind-address=" + o.Metrics}
	if o.Kubeconfig != "" {
		args = append(args, "--kubeconfig="+o.Kubeconfig, "--namespace="+o.Namespace, "--replica-name="+o.Name)
	}
	if o.SnapshotDir != "" {
		args = append(args, "--snapshot-dir="+o.SnapshotDir)
	}
	return NewServer(o.Name, o.Bin, issuer, health, append(args, o.Args...), o.Log), nil
}

// ManagerOptions configures NewManager.
type ManagerOptions struct {
	// Bin is the binary; empty is Bins().Manager.
	Bin string
	// Kubeconfig, Namespace (the operator namespace) and Issuer are
	// required.
	Kubeconfig, Namespace, Issuer string
	// Args are further flags.
	Args []string
	// Log is the file for its output (required).
	Log string
}

// NewManager prepares a manager (metrics off).
func NewManager(o ManagerOptions) (*Server, error) {
	if o.Kubeconfig == "" || o.Namespace == "" || o.Issuer == "" || o.Log == "" {
		return nil, errMissing("ManagerOptions.Kubeconfig, Namespace, Issuer or Log")
	}
	var err error
	if o.Bin == "" {
		o.Bin, err = binary(func(b Binaries) string { return b.Manager })
	}
	health, herr := FreeAddr()
	if err != nil || herr != nil {
		return nil, fmt.Errorf("preparing the manager: %w", firstErr(err, herr))
	}
	args := []string{"--kubeconfig=" + o.Kubeconfig, "--namespace=" + o.Namespace, "--issuer=" + o.Issuer,
		"--metrics-bind-address=0", "--health-probe-bind-address=" + health}
	return NewServer("manager", o.Bin, "", health, append(args, o.Args...), o.Log), nil
}

func binary(pick func(Binaries) string) (string, error) {
	b, err := Bins()
	return pick(b), err
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Start starts the process and waits (at most a minute, and within ctx)
// until /readyz answers 200. On failure the process is stopped and the
// error holds the end of its log.
func (s *Server) Start(ctx context.Context) error { return StartAll(ctx, s) }

// StartAll starts every server, then waits until each is ready (see
// Start). On failure those it started are stopped.
func StartAll(ctx context.Context, servers ...*Server) (err error) {
	defer func() {
		if err != nil {
			for _, s := range servers {
				s.Stop()
			}
		}
	}()
	for _, s := range servers {
		if err = s.Launch(); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	for _, s := range servers {
		if err := WaitHTTP(wctx, "http://"+s.Health+"/readyz", s.Proc); err != nil {
			return fmt.Errorf("%s not ready: %w\n%s", s.Name, err, s.Proc.LogTail(3000))
		}
	}
	return nil
}

// Launch starts the process and returns at once, ready or not (a test that
// races the process's start-up).
func (s *Server) Launch() (err error) {
	s.Proc, err = StartProcess(s.Name, s.bin, s.args, s.log)
	return err
}

// Stop stops the process (SIGTERM, SIGKILL after 10s), if it runs.
func (s *Server) Stop() {
	if s.Proc != nil {
		s.Proc.Stop(10 * time.Second)
	}
}

// Kill sends SIGKILL and waits until the process is gone.
func (s *Server) Kill() error { return s.Proc.Kill() }

// Ready returns the status of /readyz (0 when there is no answer).
func (s *Server) Ready() int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + s.Health + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// LogTail returns at most the last n bytes of the server's log.
func (s *Server) LogTail(n int) string {
	if s.Proc == nil {
		return ""
	}
	return s.Proc.LogTail(n)
}
