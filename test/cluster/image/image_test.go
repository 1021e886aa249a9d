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

package image

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/authops/authops/test/envtest"
)

// dockerfileRuntime is what the Dockerfile's last (runtime) stage puts in
// the image.
type dockerfileRuntime struct {
	// copies maps a path in the image to the build stage's output it copies
	// (/manager -> manager for COPY --from=build /out/manager /manager).
	copies          map[string]string
	user            string
	entrypoint, cmd []string
}

// parseDockerfile reads the runtime stage of the repository's Dockerfile.
func parseDockerfile(t *testing.T) dockerfileRuntime {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(envtest.RepoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(data), "")
	var rt dockerfileRuntime
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		rest := strings.TrimSpace(strings.TrimPrefix(line, fields[0]))
		switch fields[0] {
		case "FROM":
			rt = dockerfileRuntime{copies: map[string]string{}} // a new stage: the last one counts
		case "COPY":
			if len(fields) != 4 || !strings.HasPrefix(fields[1], "--from=") {
				continue // the build stage's source copies
			}
			rt.copies[fields[3]] = strings.TrimPrefix(fields[2], "/out/")
		case "USER":
			rt.user = rest
		case "ENTRYPOINT", "CMD":
			var args []string
			if err := json.Unmarshal([]byte(rest), &args); err != nil {
				t.Fatalf("%s %s: want the exec (JSON) form, since the image has no shell: %v", fields[0], rest, err)
			}
			if fields[0] == "ENTRYPOINT" {
				rt.entrypoint = args
			} else {
				rt.cmd = args
			}
		}
	}
	return rt
}

// TestSpecMatchesDockerfile builds the image with the builder the
// real-cluster suite uses and checks it holds what the Dockerfile's runtime
// stage describes: each binary at the path the Dockerfile copies it to
// (with that binary's bytes), the same user, entrypoint and command, and no
// other program (no shell).
func TestSpecMatchesDockerfile(t *testing.T) {
	want := parseDockerfile(t)
	if len(want.copies) == 0 || want.user == "" || len(want.entrypoint) == 0 {
		t.Fatalf("the Dockerfile's runtime stage: copies %v, user %q, entrypoint %v: want all three", want.copies, want.user, want.entrypoint)
	}

	// Stand-ins for the binaries of make build, each with its own bytes.
	dir := t.TempDir()
	bins := map[string]string{}
	for _, b := range []string{"manager", "authserver"} {
		bins[b] = filepath.Join(dir, b)
		if err := os.WriteFile(bins[b], []byte("binary "+b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "image.tar")
	if err := Write(Authops(bins["manager"], bins["authserver"]), "ghcr.io/authops/authops:test", path); err != nil {
		t.Fatal(err)
	}

	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != want.user {
		t.Errorf("user %q, the Dockerfile's USER is %q", cf.Config.User, want.user)
	}
	if !reflect.DeepEqual(cf.Config.Entrypoint, want.entrypoint) {
		t.Errorf("entrypoint %q, the Dockerfile's ENTRYPOINT is %q", cf.Config.Entrypoint, want.entrypoint)
	}
	if !reflect.DeepEqual(cf.Config.Cmd, want.cmd) {
		t.Errorf("cmd %q, the Dockerfile's CMD is %q", cf.Config.Cmd, want.cmd)
	}

	executables := map[string]string{} // path in the image -> content
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0 {
				data, _ := io.ReadAll(tr)
				executables["/"+h.Name] = string(data)
				if h.Uid != 0 || h.Mode&0o022 != 0 {
					t.Errorf("/%s: owner %d, mode %o: want root's, writable by root only", h.Name, h.Uid, h.Mode)
				}
			}
		}
		rc.Close()
	}
	var got, wantPaths []string
	for p := range executables {
		got = append(got, p)
	}
	for p, out := range want.copies {
		wantPaths = append(wantPaths, p)
		if executables[p] != "binary "+out {
			t.Errorf("%s holds %q, want the build's %s (COPY --from=build /out/%s %s)", p, executables[p], out, out, p)
		}
	}
	sort.Strings(got)
	sort.Strings(wantPaths)
	if !reflect.DeepEqual(got, wantPaths) {
		t.Errorf("programs in the image %v, the Dockerfile copies %v (and distroless has no shell)", got, wantPaths)
	}
}
