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

package ratelimit_test

import (
	"crypto/rand"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/authops/authops/authserver/ratelimit"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestBurstThenOnePerInterval(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{Burst: 3, Interval: 10 * time.Second})
	k := l.Key("client", "192.0.2.1")
	now := t0
	for i := range 3 {
		if w := l.Wait(k, now); w != 0 {
			t.Fatalf("failure %d: wait %v", i, w)
		}
		l.Fail(k, now)
	}
	if w := l.Wait(k, now); w != 10*time.Second {
		t.Fatalf("after the burst: wait %v, want 10s", w)
	}
	now = now.Add(9 * time.Second)
	if w := l.Wait(k, now); w != time.Second {
		t.Fatalf("9s later: wait %v, want 1s", w)
	}
	now = now.Add(time.Second)
	if w := l.Wait(k, now); w != 0 {
		t.Fatalf("10s later: wait %v", w)
	}
	l.Fail(k, now)
	if w := l.Wait(k, now); w != 10*time.Second {
		t.Fatalf("one failure after the refill: wait %v, want 10s", w)
	}
	// Other keys are untouched: another source, another subject.
	for _, o := range []ratelimit.Key{l.Key("client", "192.0.2.2"), l.Key("other", "192.0.2.1"), l.Key("client192.0.2.1", "")} {
		if w := l.Wait(o, now); w != 0 {
			t.Fatalf("an unrelated key waits %v", w)
		}
	}
	// Fully refilled keys are forgotten.
	if w := l.Wait(k, now.Add(time.Hour)); w != 0 || l.Len() != 0 {
		t.Fatalf("an hour later: wait %v, %d keys", w, l.Len())
	}
}

func TestDisabled(t *testing.T) {
	for _, cfg := range []ratelimit.Config{{}, {Burst: 0, Interval: time.Second}, {Burst: 5}} {
		l := ratelimit.New(cfg)
		if l != nil {
			t.Fatalf("%+v: limiter enabled", cfg)
		}
		k := l.Key("a", "b")
		for range 100 {
			l.Fail(k, t0)
		}
		if l.Wait(k, t0) != 0 || l.Len() != 0 || l.Capacity() != 0 {
			t.Fatalf("%+v: a disabled limiter limits", cfg)
		}
	}
}

func TestSource(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:443":                  "192.0.2.1",
		"192.0.2.1":                      "192.0.2.1",
		"[::ffff:192.0.2.1]:80":          "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:1":       "2001:db8:1:2::/64",
		"[fe80::1%eth0]:1":               "fe80::/64",
		"not an address":                 "not an address",
		"[::1]:8080":                     "::/64",
		"127.0.0.1:1":                    "127.0.0.1",
		"2001:db8:aaaa:bbbb:cccc::dddd":  "2001:db8:aaaa:bbbb::/64",
		"@":                              "@",
		"":                               "",
		"[2001:db8::1]":                  "[2001:db8::1]",
		"2001:db8:aaaa:bbbb:1::1%zone":   "2001:db8:aaaa:bbbb::/64",
		"192.0.2.1:99999":                "192.0.2.1:99999",
		"[2001:db8:aaaa:bbbb::1]:99999":  "[2001:db8:aaaa:bbbb::1]:99999",
		"[::ffff:10.0.0.1]:65535":        "10.0.0.1",
		"10.0.0.1:0":                     "10.0.0.1",
		"2001:db8:aaaa:bbbb::1:0":        "2001:db8:aaaa:bbbb::/64",
		"2001:0db8:aaaa:bbbb:0:0:0:0001": "2001:db8:aaaa:bbbb::/64",
	} {
		if got := ratelimit.Source(in); got != want {
			t.Errorf("Source(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFloodStaysBounded: 10,000 failures with random client IDs (and
// 100,000 more) keep the number of remembered keys at the capacity and the
// heap flat, while a client that failed before the flood from its own
// source is still limited, and a client that never failed never waits.
func TestFloodStaysBounded(t *testing.T) {
	const capacity = 4096
	l := ratelimit.New(ratelimit.Config{Burst: 5, Interval: time.Minute, Capacity: capacity})
	if l.Capacity() != capacity {
		t.Fatalf("capacity %d", l.Capacity())
	}
	legit := l.Key("legit-client", "198.51.100.7")
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	flood := func(n int, now time.Time) {
		buf := make([]byte, 16)
		for range n {
			_, _ = rand.Read(buf)
			k := l.Key(string(buf), "203.0.113.9")
			if l.Wait(k, now) == 0 {
				l.Fail(k, now)
			}
			if l.Wait(legit, now) != 0 {
				t.Fatal("the flood limited a client that never failed")
			}
		}
	}
	before := heap()
	flood(10_000, t0)
	if n := l.Len(); n > capacity {
		t.Fatalf("after 10,000 random keys: %d keys remembered, capacity %d", n, capacity)
	}
	after10k := heap()
	flood(100_000, t0)
	after100k := heap()
	if n := l.Len(); n > capacity {
		t.Fatalf("after 110,000 random keys: %d keys remembered, capacity %d", n, capacity)
	}
	bound := uint64(capacity * ratelimit.EntryBytes)
	t.Logf("heap: %d before, %d after 10k keys, %d after 110k keys; bound %d bytes (%d keys x %d)",
		before, after10k, after100k, bound, capacity, ratelimit.EntryBytes)
	if after10k > before && after10k-before > bound {
		t.Errorf("10,000 keys grew the heap by %d bytes, more than the bound %d", after10k-before, bound)
	}
	if after100k > after10k && after100k-after10k > bound/8 {
		t.Errorf("100,000 more keys grew the heap by %d bytes: not bounded", after100k-after10k)
	}
}

// TestConcurrent: many goroutines on shared and own keys (run with -race).
func TestConcurrent(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{Burst: 1000, Interval: time.Millisecond, Capacity: 128})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := l.Key(string(rune('a'+g)), string(rune(i%300)))
				l.Wait(k, t0)
				l.Fail(k, t0)
			}
		})
	}
	wg.Wait()
	if l.Len() > l.Capacity() {
		t.Fatalf("%d keys, capacity %d", l.Len(), l.Capacity())
	}
}

// TestReserveConcurrent: of 1,000 attempts of one key at once, exactly
// Burst are let through; refunding them lets as many through again, and a
// refunded key is forgotten.
func TestReserveConcurrent(t *testing.T) {
	const burst, n = 10, 1000
	l := ratelimit.New(ratelimit.Config{Burst: burst, Interval: time.Minute})
	k := l.Key("alice", "192.0.2.1")
	var mu sync.Mutex
	passed := 0
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if l.Reserve(k, t0) == 0 {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if passed != burst {
		t.Fatalf("%d of %d concurrent attempts let through, want %d", passed, n, burst)
	}
	if w := l.Reserve(k, t0); w != time.Minute {
		t.Errorf("over the burst: wait %v, want 1m", w)
	}
	for range burst {
		l.Refund(k, t0)
	}
	if l.Len() != 0 {
		t.Errorf("%d keys after every attempt was refunded, want 0", l.Len())
	}
	for i := range burst {
		if w := l.Reserve(k, t0); w != 0 {
			t.Fatalf("attempt %d after the refunds: wait %v", i, w)
		}
	}
	l.Refund(k, t0.Add(time.Hour)) // long after: forgotten, nothing to take back
	var nilL *ratelimit.Limiter
	if nilL.Reserve(k, t0) != 0 {
		t.Error("nil limiter limits")
	}
	nilL.Refund(k, t0)
}
