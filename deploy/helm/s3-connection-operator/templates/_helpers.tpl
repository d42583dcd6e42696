{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "s3-connection-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name for the release's resources (63 characters at most,
the DNS label limit).
*/}}
{{- define "s3-connection-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "s3-connection-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "s3-connection-operator.labels" -}}
helm.sh/chart: {{ include "s3-connection-operator.chart" . }}
{{ include "s3-connection-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: s3-connection-operator
{{- end }}

{{/*
Selector labels: stable across upgrades, never add to them.
*/}}
{{- define "s3-connection-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "s3-connection-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the operator's ServiceAccount.
*/}}
{{- define "s3-connection-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "s3-connection-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Operator image reference.
*/}}
{{- define "s3-connection-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Values the chart no longer reads: fail instead of ignoring them.
watchNamespace (one string) became watchNamespaces (a list); the schema lets
the old key through only so that this message can name the new one. An
empty watchNamespace meant "all namespaces", which is still the default.
*/}}
{{- define "s3-connection-operator.checkRemovedValues" -}}
{{- if not (empty .Values.watchNamespace) }}
{{- fail (printf "watchNamespace was removed: use the list watchNamespaces instead, e.g. --set 'watchNamespaces={%v}' or in a values file `watchNamespaces: [%v]`, and drop watchNamespace" .Values.watchNamespace .Values.watchNamespace) }}
{{- end }}
{{- end }}

{{/*
Whether the operator reads the UID of the kube-system namespace at startup
(its own identity may assume roles and no clusterName names the cluster):
then it needs get on namespaces/kube-system.
*/}}
{{- define "s3-connection-operator.readsKubeSystem" -}}
{{- if and .Values.allowOperatorIdentity (not .Values.clusterName) }}true{{ end }}
{{- end }}

{{/*
extraArgs must not repeat a flag the chart sets from a value (the operator
would refuse to start, or one would silently win): fail naming the value.
*/}}
{{- define "s3-connection-operator.checkExtraArgs" -}}
{{- $owned := dict
  "--metrics-addr" "metricsPort"
  "--log-format" "logFormat"
  "--log-level" "logLevel"
  "--default-interval" "defaultInterval"
  "--concurrency" "concurrency"
  "--namespace-concurrency" "namespaceConcurrency"
  "--validation-timeout" "validationTimeout"
  "--allowed-endpoint" "allowedEndpoints"
  "--allow-operator-identity" "allowOperatorIdentity"
  "--cluster-name" "clusterName"
  "--namespace" "watchNamespaces"
  "--leader-election" "leaderElection.enabled"
  "--lease-namespace" "leaderElection.enabled (the Lease is in the release namespace)"
  "--lease-name" "leaderElection.enabled (the Lease is named after the release)"
}}
{{- range .Values.extraArgs }}
{{- $flag := regexReplaceAll "=.*$" . "" }}
{{- if hasKey $owned $flag }}
{{- fail (printf "extraArgs: %s is set by the chart; use the value %s instead" $flag (get $owned $flag)) }}
{{- end }}
{{- end }}
{{- end }}
