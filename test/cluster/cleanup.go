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
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stateFile records what a running cluster changed on this machine, so that
// a run killed before its cleanup is swept by the next one. One cluster runs
// at a time (lockFile, held from Start to the end of the teardown): the
// bridge, the iptables chains and the kubepods cgroups are the machine's.
const (
	stateFile = "/run/authops-test-cluster.json"
	lockFile  = "/run/authops-test-cluster.lock"
)

// state is what the teardown needs: the cluster's folder (every process of
// the cluster has a path under it on its command line), the PIDs it started
// and the kernel settings to restore.
type state struct {
	Dir string `json:"dir"`
	// Pids are the processes the harness started, in start order.
	Pids []namedPid `json:"pids"`
	// Sysctls holds the values of /proc/sys entries before the cluster
	// changed them (net/ipv4/ip_forward, and what the kubelet sets).
	Sysctls map[string]string `json:"sysctls"`
	// KubeProxy is the kube-proxy binary, for `kube-proxy --cleanup`.
	KubeProxy string `json:"kubeProxy"`
}

type namedPid struct {
	Name string `json:"name"`
	Pid  int    `json:"pid"`
}

// Names of what the cluster makes on this machine.
const (
	bridgeName  = "authops0"
	cniNetwork  = "authops-cluster"
	guardChain  = "AUTHOPS-CLUSTER"
	netnsDir    = "/run/netns"
	podCIDR     = "10.244.0.0/24"
	serviceCIDR = "10.96.0.0/24"
)

// kubeletSysctls are the kernel settings the kubelet sets at start
// (protectKernelDefaults off); the teardown restores them.
var kubeletSysctls = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}

func (s *state) save() error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(stateFile, data, 0o600)
}

