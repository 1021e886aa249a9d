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

package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// DPoPProver makes DPoP proofs (RFC 9449 §4) with one ES256 key, as a
// client library does: a new proof, with a new jti, for every request.
type DPoPProver struct {
	signer jose.Signer
}

// NewDPoPProver makes a key and a signer that puts its public key into the
// header of every proof.
func NewDPoPProver() (*DPoPProver, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, err
	}
	return &DPoPProver{signer: s}, nil
}

// Proof is a proof for a request with method htm to URL htu at now ("" if
// signing fails, which the server then refuses).
func (p *DPoPProver) Proof(htm, htu string, now time.Time) string {
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	payload := `{"jti":"` + base64.RawURLEncoding.EncodeToString(jti[:]) + `","htm":"` + htm + `","htu":"` + htu +
		`","iat":` + strconv.FormatInt(now.Unix(), 10) + `}`
	jws, err := p.signer.Sign([]byte(payload))
	if err != nil {
		return ""
	}
	out, _ := jws.CompactSerialize()
	return out
}
