{{/* Name of the release's objects: the release name, with -authops unless it already says authops. */}}
{{- define "authops.fullname" -}}
{{- if contains "authops" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-authops" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "authops.selectorLabels" -}}
app.kubernetes.io/name: authops
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
