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

// Package buildinfo says which build a binary is: its version and source
// revision, stamped by `make build` (-ldflags -X) or, without that, read from
// the Go build information, and exports them as the Prometheus metric
// authops_build_info of both binaries.
package buildinfo

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Set by the linker: -X github.com/authops/authops/internal/buildinfo.version=v0.3.0
// and .revision=<git commit>. Empty: read from the build information.
var (
	version  string
	revision string
)

// MetricName is the name of the build information metric.
const MetricName = "authops_build_info"

// Info is a binary's build.
type Info struct {
	// Version is the release version, else the module version ("(devel)"
	// for a build from a work tree).
	Version string
	// Revision is the source commit, else "unknown".
	Revision string
	// GoVersion is the Go release that built the binary.
	GoVersion string
}

// Get returns this binary's build.
func Get() Info {
	i := Info{Version: version, Revision: revision, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if i.Version == "" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && i.Revision == "" {
				i.Revision = s.Value
			}
		}
	}
	if i.Version == "" {
		i.Version = "(devel)"
	}
	if i.Revision == "" {
		i.Revision = "unknown"
	}
	return i
}

// Collector is authops_build_info{version,revision,goversion}, always 1.
func Collector() prometheus.Collector {
	i := Get()
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        MetricName,
		Help:        "Always 1; the labels say which build runs: version, source revision and Go version.",
		ConstLabels: prometheus.Labels{"version": i.Version, "revision": i.Revision, "goversion": i.GoVersion},
	}, func() float64 { return 1 })
}
