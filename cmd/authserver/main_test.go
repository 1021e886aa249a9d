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

package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authops/authops/authserver/registry"
	"github.com/authops/authops/authserver/store/storetest"
)

// TestProbes: /readyz waits for the first snapshot sync; /healthz does not.
func TestProbes(t *testing.T) {
	holder := registry.NewHolder()
	h := probes(holder, storetest.NewMemoryStore(t, nil))
	get := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	if got := get("/healthz"); got != 200 {
		t.Errorf("healthz = %d", got)
	}
	if got := get("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("readyz before sync = %d", got)
	}
	holder.MarkReady()
	if got := get("/readyz"); got != 200 {
		t.Errorf("readyz after sync = %d", got)
	}
}

// TestParsePrefixes: --trusted-proxies takes CIDRs and bare IPs.
func TestParsePrefixes(t *testing.T) {
	got, err := parsePrefixes(" 10.0.0.0/8, 192.0.2.7,fd00::1/8 ,")
	if err != nil || fmt.Sprint(got) != "[10.0.0.0/8 192.0.2.7/32 fd00::/8]" {
		t.Errorf("parsePrefixes: %v, %v", got, err)
	}
	if _, err := parsePrefixes("10.0.0.0/8,ingress"); err == nil {
		t.Error("a name was accepted as a CIDR")
	}
}
