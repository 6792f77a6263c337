{{/* Label matchers of the dataflow's series: its scrape job (the PodMonitor's jobLabel and the
     scrape configuration both name it "dataflow") in this release's pods. */}}
{{- define "ico-analytics.dataflowSeries" -}}
{{- $dataflow := include "ico-analytics.dataflowName" . -}}
job="dataflow", namespace={{ .Release.Namespace | quote }}, pod=~{{ printf "%s-[0-9]+" $dataflow | quote }}
{{- end }}

{{/* Label matchers of the alert forwarder's series: its scrape job ("alert-forwarder" either
     way) in the pods of this release's Deployment. */}}
{{- define "ico-analytics.alertForwarderSeries" -}}
{{- $name := include "ico-analytics.alertForwarderName" . -}}
job="alert-forwarder", namespace={{ .Release.Namespace | quote }}, pod=~{{ printf "%s-[a-z0-9]+-[a-z0-9]+" $name | quote }}
{{- end }}

{{/* The alert rule groups, shared by the PrometheusRule and the rules.yaml of the scrape
     ConfigMap. `promtool test rules` checks them (tests/alerting). */}}
{{- define "ico-analytics.prometheusRuleGroups" -}}
{{- $series := include "ico-analytics.dataflowSeries" . -}}
{{- $rules := .Values.monitoring.rules -}}
{{- /* Signals Grafana evaluates too (ico-analytics.sharedSignals): here only when Alertmanager
       is the one path that notifies them. */ -}}
{{- $shared := eq .Values.notifications.via "alertmanager" -}}
{{- /* The alert forwarder's own rule whenever it runs: nothing else tells that it is stuck. */ -}}
{{- $forwarder := .Values.monitoring.alertmanager.url -}}
groups:{{ if not (or $shared $forwarder) }} []{{ end }}
  {{- if or $shared $forwarder }}
  - name: ico-analytics.dataflow
    rules:
      {{- if $shared }}
      - alert: IcoDataflowConsumerLagHigh
        expr: max by (topic, partition) (bytewax_kafka_consumer_lag{ {{- $series -}} }) > {{ $rules.consumerLagThreshold }}
        for: {{ $rules.consumerLagFor }}
        labels:
          severity: warning
          team: ico-analytics
        annotations:
          summary: The dataflow falls behind on {{ "{{ $labels.topic }}" }} partition {{ "{{ $labels.partition }}" }}.
          description: Consumer lag has stayed above {{ $rules.consumerLagThreshold }} records for {{ $rules.consumerLagFor }}; add processes (dataflow.replicas) or find what slows the sink.
      - alert: IcoDataflowDown
        expr: (count(up{ {{- $series -}} } == 1) or vector(0)) < {{ .Values.dataflow.replicas }}
        for: {{ $rules.dataflowDownFor }}
        labels:
          severity: critical
          team: ico-analytics
        annotations:
          summary: Fewer than {{ .Values.dataflow.replicas }} dataflow processes are up.
          description: The Bytewax cluster needs every process; with one down, nothing is processed.
      - alert: IcoDataflowSinkStalled
        expr: max by (pod, step) ((time() - ico_dataflow_sink_pending_since_seconds{ {{- $series -}} }) * (ico_dataflow_sink_pending_since_seconds{ {{- $series -}} } > bool 0)) > {{ $rules.sinkStalledSeconds }}
        for: 1m
        labels:
          severity: critical
          team: ico-analytics
        annotations:
          summary: The PostgreSQL sink {{ "{{ $labels.step }}" }} of {{ "{{ $labels.pod }}" }} has committed nothing for {{ "{{ $value | humanizeDuration }}" }}.
          description: It holds rows it cannot write; nothing new is stored. The liveness probe restarts the process at {{ .Values.dataflow.liveness.sinkStallSeconds }} s; see its log and the database.
      - alert: IcoDeadLettersRising
        expr: sum(rate(ico_dataflow_dead_letters_total{ {{- $series -}} }[5m])) > {{ $rules.deadLettersPerSecond }}
        for: 10m
        labels:
          severity: warning
          team: ico-analytics
        annotations:
          summary: Records are being dead-lettered at more than {{ $rules.deadLettersPerSecond }}/s.
          description: See raw_data.dead_letters (reason, stage, Kafka coordinates) for what fails to decode or validate.
      # Retried in every 2 minutes for the whole "for": a database restart retries for seconds;
      # a process that fails its batch's ~2 minutes of retries restarts into the next ones.
      - alert: IcoDuplicateLookupFailing
        expr: sum by (pod) (increase(ico_dataflow_duplicate_lookup_retries_total{ {{- $series -}} }[2m])) > 0
        for: {{ $rules.duplicateLookupFailingFor }}
        labels:
          severity: critical
          team: ico-analytics
        annotations:
          summary: The look-up of stored copies of {{ "{{ $labels.pod }}" }} in PostgreSQL has kept failing for {{ $rules.duplicateLookupFailingFor }}.
          description: The drop_stored_copies step has retried its query on the raw tables in every 2 minutes for {{ $rules.duplicateLookupFailingFor }}; its batches wait (nothing passes unchecked), and after about 2 minutes of failures the process stops and restarts into the same failure. 1. The log of {{ "{{ $labels.pod }}" }} names the error, in lines 'Looking up stored copies failed (attempt N), retrying'. 2. Check PostgreSQL; is it up, has the ico_writer role connections left, does a lock (DDL, VACUUM FULL) hold a raw table? 3. Once the database answers, the retries stop and the dataflow catches up by itself (panel 'Duplicate look-up retries per second' of the system health dashboard).
      # Late copies are dropped and the data stays exact: a warning of upstream re-sending only.
      - alert: IcoLateDuplicatesHigh
        expr: 100 * sum(rate(ico_dataflow_late_duplicates_dropped_total{ {{- $series -}} }[5m])) / (sum(rate(ico_dataflow_events_decoded_total{ {{- $series -}} }[5m])) > 0) > {{ $rules.lateDuplicatesPercent }}
        for: {{ $rules.lateDuplicatesFor }}
        labels:
          severity: warning
          team: ico-analytics
        annotations:
          summary: Late duplicates are {{ "{{ $value | humanize }}" }}% of the records the dataflow reads.
          description: For {{ $rules.lateDuplicatesFor }} more than {{ $rules.lateDuplicatesPercent }}% of the records read (over 5 minutes) were copies of events already stored. The dataflow drops them and the stored data stays exact, so this only warns; a producer is retrying or re-sending a lot (slow broker acks, a client without enable.idempotence, a batch posted again), which costs throughput and often comes before records lost at the producer, where no one here sees them. Check the producers' delivery errors and retries and the brokers' health; panel 'Duplicates dropped per second' shows whether copies also arrive in flight.
      {{- end }}
      {{- if $forwarder }}
      {{- $fseries := include "ico-analytics.alertForwarderSeries" . }}
      {{- $pending := printf "ico_alert_forwarder_pending_since_seconds{%s}" $fseries }}
      # Holds a batch uncommitted (no Alertmanager accepts it), or is not scraped at all.
      - alert: IcoAlertForwarderFailing
        expr: (max((time() - {{ $pending }}) * ({{ $pending }} > bool 0)) > {{ $rules.alertForwarderStalledSeconds }}) or ((count(up{ {{- $fseries -}} } == 1) or vector(0)) < 1)
        for: {{ $rules.alertForwarderFailingFor }}
        labels:
          severity: critical
          team: ico-analytics
        annotations:
          summary: The alert forwarder is stuck or down; anomalies reach no one.
          description: For {{ $rules.alertForwarderFailingFor }} it has held alerts that no Alertmanager accepted for more than {{ $rules.alertForwarderStalledSeconds }} s, or it has not been up. ico_alert_forwarder_post_failures_total names the Alertmanager that refuses; see the log of Deployment {{ include "ico-analytics.alertForwarderName" . }}.
      {{- end }}
  {{- end }}
{{- end }}

