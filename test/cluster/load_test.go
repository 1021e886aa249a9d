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

package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// tokenLoad is a steady, bounded run of client_credentials requests through
// the authserver's Service: one request, then a pause of every, at most
// max requests, until finish.
type tokenLoad struct {
	name  string
	every time.Duration
	began time.Time

	mu        sync.Mutex
	requests  int
	failures  int // any error: transport, 5xx, other statuses
	fivexx    int
	firstErrs []string
	firstFail time.Time
	lastFail  time.Time

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// startLoad starts a token run; the test's cleanup stops it if the test
// ends first.
func (oc *oauthClient) startLoad(t *testing.T, name string, every time.Duration, max int) *tokenLoad {
	l := &tokenLoad{name: name, every: every, began: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { l.halt() })
	go func() {
		defer close(l.done)
		for i := 0; i < max; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := oc.backend.Token(oc.context(ctx))
			cancel()
			l.record(err)
			select {
			case <-l.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return l
}

func (l *tokenLoad) record(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests++
	if err == nil {
		return
	}
	l.failures++
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 500 {
		l.fivexx++
	}
	now := time.Now()
	if l.firstFail.IsZero() {
		l.firstFail = now
	}
	l.lastFail = now
	if len(l.firstErrs) < 5 {
		l.firstErrs = append(l.firstErrs, fmt.Sprintf("at %.1fs: %v", now.Sub(l.began).Seconds(), err))
	}
}

func (l *tokenLoad) halt() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// finish stops the run, logs its counts and fails the test when a request
// failed and wantNoFailure is set.
func (l *tokenLoad) finish(t *testing.T, wantNoFailure bool) (requests, failures int) {
	t.Helper()
	l.halt()
	l.mu.Lock()
	defer l.mu.Unlock()
	span := ""
	if l.failures > 0 {
		span = fmt.Sprintf(", failures from %.1fs to %.1fs; first: %v", l.firstFail.Sub(l.began).Seconds(), l.lastFail.Sub(l.began).Seconds(), l.firstErrs)
	}
	t.Logf("MEASURED %s: %d token requests through the Service (one every %s) in %.1fs, %d failed (%d with a 5xx)%s",
		l.name, l.requests, l.every, time.Since(l.began).Seconds(), l.failures, l.fivexx, span)
	if wantNoFailure && l.failures > 0 {
		t.Errorf("%s: %d of %d token requests failed", l.name, l.failures, l.requests)
	}
	return l.requests, l.failures
}
