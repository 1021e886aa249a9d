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
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// chain is one refresh-token chain as its client sees it.
type chain struct {
	held string // the newest refresh token whose response the client received
	// sent is a token whose request got no usable answer (the server died,
	// or answered 503 while its store was away): the rotation may or may
	// not have happened. "" if none; the chain is not used again in the load.
	sent string
}

const (
	codeUnused = iota
	codeUsed
	codeAmbiguous
)

// load is the clients' view of a load of refresh rotations and code
// exchanges on bench-web.
type load struct {
	chains    []*chain
	codes     []string
	codeState []int
	stop      atomic.Bool
	mu        sync.Mutex
	counts    map[string]int
	problems  []string
}

func newLoad(rts, codes []string) *load {
	l := &load{codes: codes, codeState: make([]int, len(codes)), counts: map[string]int{}}
	for _, r := range rts {
		l.chains = append(l.chains, &chain{held: r})
	}
	return l
}

// waitOK waits until the load has had n successful requests in all, or max
// has passed; it returns the number reached.
func (l *load) waitOK(n int, max time.Duration) int {
	deadline := time.Now().Add(max)
	for {
		l.mu.Lock()
		ok := l.counts["refresh 200"] + l.counts["exchange 200"]
		l.mu.Unlock()
		if ok >= n || time.Now().After(deadline) {
			return ok
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *load) count(k string) {
	l.mu.Lock()
	l.counts[k]++
	l.mu.Unlock()
}

func (l *load) problem(format string, args ...any) {
	l.mu.Lock()
	if len(l.problems) < 20 {
		l.problems = append(l.problems, fmt.Sprintf(format, args...))
	}
	l.mu.Unlock()
}

// run drives workers until stop is set: worker w refreshes its chains
// (i%workers == w) round-robin and exchanges its codes, at target(w). An
// answer with no response (transport error) or a 503 temporarily_unavailable
// makes that chain or code ambiguous; with quitOnTransport the worker then
// stops. Any other non-200 answer is a problem.
func (l *load) run(workers int, target func(w int) string, quitOnTransport bool) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var mine []*chain
			for i := w; i < len(l.chains); i += workers {
				mine = append(mine, l.chains[i])
			}
			nextCode := w
			for i := 0; !l.stop.Load(); i++ {
				var r reply
				kind := "refresh"
				var c *chain
				code := -1
				if i%2 == 0 {
					for range mine {
						cand := mine[i/2%len(mine)]
						i += 2
						if cand.sent == "" && cand.held != "" {
							c = cand
							break
						}
					}
					if c == nil {
						continue
					}
					r = refresh(target(w), c.held)
				} else {
					if nextCode >= len(l.codes) {
						continue
					}
					kind, code = "exchange", nextCode
					nextCode += workers
					r = exchange(target(w), l.codes[code])
				}
				ambiguous := false
				switch {
				case isTransport(r):
					l.count(kind + " no answer")
					ambiguous = true
				case r.status == http.StatusServiceUnavailable && r.errCode == "temporarily_unavailable":
					l.count(kind + " 503 temporarily_unavailable")
					ambiguous = true
				case r.status == http.StatusOK && (kind == "exchange" || r.refresh != ""):
					l.count(kind + " 200")
				default:
					l.count(fmt.Sprintf("%s %d %s", kind, r.status, r.errCode))
					l.problem("%s: %d %s during the load", kind, r.status, r.errCode)
				}
				switch {
				case c != nil && ambiguous:
					c.sent = c.held
				case c != nil && r.status == http.StatusOK:
					c.held = r.refresh
				case code >= 0 && ambiguous:
					l.codeState[code] = codeAmbiguous
				case code >= 0:
					l.codeState[code] = codeUsed
				}
				if ambiguous && quitOnTransport && isTransport(r) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// verify checks, at base, what the clients hold: every chain's held token
// works exactly once (its successor works, the token itself never again);
// a chain whose last answer never came either still has that token working
// exactly once or has it used (the answer was lost: invalid_grant); every
// code used is refused, every unused code works exactly once, an ambiguous
// code works at most once.
func (l *load) verify(t *testing.T, base string) {
	t.Helper()
	v := map[string]int{}
	for i, c := range l.chains {
		tok, ambiguous := c.held, false
		if c.sent != "" {
			tok, ambiguous = c.sent, true
		}
		r1 := refresh(base, tok)
		switch {
		case r1.status == http.StatusOK:
		case ambiguous && r1.status == http.StatusBadRequest && r1.errCode == "invalid_grant":
			v["ambiguous chain: rotated before the fault, answer lost (family revoked on replay)"]++
			continue
		default:
			t.Errorf("chain %d (ambiguous %v): the token the client holds got %d %s %v: lost", i, ambiguous, r1.status, r1.errCode, r1.transport)
			continue
		}
		if r2 := refresh(base, r1.refresh); r2.status != http.StatusOK {
			t.Errorf("chain %d: the successor got %d %s", i, r2.status, r2.errCode)
		}
		if r3 := refresh(base, tok); r3.status != http.StatusBadRequest || r3.errCode != "invalid_grant" {
			t.Errorf("chain %d: the held token worked twice: %d %s", i, r3.status, r3.errCode)
		}
		if ambiguous {
			v["ambiguous chain: not rotated before the fault, worked exactly once"]++
		} else {
			v["chain: held token worked exactly once"]++
		}
	}
	for i, code := range l.codes {
		r1 := exchange(base, code)
		switch l.codeState[i] {
		case codeUsed:
			if r1.status != http.StatusBadRequest || r1.errCode != "invalid_grant" {
				t.Errorf("code %d was exchanged before the fault and again after it: %d %s", i, r1.status, r1.errCode)
			}
			v["code used before: refused"]++
			continue
		case codeAmbiguous:
			if r1.status == http.StatusBadRequest && r1.errCode == "invalid_grant" {
				v["ambiguous code: redeemed before the fault"]++
				continue
			}
		}
		if r1.status != http.StatusOK {
			t.Errorf("code %d (state %d) got %d %s", i, l.codeState[i], r1.status, r1.errCode)
			continue
		}
		if r2 := exchange(base, code); r2.status != http.StatusBadRequest || r2.errCode != "invalid_grant" {
			t.Errorf("code %d worked twice: %d %s", i, r2.status, r2.errCode)
		}
		v["code unused (or ambiguous, not redeemed): worked exactly once"]++
	}
	t.Logf("load: %v", l.counts)
	t.Logf("verified: %v", v)
	for _, p := range l.problems {
		t.Error(p)
	}
}
