{{/*
The remediator's section of remediator.yaml, in exactly the keys of remediator/config.py
(RemediatorSection), as JSON. The chart owns: listen (remediator.port), journal_path (under the
PVC mount), gitops.work_dir (beside the journal, on the same volume: the container's root file
system is read-only), lease.name/namespace (the Lease its Role names, in the release namespace),
argocd.app (one of the Applications its Role names) and every secret and CA file (the slots of
tto.secretSlots, overlaid by configmap.yaml). The rest is passed through from values.
In propose/auto, what acting needs is required here and a missing piece fails the render, as
`ta-remediator check-config` would refuse the config.
*/}}
{{- define "tto.remediatorConfig" -}}
{{- $r := .Values.remediator }}
{{- $s := .Values.secrets }}
{{- $journalDir := trimSuffix "/" $r.journal.mountPath }}
{{- $apiTokens := list }}
{{- range include "tto.apiTokens" . | fromJsonArray }}
{{- $apiTokens = append $apiTokens (dict "name" .name "token" (dict "file" .file) "may_approve" .mayApprove) }}
{{- end }}
{{- $lease := mustMergeOverwrite (deepCopy ($r.lease | default dict)) (dict
  "name" (required "remediator.rbac.leaseName is required" $r.rbac.leaseName)
  "namespace" .Release.Namespace) }}
{{- $out := dict
  "mode" $r.mode
  "listen" (dict "host" "0.0.0.0" "port" $r.port)
  "journal_path" (printf "%s/journal.sqlite3" $journalDir)
  "api_tokens" $apiTokens
  "identity_header" (default nil $r.identityHeader)
  "paused" $r.paused
  "pause_annotation" $r.pauseAnnotation
  "allow" (deepCopy ($r.allow | default dict))
  "policy" (deepCopy ($r.policy | default dict))
  "replay" (deepCopy ($r.replay | default dict))
  "lease" $lease
}}
{{- $on := include "tto.remediatorSections" . | fromJson }}
{{- $mode := $r.mode }}
{{- $why := printf "required in mode %q; set it, or use mode \"observe\"" $mode }}
{{- if $on.gitops }}
{{- $g := deepCopy ($r.gitops | default dict) }}
{{- if not $g.remote_url }}
{{- fail (printf "remediator.gitops.remote_url: %s (remediator.gitops: the GitOps repository the changes go to, as pull requests or merges)" $why) }}
{{- end }}
{{- $gh := deepCopy ($g.github | default dict) }}
{{- if not $gh.repo }}
{{- fail (printf "remediator.gitops.github.repo: %s (owner/name of the GitOps repository, for its pull requests)" $why) }}
{{- end }}
{{- if not $s.githubToken.name }}
{{- fail (printf "secrets.githubToken.name: %s (the GitHub token that pushes and opens pull requests: pull requests read/write, contents write)" $why) }}
{{- end }}
{{- if and $s.gitopsPushOption.name (not $g.direct_push) }}
{{- fail "secrets.gitopsPushOption: set, but remediator.gitops.direct_push is false (the push option is sent with direct pushes only; the config refuses it without them)" }}
{{- end }}
{{- $_ := set $g "github" $gh }}
{{- $_ := set $g "work_dir" (printf "%s/gitops" $journalDir) }}
{{- $_ := set $out "gitops" $g }}
{{- end }}
{{- if $on.argocd }}
{{- $a := deepCopy ($r.argocd | default dict) }}
{{- if not $a.api_url }}
{{- fail (printf "remediator.argocd.api_url: %s (remediator.argocd: the Argo CD Application that syncs those changes)" $why) }}
{{- end }}
{{- if not $s.argocdToken.name }}
{{- fail (printf "secrets.argocdToken.name: %s (an Argo CD account token allowed to get and sync the Application)" $why) }}
{{- end }}
{{- $apps := $r.rbac.applications }}
{{- $_ := set $a "app" (default (first $apps) $a.app) }}
{{- if not (has $a.app $apps) }}
{{- fail (printf "remediator.argocd.app: %q is not in remediator.rbac.applications %v (the remediator's Role may get and patch only those Applications)" $a.app $apps) }}
{{- end }}
{{- /* the Application object is where the Role grants get/patch on it */}}
{{- $_ := set $a "namespace" $r.rbac.applicationNamespace }}
{{- $_ := set $out "argocd" $a }}
{{- end }}
{{- if $on.alertmanager }}
{{- $am := deepCopy ($r.alertmanager | default dict) }}
{{- if not $am.urls }}
{{- fail (printf "remediator.alertmanager.urls: %s (where the remediator pages a person when a run fails or waits for an approval)" $why) }}
{{- end }}
{{- $user := "" }}
{{- with $am.basic_auth }}{{ $user = .username | default "" }}{{ end }}
{{- $_ := unset $am "basic_auth" }}
{{- if and $user (not $s.alertmanagerPassword.name) }}
{{- fail "secrets.alertmanagerPassword.name: required with remediator.alertmanager.basic_auth.username" }}
{{- end }}
{{- if and $s.alertmanagerPassword.name (not $user) }}
{{- fail "remediator.alertmanager.basic_auth.username: required with secrets.alertmanagerPassword" }}
{{- end }}
{{- if and $user $s.alertmanagerToken.name }}
{{- fail "remediator.alertmanager: give secrets.alertmanagerToken (bearer) or basic_auth, not both" }}
{{- end }}
{{- if $user }}
{{- $_ := set $am "basic_auth" (dict "username" $user) }}
{{- end }}
{{- /* The alerts it posts link to this install's runbooks and Remediation dashboard. */}}
{{- if not $am.runbook_base }}
{{- $_ := set $am "runbook_base" .Values.prometheusRule.runbookBaseUrl }}
{{- end }}
{{- if not $am.dashboard_url }}
{{- $_ := set $am "dashboard_url" (printf "%s/d/torghut-ta-remediation" (trimSuffix "/" .Values.prometheusRule.grafanaUrl)) }}
{{- end }}
{{- $_ := set $out "alertmanager" $am }}
{{- end }}
{{- if $on.clickhouse_remediation }}
{{- $_ := set $out "clickhouse_remediation" (deepCopy ($r.clickhouseRemediation | default dict)) }}
{{- end }}
{{- toJson $out }}
{{- end }}
