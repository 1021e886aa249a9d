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

package authserver

import (
	"crypto/tls"
	"net/http"
	"time"
)

// Connection limits of the OAuth listener (see NewHTTPServer).
const (
	// ReadHeaderTimeout bounds the time to send the request headers: a
	// client trickling headers (slowloris) is disconnected after it.
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout = 15 * time.Second
	// WriteTimeout bounds the time from the end of the request headers to
	// the end of the response.
	WriteTimeout = 30 * time.Second
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout = 90 * time.Second
	// MaxHeaderBytes caps the request line and headers.
	MaxHeaderBytes = 16 << 10
	// MaxBodyBytes caps every request body (forms are capped at 64 KiB
	// when parsed; this also bounds what a handler that does not parse the
	// body can be sent).
	MaxBodyBytes = 64 << 10
)

// NewHTTPServer returns the http.Server for the OAuth endpoints: the
// timeouts and size caps above, a body cap on every request, and, for TLS,
// TLSConfig. Shutdown lets requests in flight finish.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr: addr,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > MaxBodyBytes {
				w.Header().Set("Connection", "close")
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		TLSConfig:         TLSConfig(),
	}
}

// TLSConfig is the TLS configuration of the OAuth listener: TLS 1.2 or
// newer, and with TLS 1.2 only ECDHE key exchange with AEAD ciphers
// (AES-GCM, ChaCha20-Poly1305); TLS 1.3 suites are all AEAD and not
// configurable. No CBC, RSA key exchange, 3DES or RC4.
func TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384},
	}
}
