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

package authserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authops/authops/authserver"
)

// serveLoopback runs authserver.NewHTTPServer with h on a loopback port.
func serveLoopback(t *testing.T, h http.Handler, tlsCert *tls.Certificate) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := authserver.NewHTTPServer(ln.Addr().String(), h)
	srv.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if tlsCert != nil {
		srv.TLSConfig.Certificates = []tls.Certificate{*tlsCert}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv, ln.Addr().String()
}

// TestSlowlorisDisconnected: a client that trickles its request headers, one
// byte a second, is disconnected once ReadHeaderTimeout has passed; it
// cannot hold the connection.
func TestSlowlorisDisconnected(t *testing.T) {
	_, addr := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), nil)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes the connection
		closed <- time.Since(start)
	}()
	limit := authserver.ReadHeaderTimeout + 3*time.Second
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case d := <-closed:
			t.Logf("slow client disconnected after %v (ReadHeaderTimeout %v)", d.Round(time.Millisecond), authserver.ReadHeaderTimeout)
			if d < authserver.ReadHeaderTimeout-time.Second {
				t.Errorf("disconnected after %v, before the timeout", d)
			}
			return
		case <-tick.C:
			if time.Since(start) > limit {
				t.Fatalf("still connected after %v", time.Since(start))
			}
			_, _ = io.WriteString(conn, "X") // one more byte of a never-ending header
		}
	}
}

// TestRequestSizeCaps: oversized headers get 431, oversized bodies 413, and
// neither reaches the handler.
func TestRequestSizeCaps(t *testing.T) {
	reached := 0
	_, addr := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}
	}), nil)
	base := "http://" + addr + "/oauth2/token"

	req, _ := http.NewRequest(http.MethodPost, base, strings.NewReader("a=b"))
	req.Header.Set("X-Big", strings.Repeat("a", authserver.MaxHeaderBytes+4096))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized header: %d", resp.StatusCode)
	}

	resp, err = http.Post(base, "application/x-www-form-urlencoded", strings.NewReader(strings.Repeat("a", authserver.MaxBodyBytes+1)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", resp.StatusCode)
	}
	// Chunked (no Content-Length): the handler's read stops at the cap.
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(strings.Repeat("a", authserver.MaxBodyBytes+1)))
		_ = pw.Close()
	}()
	resp, err = http.Post(base, "application/x-www-form-urlencoded", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized chunked body: %d", resp.StatusCode)
	}
	if reached != 1 {
		t.Errorf("the handler saw %d oversized requests, want only the chunked one", reached)
	}
}

// TestGracefulShutdownFinishesInFlight: Shutdown stops accepting new
// connections, lets the request in flight finish with its response, and
// returns once it has.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	inHandler, release := make(chan struct{}), make(chan struct{})
	srv, addr := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		<-release
		_, _ = io.WriteString(w, "finished")
	}), nil)
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	<-inHandler
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	// New connections are refused while the request is in flight.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections during shutdown")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) before the request finished", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if r := <-got; r != "200 finished" {
		t.Fatalf("in-flight request: %s", r)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestTLSModernOnly: TLS 1.0 and 1.1 and TLS 1.2 CBC suites are refused;
// TLS 1.2 with AEAD suites and TLS 1.3 work.
func TestTLSModernOnly(t *testing.T) {
	cert, pool := selfSigned(t)
	_, addr := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), &cert)
	dial := func(cfg *tls.Config) (*tls.ConnectionState, error) {
		cfg.RootCAs, cfg.ServerName = pool, "127.0.0.1"
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		st := c.ConnectionState()
		return &st, nil
	}
	for name, cfg := range map[string]*tls.Config{
		"TLS 1.0":         {MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10},
		"TLS 1.1":         {MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11},
		"TLS 1.2 CBC":     {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}},
		"TLS 1.2 RSA kex": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
	} {
		if _, err := dial(cfg); err == nil {
			t.Errorf("%s: handshake succeeded", name)
		}
	}
	for name, cfg := range map[string]*tls.Config{
		"TLS 1.2 GCM":    {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
		"TLS 1.2 ChaCha": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}},
		"TLS 1.3":        {MinVersion: tls.VersionTLS13},
	} {
		st, err := dial(cfg)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		t.Logf("%s: %s %s", name, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	}
	for _, id := range authserver.TLSConfig().CipherSuites {
		for _, s := range tls.InsecureCipherSuites() {
			if s.ID == id {
				t.Errorf("insecure suite %s configured", s.Name)
			}
		}
		if n := tls.CipherSuiteName(id); !strings.Contains(n, "GCM") && !strings.Contains(n, "CHACHA20") {
			t.Errorf("non-AEAD suite %s configured", n)
		}
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "authops test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, pool
}
