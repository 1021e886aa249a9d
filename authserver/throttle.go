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
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authops/authops/authserver/oautherr"
	"github.com/authops/authops/authserver/ratelimit"
)

// Limits throttles guessing. Each limit counts failures per key and source
// address (ratelimit.Source: the peer's IP, an IPv6 /64) with the generic
// cell rate algorithm in bounded memory: Burst failures back to back, then
// one more per Interval. A limited caller gets 429 too_many_requests with
// Retry-After, even with the right credentials (otherwise the answer would
// tell a guesser when it guessed right); the same client or account from
// another source is not affected, so strangers cannot lock anyone out.
// Account lockout (the GrantPolicy's lockout*) is separate and per account.
type Limits struct {
	// ClientAuth: failed client authentications (token, device
	// authorization, introspection, revocation) per (client ID, source).
	// Failures naming an unknown client ID share one key per source, so a
	// flood of random client IDs adds at most one key per source.
	// Default: 20, then one per 3s.
	ClientAuth ratelimit.Config
	// Login: failed logins (login pages and the password grant) per
	// (namespace/username as typed, source), checked before the password
	// hash is computed. Unknown usernames count the same way, so the limit
	// does not tell which accounts exist. Default: 10, then one per 6s.
	Login ratelimit.Config
	// UserCode: wrong user codes on the device verification page per
	// source. Default: 10, then one per 6s (10 a minute).
	UserCode ratelimit.Config
	// Disabled turns every limit off.
	Disabled bool
}

// DefaultLimits are the limits used for zero fields of Limits.
var DefaultLimits = Limits{
	ClientAuth: ratelimit.Config{Burst: 20, Interval: 3 * time.Second},
	Login:      ratelimit.Config{Burst: 10, Interval: 6 * time.Second},
	UserCode:   ratelimit.Config{Burst: 10, Interval: 6 * time.Second},
}

type limits struct {
	clientAuth, login, userCode *ratelimit.Limiter
}

func newLimits(l Limits) limits {
	if l.Disabled {
		return limits{}
	}
	pick := func(c, d ratelimit.Config) *ratelimit.Limiter {
		if c.Burst == 0 && c.Interval == 0 {
			c.Burst, c.Interval = d.Burst, d.Interval
		}
		return ratelimit.New(c)
	}
	return limits{
		clientAuth: pick(l.ClientAuth, DefaultLimits.ClientAuth),
		login:      pick(l.Login, DefaultLimits.Login),
		userCode:   pick(l.UserCode, DefaultLimits.UserCode),
	}
}

// LimiterKeys reports how many keys each limiter remembers (for tests and
// metrics): client authentication, login, user code.
func (s *Server) LimiterKeys() (clientAuth, login, userCode int) {
	return s.limits.clientAuth.Len(), s.limits.login.Len(), s.limits.userCode.Len()
}

// RegisterLimiterMetrics registers authops_authserver_throttle_keys{limit}
// (keys each limiter remembers; at most its capacity) with reg.
func RegisterLimiterMetrics(reg prometheus.Registerer, s *Server) {
	for name, l := range map[string]*ratelimit.Limiter{"client_auth": s.limits.clientAuth, "login": s.limits.login, "user_code": s.limits.userCode} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "authops_authserver_throttle_keys",
			Help:        "Keys (client or account, source) the failure limiter remembers; bounded by its capacity.",
			ConstLabels: prometheus.Labels{"limit": name}}, func() float64 { return float64(l.Len()) }))
	}
}

// tooMany is the error of a limited caller; the endpoint wrapper turns
// retryAfter into the Retry-After header of the 429.
func tooMany(ri *reqInfo, wait time.Duration) *oautherr.Error {
	ri.retryAfter = wait
	return oautherr.New(oautherr.TooManyRequests)
}

// setRetryAfter sets Retry-After in whole seconds, rounded up (RFC 9110
// §10.2.3).
func setRetryAfter(h http.Header, wait time.Duration) {
	if wait <= 0 {
		return
	}
	h.Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
}