// sweepStale tears down what a previous run left: everything of a run
// that recorded itself and did not clean up (killed, or timed out), and in
// any case what only a cluster of this harness makes on the machine (CNI
// network namespaces, the bridge, the chains, the kubepods cgroups). The
// caller holds the lock, so no other cluster runs.
func sweepStale(logf func(string, ...any)) error {
	data, err := os.ReadFile(stateFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return sweepMachine()
	case err != nil:
		return err
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil || s.Dir == "" {
		return fmt.Errorf("%s is not a cluster state (%v): remove it by hand", stateFile, err)
	}
	logf("sweeping a previous cluster that was not cleaned up: %s", s.Dir)
	return teardown(&s, logf)
}

// sweepMachine removes what only a cluster of this harness makes outside
// its folder, when a previous run left it.
func sweepMachine() error {
	var errs []error
	errs = append(errs, killCgroupProcs())
	errs = append(errs, unmountPrefix(netnsDir+"/cni-"))
	errs = append(errs, removeNetns())
	if _, err := os.Stat("/sys/class/net/" + bridgeName); err == nil {
		errs = append(errs, run("ip", "link", "delete", bridgeName))
	}
	errs = append(errs, removeChains())
	errs = append(errs, removeCgroups())
	return errors.Join(errs...)
}

// teardown stops every process of the cluster and removes everything it
// made: containers (through their cgroups), the containerd shims, mounts
// under its folder, CNI network namespaces, the bridge, the KUBE-*, CNI-*
// and AUTHOPS-* iptables chains, the kubepods cgroups, and the folder; it
// restores the kernel settings. Each step runs even when an earlier one
// failed; the errors are joined, and so is what is still there after all
// steps (leftovers): every test's cleanup checks the teardown.
func teardown(s *state, logf func(string, ...any)) error {
	if !strings.HasPrefix(s.Dir, os.TempDir()+"/authops-cluster-") {
		return fmt.Errorf("%s names %q, which is not a cluster folder: remove it by hand", stateFile, s.Dir)
	}
	logf("tearing down the cluster in %s", s.Dir)
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// The control plane and the node agents, newest first; containerd last,
	// once the containers are gone.
	var containerd []namedPid
	for i := len(s.Pids) - 1; i >= 0; i-- {
		if s.Pids[i].Name == "containerd" {
			containerd = append(containerd, s.Pids[i])
			continue
		}
		note(stopPid(s.Pids[i], s.Dir, 10*time.Second))
	}
	note(killCgroupProcs())
	for _, p := range containerd {
		note(stopPid(p, s.Dir, 10*time.Second))
	}
	note(killLeftovers(s.Dir)) // containerd shims
	if s.KubeProxy != "" {
		if out, err := exec.Command(s.KubeProxy, "--cleanup").CombinedOutput(); err != nil {
			note(fmt.Errorf("kube-proxy --cleanup: %w: %s", err, lastLines(string(out), 5)))
		}
	}
	note(unmountPrefix(s.Dir+"/", netnsDir+"/cni-"))
	note(removeNetns())
	if _, err := os.Stat("/sys/class/net/" + bridgeName); err == nil {
		note(run("ip", "link", "delete", bridgeName))
	}
	note(removeChains())
	note(removeCgroups())
	for k, v := range s.Sysctls {
		note(os.WriteFile("/proc/sys/"+k, []byte(v), 0o644))
	}
	note(removeHostFiles(s.Dir))
	note(os.RemoveAll(s.Dir))
	if left := leftovers(s); len(left) > 0 {
		// The state stays, so that the next run sweeps again.
		note(fmt.Errorf("the teardown left: %s", strings.Join(left, "; ")))
	} else if err := os.Remove(stateFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		note(err)
	}
	return errors.Join(errs...)
}

// leftovers lists what of the cluster is still on this machine: processes
// naming its folder, mounts, CNI network namespaces, the bridge, iptables
// chains, kubepods cgroups, the folder, and kernel settings
// not restored.
func leftovers(s *state) []string {
	var left []string
	if entries, err := os.ReadDir("/proc"); err == nil {
		for _, e := range entries {
			if pid, err := strconv.Atoi(e.Name()); err == nil && pid != os.Getpid() && alive(pid) && cmdlineHas(pid, s.Dir+"/") {
				left = append(left, fmt.Sprintf("process %d", pid))
			}
		}
	}
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 4 && (strings.HasPrefix(unescapeMount(f[4]), s.Dir+"/") || strings.HasPrefix(f[4], netnsDir+"/cni-")) {
				left = append(left, "mount "+f[4])
			}
		}
	}
	netns, _ := filepath.Glob(netnsDir + "/cni-*")
	for _, n := range netns {
		left = append(left, "network namespace "+n)
	}
	if _, err := os.Stat("/sys/class/net/" + bridgeName); err == nil {
		left = append(left, "bridge "+bridgeName)
	}
	for _, bin := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle", "raw"} {
			out, _ := exec.Command(bin, "-w", "-t", table, "-S").Output()
			for _, line := range strings.Split(string(out), "\n") {
				if args := splitRule(line); len(args) == 2 && args[0] == "-N" && ownChain(args[1]) {
					left = append(left, fmt.Sprintf("%s -t %s chain %s", bin, table, args[1]))
				}
			}
		}
	}
	for _, d := range kubepodsCgroups() {
		left = append(left, "cgroup "+d)
	}
	for _, p := range []string{s.Dir} {
		if _, err := os.Stat(p); err == nil {
			left = append(left, p)
		}
	}
	for k, v := range s.Sysctls {
		if now, err := os.ReadFile("/proc/sys/" + k); err == nil && strings.TrimSpace(string(now)) != v {
			left = append(left, fmt.Sprintf("%s is %s, was %s", k, strings.TrimSpace(string(now)), v))
		}
	}
	return left
}

// stopPid stops a process the harness started: SIGTERM, then SIGKILL after
// grace. A PID whose command line does not name dir is another process now
// (the recorded one is gone) and is left alone.
func stopPid(p namedPid, dir string, grace time.Duration) error {
	if !alive(p.Pid) || !cmdlineHas(p.Pid, dir) {
		return nil
	}
	_ = syscall.Kill(p.Pid, syscall.SIGTERM)
	for end := time.Now().Add(grace); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if !alive(p.Pid) {
			return nil
		}
	}
	_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if !alive(p.Pid) {
			return nil
		}
	}
	return fmt.Errorf("%s (pid %d) survived SIGKILL", p.Name, p.Pid)
}

// alive reports whether pid runs (a zombie has ended).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func cmdlineHas(pid int, s string) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(data), s)
}

// killLeftovers kills the processes whose command line names dir: the
// containerd shims (started with the socket under dir), which outlive
// containerd.
func killLeftovers(dir string) error {
	if !strings.HasPrefix(dir, os.TempDir()+"/authops-cluster-") {
		return fmt.Errorf("%q is not a cluster folder: no process is killed for it", dir)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	self := os.Getpid()
	var errs []error
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !cmdlineHas(pid, dir+"/") {
			continue
		}
		errs = append(errs, stopPid(namedPid{Name: "leftover", Pid: pid}, dir, 3*time.Second))
	}
	return errors.Join(errs...)
}

