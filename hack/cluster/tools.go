//go:build tools

// Package cluster pins the sources of the node binaries the real-cluster
// suite (test/cluster) runs beside hack/envtest's kube-apiserver, etcd and
// kube-controller-manager.
package cluster

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
