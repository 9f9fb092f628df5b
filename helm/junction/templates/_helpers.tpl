{{/*
Names, labels and the pieces every Junction pod shares.
*/}}

{{- define "junction.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name when it already contains
the chart name. Truncated so that "<fullname>-coordinator" stays valid.
*/}}
{{- define "junction.fullname" -}}
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

{{- define "junction.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component: include "junction.selectorLabels" (list . "worker") */}}
{{- define "junction.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "junction.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
{{- with index . 1 }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/* All labels of one component's resources: (list . "worker"), or (list . "") for shared ones. */}}
{{- define "junction.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ include "junction.chart" $root }}
{{ include "junction.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Values.image.tag | default $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: junction
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "junction.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "junction.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "junction.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
JetStream names, derived from nats.prefix exactly as bus/src/subjects.rs does:
"<PREFIX>_" (upper case) before the stream and consumer names, nothing when
the prefix is empty.
*/}}
{{- define "junction.assetPrefix" -}}
{{- if .Values.nats.prefix }}{{ upper .Values.nats.prefix }}_{{ end }}
{{- end }}
{{- define "junction.tasksStream" -}}
{{ include "junction.assetPrefix" . }}WORKFLOW_TASKS
{{- end }}
{{- define "junction.workersConsumer" -}}
{{ include "junction.assetPrefix" . }}WORKERS
{{- end }}

{{/* Directories the coordinator loads at start, or "" for none. */}}
{{- define "junction.agentsDir" -}}
{{- if .Values.agents.files }}/etc/junction/agents
{{- else if .Values.exampleAgents.enabled }}/usr/share/junction/examples/agents
{{- end }}
{{- end }}
{{- define "junction.definitionsDir" -}}
{{- if .Values.definitions.files }}/etc/junction/definitions
{{- else if .Values.definitions.loadExamples }}/usr/share/junction/examples/workflows
{{- end }}
{{- end }}

{{/*
Environment of the coordinator and worker containers: (list . "coordinator").
The rest (JUNCTION_CONFIG, logging, OTLP) comes from the <fullname>-env
ConfigMap through envFrom; values set here win over the TOML file.
*/}}
{{- define "junction.env" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
# Member id: the pod name (listed by `junction members`, recorded on attempts).
- name: JUNCTION_{{ upper $component }}__ID
  value: $(POD_NAME)
# Listen on every interface inside the pod (the built-in default is loopback).
- name: JUNCTION_HTTP__LISTEN
  value: {{ ternary "0.0.0.0:8080" "0.0.0.0:8081" (eq $component "coordinator") | quote }}
- name: JUNCTION_DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.database.existingSecret }}
      key: {{ $root.Values.database.existingSecretKey }}
{{- if $root.Values.nats.existingSecret }}
- name: JUNCTION_NATS__URL
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.nats.existingSecret }}
      key: {{ $root.Values.nats.existingSecretKey }}
{{- end }}
{{- with (index $root.Values.nats.credentials $component) }}
{{- if .existingSecret }}
- name: {{ ternary "JUNCTION_NATS__NKEY_FILE" "JUNCTION_NATS__CREDENTIALS_FILE" (eq .kind "nkey") }}
  value: /etc/junction/nats/{{ .key }}
{{- end }}
{{- with .inboxPrefix }}
- name: JUNCTION_NATS__INBOX_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if and (eq $component "coordinator") $root.Values.auth.existingSecret }}
- name: JUNCTION_AUTH__TOKENS_FILE
  value: /etc/junction/auth/{{ $root.Values.auth.existingSecretKey }}
{{- end }}
{{- if eq $component "coordinator" }}
{{- with include "junction.agentsDir" $root }}
- name: JUNCTION_AGENTS__DIR
  value: {{ . }}
{{- end }}
{{- with include "junction.definitionsDir" $root }}
- name: JUNCTION_DEFINITIONS__DIR
  value: {{ . }}
{{- end }}
{{- end }}
{{- if or $root.Values.otel.endpoint $root.Values.otel.tracesEndpoint }}
{{- with $root.Values.otel.serviceNamePrefix }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "%s-%s" . $component | quote }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ include "junction.resourceAttributes" $root | quote }}
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with (index $root.Values $component).extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "junction.resourceAttributes" -}}
{{- $attrs := list "k8s.namespace.name=$(POD_NAMESPACE)" "k8s.pod.name=$(POD_NAME)" -}}
{{- range $k, $v := .Values.otel.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%v" $k $v) }}
{{- end }}
{{- join "," $attrs }}
{{- end }}

{{/* envFrom of every Junction container. */}}
{{- define "junction.envFrom" -}}
- configMapRef:
    name: {{ include "junction.fullname" . }}-env
{{- with .Values.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Topology spread constraints of a component: (list . "worker" $constraints).
A constraint without labelSelector gets the component's selector labels, and
matchLabelKeys pod-template-hash so a rollout is spread on its own.
*/}}
{{- define "junction.topologySpread" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- range index . 2 }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (include "junction.selectorLabels" (list $root $component) | fromYaml)) }}
{{- if not (hasKey $c "matchLabelKeys") }}
{{- $_ := set $c "matchLabelKeys" (list "pod-template-hash") }}
{{- end }}
{{- end }}
- {{ toYaml $c | nindent 2 | trim }}
{{- end }}
{{- end }}

{{/* Pod annotations shared by coordinator and worker pods: (list . port). */}}
{{- define "junction.podAnnotations" -}}
{{- $root := index . 0 -}}
checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
{{- if or $root.Values.agents.files $root.Values.definitions.files }}
checksum/files: {{ include (print $root.Template.BasePath "/files-configmap.yaml") $root | sha256sum }}
{{- end }}
{{- if $root.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ index . 1 | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/*
The NATS credentials file of a component (nats.credentials.<component>):
its volumeMount ("junction.natsCredentialsMount") and volume
("junction.natsCredentialsVolume"), nothing when no Secret is named.
*/}}
{{- define "junction.natsCredentialsMount" -}}
{{- $root := index . 0 -}}
{{- with (index $root.Values.nats.credentials (index . 1)) }}
{{- if .existingSecret }}
- name: nats-credentials
  mountPath: /etc/junction/nats
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{- define "junction.natsCredentialsVolume" -}}
{{- $root := index . 0 -}}
{{- with (index $root.Values.nats.credentials (index . 1)) }}
{{- if .existingSecret }}
- name: nats-credentials
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}
{{- end }}
{{- end }}
