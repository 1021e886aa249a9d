# authops Makefile. Every tool it needs is installed into ./bin at a pinned
# version; `make help` lists the targets.

# Pinned tool versions.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.1
# Test API server (built from source, see hack/envtest/go.mod for the pins).
KUBERNETES_VERSION ?= v1.37.2

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(CURDIR)/bin
ENVTEST_ASSETS ?= $(LOCALBIN)/k8s
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)

GO ?= go
GOFLAGS ?= -buildvcs=false
export GOFLAGS
# Tests run for at most this long per package.
TEST_TIMEOUT ?= 20m

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the API types and markers.
	$(CONTROLLER_GEN) rbac:roleName=authops-manager crd:allowDangerousTypes=false webhook paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code from the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt on every Go file.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: verify
verify: manifests generate $(KUSTOMIZE) ## Fail when generated files drift from their sources, or code is unformatted.
	@drift=$$(git status --porcelain -- config api); if [ -n "$$drift" ]; then \
		echo "Generated files drift from their sources (run 'make manifests generate' and commit):"; \
		echo "$$drift"; git --no-pager diff -- config api | head -100; exit 1; fi
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then \
		echo "gofmt would change: $$unformatted"; exit 1; fi
	@for k in config/default config/crd config/rbac config/samples; do \
		$(KUSTOMIZE) build $$k > /dev/null || { echo "kustomize build $$k failed"; exit 1; }; done
	@echo "verify: generated files, formatting and kustomize trees are up to date"

.PHONY: test
test: verify vet envtest-assets ## Run every test (unit, envtest against the source-built API server, store suites).
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) \
		$(GO) test ./... -count=1 -timeout $(TEST_TIMEOUT) -v 2>&1 | tee $(LOCALBIN)/test.log

##@ Build

.PHONY: build
build: ## Build the manager and authserver binaries into bin/.
	CGO_ENABLED=0 $(GO) build -o $(LOCALBIN)/manager ./cmd/manager
	CGO_ENABLED=0 $(GO) build -o $(LOCALBIN)/authserver ./cmd/authserver

.PHONY: run
run: build envtest-assets ## Run authops locally: API server, CRDs, samples, manager and authserver; Ctrl-C stops it all.
	$(GO) build -o $(LOCALBIN)/authops-run ./hack/run
	$(LOCALBIN)/authops-run --assets $(ENVTEST_ASSETS) --crds config/crd/bases --samples config/samples \
		--manager $(LOCALBIN)/manager --authserver $(LOCALBIN)/authserver --state-dir $(LOCALBIN)/run $(RUN_ARGS)

##@ Dependencies

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

.PHONY: envtest-assets
envtest-assets: $(ENVTEST_ASSETS)/kube-apiserver $(ENVTEST_ASSETS)/etcd $(ENVTEST_ASSETS)/kubectl ## Build kube-apiserver, etcd and kubectl from source into bin/k8s (only when missing).

# kube-apiserver and etcd are built from source through the Go module proxy
# (no binary can be downloaded here). The separate module in hack/envtest pins
# k8s.io/kubernetes and replaces its staging modules with published versions.
# Cold, this takes about 12 minutes on 2 cores; the Go build cache keeps it.
$(ENVTEST_ASSETS)/kube-apiserver: hack/envtest/go.mod hack/envtest/go.sum | $(LOCALBIN)
	cd hack/envtest && CGO_ENABLED=0 $(GO) build \
		-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$(KUBERNETES_VERSION) -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" \
		-o $@ k8s.io/kubernetes/cmd/kube-apiserver

$(ENVTEST_ASSETS)/etcd: hack/envtest/go.mod hack/envtest/go.sum | $(LOCALBIN)
	cd hack/envtest && CGO_ENABLED=0 $(GO) build -ldflags "-s -w" -o $@ go.etcd.io/etcd/server/v3

# kubectl at the same version, from the published k8s.io/kubectl module (a
# separate small module in hack/kubectl; about 1 minute cold): the end-to-end
# test applies manifests with it like a user.
$(ENVTEST_ASSETS)/kubectl: hack/kubectl/go.mod hack/kubectl/go.sum hack/kubectl/main.go | $(LOCALBIN)
	cd hack/kubectl && CGO_ENABLED=0 $(GO) build \
		-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$(KUBERNETES_VERSION) -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" \
		-o $@ .

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/.
$(CONTROLLER_GEN): | $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Install kustomize into bin/.
$(KUSTOMIZE): | $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

# go-install-tool installs a Go tool into bin/ under a versioned name.
# $1 target path, $2 package, $3 version.
define go-install-tool
@[ -f "$(1)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Installing $${package}" ;\
rm -f $(1) ;\
GOBIN=$(LOCALBIN) $(GO) install $${package} ;\
mv $(LOCALBIN)/$$(basename "$$(echo "$(2)" | sed "s/\/v[0-9]\+$$//")") $(1) ;\
}
endef
