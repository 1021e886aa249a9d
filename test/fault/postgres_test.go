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
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authops/authops/authserver/store/pgtest"

	"github.com/authops/authops/test/stack"
)

// TestPostgresTwoReplicasKillOne: two authservers share one PostgreSQL
// database. The same refresh token or code sent to both at once works on
// exactly one (a code: at most one). Then one replica is killed (SIGKILL) under load: the other
// keeps serving, and what the clients hold works exactly once on it.
func TestPostgresTwoReplicasKillOne(t *testing.T) {
	db := pgtest.NewDatabase(t)
	rts, codes := prepare(t, db.DSN, 64+40, 160+40)
	snap := snapshotDir(t)
	a := newServer(t, "authserver-a", db.DSN, stack.AuthserverOptions{SnapshotDir: snap})
	b := newServer(t, "authserver-b", db.DSN, stack.AuthserverOptions{SnapshotDir: snap})
	// Both serve one issuer in production (behind one Service); here each
	// has its own port and the tokens do not depend on the issuer.
	a.start()
	b.start()

	// Single use across replicas: each of 40 tokens and 40 codes sent to
	// both replicas at once.
	codeRace := map[int]int{}
	race := func(do func(base string) reply) (ok, refused int) {
		var wg sync.WaitGroup
		res := make([]reply, 2)
		for i, base := range []string{a.base, b.base} {
			wg.Go(func() { res[i] = do(base) })
		}
		wg.Wait()
		for _, r := range res {
			switch {
			case r.status == http.StatusOK:
				ok++
			case r.status == http.StatusBadRequest && r.errCode == "invalid_grant":
				refused++
			default:
				t.Errorf("racing replicas: %d %s %v", r.status, r.errCode, r.transport)
			}
		}
		return ok, refused
	}
	for i := range 40 {
		tok := rts[64+i]
		if ok, refused := race(func(base string) reply { return refresh(base, tok) }); ok != 1 || refused != 1 {
			t.Errorf("refresh token %d sent to both replicas: %d worked, %d refused", i, ok, refused)
		}
		// A code replayed while its first exchange is still running revokes
		// what that exchange issues (RFC 9700 §4.5.3.1): then neither works.
		code := codes[160+i]
		ok, refused := race(func(base string) reply { return exchange(base, code) })
		if ok > 1 || ok+refused != 2 {
			t.Errorf("code %d sent to both replicas: %d worked, %d refused", i, ok, refused)
		}
		codeRace[ok]++
	}
	t.Logf("codes sent to both replicas at once: %d worked on one, %d on neither (the replay revoked the first exchange's tokens)",
		codeRace[1], codeRace[0])

	// Load on both; replica A is killed; clients that lose A move to B.
	l := newLoad(rts[:64], codes[:160])
	var aDead sync.Map
	target := func(w int) string {
		if _, dead := aDead.Load("a"); dead || w%2 == 1 {
			return b.base
		}
		return a.base
	}
	done := make(chan struct{})
	go func() { l.run(8, target, false); close(done) }()
	before := l.waitOK(150, 30*time.Second)
	a.kill()
	aDead.Store("a", true)
	l.waitOK(before+100, 30*time.Second)
	l.stop.Store(true)
	<-done
	after := l.counts["refresh 200"] + l.counts["exchange 200"]
	t.Logf("successful requests: %d before the kill, %d after (all on the surviving replica)", before, after-before)
	if after-before < 20 {
		t.Errorf("the surviving replica served only %d requests after the kill", after-before)
	}
	if st := b.ready(); st != http.StatusOK {
		t.Errorf("surviving replica /readyz: %d", st)
	}
	l.verify(t, b.base)
}

// TestPostgresRestartUnderLoad: PostgreSQL is really stopped under load
// (fast shutdown of the postmaster: every connection closed, new ones
// refused), stays down for 3 seconds and is started again on the same data
// directory and port. Requests in that time get 503
// temporarily_unavailable (never a 500), /readyz says not ready, and the
// same authserver process serves again once PostgreSQL is back; nothing a
// client holds is lost or usable twice. With $AUTHOPS_TEST_POSTGRES_DSN
// (an external server the tests cannot restart) it is skipped.
func TestPostgresRestartUnderLoad(t *testing.T) {
	db := pgtest.NewDatabase(t)
	if pgtest.External() {
		t.Skipf("PostgreSQL restart NOT TESTED: %s names an external server, which the tests cannot stop and start; "+
			"unset it to test against a throwaway server", pgtest.EnvDSN)
	}
	rts, codes := prepare(t, db.DSN, 48, 160)
	s := newServer(t, "authserver", withQuery(db.DSN, "connect_timeout", "2"), stack.AuthserverOptions{SnapshotDir: snapshotDir(t)})
	s.start()
	l := newLoad(rts, codes)
	done := make(chan struct{})
	go func() { l.run(6, func(int) string { return s.base }, false); close(done) }()
	l.waitOK(60, 30*time.Second)
	if err := pgtest.StopServer(); err != nil {
		t.Fatalf("stopping PostgreSQL: %v", err)
	}
	// Whatever happens, later tests get a running server.
	t.Cleanup(func() {
		if err := pgtest.StartServer(); err != nil {
			t.Errorf("starting PostgreSQL again: %v", err)
		}
	})
	time.Sleep(1500 * time.Millisecond)
	readyDuring := s.ready()
	downReply := refresh(s.base, "not-a-token")
	time.Sleep(1500 * time.Millisecond)
	if err := pgtest.StartServer(); err != nil {
		t.Fatalf("starting PostgreSQL again: %v", err)
	}
	restored := time.Now()
	// Recovery: within 15s the same process serves again.
	var back time.Duration
	for time.Since(restored) < 15*time.Second {
		if r := exchange(s.base, "not-a-code"); r.status == http.StatusBadRequest && r.errCode == "invalid_grant" {
			back = time.Since(restored)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	l.stop.Store(true)
	<-done
	t.Logf("during the outage: /readyz %d, a token request %d %s (Retry-After %q); served again %v after PostgreSQL came back",
		readyDuring, downReply.status, downReply.errCode, downReply.header.Get("Retry-After"), back)
	if readyDuring != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d", readyDuring)
	}
	if downReply.status != http.StatusServiceUnavailable || downReply.errCode != "temporarily_unavailable" {
		t.Errorf("a token request during the outage: %d %s %v", downReply.status, downReply.errCode, downReply.transport)
	}
	if back == 0 {
		t.Fatal("the authserver did not serve again within 15s of PostgreSQL coming back")
	}
	if l.counts["refresh 503 temporarily_unavailable"]+l.counts["exchange 503 temporarily_unavailable"] == 0 {
		t.Errorf("no request of the load saw the outage: %v", l.counts)
	}
	if s.ready() != http.StatusOK {
		t.Error("/readyz not ready after recovery")
	}
	select {
	case <-s.Proc.Exited():
		t.Fatal("the authserver exited")
	default:
	}
	l.verify(t, s.base)
}

func withQuery(dsn, k, v string) string {
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}
