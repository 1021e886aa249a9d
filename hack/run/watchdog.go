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

package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// watchdog runs the worker (this binary again, with workerEnv set) and, once
// it has exited, kills every process it left behind: the watchdog is their
// subreaper, so orphans of the worker (etcd, kube-apiserver, the servers)
// become its children. It returns the worker's exit code.
func watchdog() int {
	// When make dies, stop too (and with us, through Pdeathsig, the worker).
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "make run: cannot become a subreaper:", err)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		return 1
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), workerEnv+"=1")
	// Same process group as make (Ctrl-C reaches the worker directly); the
	// kernel sends SIGTERM to the worker if the watchdog dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	// The terminal's SIGINT reaches the worker itself; a SIGTERM sent to the
	// watchdog alone (make killed) is passed on.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
wait:
	for {
		select {
		case s := <-signals:
			if s == syscall.SIGTERM {
				_ = cmd.Process.Signal(syscall.SIGTERM)
			}
		case werr = <-done:
			break wait
		}
	}
	signal.Stop(signals)
	killOrphans()
	if werr != nil {
		if ee, ok := werr.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 1
	}
	return 0
}

// killOrphans terminates (then kills) the watchdog's remaining children,
// each with its process group, and reaps them.
func killOrphans() {
	deadline := time.Now().Add(10 * time.Second)
	for sig := syscall.SIGTERM; ; {
		pids := children()
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sig = syscall.SIGKILL
		}
		for _, pid := range pids {
			fmt.Fprintf(os.Stderr, "make run: stopping leftover process %d\n", pid)
			_ = syscall.Kill(-pid, sig)
			_ = syscall.Kill(pid, sig)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// children lists the processes whose parent is this process.
func children() []int {
	me := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut after ')'.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 {
			if ppid, _ := strconv.Atoi(fields[1]); ppid == me {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
