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

package main

import (
	"testing"
	"time"
)

// TestLeaderElectionValidate: the flags client-go would refuse later are
// refused at start, naming the flag.
func TestLeaderElectionValidate(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name string
		e    leaderElection
		ok   bool
	}{
		{"controller-runtime's defaults", leaderElection{15 * s, 10 * s, 2 * s}, true},
		{"the chart's sidecar shape", leaderElection{137 * s, 107 * s, 26 * s}, true},
		{"lease not longer than the renew deadline", leaderElection{10 * s, 10 * s, 2 * s}, false},
		{"renew deadline within 1.2 retry periods", leaderElection{15 * s, 10 * s, 9 * s}, false},
		{"zero retry period", leaderElection{15 * s, 10 * s, 0}, false},
	} {
		if err := tc.e.validate(); (err == nil) != tc.ok {
			t.Errorf("%s: validate() = %v", tc.name, err)
		}
	}
}
