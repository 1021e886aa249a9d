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

package bench

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/authops/authops/test/stack"
)

// TestMain resolves the authserver binary (building it when make has not)
// before any test starts.
func TestMain(m *testing.M) { stack.Main(m, nil) }

// TestLoadSmoke runs the harness for one short round: every workload must
// get expected answers and the /proc readings must be there. It asserts no
// timings (the machine is shared).
func TestLoadSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the servers")
	}
	// Built before the run's deadline starts.
	floor := filepath.Join(t.TempDir(), "floor")
	if err := stack.Build(context.Background(), "./test/bench/floor", floor); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := RunLoad(ctx, Config{FloorBin: floor, WorkDir: t.TempDir(), Conns: 4,
		Duration: time.Second, Rounds: 1, Codes: 500, ExtraClients: 10, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"floor/client_credentials", "authops/client_credentials", "authops/client_credentials_dpop",
		"floor/bad_secret", "authops/bad_secret",
		"authops/introspection", "authops/code_exchange", "authops/refresh_rotation"}
	if rep.DeviceServed {
		want = append(want, "authops/device_polling")
	}
	got := map[string]Result{}
	for _, r := range rep.Results {
		got[r.Target+"/"+r.Workload] = r
	}
	for _, w := range want {
		r, ok := got[w]
		switch {
		case !ok:
			t.Errorf("%s: not run", w)
		case r.OK == 0 || r.Unexpected != 0:
			t.Errorf("%s: %d expected answers, %d unexpected (first: %s)", w, r.OK, r.Unexpected, r.FirstError)
		case r.CPUmsPerReq <= 0 || r.PeakRSSMiB <= 0:
			t.Errorf("%s: no CPU (%v) or RSS (%v) reading", w, r.CPUmsPerReq, r.PeakRSSMiB)
		}
	}
	t.Log(Summary(rep))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }
