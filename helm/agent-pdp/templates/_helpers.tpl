{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "agent-pdp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: the release name, prefixed with the chart name unless it contains it. */}}
{{- define "agent-pdp.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "agent-pdp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Standard labels (app.kubernetes.io/*), on every object. */}}
{{- define "agent-pdp.labels" -}}
helm.sh/chart: {{ include "agent-pdp.chart" . }}
{{ include "agent-pdp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: policy-decision-point
app.kubernetes.io/part-of: agent-pdp
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels: immutable on a Deployment, so nothing that changes between releases. */}}
{{- define "agent-pdp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agent-pdp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "agent-pdp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "agent-pdp.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "agent-pdp.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Where the tenant data and JWKS documents are mounted (PDP_DATA_DIR is the former). */}}
{{- define "agent-pdp.dataDir" -}}/etc/agent-pdp/data{{- end -}}
{{- define "agent-pdp.jwksDir" -}}/etc/agent-pdp/jwks{{- end -}}

{{/*
A number as the service parses it: integers without an exponent (values arrive as float64, and
1000000 would otherwise print as 1e+06), fractions as they are.
*/}}
{{- define "agent-pdp.number" -}}
{{- $v := . -}}
{{- if eq (float64 $v) (floor $v) -}}{{ int64 $v }}{{- else -}}{{ $v }}{{- end -}}
{{- end -}}

{{/*
Tenant data as a list of {key, path, content}: the flat ConfigMap key and the file's path under
PDP_DATA_DIR (<tenant>/conditional-access/<id>.json, <tenant>/named-locations.json,
<tenant>/gateway-routes.json). Rendered as JSON so the ConfigMap and the volume items agree.
*/}}
{{- define "agent-pdp.tenantFiles" -}}
{{- $files := list -}}
{{- $seen := dict -}}
{{- range $tenant, $t := .Values.tenants -}}
{{- range $id, $doc := ($t.conditionalAccess | default dict) -}}
{{- if and (hasKey $doc "id") (ne (toString $doc.id) $id) -}}
{{- fail (printf "tenants.%s.conditionalAccess.%s: the document's id %q must equal its key (the file name)" $tenant $id (toString $doc.id)) -}}
{{- end -}}
{{- $files = append $files (dict "key" (printf "%s_ca_%s.json" $tenant $id) "path" (printf "%s/conditional-access/%s.json" $tenant $id) "content" (merge (dict "id" $id) $doc | toPrettyJson)) -}}
{{- end -}}
{{- if hasKey $t "namedLocations" -}}
{{- $files = append $files (dict "key" (printf "%s_named-locations.json" $tenant) "path" (printf "%s/named-locations.json" $tenant) "content" (toPrettyJson $t.namedLocations)) -}}
{{- end -}}
{{- if hasKey $t "gatewayRoutes" -}}
{{- $files = append $files (dict "key" (printf "%s_gateway-routes.json" $tenant) "path" (printf "%s/gateway-routes.json" $tenant) "content" (toPrettyJson $t.gatewayRoutes)) -}}
{{- end -}}
{{- end -}}
{{- range $files -}}
{{- if hasKey $seen .key -}}
{{- fail (printf "tenants: two files map to the ConfigMap key %q (%s and %s); rename a tenant or policy" .key (get $seen .key) .path) -}}
{{- end -}}
{{- $_ := set $seen .key .path -}}
{{- end -}}
{{- toJson $files -}}
{{- end -}}

{{/*
"true" when the service has a TLS certificate (PDP_TLS_CERT in extraEnv): the admin port then
serves HTTPS with the API's certificate, so probes and scraping must use HTTPS. Client
certificates are optional on the admin port: probes reach /healthz and /readyz without one.
*/}}
{{- define "agent-pdp.adminTls" -}}
{{- $tls := false -}}
{{- range .Values.extraEnv }}{{ if eq .name "PDP_TLS_CERT" }}{{ $tls = true }}{{ end }}{{ end -}}
{{- $tls -}}
{{- end -}}

{{/* Names of the environment variables the chart sets; extraEnv may not repeat them. */}}
{{- define "agent-pdp.managedEnv" -}}
{{- list "PDP_PORT" "PDP_ADMIN_PORT" "PDP_HOST" "PDP_WORKERS" "PDP_BUNDLE" "PDP_DATA_DIR" "PDP_BUNDLE_POLL_SECONDS" "PDP_BUNDLE_VERIFY_KEY" "REDIS_URL" "PDP_CACHE_TTL_MS" "PDP_STALE_IF_ERROR_SECONDS" "PDP_API_KEYS" "PDP_CALLER_ISSUER" "PDP_CALLER_JWKS_URL" "PDP_CALLER_AUDIENCE" "PDP_TRUSTED_ISSUERS" "PDP_DECISION_LOG" "PDP_MAX_TTL_SECONDS" "PDP_DEFAULT_TTL_SECONDS" "LOG_LEVEL" | toJson -}}
{{- end -}}

{{/* Checks the schema cannot express (cross-field rules); each failure names the values to fix. */}}
{{- define "agent-pdp.validate" -}}
{{- $v := .Values -}}
{{- $extra := list -}}
{{- range $v.extraEnv }}{{ $extra = append $extra .name }}{{ end -}}
{{- $loopback := has $v.config.host (list "127.0.0.1" "::1" "localhost") -}}
{{- if and (not $loopback) (not $v.apiKeys.existingSecret) (not $v.config.callerAuth.issuer) (not (has "PDP_TLS_CLIENT_CA" $extra)) -}}
{{- fail (printf "config.host %q is not loopback and no caller authentication is configured: set apiKeys.existingSecret (a Secret holding PDP_API_KEYS) or config.callerAuth.issuer; the service refuses to start otherwise" $v.config.host) -}}
{{- end -}}
{{- if and (not (kindIs "invalid" $v.config.workers)) (gt (int64 $v.config.workers) 1) (ne (include "agent-pdp.hasRedis" .) "true") -}}
{{- fail "config.workers > 1 needs a shared Redis: set redis.existingSecret (or REDIS_SENTINELS / REDIS_CLUSTER_NODES in extraEnv)" -}}
{{- end -}}
{{- if gt (float64 $v.config.defaultTtlSeconds) (float64 $v.config.maxTtlSeconds) -}}
{{- fail "config.defaultTtlSeconds must not exceed config.maxTtlSeconds" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (gt (int64 $v.autoscaling.minReplicas) (int64 $v.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (kindIs "invalid" $v.autoscaling.targetCPUUtilizationPercentage) (kindIs "invalid" $v.autoscaling.targetMemoryUtilizationPercentage) -}}
{{- fail "autoscaling: set targetCPUUtilizationPercentage and/or targetMemoryUtilizationPercentage" -}}
{{- end -}}
{{- if $v.podDisruptionBudget.enabled -}}
{{- if not (or (kindIs "invalid" $v.podDisruptionBudget.minAvailable) (kindIs "invalid" $v.podDisruptionBudget.maxUnavailable)) -}}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" -}}
{{- end -}}
{{- end -}}
{{- $managed := include "agent-pdp.managedEnv" . | fromJsonArray -}}
{{- range $v.extraEnv -}}
{{- if has .name $managed -}}
{{- fail (printf "extraEnv: %s is set by the chart; use its value in config, apiKeys or redis instead" .name) -}}
{{- end -}}
{{- end -}}
{{- range $i, $iss := $v.config.trustedIssuers -}}
{{- if and $iss.jwks_file (hasPrefix (printf "%s/" (include "agent-pdp.jwksDir" $)) $iss.jwks_file) -}}
{{- $name := $iss.jwks_file | base | trimSuffix ".json" -}}
{{- if not (hasKey $v.jwks $name) -}}
{{- fail (printf "config.trustedIssuers[%d].jwks_file %s: no jwks.%s is defined" $i $iss.jwks_file $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A map as YAML without its null entries (runAsUser: null leaves the UID to the platform). */}}
{{- define "agent-pdp.dropNulls" -}}
{{- $out := dict -}}
{{- range $k, $v := . -}}
{{- if not (kindIs "invalid" $v) -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* "true" when the pods get a shared Redis: REDIS_URL from the Secret, or Sentinel/Cluster settings in extraEnv. */}}
{{- define "agent-pdp.hasRedis" -}}
{{- $names := list -}}
{{- range .Values.extraEnv }}{{ $names = append $names .name }}{{ end -}}
{{- if or .Values.redis.existingSecret (has "REDIS_SENTINELS" $names) (has "REDIS_CLUSTER_NODES" $names) -}}true{{- else -}}false{{- end -}}
{{- end -}}
