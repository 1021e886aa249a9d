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

package fault

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authops/authops/test/stack"
)

// TestTLSCertificateReplaced: the authserver binary serves HTTPS from
// certificate files laid out as the kubelet mounts a kubernetes.io/tls
// Secret (tls.crt and tls.key are symlinks through ..data to a timestamped
// folder). The Secret's certificate is replaced the way the kubelet does it
// (a new folder, then ..data swapped atomically); new TLS connections get
// the new certificate, and the process is the one that started.
func TestTLSCertificateReplaced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	first, second := selfSigned(t, 1001), selfSigned(t, 2002)
	mountSecret(t, dir, "..2026_12_03_first", first)

	s := newServer(t, "authserver", "sqlite://:memory:", stack.AuthserverOptions{SnapshotDir: snapshotDir(t),
		Args: []string{"--tls-cert-file=" + filepath.Join(dir, "tls.crt"), "--tls-key-file=" + filepath.Join(dir, "tls.key")}})
	s.start()
	addr := strings.TrimPrefix(s.base, "http://")
	pid := s.Proc.Pid()

	if got := servedSerial(t, addr); got != 1001 {
		t.Fatalf("serves the certificate with serial %d, want 1001", got)
	}
	mountSecret(t, dir, "..2026_12_03_second", second)
	replaced := time.Now()
	for {
		got := servedSerial(t, addr)
		if got == 2002 {
			break
		}
		if time.Since(replaced) > 30*time.Second {
			t.Fatalf("30s after the Secret's certificate was replaced the authserver still serves serial %d, want 2002", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the new certificate is served %v after it was replaced", time.Since(replaced).Round(100*time.Millisecond))
	select {
	case <-s.Proc.Exited():
		t.Fatal("the authserver exited")
	default:
	}
	if s.Proc.Pid() != pid {
		t.Fatal("the authserver was restarted")
	}
	// The endpoints answer over the new certificate.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(second.cert)
	c := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
	resp, err := c.Get("https://" + addr + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("HTTPS with the new certificate trusted: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery over HTTPS: %d", resp.StatusCode)
	}
}

type keyPair struct{ cert, key []byte }

// selfSigned makes a certificate for 127.0.0.1 with the given serial.
func selfSigned(t *testing.T, serial int64) keyPair {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "authops test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})}
}

// mountSecret writes kp into dir as the kubelet's atomic writer updates a
// Secret volume: the files go into a new folder, ..data is swapped to it by
// a rename, and the previous folder is removed; tls.crt and tls.key are
// symlinks through ..data.
func mountSecret(t *testing.T, dir, version string, kp keyPair) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, version), 0o755))
	must(os.WriteFile(filepath.Join(dir, version, "tls.crt"), kp.cert, 0o644))
	must(os.WriteFile(filepath.Join(dir, version, "tls.key"), kp.key, 0o600))
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	must(os.Symlink(version, filepath.Join(dir, "..data_tmp")))
	must(os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	for _, f := range []string{"tls.crt", "tls.key"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); os.IsNotExist(err) {
			must(os.Symlink(filepath.Join("..data", f), filepath.Join(dir, f)))
		}
	}
	if old != "" {
		must(os.RemoveAll(filepath.Join(dir, old)))
	}
}

// servedSerial opens a TLS connection and returns the serial number of the
// certificate the server presents.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test reads the presented certificate
	if err != nil {
		t.Fatalf("TLS connection to the authserver: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}
