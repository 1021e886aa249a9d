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
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authops/authops/test/envtest"
)

// The environment variables that name prebuilt binaries. `make test` and
// `make bench` run `make build` first and set them to bin/manager and
// bin/authserver, so no test builds anything.
const (
	EnvManagerBin    = "AUTHOPS_MANAGER_BIN"
	EnvAuthserverBin = "AUTHOPS_AUTHSERVER_BIN"
)

// Binaries are the paths of the manager and authserver binaries.
type Binaries struct {
	Manager, Authserver string
}

var (
	binsOnce sync.Once
	bins     Binaries
	binsErr  error
)

// Bins returns the binaries every suite of this process runs. When
// $AUTHOPS_MANAGER_BIN and $AUTHOPS_AUTHSERVER_BIN are set (make test) they
// are used as they are, and a missing file is an error that says to run
// `make build`. Otherwise (a plain `go test`) both are built once per
// process into a temporary folder with the flags of `make build`, without a
// timeout: never the bin/ binaries, which may be older than the source.
func Bins() (Binaries, error) {
	binsOnce.Do(func() { bins, binsErr = resolveBins() })
	return bins, binsErr
}

func resolveBins() (Binaries, error) {
	b := Binaries{Manager: os.Getenv(EnvManagerBin), Authserver: os.Getenv(EnvAuthserverBin)}
	if b.Manager != "" || b.Authserver != "" {
		for name, path := range map[string]string{EnvManagerBin: b.Manager, EnvAuthserverBin: b.Authserver} {
			if path == "" {
				return b, fmt.Errorf("$%s is not set while $%s is: set both, or neither (the tests then build them)", name, otherEnv(name))
			}
			if _, err := os.Stat(path); err != nil {
				return b, fmt.Errorf("$%s=%s: %w (run 'make build')", name, path, err)
			}
		}
		return b, nil
	}
	dir, err := os.MkdirTemp("", "authops-bin-")
	if err != nil {
		return b, err
	}
	b = Binaries{Manager: filepath.Join(dir, "manager"), Authserver: filepath.Join(dir, "authserver")}
	fmt.Fprintf(os.Stderr, "stack: $%s and $%s are not set: building the manager and the authserver into %s (make test uses those of make build)\n",
		EnvManagerBin, EnvAuthserverBin, dir)
	for _, c := range []struct{ pkg, out string }{{"./cmd/manager", b.Manager}, {"./cmd/authserver", b.Authserver}} {
		if err := Build(context.Background(), c.pkg, c.out); err != nil {
			return b, err
		}
	}
	return b, nil
}

func otherEnv(name string) string {
	if name == EnvManagerBin {
		return EnvAuthserverBin
	}
	return EnvManagerBin
}

// Build builds the package pkg of the repository (e.g. ./cmd/authserver)
// into out with the flags of `make build`: static (CGO_ENABLED=0),
// -trimpath, -ldflags="-s -w". ctx bounds it; the callers here pass no
// deadline, since a cold build on a busy machine takes minutes.
func Build(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = envtest.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, o)
	}
	return nil
}

// Main is a TestMain for the suites that run the binaries: it resolves them
// (building them if need be) before the tests start, so that the build
// never counts against `go test -timeout`, then runs the tests. With -short
// it builds nothing up front (tests that still need the binaries build them
// when they ask). run is m.Run, or a wrapper of it such as pgtest.Main.
func Main(m *testing.M, run func(*testing.M)) {
	flag.Parse()
	if !testing.Short() {
		if _, err := Bins(); err != nil {
			fmt.Fprintln(os.Stderr, "stack:", err)
			os.Exit(1)
		}
	}
	if run == nil {
		os.Exit(m.Run())
	}
	run(m)
}

// errMissing names what a stack needs and was not given.
func errMissing(what ...string) error {
	return errors.New("stack: missing " + strings.Join(what, ", "))
}
