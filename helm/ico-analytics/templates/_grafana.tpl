{{/* Grafana provisioning files (ConfigMap data), also hashed into the pod annotations. */}}
{{- define "ico-analytics.grafanaProvisioning" -}}
# The dashboards and alert rules query these uids (ico_analytics/dashboards/panels.py). Grafana
# reads the password from its environment (a Secret); it never appears here.
datasources.yaml: |
  apiVersion: 1
  datasources:
    - name: ICO analytics
      uid: ico-postgres
      type: grafana-postgresql-datasource
      access: proxy
      isDefault: true
      editable: false
      url: {{ printf "%s:%s" (include "ico-analytics.databaseHost" .) (include "ico-analytics.databasePort" .) }}
      user: {{ .Values.grafana.datasource.user }}
      jsonData:
        database: {{ include "ico-analytics.databaseName" . }}
        sslmode: {{ include "ico-analytics.databaseSslMode" . }}
        {{- if include "ico-analytics.databaseCa" . }}
        tlsConfigurationMethod: file-path
        sslRootCertFile: {{ include "ico-analytics.databaseCaPath" . }}
        {{- end }}
        postgresVersion: 1800
      secureJsonData:
        password: ${GRAFANA_DB_PASSWORD}
    # The system health dashboard and the lag and dataflow-down rules query this uid.
    - name: Prometheus
      uid: ico-prometheus
      type: prometheus
      access: proxy
      editable: false
      url: {{ .Values.monitoring.prometheus.url }}
      jsonData:
        timeInterval: {{ .Values.monitoring.interval }}
dashboards.yaml: |
  apiVersion: 1
  providers:
    - name: ico-analytics
      folder: ICO analytics
      type: file
      disableDeletion: true
      allowUiUpdates: false
      options:
        path: /var/lib/grafana-dashboards
{{- end }}

{{/* Grafana alerting provisioning (ConfigMap data): the alert rules with the chart's thresholds
and, when notifications are configured, the contact points. Also hashed into the pod annotations. */}}
{{- define "ico-analytics.grafanaAlerting" -}}
{{- with .Files.Get "dashboards/alert-rules.json" }}
alert-rules.json: |
  {{- include "ico-analytics.grafanaAlertRules" (dict "ctx" $ "file" .) | nindent 2 }}
{{- end }}
{{- if include "ico-analytics.notificationsConfigured" . }}
notifications.yaml: |
  {{- include "ico-analytics.grafanaNotifications" . | nindent 2 }}
{{- end }}
{{- end }}
