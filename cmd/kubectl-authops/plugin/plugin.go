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

// Package plugin is kubectl authops: its commands, run against the cluster
// of the current kubeconfig.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1alpha1 "github.com/authops/authops/api/v1alpha1"
)

// DefaultOperatorNamespace is where the manager and the authserver run
// unless --authops-namespace says otherwise.
const DefaultOperatorNamespace = "authops-system"

const usage = `kubectl authops: day-2 commands for authops.

Commands:
  explain CLIENT [-n NAMESPACE]          what a token request of the OAuthClient gets, per grant type
                                         and scope, and which policy decides it
  token CLIENT [-n NAMESPACE] [--scope S] a token (client_credentials) with the client's credentials Secret
  status                                 what every authserver replica serves, and how many objects are
                                         Ready or wait to be served

Flags:
`

// options are the parsed command line.
type options struct {
	kubeconfig        string
	overrides         clientcmd.ConfigOverrides
	operatorNamespace string
	scopes            []string
	tokenURL          string
	showToken         bool
}

// Run runs one command (args without the program name) and writes its
// output to out.
func Run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := pflag.NewFlagSet("kubectl-authops", pflag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).")
	clientcmd.BindOverrideFlags(&o.overrides, fs, clientcmd.ConfigOverrideFlags{
		CurrentContext: clientcmd.FlagInfo{LongName: "context", Description: "The kubeconfig context to use."},
		ContextOverrideFlags: clientcmd.ContextOverrideFlags{
			Namespace: clientcmd.FlagInfo{LongName: "namespace", ShortName: "n", Description: "The namespace of the OAuthClient (default: the context's)."},
		},
	})
	fs.StringVar(&o.operatorNamespace, "authops-namespace", DefaultOperatorNamespace, "The namespace the manager and the authserver run in.")
	fs.StringSliceVar(&o.scopes, "scope", nil, "token: the scopes to request (repeat, or separate with commas; default: the client's default scopes).")
	fs.StringVar(&o.tokenURL, "token-url", "", "token: the token endpoint to use instead of the one in the client's credentials Secret (e.g. through kubectl port-forward).")
	fs.BoolVar(&o.showToken, "show-token", true, "token: print the access token (--show-token=false prints only its claims).")
	fs.Usage = func() { fmt.Fprint(out, usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	cmd := fs.Args()
	if len(cmd) == 0 {
		fs.Usage()
		return errors.New("no command: explain, token or status")
	}
	switch cmd[0] {
	case "explain", "token":
		if len(cmd) != 2 {
			return fmt.Errorf("%s takes one argument, the OAuthClient's name", cmd[0])
		}
		c, ns, err := o.connect()
		if err != nil {
			return err
		}
		if cmd[0] == "explain" {
			return explain(ctx, c, ns, cmd[1], out)
		}
		return token(ctx, c, ns, cmd[1], o, out)
	case "status":
		if len(cmd) != 1 {
			return errors.New("status takes no argument")
		}
		c, _, err := o.connect()
		if err != nil {
			return err
		}
		return status(ctx, c, o.operatorNamespace, out)
	}
	return fmt.Errorf("unknown command %q: explain, token or status", strings.Join(cmd, " "))
}

// connect reads the kubeconfig (flags first, then $KUBECONFIG and
// ~/.kube/config, as kubectl does) and returns a client and the namespace.
func (o options) connect() (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &o.overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	if err := oauthv1alpha1.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	return c, ns, err
}
