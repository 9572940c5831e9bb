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

{{/* A digest (sha256:...) wins over the tag. */}}
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

{{- define "tto.journal.claim" -}}
{{- default (printf "%s-journal" (include "tto.remediator.name" .)) .Values.remediator.journal.existingClaim }}
{{- end }}

{{/*
Every Secret the chart can mount: values key under `secrets` -> mount directory (under
`secretMountRoot`), the config key it fills (dotted, in exporter.yaml / remediator.yaml),
whether that key is a secret reference ({file: ...}) or a plain path, and which components
mount it. Pipeline secrets go to both components (the remediator reads the same config);
`remediator.*` keys land in the `remediator:` section of remediator.yaml only.
*/}}
{{- define "tto.secretSlots" -}}
clickhouse: {dir: clickhouse-password, config: clickhouse.password, ref: true, components: [exporter, remediator]}
clickhouseCa: {dir: clickhouse-ca, config: clickhouse.ca_file, ref: false, components: [exporter, remediator]}
kafkaPassword: {dir: kafka-password, config: kafka.security.password, ref: true, components: [exporter, remediator]}
kafkaCa: {dir: kafka-ca, config: kafka.security.ca_file, ref: false, components: [exporter, remediator]}
kafkaClientCert: {dir: kafka-client-cert, config: kafka.security.cert_file, ref: false, components: [exporter, remediator]}
kafkaClientKey: {dir: kafka-client-key, config: kafka.security.key_file, ref: false, components: [exporter, remediator]}
s3AccessKeyId: {dir: s3-access-key-id, config: checkpoint_storage.access_key_id, ref: true, components: [exporter, remediator]}
s3SecretAccessKey: {dir: s3-secret-access-key, config: checkpoint_storage.secret_access_key, ref: true, components: [exporter, remediator]}
s3Ca: {dir: s3-ca, config: checkpoint_storage.ca_file, ref: false, components: [exporter, remediator]}
webhookToken: {dir: webhook, config: remediator.webhook_token, ref: true, components: [remediator]}
githubToken: {dir: github-token, config: remediator.gitops.github.token, ref: true, components: [remediator], section: gitops}
githubCa: {dir: github-ca, config: remediator.gitops.github.ca_file, ref: false, components: [remediator], section: gitops}
gitopsPushOption: {dir: gitops-push-option, config: remediator.gitops.direct_push_option, ref: true, components: [remediator], section: gitops}
argocdToken: {dir: argocd-token, config: remediator.argocd.token, ref: true, components: [remediator], section: argocd}
argocdCa: {dir: argocd-ca, config: remediator.argocd.ca_file, ref: false, components: [remediator], section: argocd}
clickhouseRemediationPassword: {dir: clickhouse-remediation-password, config: remediator.clickhouse_remediation.password, ref: true, components: [remediator], section: clickhouse_remediation}
alertmanagerToken: {dir: alertmanager-token, config: remediator.alertmanager.bearer_token, ref: true, components: [remediator], section: alertmanager}
alertmanagerPassword: {dir: alertmanager-password, config: remediator.alertmanager.basic_auth.password, ref: true, components: [remediator], section: alertmanager}
{{- end }}

{{/*
Which of the remediator's acting sections are rendered: none in observe mode (it calls no
actuator, so its pod mounts none of their Secrets); in propose/auto gitops, argocd and
alertmanager (required: tto.remediatorConfig fails without them) and clickhouse_remediation
when its password Secret is named. A slot with a `section` is mounted only when it is on.
*/}}
{{- define "tto.remediatorSections" -}}
{{- $r := .Values.remediator }}
{{- $on := dict "gitops" false "argocd" false "alertmanager" false "clickhouse_remediation" false }}
{{- if ne $r.mode "observe" }}
{{- $_ := set $on "gitops" true }}
{{- $_ := set $on "argocd" true }}
{{- $_ := set $on "alertmanager" true }}
{{- if .Values.secrets.clickhouseRemediationPassword.name }}
{{- $_ := set $on "clickhouse_remediation" true }}
{{- end }}
{{- end }}
{{- toJson $on }}
{{- end }}

{{/* Whether a slot's Secret is used: named, and its remediator section (if any) rendered. */}}
{{- define "tto.slotActive" -}}
{{- $sections := include "tto.remediatorSections" .ctx | fromJson }}
{{- if and (index .ctx.Values.secrets .key).name (or (not .slot.section) (index $sections (default "" .slot.section))) -}}
true
{{- end }}
{{- end }}

