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

package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/authops/authops/test/cluster/image"
	"github.com/authops/authops/test/envtest"
	"github.com/authops/authops/test/stack"
)

// ImageRepository is the repository of the authops image the suite builds;
// ImportAuthops tags it with the tag it is given.
const ImageRepository = "ghcr.io/authops/authops"

// ImportAuthops builds the authops image from the binaries of make build
// (package image: what the Dockerfile describes) and imports it as
// ImageRepository:tag.
func (c *Cluster) ImportAuthops(ctx context.Context, tag string) error {
	bins, err := stack.Bins()
	if err != nil {
		return err
	}
	tar := filepath.Join(c.Dir, "images", "authops-"+tag+".tar")
	if err := os.MkdirAll(filepath.Dir(tar), 0o755); err != nil {
		return err
	}
	if err := image.Write(image.Authops(bins.Manager, bins.Authserver), ImageRepository+":"+tag, tar); err != nil {
		return err
	}
	return c.ImportImage(ctx, tar)
}

// CreateHostPathVolume creates a PersistentVolume without a storage class
// (a claim without one binds to it) backed by a folder under Dir that any
// user may write: the cluster has no provisioner.
func (c *Cluster) CreateHostPathVolume(ctx context.Context, name, size string) error {
	dir := filepath.Join(c.Dir, "volumes", name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o777); err != nil { // past the umask
		return err
	}
	pv := fmt.Sprintf(`{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": %q},
"spec": {"capacity": {"storage": %q}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
"hostPath": {"path": %q, "type": "Directory"}}}`, name, size, dir)
	path := filepath.Join(c.Dir, "volumes", name+".json")
	if err := os.WriteFile(path, []byte(pv), 0o644); err != nil {
		return err
	}
	_, err := c.Kubectl(ctx, "apply", "-f", path)
	return err
}

// ServiceAddress returns host:port of the Service in namespace whose port
// targets the container port named targetPort (the authserver's "oauth").
func (c *Cluster) ServiceAddress(ctx context.Context, namespace, targetPort string) (string, error) {
	out, err := c.Kubectl(ctx, "get", "services", "-n", namespace, "-o", "json")
	if err != nil {
		return "", err
	}
	var list struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
			Spec     struct {
				ClusterIP string `json:"clusterIP"`
				Ports     []struct {
					Port       int `json:"port"`
					TargetPort any `json:"targetPort"`
				} `json:"ports"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return "", err
	}
	for _, s := range list.Items {
		for _, p := range s.Spec.Ports {
			if p.TargetPort == targetPort {
				return fmt.Sprintf("%s:%d", s.Spec.ClusterIP, p.Port), nil
			}
		}
	}
	return "", fmt.Errorf("no Service in %s targets port %q", namespace, targetPort)
}

// Tool returns the path of a tool the Makefile installs into bin/ under a
// versioned name (helm-v3.22.0): $ENV when set, else bin/<name>-*.
func Tool(env, name string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	matches, _ := filepath.Glob(filepath.Join(envtest.RepoRoot(), "bin", name+"-*"))
	if len(matches) == 0 {
		return "", fmt.Errorf("%s not found: run 'make %s' or set $%s", name, name, env)
	}
	return matches[len(matches)-1], nil
}

// ServiceTransport carries the requests a client makes to the issuer's
// host to a Service's ClusterIP over plain HTTP, as the TLS-terminating
// Ingress in front of the chart's default install would, keeping the Host
// header. It refuses every other host, so no request leaves this machine.
// It counts requests and failures (transport errors and 5xx answers).
type ServiceTransport struct {
	// Host is the issuer's host (auth.example.com); Address the Service's
	// ClusterIP:port.
	Host, Address string
	// TLS, when set, makes the requests HTTPS (the authserver serving TLS
	// itself); Base is then ignored.
	TLS  *tls.Config
	Base http.RoundTripper

	tlsOnce      sync.Once
	tlsTransport http.RoundTripper

	requests, failures atomic.Int64
}

// RoundTrip implements http.RoundTripper.
func (s *ServiceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != s.Host {
		return nil, fmt.Errorf("request to %s: only the issuer's host %s is served (through the Service)", req.URL.Host, s.Host)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = "http", s.Address, s.Host
	out.Header.Set("X-Forwarded-Proto", "https")
	base := s.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if s.TLS != nil {
		s.tlsOnce.Do(func() {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.TLSClientConfig = s.TLS
			s.tlsTransport = t
		})
		out.URL.Scheme, base = "https", s.tlsTransport
		out.Header.Del("X-Forwarded-Proto")
	}
	s.requests.Add(1)
	resp, err := base.RoundTrip(out)
	if err != nil || resp.StatusCode >= 500 {
		s.failures.Add(1)
	}
	if err == nil {
		resp.Request = req // redirects resolve against the issuer's URL
	}
	return resp, err
}

// Counts returns the requests sent and how many failed.
func (s *ServiceTransport) Counts() (requests, failures int64) {
	return s.requests.Load(), s.failures.Load()
}
