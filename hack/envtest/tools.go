//go:build tools

// Package envtest pins the sources of the test API server binaries.
package envtest

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
