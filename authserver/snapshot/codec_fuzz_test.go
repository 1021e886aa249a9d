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

package snapshot_test

import (
	"bytes"
	"testing"

	"github.com/authops/authops/authserver/snapshot"
)

// FuzzDecode: the snapshot document decoder never panics; what it accepts
// is valid, encodes again, and decodes to the same document (the encoding
// of a decoded document is a fixed point).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"version":"v1","kind":"Client","source":{"kind":"OAuthClient","namespace":"team","name":"web","uid":"u1"},"client":{"id":"web","namespace":"team","type":"Confidential","tokenEndpointAuthMethod":"client_secret_basic","grantTypes":["client_credentials"],"secrets":[{"sha256":"` + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" + `"}],"policy":{"pkce":"Optional","consent":"Auto","errorProfile":"Extended","refreshTokenRotation":"Rotate","accessTokenLifetimeSeconds":600,"refreshTokenLifetimeSeconds":3600,"authorizationCodeLifetimeSeconds":60}}}`,
		`{"version":"v1","kind":"Account","source":{"name":"a","uid":"u"},"account":{"subject":"ns/a","namespace":"ns","username":"a"}}`,
		`{"version":"v1","kind":"KeySet","source":{"name":"k","uid":"u"},"keySet":{"keys":[{"kid":"k1","alg":"ES256","privateKeyPEM":"x"}]}}`,
		`{"version":"v2"}`, `{}`, `[]`, `null`, `{"version":"v1","kind":"Client","client":null}`,
		`{"version":"v1","kind":"Client","source":{"name":"a","uid":"u"},"client":{},"account":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := snapshot.Decode(data)
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("decoded an invalid document: %v", err)
		}
		enc, err := snapshot.Encode(d)
		if err != nil {
			t.Fatalf("cannot encode a decoded document: %v", err)
		}
		d2, err := snapshot.Decode(enc)
		if err != nil {
			t.Fatalf("cannot decode its own encoding: %v\n%s", err, enc)
		}
		enc2, err := snapshot.Encode(d2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %v\n%s\n%s", err, enc, enc2)
		}
	})
}
