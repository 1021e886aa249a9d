//go:build tools

// Package envtest pins the sources of the test API server binaries, and of
// kube-controller-manager, which the RBAC suite (test/rbac) runs for its
// clusterrole-aggregation controller.
package envtest

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
