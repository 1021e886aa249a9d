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

// Package ratelimit throttles failures (wrong client secrets, wrong
// passwords, wrong user codes) per key, typically (client or account,
// source address), in bounded memory.
//
// Each key is a 64-bit keyed hash (hash/maphash with a per-process random
// seed, so an attacker cannot aim collisions), and its state is one
// timestamp: the generic cell rate algorithm (GCRA, a token bucket without
// a token counter). Burst failures may come back to back; after that one
// more failure is allowed per Interval. Keys live in a fixed number of
// shards, each a least-recently-used list with a fixed capacity: a flood of
// random keys evicts the least recently used entries (which can only make
// the limiter forget, never refuse someone it has not seen fail) and never
// grows memory beyond Capacity entries.
//
// Only failures create entries: checking a key that never failed costs a
// hash and a map lookup and stores nothing. Reserve counts an attempt as a
// failure before it is made (so that concurrent attempts cannot all pass
// the check before any is counted) and Refund takes it back when it
// succeeds: a key that only succeeds holds an entry while its attempts are
// in flight.
package ratelimit

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// Shards is the number of independently locked shards.
const Shards = 64

// DefaultCapacity is the number of keys remembered when Config.Capacity is 0.
const DefaultCapacity = 1 << 16

// EntryBytes is an upper estimate of the memory one remembered key costs
// (the entry, its map slot and map overhead), for sizing Capacity: the
// default capacity costs about 6 MiB at most.
const EntryBytes = 96

// Config configures a Limiter.
type Config struct {
	// Burst is how many failures a key may have back to back. 0 or less
	// disables the limiter.
	Burst int
	// Interval is the time after which one more failure is allowed (the
	// sustained rate is one failure per Interval).
	Interval time.Duration
	// Capacity is the most keys remembered (DefaultCapacity if 0). It is
	// rounded up to a multiple of Shards.
	Capacity int
}

// Key identifies what is limited, for example (client, source address).
type Key uint64

// Limiter counts failures per key. The zero value and a nil *Limiter allow
// everything. It is safe for concurrent use.
type Limiter struct {
	burst    int64 // failures allowed back to back
	interval int64 // nanoseconds per allowed failure
	seed     maphash.Seed
	perShard int
	shards   [Shards]shard
}

type shard struct {
	mu sync.Mutex
	m  map[Key]*entry
	// LRU list: head is the most recently used entry, tail the least.
	head, tail *entry
}

type entry struct {
	key Key
	// tat is GCRA's theoretical arrival time (Unix nanoseconds): each
	// failure moves it Interval later, starting at least from now.
	tat        int64
	prev, next *entry
}

// New returns a Limiter; nil when cfg disables it.
func New(cfg Config) *Limiter {
	if cfg.Burst <= 0 || cfg.Interval <= 0 {
		return nil
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = DefaultCapacity
	}
	l := &Limiter{burst: int64(cfg.Burst), interval: int64(cfg.Interval), seed: maphash.MakeSeed(),
		perShard: (cfg.Capacity + Shards - 1) / Shards}
	for i := range l.shards {
		l.shards[i].m = make(map[Key]*entry, l.perShard)
	}
	return l
}

// Key derives the key of a subject (a client ID, an account, or "" for
// "any") seen from a source (see Source).
func (l *Limiter) Key(subject, source string) Key {
	if l == nil {
		return 0
	}
	var h maphash.Hash
	h.SetSeed(l.seed)
	_, _ = h.WriteString(subject)
	_ = h.WriteByte(0)
	_, _ = h.WriteString(source)
	return Key(h.Sum64())
}

func (l *Limiter) shard(k Key) *shard { return &l.shards[uint64(k)%Shards] }

// Wait returns how long k must wait before its next attempt: 0 when it may
// try now. It does not count an attempt; call Fail when the attempt fails
// (or use Reserve, which checks and counts in one step).
func (l *Limiter) Wait(k Key, now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	s := l.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	return l.wait(s, k, now.UnixNano())
}

// wait is Wait with the shard locked.
func (l *Limiter) wait(s *shard, k Key, n int64) time.Duration {
	e := s.m[k]
	if e == nil {
		return 0
	}
	if e.tat <= n { // fully refilled: forget it
		s.remove(e)
		return 0
	}
	s.touch(e)
	if over := e.tat - n - (l.burst-1)*l.interval; over > 0 {
		return time.Duration(over)
	}
	return 0
}

// Reserve counts an attempt of k as a failure before it is made, if k may
// try now: it returns 0 and the attempt is counted (Refund it if it
// succeeds), or how long k must wait and nothing is counted. Checking and
// counting are one step under the shard's lock, so however many attempts
// arrive at once, at most Burst of them are let through back to back.
func (l *Limiter) Reserve(k Key, now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	n := now.UnixNano()
	s := l.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if wait := l.wait(s, k, n); wait > 0 {
		return wait
	}
	l.fail(s, k, n)
	return 0
}

// Refund takes back an attempt Reserve counted that turned out not to be a
// failure.
func (l *Limiter) Refund(k Key, now time.Time) {
	if l == nil {
		return
	}
	n := now.UnixNano()
	s := l.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k]
	if e == nil {
		return // forgotten meanwhile (evicted or refilled)
	}
	if e.tat -= l.interval; e.tat <= n {
		s.remove(e)
	}
}

// Fail records a failed attempt of k.
func (l *Limiter) Fail(k Key, now time.Time) {
	if l == nil {
		return
	}
	n := now.UnixNano()
	s := l.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	l.fail(s, k, n)
}

// fail is Fail with the shard locked.
func (l *Limiter) fail(s *shard, k Key, n int64) {
	e := s.m[k]
	if e == nil {
		if len(s.m) >= l.perShard {
			e = s.tail // reuse the least recently used entry
			s.remove(e)
		} else {
			e = &entry{}
		}
		*e = entry{key: k, tat: n}
		s.m[k] = e
		s.pushFront(e)
	} else {
		s.touch(e)
	}
	if e.tat < n {
		e.tat = n
	}
	// Cap how far ahead a key can be pushed, so that a caller hammering a
	// key while it is limited waits at most Burst intervals.
	if max := n + l.burst*l.interval; e.tat+l.interval > max {
		e.tat = max
	} else {
		e.tat += l.interval
	}
}

// Len returns the number of keys remembered.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Capacity returns the most keys the limiter remembers.
func (l *Limiter) Capacity() int {
	if l == nil {
		return 0
	}
	return l.perShard * Shards
}

func (s *shard) remove(e *entry) {
	delete(s.m, e.key)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (s *shard) pushFront(e *entry) {
	e.prev, e.next = nil, s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
}

func (s *shard) touch(e *entry) {
	if s.head == e {
		return
	}
	// unlink without deleting from the map
	e.prev.next = e.next
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	s.pushFront(e)
}

// Source returns the limiting source of a peer address ("host:port" or a
// bare IP): the IP for IPv4, the /64 prefix for IPv6 (one host usually
// holds a whole /64). The caller picks the address: the peer, or the
// client a trusted proxy names (see authserver.Config.TrustedProxies).
func Source(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	var a netip.Addr
	if err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(remoteAddr); err != nil {
		return remoteAddr
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
