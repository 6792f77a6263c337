{{/* NetworkPolicy peer: the pods of one component of this release; (dict "ctx" $ "component" "x"). */}}
{{- define "ico-analytics.np.peer" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .ctx.Release.Name }}
      app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Egress to cluster DNS. */}}
{{- define "ico-analytics.np.dns" -}}
- to:
    - namespaceSelector: {}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end }}

{{/* Egress to the database: the chart's PostgreSQL pods, or any host on the external port. */}}
{{- define "ico-analytics.np.database" -}}
{{- if .Values.postgresql.enabled }}
- to:
    {{- include "ico-analytics.np.peer" (dict "ctx" . "component" "postgresql") | nindent 4 }}
  ports:
    - protocol: TCP
      port: 5432
{{- else }}
- ports:
    - protocol: TCP
      port: {{ .Values.externalDatabase.port }}
{{- end }}
{{- end }}

{{/* Egress to Kafka: the Strimzi cluster's pods, or any host on the external brokers' ports. */}}
{{- define "ico-analytics.np.kafka" -}}
{{- if .Values.kafka.enabled }}
- to:
    - podSelector:
        matchLabels:
          strimzi.io/cluster: {{ include "ico-analytics.kafkaName" . }}
          strimzi.io/kind: Kafka
  ports:
    - protocol: TCP
      port: {{ include "ico-analytics.kafkaClientPort" . }}
{{- else }}
- ports:
    {{- range $port := splitList "," .Values.kafka.externalBootstrapServers | uniq }}
    - protocol: TCP
      port: {{ regexFind "[0-9]+$" (trim $port) | int }}
    {{- end }}
{{- end }}
{{- end }}

{{/* Egress to the schema registry. */}}
{{- define "ico-analytics.np.registry" -}}
- to:
    {{- include "ico-analytics.np.peer" (dict "ctx" . "component" "schema-registry") | nindent 4 }}
  ports:
    - protocol: TCP
      port: 8080
{{- end }}

{{/* Ingress from Prometheus to a metrics port; (dict "ctx" $ "port" n). */}}
{{- define "ico-analytics.np.metrics" -}}
- from:
    - namespaceSelector:
        {{- toYaml .ctx.Values.networkPolicy.metricsNamespaceSelector | nindent 8 }}
      podSelector:
        {{- toYaml .ctx.Values.networkPolicy.metricsPodSelector | nindent 8 }}
  ports:
    - protocol: TCP
      port: {{ .port }}
{{- end }}
