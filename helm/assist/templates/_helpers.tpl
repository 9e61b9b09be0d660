{{/* Names and labels shared by every object. */}}

{{- define "assist.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A component's object name: <fullname>-<component>. Call with (dict "root" $ "name" $name). */}}
{{- define "assist.componentName" -}}
{{- printf "%s-%s" (include "assist.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "assist.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}
{{- end -}}

{{- define "assist.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "assist.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: assist
{{- end -}}

{{- define "assist.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The flags file's content (JSON): inline values.flags, else the chart's copy of flags/flags.json, else "". */}}
{{- define "assist.flagsJson" -}}
{{- if .Values.flags -}}
{{- toPrettyJson .Values.flags -}}
{{- else -}}
{{- .Files.Get "files/flags.json" -}}
{{- end -}}
{{- end -}}

{{/* The internal clients policy (YAML): inline, else the chart's copy of ops/internal-clients.yaml, else "". */}}
{{- define "assist.internalClientsYaml" -}}
{{- if .Values.internalClients.policy -}}
{{- toYaml .Values.internalClients.policy -}}
{{- else -}}
{{- .Files.Get "files/internal-clients.yaml" -}}
{{- end -}}
{{- end -}}

{{- define "assist.hostSyncMappingYaml" -}}
{{- if .Values.hostDb.mapping -}}
{{- toYaml .Values.hostDb.mapping -}}
{{- end -}}
{{- end -}}

{{/* The components that call component .name (whose `calls` list it). */}}
{{- define "assist.callers" -}}
{{- $callers := list -}}
{{- range $other, $o := .root.Values.components -}}
{{- if and $o.enabled (has $.name $o.calls) -}}
{{- $callers = append $callers $other -}}
{{- end -}}
{{- end -}}
{{- toJson $callers -}}
{{- end -}}

{{/* True ("true") when the Prometheus Operator's API is served (or given to helm template with --api-versions). */}}
{{- define "assist.hasMonitoringApi" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" -}}true{{- end -}}
{{- end -}}

{{/* Settings the processes cannot start without, checked at render time rather than in CrashLoopBackOff. */}}
{{- define "assist.validate" -}}
{{- $edge := .Values.components.edge -}}
{{- if and $edge $edge.enabled (has "auth" $edge.uses) (not .Values.auth.jwksUrl) (not .Values.auth.publicKey.existingSecret) -}}
{{- fail "the edge verifies users' tokens: set auth.jwksUrl or auth.publicKey.existingSecret" -}}
{{- end -}}
{{- range $name, $c := .Values.components -}}
{{- if and $c.enabled (has "hostDb" $c.uses) (not (and $.Values.hostDb.existingSecret $.Values.hostDb.mapping)) -}}
{{- fail (printf "%s reads the host's task database: set hostDb.existingSecret and hostDb.mapping" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
