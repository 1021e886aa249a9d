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

package logging_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/authops/authops/internal/logging"
)

// lines parses every line of buf as a JSON object.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestOneShape logs the way each library of the two binaries does (slog in
// the authserver; controller-runtime's reconciler logger, built the way
// its builder builds it, and klog in the manager) and checks that every
// line has the same keys for time, level, message, error and the object.
func TestOneShape(t *testing.T) {
	var buf bytes.Buffer
	var o logging.Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse([]string{"--log-level=DEBUG-1"}); err != nil {
		t.Fatal(err)
	}
	log := o.Setup(&buf)
	failed := errors.New("boom")

	// The authserver (authserver/feedback).
	log.Error("feedback: writing status failed", "kind", "Account", "namespace", "team-a", "name", "alice", "error", failed)
	// controller-runtime's reconciler logger (pkg/builder, pkg/internal/controller).
	rec := ctrl.Log.WithValues("controller", "oauthclient", "controllerGroup", "oauth.authops.io", "controllerKind", "OAuthClient").
		WithValues("OAuthClient", klog.KRef("team-a", "web"), "namespace", "team-a", "name", "web").
		WithValues("reconcileID", "7f0c")
	rec.Error(failed, "Reconciler error")
	rec.V(5).Info("Reconciling")
	rec.V(6).Info("not written: below DEBUG-1")
	ctrl.Log.WithName("keyrotator").Info("Updated the signing key set", "kids", []string{"k1"})
	// client-go (klog).
	klog.ErrorS(failed, "Failed to update lock", "lease", "authops-system/manager.authops.io")

	got := lines(t, &buf)
	if len(got) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(got), buf.String())
	}
	levels := map[string]bool{"DEBUG": true, "INFO": true, "WARN": true, "ERROR": true}
	for i, l := range got {
		for _, k := range []string{logging.KeyTime, logging.KeyLevel, logging.KeyMessage} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %d has no %q: %v", i, k, l)
			}
		}
		if lv, _ := l[logging.KeyLevel].(string); !levels[lv] {
			t.Errorf("line %d: level %q, want one of DEBUG, INFO, WARN, ERROR", i, l[logging.KeyLevel])
		}
		for _, k := range []string{"err", "controllerKind", "OAuthClient", "ts"} {
			if _, ok := l[k]; ok {
				t.Errorf("line %d has %q, which the scheme names otherwise: %v", i, k, l)
			}
		}
	}
	for _, i := range []int{0, 1, 2} {
		for _, k := range []string{logging.KeyKind, logging.KeyNamespace, logging.KeyName} {
			if _, ok := got[i][k]; !ok {
				t.Errorf("object line %d has no %q: %v", i, k, got[i])
			}
		}
	}
	for _, i := range []int{0, 1, 4} {
		if got[i][logging.KeyError] != "boom" || got[i][logging.KeyLevel] != "ERROR" {
			t.Errorf("error line %d: %v", i, got[i])
		}
	}
	if got[1][logging.KeyKind] != "OAuthClient" || got[1]["reconcileID"] != "7f0c" || got[1]["controller"] != "oauthclient" {
		t.Errorf("reconciler line: %v", got[1])
	}
	if got[2][logging.KeyLevel] != "DEBUG" {
		t.Errorf("V(5) line: level %v, want DEBUG", got[2][logging.KeyLevel])
	}
	if got[3][logging.KeyLogger] != "keyrotator" {
		t.Errorf("named logger line: %v", got[3])
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		level  slog.Level
		format logging.Format
		ok     bool
	}{
		{nil, slog.LevelInfo, logging.JSON, true},
		{[]string{"--log-level=WARN", "--log-format=text"}, slog.LevelWarn, logging.Text, true},
		{[]string{"--zap-log-level=debug"}, slog.LevelDebug, logging.JSON, true},
		{[]string{"--zap-log-level=5"}, slog.Level(-5), logging.JSON, true},
		{[]string{"--log-format=yaml"}, 0, "", false},
		{[]string{"--log-level=LOUD"}, 0, "", false},
	} {
		var o logging.Options
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(&bytes.Buffer{})
		o.BindFlags(fs)
		o.BindZapLevelFlag(fs)
		err := fs.Parse(tc.args)
		if (err == nil) != tc.ok || tc.ok && (o.Level != tc.level || o.Format != tc.format) {
			t.Errorf("%v: level %v, format %q, error %v", tc.args, o.Level, o.Format, err)
		}
	}
}

// TestTextFormat: the text format has the same keys.
func TestTextFormat(t *testing.T) {
	var buf bytes.Buffer
	slog.New(logging.Options{Format: logging.Text}.NewHandler(&buf)).Warn("hello", "kind", "OAuthClient")
	if s := buf.String(); !strings.HasPrefix(s, "time=") || !strings.Contains(s, " level=WARN msg=hello kind=OAuthClient") {
		t.Errorf("text line: %q", s)
	}
}
