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
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/authops/authops/test/stack"
)

// StopAPIServer stops the kube-apiserver process (SIGTERM, as a
// restart or a crash of the control plane would take it away): its port
// refuses connections until StartAPIServer starts it again. The test's
// cleanup starts it if the test ends first, so that the teardown can delete
// the pods.
func (c *Cluster) StopAPIServer() error {
	p, err := c.proc("kube-apiserver")
	if err != nil {
		return err
	}
	c.t.Cleanup(func() {
		if q, err := c.proc("kube-apiserver"); err == nil && q == p {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := c.StartAPIServer(ctx); err != nil {
				c.t.Logf("starting the API server again: %v", err)
			}
		}
	})
	p.Stop(10 * time.Second)
	return nil
}

// StartAPIServer starts the API server StopAPIServer stopped again, with
// the same flags (port, etcd, certificates), and waits until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	args := c.args["kube-apiserver"]
	p, err := c.start("kube-apiserver", args[0], args[1:]...)
	if err != nil {
		return err
	}
	return c.waitReadyz(ctx, c.apiURL+"/readyz", p)
}

// proc returns the process the harness started last under name.
func (c *Cluster) proc(name string) (*stack.Proc, error) {
	for i := len(c.procs) - 1; i >= 0; i-- {
		if c.procs[i].Name == name {
			return c.procs[i], nil
		}
	}
	return nil, fmt.Errorf("no process %s", name)
}

// KillContainer kills the main process of a container of a pod with
// SIGKILL, from this machine, as the kernel's OOM killer or a crash would
// end it: the container exits with 137 and the kubelet restarts it in the
// same pod. It returns the container's restart count before the kill.
func (c *Cluster) KillContainer(ctx context.Context, namespace, pod, container string) (int, error) {
	out, err := c.Kubectl(ctx, "get", "pod", "-n", namespace, pod, "-o",
		`jsonpath={.status.containerStatuses[?(@.name=="`+container+`")].containerID} {.status.containerStatuses[?(@.name=="`+container+`")].restartCount}`)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(out)
	if len(f) != 2 || !strings.HasPrefix(f[0], "containerd://") {
		return 0, fmt.Errorf("container %s of pod %s/%s: %q", container, namespace, pod, out)
	}
	restarts, _ := strconv.Atoi(f[1])
	tasks, err := c.Ctr(ctx, "tasks", "ls")
	if err != nil {
		return 0, err
	}
	id := strings.TrimPrefix(f[0], "containerd://")
	for _, line := range strings.Split(tasks, "\n") {
		// TASK PID STATUS
		if t := strings.Fields(line); len(t) == 3 && t[0] == id {
			pid, err := strconv.Atoi(t[1])
			if err != nil {
				return 0, err
			}
			return restarts, syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return 0, fmt.Errorf("no running task for container %s of pod %s/%s", container, namespace, pod)
}