// kubepodsCgroups returns the kubepods cgroup folders of every hierarchy,
// deepest first.
func kubepodsCgroups() []string {
	var dirs []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	return dirs
}

// killCgroupProcs kills every process in a kubepods cgroup: the pods'
// containers, which only this cluster runs.
func killCgroupProcs() error {
	for attempt := 0; attempt < 50; attempt++ {
		found := false
		for _, d := range kubepodsCgroups() {
			data, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && alive(pid) {
					found = true
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if !found {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("processes in the kubepods cgroups survived SIGKILL")
}

// removeCgroups removes the kubepods cgroups (empty once their processes
// are gone).
func removeCgroups() error {
	var errs []error
	for _, d := range kubepodsCgroups() {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// unmountPrefix unmounts every mount point that starts with one of the
// prefixes (each names a folder of the cluster, or /run/netns/cni-),
// deepest first.
func unmountPrefix(prefixes ...string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMount(fields[4])
		ours := false
		for _, pre := range prefixes {
			ours = ours || strings.HasPrefix(p, pre)
		}
		if ours {
			points = append(points, p)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes the octal escapes of /proc/self/mountinfo (\040).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeNetns removes the network namespaces containerd made for pod
// sandboxes (/run/netns/cni-*); unmountUnder has unmounted them.
func removeNetns() error {
	files, _ := filepath.Glob(netnsDir + "/cni-*")
	var errs []error
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ownChain reports whether an iptables chain is one the cluster makes:
// kube-proxy's and the kubelet's KUBE-*, the CNI plugins' CNI-*, and the
// harness's own guard.
func ownChain(name string) bool {
	return strings.HasPrefix(name, "KUBE-") || strings.HasPrefix(name, "CNI-") || name == guardChain
}

// removeChains deletes the rules of other chains that jump to the cluster's
// chains, then flushes and deletes those chains, in every table, for IPv4
// and IPv6.
func removeChains() error {
	var errs []error
	for _, bin := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle", "raw"} {
			out, err := exec.Command(bin, "-w", "-t", table, "-S").Output()
			if err != nil {
				continue // the table does not exist here
			}
			var chains []string
			for _, line := range strings.Split(string(out), "\n") {
				args := splitRule(line)
				switch {
				case len(args) == 2 && args[0] == "-N" && ownChain(args[1]):
					chains = append(chains, args[1])
				case len(args) > 2 && args[0] == "-A" && !ownChain(args[1]) && jumpsToOwn(args):
					errs = append(errs, run(bin, append([]string{"-w", "-t", table, "-D"}, args[1:]...)...))
				}
			}
			for _, c := range chains {
				errs = append(errs, run(bin, "-w", "-t", table, "-F", c))
			}
			for _, c := range chains {
				errs = append(errs, run(bin, "-w", "-t", table, "-X", c))
			}
		}
	}
	return errors.Join(errs...)
}

func jumpsToOwn(args []string) bool {
	for i := 0; i+1 < len(args); i++ {
		if (args[i] == "-j" || args[i] == "-g") && ownChain(args[i+1]) {
			return true
		}
	}
	return false
}

// splitRule splits a line of `iptables -S` into arguments (comments are in
// double quotes).
func splitRule(line string) []string {
	var args []string
	var cur strings.Builder
	quoted, have := false, false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"':
			quoted, have = !quoted, true
		case c == '\\' && quoted && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == ' ' && !quoted:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// removeHostFiles removes what the kubelet and the CNI library write outside
// the cluster's folder: /var/log/containers links into it and the cached
// results of the cluster's network.
func removeHostFiles(dir string) error {
	var errs []error
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, dir+"/") {
			errs = append(errs, os.Remove(l))
		}
	}
	results, _ := filepath.Glob("/var/lib/cni/results/" + cniNetwork + "-*")
	for _, r := range results {
		errs = append(errs, os.Remove(r))
	}
	// The folders themselves, when empty (they may have been there before).
	for _, d := range []string{"/var/lib/cni/results", "/var/lib/cni", "/var/log/containers"} {
		_ = os.Remove(d)
	}
	return errors.Join(errs...)
}

// run runs a command and returns its output in the error when it fails.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
