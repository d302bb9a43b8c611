{{/*
Every value reaches a manifest quoted (`quote`, `toYaml`) or as a number (`int`), so no value can
add a field or a document; values.schema.json refuses values of the wrong shape before rendering.
*/}}

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

{{/* <name>-<project>-<stage>, cut to a label value: the instance label and the Prometheus job. */}}
{{- define "service.instance" -}}
{{- printf "%s-%s" .Values.name (include "service.namespace" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries (app.kubernetes.io recommended labels); label values are cut to 63. */}}
{{- define "service.labels" -}}
app.kubernetes.io/name: {{ .Values.name | quote }}
app.kubernetes.io/instance: {{ include "service.instance" . | quote }}
app.kubernetes.io/part-of: {{ .Values.project | quote }}
app.kubernetes.io/managed-by: pipeline-steps
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{/* The verbs pipeline-steps uses in a stage's namespace (pipeline_steps/platforms/kubernetes/permissions.py). */}}
{{- define "service.rbacRules" -}}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "create", "update"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "create", "update", "patch"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["list"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update", "delete"]
- apiGroups: ["networking.istio.io"]
  resources: ["virtualservices"]
  verbs: ["get", "list", "create", "patch"]
- apiGroups: ["networking.istio.io"]
  resources: ["destinationrules"]
  verbs: ["create"]
- apiGroups: ["networking.istio.io"]
  resources: ["gateways"]
  verbs: ["get", "create"]
{{- if .Values.metrics.serviceMonitor.enabled }}
- apiGroups: ["monitoring.coreos.com"]
  resources: ["servicemonitors"]
  verbs: ["get", "create", "update"]
{{- end }}
{{- if .Values.metrics.podMonitor.enabled }}
- apiGroups: ["monitoring.coreos.com"]
  resources: ["podmonitors"]
  verbs: ["get", "create", "update"]
{{- end }}
{{- end -}}
