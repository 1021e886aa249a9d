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
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestNormalisedGrowth(t *testing.T) {
	for _, tc := range []struct {
		v1, v2 float64
		n1, n2 int
		g      growth
		want   float64
	}{
		{10, 30, 10000, 30000, linear, 1},
		{10, 60, 10000, 30000, linear, 2},
		{4, 4, 10000, 100000, constant, 1},
		{0.5, 0.75, 10000, 30000, constant, 1.5},
	} {
		if got := normalisedGrowth(tc.v1, tc.v2, tc.n1, tc.n2, tc.g); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("normalisedGrowth(%v, %v, %d, %d, %s) = %v, want %v", tc.v1, tc.v2, tc.n1, tc.n2, tc.g, got, tc.want)
		}
	}
	if got := normalisedGrowth(0, 1, 1, 2, linear); !math.IsNaN(got) {
		t.Errorf("from zero: %v, want NaN", got)
	}
}

func TestCombineFlagsFasterThanWork(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, r := range []result{
		{Clients: 30000, Measures: []measure{{"all Ready", "s", 300, linear}, {"writes per client", "", 4, constant}}},
		{Clients: 10000, Measures: []measure{{"all Ready", "s", 100, linear}, {"writes per client", "", 4, constant}}},
		{Clients: 100000, Measures: []measure{{"all Ready", "s", 2000, linear}, {"writes per client", "", 4, constant}}},
	} {
		p := filepath.Join(dir, strings.Repeat("x", len(paths)+1)+".json")
		if err := r.write(p); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	var out bytes.Buffer
	if err := combine(&out, paths); err != nil {
		t.Fatal(err)
	}
	want := "| all Ready (s) | linear | 100 | 300 | 1.00 | 2000 | **2.00 ⚠** |"
	if !strings.Contains(out.String(), want) {
		t.Errorf("combine wrote\n%s\nwant the row\n%s", out.String(), want)
	}
	if !strings.Contains(out.String(), "| writes per client () | constant | 4 | 4 | 1.00 | 4 | 1.00 |") {
		t.Errorf("combine wrote\n%s\nwant a constant row of 1.00", out.String())
	}
}
