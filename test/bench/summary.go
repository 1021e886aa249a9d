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
	"fmt"
	"slices"
	"strings"
)

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

// Summary renders the median of every workload over the rounds (a Markdown
// table) and the ratios against the targets. Ratios are taken per round
// (floor and authops measured back to back) and their median reported.
func Summary(rep *Report) string {
	type key struct{ target, workload string }
	var order []key
	by := map[key][]Result{}
	for _, r := range rep.Results {
		k := key{r.Target, r.Workload}
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] = append(by[k], r)
	}
	var b strings.Builder
	b.WriteString("\n| server | workload | req/s | p50 ms | p99 ms | p99.9 ms | server CPU ms/req | peak RSS MiB | runs |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	med := func(rs []Result, f func(Result) float64) float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		return median(v)
	}
	for _, k := range order {
		rs := by[k]
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.2f | %.2f | %.2f | %.3f | %.1f | %d |\n", k.target, k.workload,
			med(rs, func(r Result) float64 { return r.RPS }), med(rs, func(r Result) float64 { return r.P50ms }),
			med(rs, func(r Result) float64 { return r.P99ms }), med(rs, func(r Result) float64 { return r.P999ms }),
			med(rs, func(r Result) float64 { return r.CPUmsPerReq }), med(rs, func(r Result) float64 { return r.PeakRSSMiB }), len(rs))
	}
	if !rep.DeviceServed {
		b.WriteString("\ndevice_polling: not run (the server answers the device_code grant with unsupported_grant_type).\n")
	}
	// Per-round ratios.
	ratio := func(num, den key, f func(Result) float64) (float64, bool) {
		n, d := by[num], by[den]
		var v []float64
		for i := range min(len(n), len(d)) {
			if f(d[i]) > 0 {
				v = append(v, f(n[i])/f(d[i]))
			}
		}
		return median(v), len(v) > 0
	}
	rps := func(r Result) float64 { return r.RPS }
	cpu := func(r Result) float64 { return r.CPUmsPerReq }
	floorCC := key{"floor", "client_credentials"}
	type target struct {
		name string
		num  key
		den  key
		f    func(Result) float64
		goal float64
		less bool // the ratio must be at most goal
	}
	targets := []target{
		{"client_credentials req/s vs floor", key{"authops", "client_credentials"}, floorCC, rps, 0.80, false},
		{"client_credentials CPU/req vs floor", key{"authops", "client_credentials"}, floorCC, cpu, 1.30, true},
		{"client_credentials_dpop req/s vs floor client_credentials", key{"authops", "client_credentials_dpop"}, floorCC, rps, 0.15, false},
		{"introspection req/s vs floor client_credentials", key{"authops", "introspection"}, floorCC, rps, 0.70, false},
		{"code_exchange req/s vs floor client_credentials", key{"authops", "code_exchange"}, floorCC, rps, 0.25, false},
		{"refresh_rotation req/s vs floor client_credentials", key{"authops", "refresh_rotation"}, floorCC, rps, 0.25, false},
		{"workload_identity req/s vs floor client_credentials", key{"authops", "workload_identity"}, floorCC, rps, 0.25, false},
		{"bad_secret CPU/req vs own client_credentials", key{"authops", "bad_secret"}, key{"authops", "client_credentials"}, cpu, 1.00, true},
	}
	b.WriteString("\n| target | ratio (median of rounds) | goal | met |\n| --- | ---: | ---: | --- |\n")
	for _, t := range targets {
		r, ok := ratio(t.num, t.den, t.f)
		if !ok {
			continue
		}
		op, met := "≥", r >= t.goal
		if t.less {
			op, met = "≤", r <= t.goal
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s %.2f | %s |\n", t.name, r, op, t.goal, map[bool]string{true: "yes", false: "NO"}[met])
	}
	return b.String()
}
