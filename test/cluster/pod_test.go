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

package cluster

import (
	"strings"
	"testing"
)

// TestPodRuns brings the cluster up and runs one pod (the sandbox image as
// its container) to Ready: the runtime, the network and the node agents
// work together.
func TestPodRuns(t *testing.T) {
	c := Start(t)
	pod := `apiVersion: v1
kind: Pod
metadata: {name: pause, namespace: default}
spec:
  containers:
  - name: pause
    image: ` + PauseImage + `
    imagePullPolicy: Never
`
	path := c.Dir + "/pause-pod.yaml"
	if _, err := c.write("pause-pod.yaml", pod, nil); err != nil {
		t.Fatal(err)
	}
	c.MustKubectl("apply", "-f", path)
	c.MustKubectl("wait", "--for=condition=Ready", "--timeout=120s", "pod/pause")
	c.Stage("pod Ready")
	if ip := c.MustKubectl("get", "pod", "pause", "-o", "jsonpath={.status.podIP}"); !strings.HasPrefix(ip, "10.244.0.") {
		t.Fatalf("pod IP %q, want one of the pod network %s", ip, podCIDR)
	}
}
