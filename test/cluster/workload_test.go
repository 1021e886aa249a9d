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
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/test/cluster/image"
	"github.com/authops/authops/test/stack"
)

// workloadImage is the image of the workload identity Pods (built from
// ./workload).
const workloadImage = "ghcr.io/authops/workload:" + tag

// workloadResult is the line the workload program prints.
type workloadResult struct {
	Status           int            `json:"status"`
	Error            string         `json:"error"`
	ErrorDescription string         `json:"error_description"`
	TokenType        string         `json:"token_type"`
	Scope            string         `json:"scope"`
	Claims           map[string]any `json:"claims"`
	Files            []string       `json:"files"`
}

// checkWorkloadIdentity runs the sample report-worker (an OAuthClient that
// authenticates as its ServiceAccount) as a real Pod: with only its
// projected ServiceAccount token mounted (no API token, no Secret) it gets
// an access token from the authserver through the Service. A Pod of
// another ServiceAccount sending the same client_id gets invalid_client.
// No Secret of the client exists in the cluster: its credentials are in a
// ConfigMap, and its compiled entry in the operator's namespace holds no
// secret digest.
func checkWorkloadIdentity(t *testing.T, c *Cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(c.Dir, "images", "workload")
	if err := stack.Build(ctx, "./test/cluster/workload", bin); err != nil {
		t.Fatal(err)
	}
	tar := bin + ".tar"
	spec := image.Spec{Files: map[string]string{"/workload": bin}, User: image.NonrootUser, Entrypoint: []string{"/workload"}}
	if err := image.Write(spec, workloadImage, tar); err != nil {
		t.Fatal(err)
	}
	if err := c.ImportImage(ctx, tar); err != nil {
		t.Fatal(err)
	}
	c.MustKubectl("wait", "-n", samplesNamespace, "--for=condition=Ready", "--timeout=120s", "oauthclient/report-worker")
	clientID := c.MustKubectl("get", "oauthclient", "-n", samplesNamespace, "report-worker", "-o", "jsonpath={.status.clientID}")
	addr, err := c.ServiceAddress(ctx, ns, "oauth")
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(issuer, "https://")
	run := func(name, serviceAccount, wantPhase string) workloadResult {
		path, err := c.write(name+".yaml", workloadPod, map[string]string{"name": name, "namespace": samplesNamespace,
			"serviceAccount": serviceAccount, "image": workloadImage, "audience": issuer, "tokenURL": "http://" + addr + "/oauth2/token",
			"host": host, "clientID": clientID})
		if err != nil {
			t.Fatal(err)
		}
		c.MustKubectl("apply", "-f", path)
		t.Cleanup(func() {
			_, _ = c.Kubectl(context.Background(), "delete", "pod", "-n", samplesNamespace, name, "--wait=false")
		})
		c.MustKubectl("wait", "-n", samplesNamespace, "--for=jsonpath={.status.phase}="+wantPhase, "--timeout=120s", "pod/"+name)
		logs := c.MustKubectl("logs", "-n", samplesNamespace, name)
		var r workloadResult
		if err := json.Unmarshal([]byte(strings.TrimSpace(logs)), &r); err != nil {
			t.Fatalf("pod %s printed %q: %v", name, logs, err)
		}
		return r
	}

	r := run("report-worker", "report-worker", "Succeeded")
	if r.Status != 200 || r.TokenType != "Bearer" || r.Claims["client_id"] != clientID || r.Scope != "orders.read" {
		t.Fatalf("the report-worker Pod: %+v; want 200, a Bearer token of %s with scope orders.read", r, clientID)
	}
	if !slices.Equal(r.Files, []string{"/var/run/authops/token"}) {
		t.Fatalf("the report-worker Pod had the files %v: want only its projected token /var/run/authops/token", r.Files)
	}
	t.Logf("MEASURED a Pod with only its projected ServiceAccount token got a %s access token: client_id %v, sub %v, scope %q",
		r.TokenType, r.Claims["client_id"], r.Claims["sub"], r.Scope)

	other := run("report-worker-impostor", "default", "Failed")
	if other.Status != 401 || other.Error != "invalid_client" {
		t.Fatalf("a Pod of ServiceAccount default sending client_id %s: %+v; want 401 invalid_client", clientID, other)
	}
	t.Logf("a Pod of another ServiceAccount with the same client_id: %d %s (%s)", other.Status, other.Error, other.ErrorDescription)

	checkNoSecretOfClient(t, c, clientID)
	c.Stage("workload identity Pods")
}

