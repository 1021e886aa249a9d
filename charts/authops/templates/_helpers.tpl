{{/* The chart's name: "authops", or nameOverride. */}}
{{- define "authops.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/*
Name of the release's objects: fullnameOverride, else the release name,
with -<name> unless it already contains the name. 50 characters at most:
the objects add suffixes such as -authserver-token.
*/}}
{{- define "authops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "authops.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "authops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "authops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "authops.labels" -}}
{{ include "authops.selectorLabels" . }}
app.kubernetes.io/part-of: authops
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "authops.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Whether the authserver serves TLS itself. */}}
{{- define "authops.tls" -}}
{{- if or .Values.tls.existingSecret .Values.tls.certManager.enabled -}}true{{- end -}}
{{- end -}}

{{- define "authops.tlsSecret" -}}
{{- .Values.tls.existingSecret | default (printf "%s-tls" (include "authops.fullname" .)) -}}
{{- end -}}

{{- define "authops.servicePort" -}}
{{- if .Values.service.port -}}{{ .Values.service.port }}{{- else if include "authops.tls" . -}}443{{- else -}}80{{- end -}}
{{- end -}}

{{- define "authops.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Whether the authserver runs in its own Deployment (authserver.mode standalone). */}}
{{- define "authops.standalone" -}}
{{- if eq .Values.authserver.mode "standalone" -}}true{{- end -}}
{{- end -}}

{{/* Labels of the pods that serve OAuth (the OAuth Service and the PodDisruptionBudget select them). */}}
{{- define "authops.authserverSelectorLabels" -}}
{{ include "authops.selectorLabels" . }}
app.kubernetes.io/component: authserver
{{- end -}}

{{/* The pods' security context: podSecurityContext (restricted, the image's user by default). */}}
{{- define "authops.podSecurityContext" -}}
{{- if not (hasKey .Values "podSecurityContext") -}}
{{- fail "podSecurityContext is missing from the values: an upgrade with --reuse-values from an older chart keeps the old chart's values only; upgrade with --reset-then-reuse-values (docs/install.md, \"Upgrading\")" -}}
{{- end -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{/*
What every pod shares: labels and annotations of its template come from
authops.podMetadata; this is the rest of the pod spec's scheduling:
priorityClassName, nodeSelector, tolerations, affinity, and the topology
spread constraints. Call it with (dict "ctx" $ "selector" <the pods'
selector labels, YAML> "replicas" <int>).
*/}}
{{- define "authops.scheduling" -}}
{{- $v := .ctx.Values -}}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $selector := fromYaml .selector }}
{{- if $v.topologySpreadConstraints }}
topologySpreadConstraints:
{{- range $v.topologySpreadConstraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
- {{ toYaml $c | indent 2 | trim }}
{{- end }}
{{- else if gt (int .replicas) 1 }}
topologySpreadConstraints:
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- toYaml $selector | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
The pod template's metadata: the selector labels given, podLabels, and
podAnnotations. Call it with (dict "ctx" $ "selector" <YAML>).
*/}}
{{- define "authops.podMetadata" -}}
labels:
  {{- .selector | nindent 2 }}
  {{- with .ctx.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .ctx.Values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A projected, expiring token of the pod's service account, mounted where
client-go looks for it (kubelet renews it before it expires). Not 3607s:
the API server extends a token asked for with exactly 3607s (the
automounted token's) to a year by default (--service-account-extend-token-expiration).
*/}}
{{- define "authops.projectedToken" -}}
projected:
  sources:
  - serviceAccountToken: {path: token, expirationSeconds: 3600}
  - configMap:
      name: kube-root-ca.crt
      items: [{key: ca.crt, path: ca.crt}]
  - downwardAPI:
      items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]
{{- end -}}

{{/*
Leader election timing of the manager: the values, or the shape's default.
In the sidecar shape a manager exit makes the pod, and with it the
authserver, NotReady, so the manager holds on to leadership through an API
server outage of up to 107s (the leader-election timing OpenShift gives its
operators for the same reason); standalone keeps controller-runtime's
defaults (fast failover, an exit affects no traffic).
*/}}
{{- define "authops.leaderElectionArgs" -}}
{{- $le := .Values.manager.leaderElection -}}
{{- $sidecar := not (include "authops.standalone" .) -}}
- --leader-elect-lease-duration={{ $le.leaseDuration | default (ternary "137s" "15s" $sidecar) }}
- --leader-elect-renew-deadline={{ $le.renewDeadline | default (ternary "107s" "10s" $sidecar) }}
- --leader-elect-retry-period={{ $le.retryPeriod | default (ternary "26s" "2s" $sidecar) }}
{{- end -}}

{{/*
Rollout of the pods that hold the store: SQLite is a file on a
ReadWriteOnce volume, so the old pod stops before the new one starts;
with PostgreSQL a new pod starts and turns Ready before an old one stops
(no fewer Ready replicas than asked for during a rollout).
*/}}
{{- define "authops.authserverStrategy" -}}
{{- if eq .Values.store.type "sqlite" -}}
type: Recreate
{{- else -}}
type: RollingUpdate
rollingUpdate: {maxUnavailable: 0, maxSurge: 1}
{{- end -}}
{{- end -}}

{{/* The authserver container, in its own pod (standalone) or the manager's (sidecar). */}}
{{- define "authops.authserverContainer" -}}
{{- $tls := include "authops.tls" . -}}
- name: authserver
  image: {{ include "authops.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["/authserver"]
  args:
  - --issuer={{ .Values.issuer }}
  - --listen-address=:8443
  - --default-error-profile={{ .Values.defaultErrorProfile }}
  - --log-level={{ .Values.logLevel }}
  {{- with .Values.trustedProxies }}
  - --trusted-proxies={{ join "," . }}
  - --forwarded-header={{ $.Values.forwardedHeader }}
  {{- end }}
  - --health-probe-bind-address=:8082
  - --metrics-bind-address=:8083
  {{- if eq .Values.store.type "sqlite" }}
  - --store=sqlite:///var/lib/authops/state.db
  {{- else }}
  # Kubernetes expands $(AUTHOPS_STORE_DSN) from the env below.
  - --store=$(AUTHOPS_STORE_DSN)
  {{- end }}
  {{- if $tls }}
  # A renewed Secret is served without a restart (the files are watched).
  - --tls-cert-file=/etc/authops/tls/tls.crt
  - --tls-key-file=/etc/authops/tls/tls.key
  {{- end }}
  {{- with .Values.authserver.extraArgs }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  env:
  - name: POD_NAMESPACE
    valueFrom:
      fieldRef: {fieldPath: metadata.namespace}
  - name: POD_NAME
    valueFrom:
      fieldRef: {fieldPath: metadata.name}
  {{- if eq .Values.store.type "postgres" }}
  - name: AUTHOPS_STORE_DSN
    valueFrom:
      secretKeyRef: {name: {{ .Values.store.postgres.existingSecret }}, key: {{ .Values.store.postgres.dsnKey }}}
  {{- if .Values.store.postgres.passwordKey }}
  - name: AUTHOPS_STORE_PASSWORD
    valueFrom:
      secretKeyRef: {name: {{ .Values.store.postgres.existingSecret }}, key: {{ .Values.store.postgres.passwordKey }}}
  {{- end }}
  {{- end }}
  {{- with .Values.authserver.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  ports:
  - {name: oauth, containerPort: 8443}
  - {name: authserver-hz, containerPort: 8082}
  - {name: authserver-mx, containerPort: 8083}
  livenessProbe:
    httpGet: {path: /healthz, port: authserver-hz}
    periodSeconds: 20
  # Ready once the first snapshot is loaded and while the store answers;
  # neither the manager nor the API server is asked (the last snapshot
  # keeps being served while they are away).
  readinessProbe:
    httpGet: {path: /readyz, port: authserver-hz}
    periodSeconds: 5
  # A stopping pod keeps serving for a few seconds while its endpoint is
  # taken out of the Service, then finishes the requests in flight.
  lifecycle:
    preStop:
      sleep: {seconds: 5}
  resources:
    {{- toYaml .Values.resources.authserver | nindent 4 }}
  securityContext:
    {{- include "authops.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
  - name: authserver-token
    mountPath: /var/run/secrets/kubernetes.io/serviceaccount
    readOnly: true
  - name: tmp
    mountPath: /tmp
  {{- if eq .Values.store.type "sqlite" }}
  - name: state
    mountPath: /var/lib/authops
  {{- end }}
  {{- if $tls }}
  - name: tls
    mountPath: /etc/authops/tls
    readOnly: true
  {{- end }}
  {{- with .Values.authserver.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* The authserver container's volumes, except its token. */}}
{{- define "authops.authserverVolumes" -}}
- name: tmp
  emptyDir: {sizeLimit: 64Mi}
{{- if eq .Values.store.type "sqlite" }}
- name: state
  {{- $p := .Values.store.sqlite.persistence }}
  {{- if $p.enabled }}
  persistentVolumeClaim:
    claimName: {{ $p.existingClaim | default (printf "%s-state" (include "authops.fullname" .)) }}
  {{- else }}
  # persistence.enabled false: the store is lost with the pod.
  emptyDir: {}
  {{- end }}
{{- end }}
{{- if include "authops.tls" . }}
- name: tls
  secret:
    secretName: {{ include "authops.tlsSecret" . }}
{{- end }}
{{- with .Values.authserver.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Refusals the schema also states, for renders that skip it. */}}
{{- define "authops.validate" -}}
{{- if and (eq .Values.store.type "sqlite") (gt (int .Values.replicas) 1) -}}
{{- fail (printf "replicas=%d with store.type sqlite: SQLite is one file on a ReadWriteOnce volume, one authserver replica only. Use store.type postgres for several replicas (docs/install.md)." (int .Values.replicas)) -}}
{{- end -}}
{{- end -}}

{{/*
The manager's egress: the API server (its endpoints' addresses, as the pods
see them after the Service's translation) and the cluster DNS, plus
networkPolicy.manager.extraEgress. In the sidecar shape the authserver
shares the manager's pod, and so this egress.
*/}}
{{- define "authops.managerEgress" -}}
{{- $manager := .Values.networkPolicy.manager | default dict -}}
- to:
  {{- range $manager.apiServerCIDRs }}
  - ipBlock: {cidr: {{ . | quote }}}
  {{- end }}
  ports:
  {{- range $manager.apiServerPorts }}
  - {protocol: TCP, port: {{ . }}}
  {{- end }}
{{- with $manager.dns }}
- to:
  {{- toYaml . | nindent 2 }}
  ports:
  - {protocol: UDP, port: 53}
  - {protocol: TCP, port: 53}
{{- end }}
{{- with $manager.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}
