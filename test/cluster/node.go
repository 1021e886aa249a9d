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
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/authops/authops/test/stack"
)

// containerdConfig is containerd's configuration: its own root, state and
// socket under the cluster's folder, the settings this machine requires
// (restrict_oom_score_adj: the kernel refuses the kubelet's -998;
// SystemdCgroup off: the kubelet uses cgroupfs), the locally imported
// sandbox image and the Debian CNI plugins.
const containerdConfig = `version = 2
root = "{{dir}}/containerd/root"
state = "{{dir}}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{{dir}}/containerd/containerd.sock"
[ttrpc]
  address = "{{dir}}/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{{dir}}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{pause}}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{{dir}}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{{dir}}/cni/net.d"
`

// cniConfig is the pod network: a bridge with the node as gateway and
// host-local addresses (its state under the cluster's folder). No IP
// masquerade: pods only talk to this machine.
const cniConfig = `{
  "cniVersion": "0.4.0",
  "name": "{{network}}",
  "plugins": [
    {"type": "bridge", "bridge": "{{bridge}}", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "{{podCIDR}}"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "{{dir}}/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`

// kubeletConfig: cgroup v1 allowed (failCgroupV1), cgroupfs, swap allowed,
// eviction only when the disk or memory is really exhausted, no image
// garbage collection (the images cannot be pulled again), logs and state
// under the cluster's folder. syncFrequency is 10s instead of 1m: the
// kubelet updates a mounted Secret on its next sync of the pod, so a
// replaced Secret reaches the files within about 10s instead of a minute
// (TestSidecarTLS waits for that).
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {{nodeIP}}
port: {{kubeletPort}}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {{healthzPort}}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: {{pki}}/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: {{pki}}/kubelet.crt
tlsPrivateKeyFile: {{pki}}/kubelet.key
containerRuntimeEndpoint: unix://{{dir}}/containerd/containerd.sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: {{dir}}/pod-logs
resolvConf: {{dir}}/resolv.conf
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 30
syncFrequency: 10s
`

// kubeProxyConfig: iptables mode; the host's conntrack settings and
// route_localnet stay as they are.
const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: {{pki}}/kube-proxy.kubeconfig}
mode: iptables
hostnameOverride: {{node}}
clusterCIDR: {{podCIDR}}
bindAddress: {{nodeIP}}
healthzBindAddress: 127.0.0.1:{{proxyHealthz}}
metricsBindAddress: 127.0.0.1:{{proxyMetrics}}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
`

// render fills a template's {{name}} fields.
func render(tmpl string, values map[string]string) string {
	for k, v := range values {
		tmpl = strings.ReplaceAll(tmpl, "{{"+k+"}}", v)
	}
	return tmpl
}

// values returns the fields of the configuration templates.
func (c *Cluster) values() map[string]string {
	return map[string]string{"dir": c.Dir, "pki": c.ca.dir, "pause": PauseImage, "network": cniNetwork, "bridge": bridgeName,
		"podCIDR": podCIDR, "nodeIP": c.NodeIP.String(), "node": c.NodeName}
}

// write renders tmpl into the cluster's folder.
func (c *Cluster) write(rel, tmpl string, values map[string]string) (string, error) {
	path := filepath.Join(c.Dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, []byte(render(tmpl, values)), 0o644)
}

// startContainerd starts containerd and waits until it answers.
func (c *Cluster) startContainerd(ctx context.Context) error {
	conf, err := c.write("containerd/config.toml", containerdConfig, c.values())
	if err != nil {
		return err
	}
	c.socket = filepath.Join(c.Dir, "containerd", "containerd.sock")
	p, err := c.start("containerd", "/usr/bin/containerd", "--config", conf)
	if err != nil {
		return err
	}
	return c.Eventually(ctx, time.Minute, "containerd", func() error {
		select {
		case <-p.Exited():
			return fmt.Errorf("containerd exited: %v\n%s", p.Err(), p.LogTail(2000))
		default:
		}
		_, err := c.Ctr(ctx, "version")
		return err
	})
}

// startNode writes the pod network's configuration, guards the forwarding
// of pod traffic, and starts the kubelet and kube-proxy.
func (c *Cluster) startNode() error {
	v := c.values()
	if _, err := c.write("cni/net.d/10-"+cniNetwork+".conflist", cniConfig, v); err != nil {
		return err
	}
	if err := guardForwarding(); err != nil {
		return err
	}
	if _, err := c.write("resolv.conf", "nameserver 127.0.0.1\n", v); err != nil {
		return err
	}
	for _, k := range []string{"kubeletPort", "healthzPort", "proxyHealthz", "proxyMetrics"} {
		port, err := stack.FreePort()
		if err != nil {
			return err
		}
		v[k] = fmt.Sprint(port)
	}
	kubelet, err := c.write("kubelet/config.yaml", kubeletConfig, v)
	if err != nil {
		return err
	}
	if _, err := c.start("kubelet", "kubelet", "--config="+kubelet, "--kubeconfig="+c.ca.path("kubelet-client.kubeconfig"),
		"--root-dir="+filepath.Join(c.Dir, "kubelet"), "--cert-dir="+filepath.Join(c.Dir, "kubelet", "pki"),
		"--hostname-override="+c.NodeName, "--node-ip="+c.NodeIP.String()); err != nil {
		return err
	}
	proxy, err := c.write("kube-proxy/config.yaml", kubeProxyConfig, v)
	if err != nil {
		return err
	}
	_, err = c.start("kube-proxy", "kube-proxy", "--config="+proxy)
	return err
}

// guardForwarding drops forwarded traffic from the pod network to anything
// but the pod network, so that with ip_forward on nothing of the cluster is
// routed off this machine (in the mangle table, which kube-proxy leaves
// alone; the teardown removes the chain).
func guardForwarding() error {
	for _, args := range [][]string{
		{"-N", guardChain},
		{"-A", guardChain, "-s", podCIDR, "!", "-o", bridgeName, "-j", "DROP"},
		{"-I", "FORWARD", "-j", guardChain},
	} {
		if err := run("iptables", append([]string{"-w", "-t", "mangle"}, args...)...); err != nil {
			return err
		}
	}
	return nil
}