// checkNoSecretOfClient checks that no Secret anywhere holds a credential
// of the report-worker client: none is owned by it or named after it, none
// carries its client_id, and its compiled entry (the one Secret of the
// operator's namespace made from it) has no secret digest. Its client_id and
// endpoints are in its credentials ConfigMap.
func checkNoSecretOfClient(t *testing.T, c *Cluster, clientID string) {
	uid := c.MustKubectl("get", "oauthclient", "-n", samplesNamespace, "report-worker", "-o", "jsonpath={.metadata.uid}")
	var list struct {
		Items []struct {
			Metadata struct {
				Namespace, Name string
				Annotations     map[string]string
				OwnerReferences []struct{ UID string } `json:"ownerReferences"`
			} `json:"metadata"`
			Data map[string]string `json:"data"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.MustKubectl("get", "secrets", "-A", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	entry := snapshotSecretName(uid)
	compiled := false
	for _, s := range list.Items {
		where := s.Metadata.Namespace + "/" + s.Metadata.Name
		if s.Metadata.Namespace == ns && s.Metadata.Name == entry {
			doc, err := decodeEntry(s.Data[snapshot.DataKey])
			if err != nil {
				t.Fatalf("the compiled entry %s: %v", where, err)
			}
			if doc.Client == nil || len(doc.Client.Secrets) != 0 || doc.Client.ServiceAccount == nil {
				t.Fatalf("the compiled entry %s is %+v: want a client with no secret digest and its ServiceAccount", where, doc.Client)
			}
			compiled = true
			continue
		}
		for _, o := range s.Metadata.OwnerReferences {
			if o.UID == uid {
				t.Fatalf("Secret %s is owned by the report-worker client", where)
			}
		}
		if strings.HasPrefix(s.Metadata.Name, "report-worker") {
			t.Fatalf("Secret %s is named after the report-worker client", where)
		}
		for k, v := range s.Data {
			if b, _ := base64.StdEncoding.DecodeString(v); strings.Contains(string(b), clientID) {
				t.Fatalf("Secret %s (key %s) holds the report-worker's client_id", where, k)
			}
		}
	}
	if !compiled {
		t.Fatalf("no compiled entry %s/%s of the report-worker client", ns, entry)
	}
	if got := c.MustKubectl("get", "configmap", "-n", samplesNamespace, "report-worker-oauth-credentials", "-o", "jsonpath={.data.client_id}"); got != clientID {
		t.Fatalf("the credentials ConfigMap holds client_id %q, want %q", got, clientID)
	}
	t.Logf("no Secret of the client among %d Secrets; its compiled entry %s/%s holds no secret digest; its credentials are in ConfigMap report-worker-oauth-credentials",
		len(list.Items), ns, entry)
}

// snapshotSecretName is the compiled entry's name of the client with that
// UID (controllers.snapshotSecretName).
func snapshotSecretName(uid string) string {
	return "authops-" + string(snapshot.KindClient) + "-" + uid
}

// decodeEntry decodes the base64 data of a compiled entry.
func decodeEntry(data string) (snapshot.Document, error) {
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return snapshot.Document{}, err
	}
	return snapshot.Decode(b)
}

// workloadPod runs the workload program with only a projected
// ServiceAccount token of the issuer's audience: the API token is not
// mounted.
const workloadPod = `apiVersion: v1
kind: Pod
metadata: {name: {{name}}, namespace: {{namespace}}}
spec:
  serviceAccountName: {{serviceAccount}}
  automountServiceAccountToken: false
  restartPolicy: Never
  containers:
  - name: workload
    image: {{image}}
    imagePullPolicy: Never
    env:
    - {name: TOKEN_FILE, value: /var/run/authops/token}
    - {name: TOKEN_URL, value: "{{tokenURL}}"}
    - {name: HOST, value: "{{host}}"}
    - {name: CLIENT_ID, value: "{{clientID}}"}
    - {name: SCOPE, value: orders.read}
    volumeMounts:
    - {name: authops-token, mountPath: /var/run/authops, readOnly: true}
  volumes:
  - name: authops-token
    projected:
      sources:
      - serviceAccountToken: {audience: "{{audience}}", expirationSeconds: 600, path: token}
`
