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
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestProxiesSource: the source behind trusted proxies is the rightmost
// untrusted entry of the configured header; headers from other peers, the
// other header and malformed headers leave the peer.
func TestProxiesSource(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name, header, peer string
		values             []string
		other              string // a value of the header not configured
		want               string
	}{
		{"no header", HeaderXForwardedFor, "10.1.2.3:5000", nil, "", "10.1.2.3"},
		{"untrusted peer", HeaderXForwardedFor, "192.0.2.1:5000", []string{"198.51.100.1"}, "", "192.0.2.1"},
		{"one hop", HeaderXForwardedFor, "10.1.2.3:5000", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"spoofed left part", HeaderXForwardedFor, "10.1.2.3:5000", []string{"203.0.113.5, 198.51.100.1"}, "", "198.51.100.1"},
		{"trusted hops skipped", HeaderXForwardedFor, "10.1.2.3:5000", []string{"203.0.113.5, 198.51.100.1, 10.9.9.9"}, "", "198.51.100.1"},
		{"several lines", HeaderXForwardedFor, "10.1.2.3:5000", []string{"203.0.113.5", "198.51.100.1,10.9.9.9"}, "", "198.51.100.1"},
		{"all trusted", HeaderXForwardedFor, "10.1.2.3:5000", []string{"10.4.4.4, 10.9.9.9"}, "", "10.4.4.4"},
		{"with port", HeaderXForwardedFor, "10.1.2.3:5000", []string{"198.51.100.1:443"}, "", "198.51.100.1"},
		{"IPv6 client is its /64", HeaderXForwardedFor, "[fd00::1]:5000", []string{"2001:db8:1:2:3::4"}, "", "2001:db8:1:2::/64"},
		{"IPv4-mapped peer", HeaderXForwardedFor, "[::ffff:10.1.2.3]:5000", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"malformed entry", HeaderXForwardedFor, "10.1.2.3:5000", []string{"198.51.100.1, nonsense"}, "", "10.1.2.3"},
		{"empty entry", HeaderXForwardedFor, "10.1.2.3:5000", []string{"198.51.100.1,"}, "", "10.1.2.3"},
		{"the other header is ignored", HeaderXForwardedFor, "10.1.2.3:5000", nil, "for=198.51.100.1", "10.1.2.3"},
		{"Forwarded", HeaderForwarded, "10.1.2.3:5000", []string{`for=203.0.113.5, for=198.51.100.1;proto=https;by=10.1.2.3`}, "", "198.51.100.1"},
		{"Forwarded quoted IPv6 with port", HeaderForwarded, "10.1.2.3:5000", []string{`For="[2001:db8:1:2::4]:4711"`}, "", "2001:db8:1:2::/64"},
		{"Forwarded trusted hop", HeaderForwarded, "10.1.2.3:5000", []string{`for=198.51.100.1, for="10.9.9.9:80"`}, "", "198.51.100.1"},
		{"Forwarded unknown", HeaderForwarded, "10.1.2.3:5000", []string{`for=unknown`}, "", "10.1.2.3"},
		{"Forwarded obfuscated", HeaderForwarded, "10.1.2.3:5000", []string{`for=_hidden`}, "", "10.1.2.3"},
		{"Forwarded without for", HeaderForwarded, "10.1.2.3:5000", []string{`proto=https`}, "", "10.1.2.3"},
		{"Forwarded for twice", HeaderForwarded, "10.1.2.3:5000", []string{`for=198.51.100.1;for=198.51.100.2`}, "", "10.1.2.3"},
		{"Forwarded ignores X-Forwarded-For", HeaderForwarded, "10.1.2.3:5000", nil, "198.51.100.1", "10.1.2.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.values {
				r.Header.Add(tc.header, v)
			}
			if tc.other != "" {
				other := HeaderForwarded
				if tc.header == HeaderForwarded {
					other = HeaderXForwardedFor
				}
				r.Header.Add(other, tc.other)
			}
			if got := (proxies{trusted: trusted, header: tc.header}).source(r); got != tc.want {
				t.Errorf("source %q, want %q", got, tc.want)
			}
		})
	}
}
