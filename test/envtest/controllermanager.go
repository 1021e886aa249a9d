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

package envtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControllerManagerPath returns the kube-controller-manager that `make
// envtest-assets` builds from source next to the API server. A missing
// binary is an error naming the make target, never a skip.
func ControllerManagerPath() (string, error) {
	dir, err := AssetsDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kube-controller-manager")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("kube-controller-manager not found in %s: run 'make envtest-assets' (it builds it from source next to kube-apiserver): %w", dir, err)
	}
	return path, nil
}

// ControllerManager is a running kube-controller-manager.
type ControllerManager struct {
	// Log is the file that receives its output.
	Log  string
	cmd  *exec.Cmd
	done chan error
}

// StartControllerManager runs kube-controller-manager against env's API
// server with only the named controllers (envtest runs none), as a member
// of system:masters, without leader election or a serving port. Its
// kubeconfig and log are written to dir.
func StartControllerManager(env *envtest.Environment, dir string, controllers string) (*ControllerManager, error) {
	bin, err := ControllerManagerPath()
	if err != nil {
		return nil, err
	}
	user, err := env.AddUser(envtest.User{Name: "kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("creating the kube-controller-manager user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kube-controller-manager.kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return nil, err
	}
	cm := &ControllerManager{Log: filepath.Join(dir, "kube-controller-manager.log"), done: make(chan error, 1)}
	log, err := os.Create(cm.Log)
	if err != nil {
		return nil, err
	}
	cm.cmd = exec.Command(bin,
		"--kubeconfig="+kubeconfig,
		"--controllers="+controllers,
		"--leader-elect=false",
		"--secure-port=0",
	)
	cm.cmd.Stdout, cm.cmd.Stderr = log, log
	if err := cm.cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		cm.done <- cm.cmd.Wait()
		_ = log.Close()
	}()
	return cm, nil
}

// Exited reports whether the process has ended, with its error.
func (cm *ControllerManager) Exited() (bool, error) {
	select {
	case err := <-cm.done:
		cm.done <- err
		return true, err
	default:
		return false, nil
	}
}

// Stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (cm *ControllerManager) Stop() error {
	if exited, _ := cm.Exited(); exited {
		return nil
	}
	_ = cm.cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-cm.done:
		return nil
	case <-ctx.Done():
		_ = cm.cmd.Process.Kill()
		<-cm.done
		return errors.New("kube-controller-manager did not stop on SIGTERM within 10s; killed")
	}
}