{{/* The slots a component mounts, with their Secret set: list of {key, slot, ref}. */}}
{{- define "tto.mountedSecrets" -}}
{{- $ctx := .ctx }}
{{- $out := list }}
{{- range $key, $slot := fromYaml (include "tto.secretSlots" $ctx) }}
{{- $ref := index $ctx.Values.secrets $key }}
{{- if and (include "tto.slotActive" (dict "ctx" $ctx "key" $key "slot" $slot)) (has $.component $slot.components) }}
{{- $out = append $out (dict "key" $key "slot" $slot "ref" $ref) }}
{{- end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* The file a slot's Secret key appears as in the pod: (dict "ctx" $ "key" "kafkaCa"). */}}
{{- define "tto.secretFile" -}}
{{- $slot := index (fromYaml (include "tto.secretSlots" .ctx)) .key }}
{{- printf "%s/%s/%s" (trimSuffix "/" .ctx.Values.secretMountRoot) $slot.dir (index .ctx.Values.secrets .key).key }}
{{- end }}

{{/* The config overlay the mounted Secrets produce: every set slot's key -> its file. */}}
{{- define "tto.secretConfig" -}}
{{- $ctx := . }}
{{- $overlay := dict }}
{{- range $key, $slot := fromYaml (include "tto.secretSlots" $ctx) }}
{{- if include "tto.slotActive" (dict "ctx" $ctx "key" $key "slot" $slot) }}
{{- $file := include "tto.secretFile" (dict "ctx" $ctx "key" $key) }}
{{- $leaf := ternary (dict "file" $file) $file $slot.ref }}
{{- $parts := splitList "." $slot.config }}
{{- $node := dict (last $parts) $leaf }}
{{- range $part := reverse (initial $parts) }}
{{- $node = dict $part $node }}
{{- end }}
{{- $overlay = mustMergeOverwrite $overlay $node }}
{{- end }}
{{- end }}
{{- toJson $overlay }}
{{- end }}

{{/* volumeMounts and volumes for a component's Secrets: (dict "ctx" $ "component" "exporter"). */}}
{{- define "tto.secretVolumeMounts" -}}
{{- range include "tto.mountedSecrets" . | fromJsonArray }}
- name: secret-{{ .slot.dir }}
  mountPath: {{ printf "%s/%s" (trimSuffix "/" $.ctx.Values.secretMountRoot) .slot.dir }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "tto.secretVolumes" -}}
{{- range include "tto.mountedSecrets" . | fromJsonArray }}
- name: secret-{{ .slot.dir }}
  secret:
    secretName: {{ .ref.name }}
    defaultMode: 0440
    items:
      - {key: {{ .ref.key | quote }}, path: {{ .ref.key | quote }}}
{{- end }}
{{- end }}

{{/*
The people's API tokens (remediator.apiTokens), one Secret key each, mounted at
<secretMountRoot>/api-tokens/<name>/<key>: list of {name, volume, dir, file, secret, mayApprove}.
Names are unique (the remediator journals who acted by name; volume names must not clash).
*/}}
{{- define "tto.apiTokens" -}}
{{- $root := trimSuffix "/" .Values.secretMountRoot }}
{{- $out := list }}
{{- $seen := list }}
{{- range .Values.remediator.apiTokens }}
{{- if has .name $seen }}
{{- fail (printf "remediator.apiTokens: name %q appears twice; each token's name must be unique (it is who acted)" .name) }}
{{- end }}
{{- $seen = append $seen .name }}
{{- $dir := printf "%s/api-tokens/%s" $root .name }}
{{- $may := true }}
{{- if hasKey . "mayApprove" }}{{ $may = .mayApprove }}{{ end }}
{{- $out = append $out (dict "name" .name "volume" (printf "api-token-%s" .name) "dir" $dir "file" (printf "%s/%s" $dir .secret.key) "secret" .secret "mayApprove" $may) }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
The Kubernetes reads the exporter's probes make (exporter/clients/kube.py), each `get` on a known
name: the FlinkDeployment (flink and checkpoint probes; the remediator also reads its pause
annotation from it), the TA ConfigMap (TA_GROUP_ID for the Kafka lag probe) plus
exporter.rbac.extraConfigMaps, and the trading Knative Service. Both components' Roles are these
rules: the observe-mode remediator runs the same probes and calls nothing else.
*/}}
{{- define "tto.probeRules" -}}
{{- $configmaps := list (required "config.ta_configmap is required" .Values.config.ta_configmap) }}
{{- $configmaps = concat $configmaps .Values.exporter.rbac.extraConfigMaps | uniq }}
- apiGroups: [flink.apache.org]
  resources: [flinkdeployments]
  resourceNames: [{{ required "config.flink.deployment is required" .Values.config.flink.deployment | quote }}]
  verbs: [get]
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: {{ toJson $configmaps }}
  verbs: [get]
- apiGroups: [serving.knative.dev]
  resources: [services]
  resourceNames: [{{ required "config.trading.service is required" .Values.config.trading.service | quote }}]
  verbs: [get]
{{- end }}

{{/* The remediator's writes in the pipeline's namespace (remediator/actuators/kube.py patch_job,
events.py record). create cannot be restricted by resourceNames. */}}
{{- define "tto.remediatorRules" -}}
- apiGroups: [flink.apache.org]
  resources: [flinkdeployments]
  resourceNames: [{{ required "config.flink.deployment is required" .Values.config.flink.deployment | quote }}]
  verbs: [patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{/* Where the config files are mounted; the args point there. */}}
{{- define "tto.configDir" -}}/etc/torghut-ta-ops{{- end }}

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
