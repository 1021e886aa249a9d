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

// Command authserver runs the authops data plane: the OAuth 2.0
// authorization server that serves from the compiled snapshot and keeps its
// runtime state in the store. It runs as a sidecar next to the manager.
//
// Today it opens the store (applying migrations), sweeps expired records and
// serves /healthz and /readyz; the OAuth endpoints come with the snapshot.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/authops/authops/authserver/store"
)

func main() {
	if err := run(); err != nil {
		slog.Error("authserver stopped", "error", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		storeURL      string
		passwordFile  string
		probeAddr     string
		sweepInterval time.Duration
		logLevel      slog.Level
	)
	flag.StringVar(&storeURL, "store", "sqlite:///var/lib/authops/state.db",
		"Runtime state store: sqlite:///path/state.db (default, one replica), sqlite://:memory: (tests), "+
			"or postgres://user@host:5432/db?sslmode=verify-full (several replicas). "+
			"The PostgreSQL password comes from --store-password-file or $"+store.PasswordEnv+", never put it in the URL in production.")
	flag.StringVar(&passwordFile, "store-password-file", "", "File holding the PostgreSQL password (for example a mounted Secret).")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8082", "Address the /healthz and /readyz probes bind to.")
	flag.DurationVar(&sweepInterval, "store-sweep-interval", time.Minute, "How often expired records are removed from the store.")
	flag.TextVar(&logLevel, "log-level", slog.LevelInfo, "Log level: DEBUG, INFO, WARN or ERROR.")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var opts []store.Option
	if passwordFile != "" {
		opts = append(opts, store.WithPasswordFile(passwordFile))
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := store.Open(openCtx, storeURL, opts...)
	cancel()
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer st.Close()
	log.Info("store opened", "store", store.Redacted(storeURL))
	go store.RunSweeper(ctx, st, sweepInterval, log)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(pctx); err != nil {
			http.Error(w, "store unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	probes := &http.Server{Addr: probeAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- probes.ListenAndServe() }()
	log.Info("serving probes", "address", probeAddr)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := probes.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("authserver stopped")
	return nil
}
