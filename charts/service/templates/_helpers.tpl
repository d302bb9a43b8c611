{{/* The namespace of the stage: <project>-<stage>. */}}
{{- define "service.namespace" -}}
{{- printf "%s-%s" .Values.project .Values.stage -}}
{{- end -}}

{{/* Cluster-internal DNS name of the Service spanning both colours. */}}
{{- define "service.fqdn" -}}
{{- printf "%s.%s.svc.cluster.local" .Values.name (include "service.namespace" .) -}}
{{- end -}}

{{/* Public host through the ingress gateway. */}}
{{- define "service.publicHost" -}}
{{- printf "%s.%s.%s" .Values.name (include "service.namespace" .) .Values.ingress.domain -}}
{{- end -}}

{{/* The colours to render: two for blue/green, one unnamed unit for direct. */}}
{{- define "service.colours" -}}
{{- if eq .Values.strategy "direct" -}}[""]{{- else -}}["blue","green"]{{- end -}}
{{- end -}}

{{/* Labels every object carries (app.kubernetes.io recommended labels); label values are cut to 63. */}}
{{- define "service.labels" -}}
app.kubernetes.io/name: {{ .Values.name }}
app.kubernetes.io/instance: {{ printf "%s-%s" .Values.name (include "service.namespace" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/part-of: {{ .Values.project }}
app.kubernetes.io/managed-by: pipeline-steps
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
