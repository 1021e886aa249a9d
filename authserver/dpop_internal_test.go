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
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authops/authops/authserver/store"
	"github.com/authops/authops/test/bench"
)

// everFirst is a FirstUse that remembers nothing: the proof check without
// the store.
type everFirst struct{}

func (everFirst) FirstUse(context.Context, string, string, time.Time) (bool, error) { return true, nil }

// BenchmarkDPoPProofCheck is the CPU of one proof check without the store
// write (BenchmarkClientCredentialsDPoP has both): parsing the JWS and its
// jwk, the ES256 verification, the claims and the thumbprint.
func BenchmarkDPoPProofCheck(b *testing.B) {
	prover, err := bench.NewDPoPProver()
	if err != nil {
		b.Fatal(err)
	}
	v := &dpopVerifier{jtis: everFirst{}, clock: store.SystemClock{}, nonces: &dpopNonces{}}
	const htu = "http://127.0.0.1:1/oauth2/token"
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
	r.Header.Set(HeaderDPoP, prover.Proof(http.MethodPost, htu, time.Now()))
	target := dpopTarget{method: http.MethodPost, url: htu}
	b.ReportAllocs()
	for b.Loop() {
		if jkt, e := v.verify(r.Context(), r, nil, target); e != nil || jkt == "" {
			b.Fatal(e)
		}
	}
}
