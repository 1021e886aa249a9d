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

package bench

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/authops/authops/authserver/snapshot"
	"github.com/authops/authops/test/stack"
)

// The workload identity client: it authenticates as ServiceAccount
// WorkloadServiceAccount of Namespace with a token the API server issued.
const (
	ClientWorkload         = "bench-workload"
	WorkloadServiceAccount = "bench-worker"
)

// workloadIdentity is the API server whose ServiceAccount issuer signs the
// workload_identity workload's tokens (the authserver fetches its keys once,
// through --kubeconfig) and the ServiceAccount's UID.
type workloadIdentity struct {
	api *stack.APIServer
	cs  kubernetes.Interface
	uid string
}

// startWorkloadIdentity starts the source-built API server and creates the
// ServiceAccount.
func startWorkloadIdentity(ctx context.Context, dir string) (*workloadIdentity, error) {
	api, err := stack.StartAPIServer(ctx, stack.APIServerOptions{Dir: filepath.Join(dir, "apiserver"), Namespaces: []string{Namespace}})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		_ = api.Stop()
		return nil, err
	}
	sa, err := cs.CoreV1().ServiceAccounts(Namespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: WorkloadServiceAccount}}, metav1.CreateOptions{})
	if err != nil {
		_ = api.Stop()
		return nil, err
	}
	return &workloadIdentity{api: api, cs: cs, uid: string(sa.UID)}, nil
}

// document is the workload identity client's snapshot entry.
func (w *workloadIdentity) document() snapshot.Document {
	return clientDoc(snapshot.Client{ID: ClientWorkload, Type: "Confidential", TokenEndpointAuthMethod: snapshot.AuthServiceAccountToken,
		ServiceAccount: &snapshot.ServiceAccount{Subject: snapshot.ServiceAccountSubject(Namespace, WorkloadServiceAccount), UID: w.uid},
		GrantTypes:     []string{"client_credentials"}, Scopes: []string{"read"}, DefaultScopes: []string{"read"},
		Audiences: []string{"api"}, Resources: []snapshot.Resource{{Audience: "api"}}})
}

// tokens has the API server issue n ServiceAccount tokens (TokenRequest)
// for audience, 8 requests at a time. Each has its own jti, so each is
// accepted once.
func (w *workloadIdentity) tokens(ctx context.Context, audience string, n int) ([]string, error) {
	out := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				exp := int64(3600)
				tr, err := w.cs.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, WorkloadServiceAccount, &authenticationv1.TokenRequest{
					Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: &exp}}, metav1.CreateOptions{})
				if err != nil {
					errs <- fmt.Errorf("TokenRequest: %w", err)
					return
				}
				out[i] = tr.Status.Token
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return out, nil
}

// WorkloadIdentity sends client_credentials requests of ClientWorkload,
// each with one of the prepared ServiceAccount tokens as its RFC 7523
// client assertion (no secret), each token once.
func WorkloadIdentity(tokens []string) Workload {
	var next atomic.Int64
	prefix := "grant_type=client_credentials&scope=read&client_id=" + ClientWorkload +
		"&client_assertion_type=" + url.QueryEscape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") + "&client_assertion="
	return Workload{Name: "workload_identity", Target: "authops", Check: tokenOK,
		Next: func(int) (Request, bool) {
			i := next.Add(1) - 1
			if i >= int64(len(tokens)) {
				return Request{}, false
			}
			return Request{Path: "/oauth2/token", Form: prefix + tokens[i]}, true
		}}
}
