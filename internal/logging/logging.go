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

// Package logging is the one log format of both binaries: a log/slog
// handler writing JSON (or text) lines with the same keys, whichever
// library logged them. The authserver logs through slog directly; the
// manager's controller-runtime and client-go (klog) log through logr, which
// logr.FromSlogHandler routes to the same handler.
//
// Every line carries KeyTime, KeyLevel and KeyMessage; a line about a
// Kubernetes object names it with KeyKind, KeyNamespace and KeyName, and an
// error is KeyError. controller-runtime's reconciler lines are mapped to
// that scheme: its "controllerKind" becomes KeyKind, its "err" KeyError,
// and its object reference keyed by the kind ("OAuthClient":
// {"name":…,"namespace":…}) is dropped, as "namespace" and "name" say the
// same. A logr logger's name (WithName) is KeyLogger.
package logging

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// The keys every line uses.
const (
	KeyTime    = slog.TimeKey    // "time", RFC 3339 with nanoseconds
	KeyLevel   = slog.LevelKey   // "level": DEBUG, INFO, WARN or ERROR
	KeyMessage = slog.MessageKey // "msg"
	KeyLogger  = "logger"        // the logr name (controller-runtime's "setup", "keyrotator", …)
	KeyError   = "error"
	// KeyKind, KeyNamespace and KeyName name a Kubernetes object.
	KeyKind      = "kind"
	KeyNamespace = "namespace"
	KeyName      = "name"
)

// Format is how lines are written.
type Format string

// The formats.
const (
	// JSON writes one JSON object per line (the default, for log collectors).
	JSON Format = "json"
	// Text writes slog's key=value lines (for a person reading a terminal).
	Text Format = "text"
)

// Options are the logging flags, the same in both binaries.
type Options struct {
	// Level is the least level written. logr's V(n) is slog level -n:
	// DEBUG (-4) also writes controller-runtime's V(1) to V(4) lines.
	Level slog.Level
	// Format is JSON or Text.
	Format Format
}

// BindFlags registers --log-level and --log-format on fs.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	o.Format = JSON
	fs.TextVar(&o.Level, "log-level", slog.LevelInfo, "Least level logged: DEBUG, INFO, WARN or ERROR "+
		"(DEBUG-n and INFO+n also work; DEBUG includes controller-runtime's verbose lines).")
	fs.Func("log-format", `Log line format: "json" (default; one object per line with the keys time, level, msg, logger, error, kind, namespace, name) or "text" (key=value).`,
		func(v string) error {
			switch f := Format(strings.ToLower(v)); f {
			case JSON, Text:
				o.Format = f
				return nil
			}
			return fmt.Errorf("%q: want json or text", v)
		})
}

// BindZapLevelFlag registers --zap-log-level, the manager's level flag
// before this package, as another way to set o.Level: debug, info, error,
// or an integer n for logr's V(n) (slog level -n). Deprecated: use
// --log-level.
func (o *Options) BindZapLevelFlag(fs *flag.FlagSet) {
	fs.Func("zap-log-level", "Deprecated: use --log-level. debug, info, error, or an integer verbosity n (logs V(n) and below).", func(v string) error {
		switch strings.ToLower(v) {
		case "debug":
			o.Level = slog.LevelDebug
		case "info":
			o.Level = slog.LevelInfo
		case "error":
			o.Level = slog.LevelError
		default:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%q: want debug, info, error or a verbosity >= 0", v)
			}
			o.Level = slog.Level(-n)
		}
		return nil
	})
}

// NewHandler returns the handler writing to w.
func (o Options) NewHandler(w io.Writer) slog.Handler {
	ho := &slog.HandlerOptions{Level: o.Level, ReplaceAttr: replaceAttr}
	if o.Format == Text {
		return dropKindRefs{slog.NewTextHandler(w, ho)}
	}
	return dropKindRefs{slog.NewJSONHandler(w, ho)}
}

// Setup makes a logger writing to w the default of every library the
// binaries use: slog's default, controller-runtime's (ctrl.Log) and klog's
// (client-go: leader election, the API client's warnings). It returns the
// logger.
func (o Options) Setup(w io.Writer) *slog.Logger {
	h := o.NewHandler(w)
	l := slog.New(h)
	slog.SetDefault(l)
	lr := logr.FromSlogHandler(h)
	ctrllog.SetLogger(lr)
	klog.SetLogger(lr)
	return l
}

// replaceAttr maps the keys and levels of the libraries to the scheme in
// the package comment.
func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		// logr's V(n) arrives as slog level -n (DEBUG+3 for V(1)):
		// every level is written as one of the four names.
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String(slog.LevelKey, levelName(l))
		}
	case "err":
		a.Key = KeyError
	case "controllerKind":
		a.Key = KeyKind
	}
	return a
}

// dropKindRefs leaves out controller-runtime's object reference keyed by
// the kind ("OAuthClient": {"name":…,"namespace":…}; logr turns klog's
// ObjectRef into a slog.LogValuer of a group, which ReplaceAttr never sees
// whole): the line
// carries "namespace" and "name" as well.
type dropKindRefs struct{ slog.Handler }

func (h dropKindRefs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return dropKindRefs{h.Handler.WithAttrs(slices.DeleteFunc(slices.Clone(attrs), isKindRef))}
}

func (h dropKindRefs) WithGroup(name string) slog.Handler {
	return dropKindRefs{h.Handler.WithGroup(name)}
}

func (h dropKindRefs) Handle(ctx context.Context, r slog.Record) error {
	drop := false
	r.Attrs(func(a slog.Attr) bool {
		drop = isKindRef(a)
		return !drop
	})
	if !drop {
		return h.Handler.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if !isKindRef(a) {
			out.AddAttrs(a)
		}
		return true
	})
	return h.Handler.Handle(ctx, out)
}

// isKindRef says whether a is a group keyed by a kind (an upper-case
// first letter) holding only name and namespace.
func isKindRef(a slog.Attr) bool {
	v := a.Value.Resolve()
	if v.Kind() != slog.KindGroup || !startsUpper(a.Key) {
		return false
	}
	for _, m := range v.Group() {
		if m.Key != KeyName && m.Key != KeyNamespace {
			return false
		}
	}
	return true
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return slog.LevelDebug.String()
	case l < slog.LevelWarn:
		return slog.LevelInfo.String()
	case l < slog.LevelError:
		return slog.LevelWarn.String()
	}
	return slog.LevelError.String()
}

func startsUpper(s string) bool {
	for _, r := range s {
		return unicode.IsUpper(r)
	}
	return false
}
