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

// Package strictclient runs panva's oauth4webapi, a strict OAuth 2.0 and
// OpenID Connect client library (pinned in package.json and
// package-lock.json beside this file), against authops: the scripts here
// (client.mjs, par.mjs) fail on any deviation from the RFCs the library
// checks. Install gives the tests Node.js and a folder where they run.
package strictclient

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Version is oauth4webapi's version in package.json and package-lock.json.
const Version = "3.8.9"

// EnvRequire set to 1 (CI) makes a missing Node.js or npm a failure
// instead of a loud skip.
const EnvRequire = "AUTHOPS_REQUIRE_NODE"

var installMu sync.Mutex

// Install returns Node.js and bin/strictclient, holding this folder's
// scripts and package files with the pinned dependencies installed there
// (npm ci from the npm registry, once: later runs find them). Without
// Node.js or npm the test is skipped loudly, or fails when $EnvRequire=1.
func Install(t testing.TB) (node, dir string) {
	t.Helper()
	node, nerr := exec.LookPath("node")
	npm, merr := exec.LookPath("npm")
	if nerr != nil || merr != nil {
		msg := "Node.js and npm are not installed (apt-get install nodejs npm): the strict client library checks (oauth4webapi) did not run"
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal(msg + " and " + EnvRequire + "=1 requires them")
		}
		fmt.Fprintln(os.Stderr, "SKIP: "+msg)
		t.Skip(msg)
	}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Dir(file)
	dir = filepath.Join(src, "..", "..", "bin", "strictclient")
	installMu.Lock()
	defer installMu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"package.json", "package-lock.json", "client.mjs", "par.mjs"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	installed, _ := os.ReadFile(filepath.Join(dir, "node_modules", "oauth4webapi", "package.json"))
	if !strings.Contains(string(installed), `"version": "`+Version+`"`) {
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return node, dir
}
