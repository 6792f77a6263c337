{{/* Common spec of a `helm test` pod; (dict "ctx" $ "name" n "image" i "command" list "env" yamlString
"database" bool); "database": it connects to PostgreSQL, so it gets the database's CA. */}}
{{- define "ico-analytics.testPod" -}}
apiVersion: v1
kind: Pod
metadata:
  name: {{ printf "%s-test-%s" (include "ico-analytics.fullname" .ctx) .name }}
  labels:
    {{- include "ico-analytics.labels" (dict "ctx" .ctx "component" "test") | nindent 4 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  restartPolicy: Never
  serviceAccountName: {{ include "ico-analytics.serviceAccountName" .ctx }}
  automountServiceAccountToken: false
  securityContext:
    {{- toYaml .ctx.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ .name }}
      image: {{ .image }}
      command:
        {{- toYaml .command | nindent 8 }}
      {{- with .env }}
      env:
        {{- . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml .ctx.Values.containerSecurityContext | nindent 8 }}
      resources:
        {{- toYaml .ctx.Values.migrations.resources | nindent 8 }}
      {{- if .database }}
      {{- with include "ico-analytics.databaseCaMount" .ctx }}
      volumeMounts:
        {{- . | nindent 8 }}
      {{- end }}
      {{- end }}
  {{- if .database }}
  {{- with include "ico-analytics.databaseCaVolume" .ctx }}
  volumes:
    {{- . | nindent 4 }}
  {{- end }}
  {{- end }}
{{- end }}
