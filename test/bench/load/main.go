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

// Command load is the token-path load generator (make bench): it runs the
// real authserver binary and the floor reference server side by side on
// loopback and prints each workload's numbers and the ratios against the
// targets of docs/benchmarks.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/authops/authops/test/bench"
)

func main() {
	root, _ := os.Getwd()
	cfg := bench.Config{Log: os.Stderr}
	flag.StringVar(&cfg.WorkDir, "work-dir", filepath.Join(root, "bin", "bench"), "Binaries, snapshot, store and logs.")
	flag.StringVar(&cfg.AuthserverBin, "authserver", "", "Prebuilt authserver binary (make build; default: $AUTHOPS_AUTHSERVER_BIN, else build it).")
	flag.StringVar(&cfg.FloorBin, "floor", "", "Prebuilt floor binary (default: build ./test/bench/floor into the work folder).")
	flag.IntVar(&cfg.Conns, "conns", 8, "Keep-alive connections.")
	flag.DurationVar(&cfg.Duration, "duration", 5*time.Second, "Duration of each workload run.")
	flag.IntVar(&cfg.Rounds, "rounds", 3, "Rounds (floor and authops interleaved in each).")
	flag.IntVar(&cfg.Codes, "codes", 15000, "Authorization codes prepared per round.")
	flag.IntVar(&cfg.WorkloadTokens, "workload-tokens", 15000, "ServiceAccount tokens issued per round for workload_identity (0: leave it out).")
	flag.IntVar(&cfg.ExtraClients, "extra-clients", 1000, "Filler clients in the snapshot.")
	flag.StringVar(&cfg.ProfileDir, "profile-dir", "", "Write a CPU profile of the authserver for each of its workload runs into this folder.")
	only := flag.String("only", "", "Comma-separated workloads to run (default all).")
	jsonOut := flag.String("json", "", "Write the results as JSON to this file.")
	flag.Parse()
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// Bounded: every run ends by itself.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.Rounds)*(8*cfg.Duration+10*time.Second)+5*time.Minute)
	defer cancel()
	rep, err := bench.RunLoad(ctx, cfg)
	if rep != nil {
		fmt.Print(bench.Summary(rep))
		if *jsonOut != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			_ = os.WriteFile(*jsonOut, b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}
