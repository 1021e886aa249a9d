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
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authops/authops/test/envtest"
)

// The environment variables that name the binaries. `make test` and `make
// bench` run `make build` first and set them to its outputs.
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

// Bins returns the binaries the suites run. No test builds them: `make
// test` runs `make build` and names its outputs in $AUTHOPS_MANAGER_BIN and
// $AUTHOPS_AUTHSERVER_BIN; without those variables (a plain `go test`) they
// are bin/manager and bin/authserver of the repository. A binary that is
// missing, or older than a source file it is built from, is an error that
// says to run `make build`: a test never runs stale binaries, and never
// spends its -timeout compiling (a cold build of the Kubernetes dependency
// tree on a busy machine takes longer than go test's default 10 minutes).
func Bins() (Binaries, error) {
	binsOnce.Do(func() { bins, binsErr = resolveBins() })
	return bins, binsErr
}

func resolveBins() (Binaries, error) {
	b := Binaries{Manager: os.Getenv(EnvManagerBin), Authserver: os.Getenv(EnvAuthserverBin)}
	named := b.Manager != "" || b.Authserver != ""
	if !named {
		root := envtest.RepoRoot()
		b = Binaries{Manager: filepath.Join(root, "bin", "manager"), Authserver: filepath.Join(root, "bin", "authserver")}
	}
	for env, path := range map[string]string{EnvManagerBin: b.Manager, EnvAuthserverBin: b.Authserver} {
		if path == "" {
			return b, fmt.Errorf("$%s is empty while the other binary is named: set both, or neither (then bin/ is used)", env)
		}
		if _, err := os.Stat(path); err != nil {
			return b, fmt.Errorf("%w: run 'make build' (or set $%s)", err, env)
		}
	}
	if named {
		return b, nil // what the caller (make test, after make build) chose
	}
	return b, checkFresh(b.Manager, b.Authserver)
}

// checkFresh fails when a binary is older than a source file (make build
// touches its outputs, since go build leaves an up-to-date one as it is).
func checkFresh(paths ...string) error {
	newest, newestFile, err := newestSource()
	if err != nil {
		return err
	}
	for _, path := range paths {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if fi.ModTime().Before(newest) {
			return fmt.Errorf("%s is older than %s: run 'make build'", path, newestFile)
		}
	}
	return nil
}

// sourceDirs hold what the binaries are built from.
var sourceDirs = []string{"api", "authserver", "cmd", "controllers", "internal"}

// newestSource returns the modification time and name of the newest
// non-test file the binaries are built from (go.mod and go.sum included).
func newestSource() (time.Time, string, error) {
	root := envtest.RepoRoot()
	var newest time.Time
	var name string
	note := func(path string, fi fs.FileInfo) {
		if fi.ModTime().After(newest) {
			newest, name = fi.ModTime(), path
		}
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if fi, err := os.Stat(filepath.Join(root, f)); err == nil {
			note(f, fi)
		}
	}
	for _, dir := range sourceDirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && d.Name() == "testdata":
				return filepath.SkipDir
			case d.IsDir() || strings.HasSuffix(path, "_test.go"):
				return nil
			}
			fi, err := d.Info()
			if err == nil {
				rel, _ := filepath.Rel(root, path)
				note(rel, fi)
			}
			return err
		})
		if err != nil {
			return newest, name, err
		}
	}
	return newest, name, nil
}

// Build builds the package pkg of the repository into out with the flags of
// `make build`: static (CGO_ENABLED=0), -trimpath, -ldflags="-s -w". The
// benchmark builds its floor server (standard library only) with it.
func Build(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = envtest.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, o)
	}
	return nil
}

// Main is a TestMain for the suites that run the binaries: it resolves
// them (see Bins) before any test starts and stops with the reason when
// they are missing or stale, then runs the tests. run is m.Run's caller,
// such as pgtest.Main; nil runs m.Run and exits with its code.
func Main(m *testing.M, run func(*testing.M)) {
	if _, err := Bins(); err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		os.Exit(1)
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
