{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "tto.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix. Kept to 50 characters so "-remediator" suffixes still fit. */}}
{{- define "tto.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tto.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tto.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tto.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tto.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: torghut-ta-ops
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels for one component: (dict "ctx" $ "component" "exporter"). */}}
{{- define "tto.componentLabels" -}}
{{ include "tto.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tto.componentSelector" -}}
{{ include "tto.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tto.image" -}}
{{- if .Values.image.digest -}}
{{ printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end -}}
{{- end }}

{{- define "tto.exporter.name" -}}{{ include "tto.fullname" . }}-exporter{{- end }}
{{- define "tto.remediator.name" -}}{{ include "tto.fullname" . }}-remediator{{- end }}
{{- define "tto.config.name" -}}{{ include "tto.fullname" . }}-config{{- end }}

{{/* The namespace the pipeline runs in; RBAC for the targets lives there. */}}
{{- define "tto.targetNamespace" -}}
{{- required "config.namespace is required" .Values.config.namespace }}
{{- end }}

{{- define "tto.lease.name" -}}
{{- default (include "tto.remediator.name" .) .Values.remediator.lease.name }}
{{- end }}

{{- define "tto.lease.namespace" -}}
{{- default .Release.Namespace .Values.remediator.lease.namespace }}
{{- end }}

{{- define "tto.journal.claim" -}}
{{- default (printf "%s-journal" (include "tto.remediator.name" .)) .Values.remediator.journal.existingClaim }}
{{- end }}

{{/* Where each referenced secret is mounted (directory; the file is its key). */}}
{{- define "tto.secretDir" -}}/var/run/secrets/torghut-ta-ops/{{ . }}{{- end }}

{{/* Pod-level hardening shared by every pod of the chart (not configurable on purpose). */}}
{{- define "tto.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "tto.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Sanitise a file name into a DNS-1123 label fragment. */}}
{{- define "tto.slug" -}}
{{- regexReplaceAll "[^a-z0-9-]+" (lower .) "-" | trimAll "-" }}
{{- end }}