{{/* The runbook signals that both Grafana's rules (grafana-dashboards/alert-rules.json, by uid)
     and the Prometheus rules above (by alert name) evaluate. `notifications.via` keeps each
     in one place so that a person is told once: Grafana's rule or the Prometheus one. */}}
{{- define "ico-analytics.sharedSignals" -}}
ico-consumer-lag: IcoDataflowConsumerLagHigh
ico-dataflow-down: IcoDataflowDown
ico-sink-stalled: IcoDataflowSinkStalled
ico-duplicate-lookup-failing: IcoDuplicateLookupFailing
ico-late-duplicates-high: IcoLateDuplicatesHigh
ico-dead-letters-high: IcoDeadLettersRising
{{- end }}

{{/* Grafana's alert rules file: as built, or without the rules Alertmanager notifies: the
     shared signals (notifications.via=alertmanager) and the anomalies, which the alert
     forwarder brings to Alertmanager when it runs (monitoring.alertmanager.url). */}}
{{- define "ico-analytics.grafanaAlertRules" -}}
{{- $shared := list -}}
{{- if eq .ctx.Values.notifications.via "alertmanager" -}}
{{- $shared = include "ico-analytics.sharedSignals" .ctx | fromYaml | keys -}}
{{- end -}}
{{- if .ctx.Values.monitoring.alertmanager.url -}}
{{- $shared = append $shared "ico-anomaly" -}}
{{- end -}}
{{- if not $shared -}}
{{ .file }}
{{- else -}}
{{- $doc := fromJson .file -}}
{{- $groups := list -}}
{{- range $doc.groups -}}
{{- $kept := list -}}
{{- range .rules -}}
{{- if not (has .uid $shared) -}}
{{- $kept = append $kept . -}}
{{- end -}}
{{- end -}}
{{- $groups = append $groups (set . "rules" $kept) -}}
{{- end -}}
{{ toPrettyJson (set $doc "groups" $groups) }}
{{- end -}}
{{- end }}

