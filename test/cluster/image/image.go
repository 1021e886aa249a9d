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

// Package image builds container images without a Docker engine or a
// registry, as tarballs that `ctr images import` loads: the authops image the
// repository's Dockerfile describes, made from the static binaries of `make
// build`, and the pod sandbox (pause) image of the real-cluster suite.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Spec is what an image holds: files copied from this machine, the user
// and the entrypoint.
type Spec struct {
	// Files maps a path in the image (such as /manager) to the file on this
	// machine that is copied there, as an executable owned by root.
	Files map[string]string
	// User is the image's USER (uid:gid).
	User string
	// Entrypoint and Cmd are the image's ENTRYPOINT and CMD.
	Entrypoint, Cmd []string
}

// NonrootUser is the user of the distroless nonroot base image the
// Dockerfile's runtime stage starts from.
const NonrootUser = "65532:65532"

// Authops is the image the Dockerfile describes: the manager and the
// authserver at the root, user 65532, the manager as the entrypoint (the
// chart and the kustomize tree name /authserver as the sidecar's command).
// TestSpecMatchesDockerfile holds the two together.
func Authops(manager, authserver string) Spec {
	return Spec{
		Files:      map[string]string{"/manager": manager, "/authserver": authserver},
		User:       NonrootUser,
		Entrypoint: []string{"/manager"},
	}
}

// Pause is the pod sandbox image: one static binary that waits for SIGTERM
// (built from ./pause).
func Pause(pause string) Spec {
	return Spec{Files: map[string]string{"/pause": pause}, User: "65535:65535", Entrypoint: []string{"/pause"}}
}

// epoch is every file's modification time, so the same binaries make the
// same image.
var epoch = time.Unix(0, 0).UTC()

// Write builds the image of spec and writes it to path as a tarball that
// `ctr images import` and `docker load` read, under the reference ref (such
// as ghcr.io/authops/authops:dev).
func Write(spec Spec, ref, path string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	img, err := Build(spec)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}

// Build builds the image of spec: one layer on an empty base. Like the
// distroless base, the layer also holds /etc/passwd and /etc/group naming the
// nonroot user, and a /tmp; there is no shell and no other program.
func Build(spec Spec) (v1.Image, error) {
	data, err := layerTar(spec)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", "amd64", v1.Time{Time: epoch}
	cf.Config.User = spec.User
	cf.Config.Entrypoint, cf.Config.Cmd = spec.Entrypoint, spec.Cmd
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return mutate.ConfigFile(img, cf)
}

// layerTar returns the image's only layer.
func layerTar(spec Spec) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := dir("etc/", 0o755); err != nil {
		return nil, err
	}
	if err := file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")); err != nil {
		return nil, err
	}
	if err := file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")); err != nil {
		return nil, err
	}
	if err := dir("tmp/", 0o1777); err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(spec.Files))
	for p := range spec.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		data, err := os.ReadFile(spec.Files[p])
		if err != nil {
			return nil, err
		}
		if len(p) < 2 || p[0] != '/' || bytes.ContainsRune([]byte(p[1:]), '/') {
			return nil, fmt.Errorf("image path %q: want a file at the root, such as /manager", p)
		}
		if err := file(p[1:], 0o755, data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
