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
	"path/filepath"
	"testing"
	"time"

	"github.com/authops/authops/test/stack"
)

// TestSQLiteKillDuringLoad: SIGKILL the authserver while 8 clients rotate
// refresh tokens and exchange codes on SQLite, restart it on the same
// file: no refresh token a client holds is lost or usable twice, no code
// works twice.
func TestSQLiteKillDuringLoad(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "state.db")
	rts, codes := prepare(t, db, 64, 160)
	snap := snapshotDir(t)
	s := newServer(t, "authserver", db, stack.AuthserverOptions{SnapshotDir: snap})
	s.start()
	l := newLoad(rts, codes)
	done := make(chan struct{})
	go func() { l.run(8, func(int) string { return s.base }, true); close(done) }()
	// Kill once the load is well under way (however busy the machine).
	l.waitOK(120, 30*time.Second)
	s.kill()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("clients did not notice the kill")
	}
	l.stop.Store(true)
	if l.counts["refresh 200"]+l.counts["exchange 200"] < 100 {
		t.Fatalf("too little load before the kill: %v", l.counts)
	}
	s.start() // same file
	l.verify(t, s.base)
}
