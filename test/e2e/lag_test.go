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

package e2e

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// lagProxy forwards TCP connections to an address, delaying everything the
// server sends by a fixed lag (in order): a replica whose API server
// connection goes through it sees every watch event that much later, like
// a slow or distant replica.
type lagProxy struct {
	ln       net.Listener
	upstream string
	lag      time.Duration
}

// startLagProxy listens on a loopback port until the test ends.
func startLagProxy(t *testing.T, upstream string, lag time.Duration) *lagProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lagProxy{ln: ln, upstream: upstream, lag: lag}
	t.Cleanup(func() { _ = ln.Close() })
	go p.serve()
	return p
}

func (p *lagProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

type chunk struct {
	at   time.Time
	data []byte
}

func (p *lagProxy) forward(c net.Conn) {
	defer c.Close()
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer u.Close()
	go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
	chunks := make(chan chunk, 4096)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32*1024)
			n, err := u.Read(buf)
			if n > 0 {
				chunks <- chunk{at: time.Now(), data: buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range chunks {
		time.Sleep(time.Until(ch.at.Add(p.lag)))
		if _, err := c.Write(ch.data); err != nil {
			return
		}
	}
}

// laggedKubeconfig writes a copy of the kubeconfig at path whose server is
// reached through a lagProxy, and returns the copy's path.
func laggedKubeconfig(t *testing.T, path string, lag time.Duration) string {
	t.Helper()
	kc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	server := regexp.MustCompile(`server: (https?://)([^\s/]+)`)
	m := server.FindSubmatch(kc)
	if m == nil {
		t.Fatalf("no server in %s", path)
	}
	p := startLagProxy(t, string(m[2]), lag)
	out := filepath.Join(t.TempDir(), "kubeconfig-lagged")
	kc = server.ReplaceAll(kc, []byte("server: ${1}"+p.ln.Addr().String()))
	if err := os.WriteFile(out, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}
