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

// Command image writes the authops image the Dockerfile describes, built
// from the binaries of `make build` without a Docker engine, as a tarball
// that `ctr images import` and `docker load` read (make image-tarball). The
// real-cluster suite (test/cluster) builds the same image with the same
// package; the Dockerfile stays the release path.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/authops/authops/test/cluster/image"
)

func main() {
	manager := flag.String("manager", "bin/manager", "the manager binary (static, from make build)")
	authserver := flag.String("authserver", "bin/authserver", "the authserver binary (static, from make build)")
	ref := flag.String("image", "ghcr.io/authops/authops:dev", "the image reference the tarball names")
	out := flag.String("out", "bin/authops-image.tar", "the tarball to write")
	flag.Parse()
	if err := image.Write(image.Authops(*manager, *authserver), *ref, *out); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%s)\n", *out, *ref)
}
