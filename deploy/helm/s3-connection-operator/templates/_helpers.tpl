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
Labels on every resource: the chart's own, then commonLabels (whose keys
never repeat the chart's: checkLabels).
*/}}
{{- define "s3-connection-operator.labels" -}}
helm.sh/chart: {{ include "s3-connection-operator.chart" . }}
{{ include "s3-connection-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: s3-connection-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
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
Operator image reference: <repository>:<tag>, or <repository>:<tag>@<digest>
when image.digest is set (the runtime then pulls by the digest).
*/}}
{{- define "s3-connection-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- with .Values.image.digest }}@{{ . }}{{ end }}
{{- end }}

{{/*
--metrics-addr: <address>:<port>, an IPv6 address in brackets.
*/}}
{{- define "s3-connection-operator.metricsAddr" -}}
{{- $addr := .Values.metricsBindAddress | default "0.0.0.0" }}
{{- if contains ":" $addr }}
{{- printf "[%s]:%v" $addr .Values.metricsPort }}
{{- else }}
{{- printf "%s:%v" $addr .Values.metricsPort }}
{{- end }}
{{- end }}

{{/*
--health-addr: the same address, healthPort.
*/}}
{{- define "s3-connection-operator.healthAddr" -}}
{{- $addr := .Values.metricsBindAddress | default "0.0.0.0" }}
{{- $port := .Values.healthPort | default 8081 }}
{{- if contains ":" $addr }}
{{- printf "[%s]:%v" $addr $port }}
{{- else }}
{{- printf "%s:%v" $addr $port }}
{{- end }}
{{- end }}

{{/*
matchLabels as text: k=v,k=v (sorted by key).
*/}}
{{- define "s3-connection-operator.selectorText" -}}
{{- $pairs := list }}
{{- range $k, $v := . }}{{ $pairs = append $pairs (printf "%s=%s" $k $v) }}{{ end }}
{{- join "," $pairs }}
{{- end }}

{{/*
Where the metrics certificate Secret is mounted (--metrics-cert-dir).
*/}}
{{- define "s3-connection-operator.metricsCertDir" -}}
/etc/s3-connection-operator/metrics-tls
{{- end }}

{{/*
Whether metricsBindAddress is a loopback address (reachable from the pod's
own network namespace only).
*/}}
{{- define "s3-connection-operator.metricsOnLoopback" -}}
{{- $addr := .Values.metricsBindAddress | default "0.0.0.0" }}
{{- if or (hasPrefix "127." $addr) (eq $addr "::1") }}true{{ end }}
{{- end }}

{{/*
Values that only make sense together (the schema checks each one alone).
*/}}
{{- define "s3-connection-operator.checkNetwork" -}}
{{- $probeHost := (.Values.probes | default dict).host | default "" }}
{{- if eq (int (.Values.healthPort | default 8081)) (int .Values.metricsPort) }}
{{- fail (printf "healthPort and metricsPort are both %v: /healthz and /readyz (plain HTTP) and /metrics are served on different ports; change one" .Values.metricsPort) }}
{{- end }}
{{- if not .Values.hostNetwork }}
{{- if include "s3-connection-operator.metricsOnLoopback" . }}
{{- fail (printf "metricsBindAddress %s is reachable from inside the pod only: the kubelet's probes and Prometheus connect to the pod IP. Use 0.0.0.0 (or ::), or hostNetwork=true with probes.host=%s" .Values.metricsBindAddress .Values.metricsBindAddress) }}
{{- end }}
{{- if $probeHost }}
{{- fail (printf "probes.host (%s) is for hostNetwork installs only: on the pod network the probes must connect to the pod IP, so leave probes.host empty" $probeHost) }}
{{- end }}
{{- else if and (include "s3-connection-operator.metricsOnLoopback" .) (ne $probeHost .Values.metricsBindAddress) }}
{{- fail (printf "hostNetwork with metricsBindAddress %s: the probes must connect to it, set probes.host=%s (it is %q)" .Values.metricsBindAddress .Values.metricsBindAddress $probeHost) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (include "s3-connection-operator.metricsOnLoopback" .) }}
{{- fail (printf "metrics.serviceMonitor.enabled: Prometheus cannot scrape metricsBindAddress %s (loopback); use 0.0.0.0 or turn the ServiceMonitor off" .Values.metricsBindAddress) }}
{{- end }}
{{- end }}

{{/*
The Deployment's strategy: rollingUpdate only with type RollingUpdate (the
API refuses it with Recreate), never maxSurge and maxUnavailable both 0.
*/}}
{{- define "s3-connection-operator.strategy" -}}
{{- with .Values.updateStrategy }}
{{- $type := .type | default "RollingUpdate" }}
type: {{ $type }}
{{- if and (eq $type "RollingUpdate") .rollingUpdate }}
{{- $surge := toString (.rollingUpdate.maxSurge | default 0) }}
{{- $unavailable := toString (.rollingUpdate.maxUnavailable | default 0) }}
{{- if and (hasKey .rollingUpdate "maxSurge") (hasKey .rollingUpdate "maxUnavailable") (has $surge (list "0" "0%")) (has $unavailable (list "0" "0%")) }}
{{- fail "updateStrategy.rollingUpdate: maxSurge and maxUnavailable may not both be 0 (no pod could ever be replaced); e.g. maxSurge=0 and maxUnavailable=1" }}
{{- end }}
rollingUpdate:
  {{- toYaml .rollingUpdate | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
commonLabels may not repeat a label the chart sets, nor one another value
sets on the same object (the object would carry the key twice).
*/}}
{{- define "s3-connection-operator.checkLabels" -}}
{{- $common := .Values.commonLabels | default dict }}
{{- range $key, $_ := $common }}
{{- $name := regexReplaceAll "^.*/" $key "" }}
{{- if or (gt (len $key) 317) (gt (len $name) 63) (not (regexMatch "^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$" $key)) }}
{{- fail (printf "commonLabels: %q is not a label key: [prefix/]name, the name at most 63 letters, digits, '-', '_' or '.' starting and ending with a letter or digit, the prefix a DNS subdomain" $key) }}
{{- end }}
{{- if or (hasPrefix "app.kubernetes.io/" $key) (eq $key "helm.sh/chart") (hasPrefix "rbac.authorization.k8s.io/aggregate-to-" $key) }}
{{- fail (printf "commonLabels: %s is set by the chart; drop it from commonLabels" $key) }}
{{- end }}
{{- end }}
{{- $others := dict "podLabels" (.Values.podLabels | default dict) }}
{{- if .Values.metrics.serviceMonitor.enabled }}{{ $_ := set $others "metrics.serviceMonitor.labels" (.Values.metrics.serviceMonitor.labels | default dict) }}{{ end }}
{{- if .Values.metrics.prometheusRule.enabled }}{{ $_ := set $others "metrics.prometheusRule.labels" (.Values.metrics.prometheusRule.labels | default dict) }}{{ end }}
{{- if .Values.metrics.grafanaDashboard.enabled }}{{ $_ := set $others "metrics.grafanaDashboard.labels" (.Values.metrics.grafanaDashboard.labels | default dict) }}{{ end }}
{{- range $value, $labels := $others }}
{{- range $key, $_ := $labels }}
{{- if hasKey $common $key }}
{{- fail (printf "commonLabels and %s both set the label %s: set it in one of them" $value $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Values the chart no longer reads: fail instead of ignoring them.
watchNamespace (one string) became watchNamespaces (a list); the schema lets
the old key through only so that this message can name the new one. An
empty watchNamespace meant "all namespaces", which is still the default.
namespaceConcurrency (the waiting validations of one namespace) is gone:
one namespace may fill the whole line of `concurrency`, shared fairly.
*/}}
{{- define "s3-connection-operator.checkRemovedValues" -}}
{{- if not (empty .Values.watchNamespace) }}
{{- fail (printf "watchNamespace was removed: use the list watchNamespaces instead, e.g. --set 'watchNamespaces={%v}' or in a values file `watchNamespaces: [%v]`, and drop watchNamespace" .Values.watchNamespace .Values.watchNamespace) }}
{{- end }}
{{- if hasKey .Values "namespaceConcurrency" }}
{{- fail "namespaceConcurrency was removed: the line of validations waiting for a slot is as long as concurrency and shared fairly by namespace and endpoint (one namespace alone may fill it); set concurrency instead and drop namespaceConcurrency" }}
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
  "--metrics-addr" "metricsPort (and metricsBindAddress)"
  "--health-addr" "healthPort (and metricsBindAddress)"
  "--metrics-secure" "metrics.secure.enabled"
  "--metrics-cert-dir" "metrics.secure.certSecret"
  "--log-format" "logFormat"
  "--log-level" "logLevel"
  "--default-interval" "defaultInterval"
  "--concurrency" "concurrency"
  "--validation-timeout" "validationTimeout"
  "--price-tier1-per-thousand" "cost.prices.tier1PerThousand"
  "--price-tier2-per-thousand" "cost.prices.tier2PerThousand"
  "--allowed-endpoint" "allowedEndpoints"
  "--allow-operator-identity" "allowOperatorIdentity"
  "--cluster-name" "clusterName"
  "--namespace" "watchNamespaces"
  "--watch-label-selector" "shard.labelSelector"
  "--leader-election" "leaderElection.enabled"
  "--lease-namespace" "leaderElection.enabled (the Lease is in the release namespace)"
  "--lease-name" "leaderElection.enabled (the Lease is named after the release)"
  "--probe-key-secret" "fullnameOverride (the Secret is named after the release)"
  "--require-credentials-label" "requireCredentialsLabel"
}}
{{- range .Values.extraArgs }}
{{- $flag := regexReplaceAll "=.*$" . "" }}
{{- if hasKey $owned $flag }}
{{- fail (printf "extraArgs: %s is set by the chart; use the value %s instead" $flag (get $owned $flag)) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The Secret that holds the probe marker's key (made by the operator).
*/}}
{{- define "s3-connection-operator.probeKeySecret" -}}
{{ include "s3-connection-operator.fullname" . }}-probe-key
{{- end }}
