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

package snapshot

import "strconv"

// The served acknowledgement: each authserver replica keeps one
// coordination.k8s.io/v1 Lease in the operator namespace, named
// ServedLeasePrefix + replica, labelled LabelManagedBy=ManagedBy and
// LabelServed="true", whose AnnotationServedRevision says up to which
// snapshot revision the replica serves. The manager reads these Leases to
// tell when a change is served by every live replica (renewTime plus
// leaseDurationSeconds in the future).
//
// A revision is a resourceVersion of a snapshot Secret read as an integer:
// the replica serves revision r once it has applied every snapshot Secret
// event up to r. resourceVersions are opaque to Kubernetes clients in
// general; comparing them as integers is sound here only because they come
// from one API server (one etcd) and one resource type (Secrets), where
// they grow with every write. See ParseRevision.
const (
	// ServedLeasePrefix starts the name of every replica's Lease.
	ServedLeasePrefix = "authops-served-"
	// LabelServed, with the value "true", marks a served-acknowledgement
	// Lease.
	LabelServed = "oauth.authops.io/served"
	// AnnotationServedRevision holds the revision the replica serves, a
	// decimal integer.
	AnnotationServedRevision = "oauth.authops.io/served-revision"
)

// ParseRevision reads a resourceVersion (or the served-revision
// annotation) as an integer; ok is false when it is not one.
func ParseRevision(rv string) (rev int64, ok bool) {
	n, err := strconv.ParseInt(rv, 10, 64)
	return n, err == nil && n >= 0
}