{{/* Scrape jobs for a Prometheus without the Operator: pods of this release found through the
     Kubernetes API, labelled with their namespace and pod as the PodMonitors label them. */}}
{{- define "ico-analytics.scrapeJob" -}}
- job_name: {{ .component }}
  scrape_interval: {{ .ctx.Values.monitoring.interval }}
  metrics_path: /metrics
  kubernetes_sd_configs:
    - role: pod
      namespaces:
        names: [{{ .ctx.Release.Namespace | quote }}]
  relabel_configs:
    - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance, __meta_kubernetes_pod_label_app_kubernetes_io_component, __meta_kubernetes_pod_container_port_name]
      regex: {{ printf "%s;%s;%s" .ctx.Release.Name .component .port | quote }}
      action: keep
    - source_labels: [__meta_kubernetes_namespace]
      target_label: namespace
    - source_labels: [__meta_kubernetes_pod_name]
      target_label: pod
{{- end }}

{{/* Alertmanager's configuration: one route to the receivers of `notifications`. */}}
{{- define "ico-analytics.alertmanagerConfig" -}}
{{- $n := .Values.notifications -}}
{{- $secrets := printf "/etc/alertmanager/secrets/%s" $n.existingSecret -}}
route:
  receiver: ico-analytics
  group_by: [alertname, topic, partition]
  group_wait: {{ .Values.monitoring.alertmanager.groupWait }}
  group_interval: {{ .Values.monitoring.alertmanager.groupInterval }}
  repeat_interval: {{ .Values.monitoring.alertmanager.repeatInterval }}
receivers:
  - name: ico-analytics
    {{- if $n.email.to }}
    email_configs:
      {{- range $n.email.to }}
      - to: {{ . | quote }}
        from: {{ $n.smtp.from | quote }}
        smarthost: {{ $n.smtp.host | quote }}
        send_resolved: true
        require_tls: {{ $n.smtp.requireTls }}
        {{- if $n.smtp.user }}
        auth_username: {{ $n.smtp.user | quote }}
        auth_password_file: {{ printf "%s/smtp-password" $secrets | quote }}
        {{- end }}
      {{- end }}
    {{- end }}
    {{- if $n.webhook.url }}
    webhook_configs:
      - url: {{ $n.webhook.url | quote }}
        send_resolved: true
    {{- end }}
    {{- if $n.slack.channel }}
    slack_configs:
      - api_url_file: {{ printf "%s/slack-url" $secrets | quote }}
        channel: {{ $n.slack.channel | quote }}
        send_resolved: true
        # Alertmanager's default Slack text is empty: one line per alert with its summary.
        text: {{ `'{{ range .Alerts }}{{ .Labels.severity }}: {{ .Annotations.summary }}{{ "\n" }}{{ end }}'` }}
    {{- end }}
{{- end }}

{{/* Grafana's contact point and notification policy (alerting provisioning), when any receiver
     is configured. Secrets come from the environment (the notifications Secret). */}}
{{- define "ico-analytics.grafanaNotifications" -}}
{{- $n := .Values.notifications -}}
apiVersion: 1
contactPoints:
  - orgId: 1
    name: ico-analytics
    receivers:
      {{- if $n.email.to }}
      - uid: ico-email
        type: email
        settings:
          addresses: {{ join ";" $n.email.to | quote }}
          singleEmail: false
      {{- end }}
      {{- if $n.webhook.url }}
      - uid: ico-webhook
        type: webhook
        settings:
          url: {{ $n.webhook.url | quote }}
          httpMethod: POST
      {{- end }}
      {{- if $n.slack.channel }}
      - uid: ico-slack
        type: slack
        settings:
          url: ${GRAFANA_SLACK_URL}
          recipient: {{ $n.slack.channel | quote }}
      {{- end }}
policies:
  - orgId: 1
    receiver: ico-analytics
    group_by: [grafana_folder, alertname]
    group_wait: {{ .Values.monitoring.alertmanager.groupWait }}
    group_interval: {{ .Values.monitoring.alertmanager.groupInterval }}
    repeat_interval: {{ .Values.monitoring.alertmanager.repeatInterval }}
{{- end }}

{{- define "ico-analytics.notificationsConfigured" -}}
{{- with .Values.notifications }}{{ if or .email.to .webhook.url .slack.channel }}true{{ end }}{{ end }}
{{- end }}
