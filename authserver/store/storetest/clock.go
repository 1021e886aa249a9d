// Package storetest has helpers for tests that use the state store: a fake
// clock and a ready-to-use in-memory store.
package storetest

import (
	"sync"
	"time"

	"github.com/authops/authops/authserver/store"
)

// Epoch is where a FakeClock from NewFakeClock starts. It has nanoseconds
// on purpose: the store keeps microseconds, and tests should notice if that
// matters.
var Epoch = time.Date(2031, time.March, 14, 15, 9, 26, 535897932, time.UTC)

// FakeClock is a store.Clock that only moves when told to. Safe for
// concurrent use.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

var _ store.Clock = (*FakeClock)(nil)

// NewFakeClock returns a clock at Epoch.
func NewFakeClock() *FakeClock { return &FakeClock{now: Epoch} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns the new time.
func (c *FakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set sets the clock.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
