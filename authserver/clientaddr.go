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
	"net/http"
	"net/netip"
	"strings"

	"github.com/authops/authops/authserver/ratelimit"
)

// Forwarded headers the trusted proxies may set (Config.ForwardedHeader).
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded"
)

// proxies finds the source of a request (the address the limits count
// against) behind trusted reverse proxies.
type proxies struct {
	trusted []netip.Prefix
	header  string
}

// source is the limiting source (ratelimit.Source) of the request's
// client. A peer outside the trusted networks is the client, whatever
// headers it sends. For a trusted peer the forwarded header is walked from
// right to left, past the entries that are trusted proxies themselves; the
// first other entry is the client (if all are trusted: the leftmost). A
// header that is missing or has an entry that is not an IP address leaves
// the peer as the source.
func (p proxies) source(r *http.Request) string {
	if len(p.trusted) == 0 {
		return ratelimit.Source(r.RemoteAddr)
	}
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok || !p.isTrusted(peer) {
		return ratelimit.Source(r.RemoteAddr)
	}
	values := r.Header.Values(p.header)
	if len(values) == 0 {
		return ratelimit.Source(r.RemoteAddr)
	}
	// Several header lines are one list, in order (RFC 9110 §5.3).
	entries := strings.Split(strings.Join(values, ","), ",")
	client := peer
	for i := len(entries) - 1; i >= 0; i-- {
		a, ok := p.entry(entries[i])
		if !ok {
			return ratelimit.Source(r.RemoteAddr)
		}
		client = a
		if !p.isTrusted(a) {
			break
		}
	}
	return ratelimit.Source(client.String())
}

func (p proxies) isTrusted(a netip.Addr) bool {
	for _, n := range p.trusted {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// entry is the address of one element of the forwarded header: an IP
// (optionally with a port) for X-Forwarded-For; for Forwarded (RFC 7239
// §4) the for= parameter, a quoted or bare node (§6), where "unknown" and
// obfuscated identifiers are not addresses.
func (p proxies) entry(e string) (netip.Addr, bool) {
	e = strings.TrimSpace(e)
	if p.header != HeaderForwarded {
		return parseAddr(e)
	}
	node, found := "", false
	for pair := range strings.SplitSeq(e, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(k, "for") {
			if found {
				return netip.Addr{}, false // for= twice
			}
			node, found = v, true
		}
	}
	if !found {
		return netip.Addr{}, false
	}
	if len(node) >= 2 && node[0] == '"' && node[len(node)-1] == '"' {
		node = node[1 : len(node)-1]
	}
	if strings.HasPrefix(node, "[") && strings.HasSuffix(node, "]") {
		node = node[1 : len(node)-1] // an IPv6 node without a port
	}
	return parseAddr(node)
}

// parseAddr reads "ip", "ip:port" or "[ipv6]:port"; IPv4-mapped IPv6
// addresses become IPv4.
func parseAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
