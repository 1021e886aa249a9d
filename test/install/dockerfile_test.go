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

package install

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestDockerfileBuild proves the Dockerfile's build stage without a Docker
// engine: it copies exactly what the Dockerfile COPYs into an empty folder,
// runs the Dockerfile's own RUN go build commands there, and checks that the
// binaries are static (no ELF interpreter, no dynamic section) and that the
// runtime stage is distroless, nonroot.
func TestDockerfileBuild(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(data), "")

	src := t.TempDir()
	out := t.TempDir()
	var builds, args []string
	stage := 0
	for _, line := range strings.Split(dockerfile, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "FROM":
			stage++
			if stage == 2 && !strings.Contains(line, "distroless/static") || stage == 2 && !strings.HasSuffix(line, ":nonroot") {
				t.Errorf("runtime stage %q: want a distroless static nonroot image", line)
			}
		case "COPY":
			if stage != 1 || strings.HasPrefix(fields[1], "--from") {
				continue
			}
			for _, p := range fields[1 : len(fields)-1] {
				copyTree(t, filepath.Join(root, p), filepath.Join(src, p))
			}
		case "ARG":
			// An ARG's default, as docker build passes it to RUN.
			if name, value, ok := strings.Cut(fields[1], "="); ok && stage == 1 {
				args = append(args, name+"="+value)
			}
		case "RUN":
			cmd := strings.TrimSpace(strings.TrimPrefix(line, "RUN"))
			if strings.Contains(cmd, "go build") {
				builds = append(builds, cmd)
			}
		case "USER":
			if fields[1] != "65532:65532" {
				t.Errorf("USER %s: want 65532:65532 (nonroot)", fields[1])
			}
		}
	}
	if len(builds) == 0 {
		t.Fatal("the Dockerfile has no go build step")
	}
	for _, b := range builds {
		b = strings.NewReplacer("/out/", out+"/", "${TARGETOS}", runtime.GOOS, "${TARGETARCH}", runtime.GOARCH).Replace(b)
		cmd := exec.Command("sh", "-c", b)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), args...)
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the Dockerfile's build step, on only what it copies, failed: %s: %v\n%s", b, err, o)
		}
	}
	for _, bin := range []string{"manager", "authserver"} {
		f, err := elf.Open(filepath.Join(out, bin))
		if err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s is dynamically linked: it cannot run on distroless static", bin)
			}
		}
		f.Close()
	}
}

// copyTree copies a file or a folder.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
