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
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

// growth says how a measure should grow with the number of clients when
// the cost is linear in the work.
type growth string

const (
	// linear: a total (time, CPU seconds, bytes) that should grow with the
	// clients.
	linear growth = "linear"
	// constant: a value per client, or the cost of a change of fixed size
	// (a GrantPolicy that governs the same number of clients at every
	// size), that should not grow.
	constant growth = "constant"
)

// measure is one number of a run.
type measure struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
	Grows growth  `json:"grows"`
}

// result is what --json writes: the measures of one run, in the order
// they were taken.
type result struct {
	Clients  int       `json:"clients"`
	Measures []measure `json:"measures"`
}

func (r *result) add(name, unit string, value float64, g growth) {
	r.Measures = append(r.Measures, measure{Name: name, Unit: unit, Value: value, Grows: g})
}

func (r *result) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// fasterThanWork is the normalised growth factor above which a measure is
// flagged: it grows faster than the work.
const fasterThanWork = 1.2

// combine reads the results of runs at several sizes and writes the growth
// table: each measure's value per size, and between neighbouring sizes the
// growth factor normalised by the work, (v2/v1)/(n2/n1) for a linear
// measure and v2/v1 for a constant one (1.0 = grows like the work).
func combine(w io.Writer, paths []string) error {
	var runs []result
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if r.Clients <= 0 {
			return fmt.Errorf("%s: no clients", p)
		}
		runs = append(runs, r)
	}
	slices.SortFunc(runs, func(a, b result) int { return a.Clients - b.Clients })
	// The measures in the order of the first run that has them.
	var names []string
	kinds := map[string]measure{}
	for _, r := range runs {
		for _, m := range r.Measures {
			if _, ok := kinds[m.Name]; !ok {
				names = append(names, m.Name)
				kinds[m.Name] = m
			}
		}
	}
	head := []string{"measure", "grows"}
	for i, r := range runs {
		head = append(head, fmt.Sprintf("%d clients", r.Clients))
		if i > 0 {
			head = append(head, fmt.Sprintf("factor %d→%d", runs[i-1].Clients, r.Clients))
		}
	}
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
	for _, name := range names {
		k := kinds[name]
		row := []string{fmt.Sprintf("%s (%s)", name, k.Unit), string(k.Grows)}
		prev, prevN := math.NaN(), 0
		for i, r := range runs {
			v := math.NaN()
			for _, m := range r.Measures {
				if m.Name == name {
					v = m.Value
				}
			}
			if math.IsNaN(v) {
				row = append(row, "–")
			} else {
				row = append(row, fmt.Sprintf("%.4g", v))
			}
			if i > 0 {
				row = append(row, factorCell(normalisedGrowth(prev, v, prevN, r.Clients, k.Grows)))
			}
			prev, prevN = v, r.Clients
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintf(w, "\nfactor: growth between the sizes divided by the growth of the work (1.0 = as the work; ⚠ above %.1f: grows faster than the work).\n", fasterThanWork)
	return nil
}

// normalisedGrowth is the growth from v1 at n1 clients to v2 at n2,
// divided by what the work grew: n2/n1 for a linear measure, 1 for a
// constant one. NaN when either value is missing or v1 is zero.
func normalisedGrowth(v1, v2 float64, n1, n2 int, g growth) float64 {
	if math.IsNaN(v1) || math.IsNaN(v2) || v1 == 0 || n1 == 0 {
		return math.NaN()
	}
	f := v2 / v1
	if g == linear {
		f /= float64(n2) / float64(n1)
	}
	return f
}

func factorCell(f float64) string {
	switch {
	case math.IsNaN(f):
		return "–"
	case f > fasterThanWork:
		return fmt.Sprintf("**%.2f ⚠**", f)
	default:
		return fmt.Sprintf("%.2f", f)
	}
}
