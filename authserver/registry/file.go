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

package registry

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/authops/authops/authserver/snapshot"
)

// LoadDir reads every *.json file of dir as one snapshot document. A file
// that is not a valid document is logged and skipped. Only a directory that
// cannot be read is an error.
func LoadDir(dir string, log *slog.Logger) (*Registry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading snapshot directory: %w", err)
	}
	var docs []Entry
	skipped := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err == nil && len(data) > snapshot.MaxDocumentSize {
			err = fmt.Errorf("file is larger than %d bytes", snapshot.MaxDocumentSize)
		}
		var d snapshot.Document
		if err == nil {
			d, err = snapshot.Decode(data)
		}
		if err != nil {
			skipped++
			log.Error("snapshot document skipped", "origin", path, "error", err)
			continue
		}
		docs = append(docs, Entry{Origin: path, Document: d})
	}
	r := Build(docs, log)
	r.Skipped += skipped
	return r, nil
}

// FileLoader loads a directory of documents into a Holder and reloads it
// when a file changes (polling every Interval, default 2s).
type FileLoader struct {
	Dir      string
	Holder   *Holder
	Log      *slog.Logger
	Interval time.Duration
}

// Run loads the directory, marks the holder ready, and reloads on changes
// until ctx ends. If a reload cannot read the directory, the last good
// registry stays.
func (l *FileLoader) Run(ctx context.Context) error {
	interval := l.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	last, err := l.stamp()
	if err != nil {
		return err
	}
	r, err := LoadDir(l.Dir, l.Log)
	if err != nil {
		return err
	}
	l.Holder.Store(r)
	l.Holder.MarkReady()
	l.Log.Info("snapshot loaded", "source", "dir", "documents", r.Documents, "skipped", r.Skipped)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s, err := l.stamp()
		if err != nil || s == last {
			continue
		}
		r, err := LoadDir(l.Dir, l.Log)
		if err != nil {
			l.Log.Error("snapshot reload failed, keeping the last snapshot", "error", err)
			continue
		}
		last = s
		l.Holder.Store(r)
		l.Log.Info("snapshot loaded", "source", "dir", "documents", r.Documents, "skipped", r.Skipped)
	}
}

// stamp summarises the directory's file names, sizes and modification times.
func (l *FileLoader) stamp() (string, error) {
	entries, err := os.ReadDir(l.Dir)
	if err != nil {
		return "", fmt.Errorf("reading snapshot directory: %w", err)
	}
	var parts []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s|%d|%d", e.Name(), info.Size(), info.ModTime().UnixNano()))
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n"), nil
}
