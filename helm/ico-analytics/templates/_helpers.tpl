{{/* Chart name, overridable. */}}
{{- define "ico-analytics.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix of every resource: <release>-<chart>, or the release name when it already
contains the chart name. Truncated to leave room for component suffixes within 63 characters.
*/}}
{{- define "ico-analytics.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "ico-analytics.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of a component; call with (dict "ctx" $ "component" "name"). */}}
{{- define "ico-analytics.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ico-analytics.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Standard labels of a component; call with (dict "ctx" $ "component" "name"). */}}
{{- define "ico-analytics.labels" -}}
helm.sh/chart: {{ include "ico-analytics.chart" .ctx }}
{{ include "ico-analytics.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ico-analytics
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Name of the ServiceAccount the pods run as. */}}
{{- define "ico-analytics.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ico-analytics.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The ico-analytics image reference: repository:tag[@digest]. */}}
{{- define "ico-analytics.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The postgres image, also used for psql in init and migration steps. */}}
{{- define "ico-analytics.postgresImage" -}}
{{- include "ico-analytics.imageRef" .Values.postgresql.image }}
{{- end }}

{{/* repository:tag, pinned by @digest when one is given; call with an image block. */}}
{{- define "ico-analytics.imageRef" -}}
{{- if .digest }}
{{- printf "%s:%s@%s" .repository .tag .digest }}
{{- else }}
{{- printf "%s:%s" .repository .tag }}
{{- end }}
{{- end }}

{{/* Pod security context of pods running an image as the given uid; call with (dict "ctx" $ "uid" 999). */}}
{{- define "ico-analytics.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* ---------- Kafka ---------- */}}

{{- define "ico-analytics.kafkaName" -}}
{{- printf "%s-kafka" (include "ico-analytics.fullname" .) }}
{{- end }}

{{/* Bootstrap servers the apps use: Strimzi's bootstrap Service, or the external brokers. */}}
{{- define "ico-analytics.kafkaAuthenticated" -}}
{{- if and .Values.kafka.enabled .Values.kafka.authentication.enabled }}true{{ end }}
{{- end }}

{{/* The port the apps connect to: the TLS listener when clients log in, else the plain one. */}}
{{- define "ico-analytics.kafkaClientPort" -}}
{{- if include "ico-analytics.kafkaAuthenticated" . }}{{ .Values.kafka.authentication.port }}{{ else }}{{ .Values.kafka.port }}{{ end }}
{{- end }}

{{/* A component's KafkaUser (Strimzi names its password Secret the same). */}}
{{- define "ico-analytics.kafkaUser" -}}
{{- printf "%s-%s" (include "ico-analytics.fullname" .ctx) .component }}
{{- end }}

{{/* Environment of a Kafka client: with authentication, SASL_SSL as the component's KafkaUser,
trusting the cluster CA mounted at /etc/kafka-ca (volume "kafka-ca"). */}}
{{- define "ico-analytics.kafkaClientEnv" -}}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ include "ico-analytics.kafkaBootstrapServers" .ctx | quote }}
{{- if include "ico-analytics.kafkaAuthenticated" .ctx }}
- name: KAFKA_SECURITY_PROTOCOL
  value: SASL_SSL
- name: KAFKA_SASL_MECHANISM
  value: SCRAM-SHA-512
- name: KAFKA_SASL_USERNAME
  value: {{ include "ico-analytics.kafkaUser" . }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "ico-analytics.kafkaUser" . }}
      key: password
- name: KAFKA_SSL_CA_LOCATION
  value: /etc/kafka-ca/ca.crt
{{- end }}
{{- end }}

{{- define "ico-analytics.kafkaCaVolume" -}}
{{- if include "ico-analytics.kafkaAuthenticated" . }}
- name: kafka-ca
  secret:
    secretName: {{ printf "%s-cluster-ca-cert" (include "ico-analytics.kafkaName" .) }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}

{{- define "ico-analytics.kafkaCaMount" -}}
{{- if include "ico-analytics.kafkaAuthenticated" . }}
- name: kafka-ca
  mountPath: /etc/kafka-ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "ico-analytics.kafkaBootstrapServers" -}}
{{- if .Values.kafka.enabled }}
{{- printf "%s-kafka-bootstrap:%s" (include "ico-analytics.kafkaName" .) (include "ico-analytics.kafkaClientPort" .) }}
{{- else }}
{{- required "kafka.externalBootstrapServers is required when kafka.enabled is false" .Values.kafka.externalBootstrapServers }}
{{- end }}
{{- end }}

{{/* ---------- Schema registry ---------- */}}

{{- define "ico-analytics.registryName" -}}
{{- printf "%s-schema-registry" (include "ico-analytics.fullname" .) }}
{{- end }}

{{/* SCHEMA_REGISTRY_URL: the apps expect the Confluent-compatible base, /apis/ccompat/v7 included. */}}
{{- define "ico-analytics.schemaRegistryUrl" -}}
{{- printf "http://%s:%d/apis/ccompat/v7" (include "ico-analytics.registryName" .) (int .Values.schemaRegistry.port) }}
{{- end }}

{{/* ---------- PostgreSQL ---------- */}}

{{- define "ico-analytics.postgresqlName" -}}
{{- printf "%s-postgresql" (include "ico-analytics.fullname" .) }}
{{- end }}

{{- define "ico-analytics.databaseHost" -}}
{{- if .Values.postgresql.enabled }}
{{- include "ico-analytics.postgresqlName" . }}
{{- else }}
{{- required "externalDatabase.host is required when postgresql.enabled is false" .Values.externalDatabase.host }}
{{- end }}
{{- end }}

{{- define "ico-analytics.databasePort" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.port }}{{ else }}{{ .Values.externalDatabase.port }}{{ end }}
{{- end }}

{{- define "ico-analytics.databaseName" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.database }}{{ else }}{{ .Values.externalDatabase.database }}{{ end }}
{{- end }}

{{- define "ico-analytics.databaseUser" -}}
{{- if .Values.postgresql.enabled }}
{{- .Values.postgresql.auth.username }}
{{- else }}
{{- required "externalDatabase.username is required when postgresql.enabled is false" .Values.externalDatabase.username }}
{{- end }}
{{- end }}

{{/*
libpq sslmode of every client of the database: the chart's PostgreSQL serves no TLS, so
"disable"; an external one's externalDatabase.sslmode.
*/}}
{{- define "ico-analytics.databaseSslMode" -}}
{{- if .Values.postgresql.enabled }}disable{{ else }}{{ .Values.externalDatabase.sslmode }}{{ end }}
{{- end }}

{{/* The registry's JDBC URL of a database; call with (dict "ctx" $ "database" name). */}}
{{- define "ico-analytics.jdbcUrl" -}}
{{- printf "jdbc:postgresql://%s:%s/%s?sslmode=%s" (include "ico-analytics.databaseHost" .ctx) (include "ico-analytics.databasePort" .ctx) .database (include "ico-analytics.databaseSslMode" .ctx) }}
{{- if include "ico-analytics.databaseCa" .ctx }}&sslrootcert={{ include "ico-analytics.databaseCaPath" .ctx }}{{ end }}
{{- end }}

{{/*
The CA that signed an external database's certificate (externalDatabase.sslRootCert), mounted
into every client at databaseCaPath: "true" when there is one.
*/}}
{{- define "ico-analytics.databaseCa" -}}
{{- if and (not .Values.postgresql.enabled) .Values.externalDatabase.sslRootCert.existingSecret }}true{{ end }}
{{- end }}

{{- define "ico-analytics.databaseCaPath" -}}/etc/postgresql-ca/ca.crt{{- end }}

{{- define "ico-analytics.databaseCaVolume" -}}
{{- if include "ico-analytics.databaseCa" . }}
- name: postgresql-ca
  secret:
    secretName: {{ .Values.externalDatabase.sslRootCert.existingSecret }}
    items:
      - key: {{ .Values.externalDatabase.sslRootCert.key }}
        path: ca.crt
{{- end }}
{{- end }}

{{- define "ico-analytics.databaseCaMount" -}}
{{- if include "ico-analytics.databaseCa" . }}
- name: postgresql-ca
  mountPath: /etc/postgresql-ca
  readOnly: true
{{- end }}
{{- end }}

{{/* libpq's root certificate (PGSSLROOTCERT), for psql and the apps' psycopg alike. */}}
{{- define "ico-analytics.databaseCaEnv" -}}
{{- if include "ico-analytics.databaseCa" . }}
- name: PGSSLROOTCERT
  value: {{ include "ico-analytics.databaseCaPath" . }}
{{- end }}
{{- end }}

{{/* Secret and key holding the database user's password. */}}
{{- define "ico-analytics.databaseSecretName" -}}
{{- if .Values.postgresql.enabled }}
{{- default (include "ico-analytics.postgresqlName" .) .Values.postgresql.auth.existingSecret }}
{{- else }}
{{- required "externalDatabase.existingSecret is required when postgresql.enabled is false" .Values.externalDatabase.existingSecret }}
{{- end }}
{{- end }}

{{- define "ico-analytics.databaseSecretKey" -}}
{{- if .Values.postgresql.enabled }}password{{ else }}{{ .Values.externalDatabase.existingSecretPasswordKey }}{{ end }}
{{- end }}

{{/*
Database connection of the apps: the POSTGRES_* parts Settings reads, the password from its
Secret. Settings builds the URL itself and percent-encodes the password, so any password works.
*/}}
{{- define "ico-analytics.databaseEnv" -}}
- name: POSTGRES_HOST
  value: {{ include "ico-analytics.databaseHost" . | quote }}
- name: POSTGRES_PORT
  value: {{ include "ico-analytics.databasePort" . | quote }}
- name: POSTGRES_DB
  value: {{ include "ico-analytics.databaseName" . | quote }}
- name: POSTGRES_SSLMODE
  value: {{ include "ico-analytics.databaseSslMode" . | quote }}
{{- include "ico-analytics.databaseCaEnv" . }}
- name: POSTGRES_USER
  value: {{ include "ico-analytics.databaseUser" . | quote }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "ico-analytics.databaseSecretName" . }}
      key: {{ include "ico-analytics.databaseSecretKey" . }}
{{- end }}

{{- define "ico-analytics.dataflowDbSecretName" -}}
{{- default (printf "%s-db" (include "ico-analytics.dataflowName" .)) .Values.dataflow.database.existingSecret }}
{{- end }}

{{/* The dataflow's connection: its own ico_writer login, or the chart's database user. */}}
{{- define "ico-analytics.dataflowDatabaseEnv" -}}
{{- if .Values.dataflow.database.ownLogin }}
- name: POSTGRES_HOST
  value: {{ include "ico-analytics.databaseHost" . | quote }}
- name: POSTGRES_PORT
  value: {{ include "ico-analytics.databasePort" . | quote }}
- name: POSTGRES_DB
  value: {{ include "ico-analytics.databaseName" . | quote }}
- name: POSTGRES_SSLMODE
  value: {{ include "ico-analytics.databaseSslMode" . | quote }}
{{- include "ico-analytics.databaseCaEnv" . }}
- name: POSTGRES_USER
  value: {{ .Values.dataflow.database.user | quote }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "ico-analytics.dataflowDbSecretName" . }}
      key: password
{{- else }}
{{- include "ico-analytics.databaseEnv" . }}
{{- end }}
{{- end }}

{{/* The dataflow's connection as libpq variables, for its wait for the schema. */}}
{{- define "ico-analytics.dataflowLibpqEnv" -}}
{{- if .Values.dataflow.database.ownLogin }}
{{- include "ico-analytics.libpqLoginEnv" (dict "ctx" . "database" (include "ico-analytics.databaseName" .) "user" .Values.dataflow.database.user "secret" (include "ico-analytics.dataflowDbSecretName" .) "key" "password") }}
{{- else }}
{{- include "ico-analytics.libpqEnv" . }}
{{- end }}
{{- end }}

{{/* The registry's login to its own database, as libpq variables. */}}
{{- define "ico-analytics.registryLibpqEnv" -}}
{{- include "ico-analytics.libpqLoginEnv" (dict "ctx" . "database" .Values.schemaRegistry.database.name "user" .Values.schemaRegistry.database.user "secret" (include "ico-analytics.registryDbSecretName" .) "key" "password") }}
{{- end }}

{{/* The chart's database user's connection as libpq variables, for psql in the postgres image. */}}
{{- define "ico-analytics.libpqEnv" -}}
{{- include "ico-analytics.libpqLoginEnv" (dict "ctx" . "database" (include "ico-analytics.databaseName" .) "user" (include "ico-analytics.databaseUser" .) "secret" (include "ico-analytics.databaseSecretName" .) "key" (include "ico-analytics.databaseSecretKey" .)) }}
{{- end }}

{{/*
libpq variables of one login to one database of the server, its password from a Secret; call
with (dict "ctx" $ "database" d "user" u "secret" s "key" k).
*/}}
{{- define "ico-analytics.libpqLoginEnv" -}}
- name: PGHOST
  value: {{ include "ico-analytics.databaseHost" .ctx | quote }}
- name: PGPORT
  value: {{ include "ico-analytics.databasePort" .ctx | quote }}
- name: PGDATABASE
  value: {{ .database | quote }}
- name: PGSSLMODE
  value: {{ include "ico-analytics.databaseSslMode" .ctx | quote }}
{{- include "ico-analytics.databaseCaEnv" .ctx }}
- name: PGUSER
  value: {{ .user | quote }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
{{- end }}

{{/* ---------- Grafana, dataflow, generator ---------- */}}

{{- define "ico-analytics.grafanaName" -}}
{{- printf "%s-grafana" (include "ico-analytics.fullname" .) }}
{{- end }}

{{- define "ico-analytics.grafanaAdminSecretName" -}}
{{- default (include "ico-analytics.grafanaName" .) .Values.grafana.admin.existingSecret }}
{{- end }}

{{- define "ico-analytics.grafanaDbSecretName" -}}
{{- default (printf "%s-db" (include "ico-analytics.grafanaName" .)) .Values.grafana.datasource.existingSecret }}
{{- end }}

{{- define "ico-analytics.registryDbSecretName" -}}
{{- default (printf "%s-db" (include "ico-analytics.registryName" .)) .Values.schemaRegistry.database.existingSecret }}
{{- end }}

{{- define "ico-analytics.piiSecretName" -}}
{{- default (printf "%s-pii" (include "ico-analytics.fullname" .)) .Values.pii.existingSecret }}
{{- end }}

{{- define "ico-analytics.crmSecretName" -}}
{{- default (printf "%s-crm" (include "ico-analytics.fullname" .)) .Values.crm.existingSecret }}
{{- end }}

{{- define "ico-analytics.dataflowName" -}}
{{- printf "%s-dataflow" (include "ico-analytics.fullname" .) }}
{{- end }}

{{- define "ico-analytics.dataflowHeadlessName" -}}
{{- printf "%s-dataflow-headless" (include "ico-analytics.fullname" .) }}
{{- end }}

{{/* Peer addresses of the dataflow processes, one per line, in process-id order. */}}
{{- define "ico-analytics.dataflowHostfile" -}}
{{- $sts := include "ico-analytics.dataflowName" . }}
{{- $svc := include "ico-analytics.dataflowHeadlessName" . }}
{{- $peers := list }}
{{- range $i := until (int .Values.dataflow.replicas) }}
{{- $peers = append $peers (printf "%s-%d.%s.%s.svc.cluster.local:%d" $sts $i $svc $.Release.Namespace (int $.Values.dataflow.port)) }}
{{- end }}
{{- join "\n" $peers }}
{{- end }}

{{- define "ico-analytics.generatorName" -}}
{{- printf "%s-generator" (include "ico-analytics.fullname" .) }}
{{- end }}

{{/*
Value of a generated secret key: the one already in the cluster (so upgrades keep it), else a new
random one. Call with (dict "ctx" $ "name" secretName "key" dataKey "length" n); returns base64.
*/}}
{{- define "ico-analytics.generatedSecretValue" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .name }}
{{- if and $existing $existing.data (hasKey $existing.data .key) }}
{{- index $existing.data .key }}
{{- else }}
{{- randAlphaNum (int .length) | b64enc }}
{{- end }}
{{- end }}

{{/* Cross-value checks the JSON schema cannot express. */}}
{{- define "ico-analytics.validate" -}}
{{- if and (not .Values.postgresql.enabled) (hasPrefix "verify-" .Values.externalDatabase.sslmode) (not .Values.externalDatabase.sslRootCert.existingSecret) }}
{{- fail (printf "externalDatabase.sslmode %s checks the server's certificate: set externalDatabase.sslRootCert.existingSecret to the Secret of its CA" .Values.externalDatabase.sslmode) }}
{{- end }}
{{- if gt (int .Values.dataflow.replicas) (int .Values.dataflow.recovery.partitions) }}
{{- fail (printf "dataflow.replicas (%d) exceeds dataflow.recovery.partitions (%d): every process needs a recovery partition" (int .Values.dataflow.replicas) (int .Values.dataflow.recovery.partitions)) }}
{{- end }}
{{- if .Values.kafka.enabled }}
{{- $nodes := int .Values.kafka.nodePool.replicas }}
{{- if gt (int .Values.kafka.topics.replicas) $nodes }}
{{- fail (printf "kafka.topics.replicas (%d) exceeds kafka.nodePool.replicas (%d)" (int .Values.kafka.topics.replicas) $nodes) }}
{{- end }}
{{- if gt (int .Values.kafka.internalReplicationFactor) $nodes }}
{{- fail (printf "kafka.internalReplicationFactor (%d) exceeds kafka.nodePool.replicas (%d)" (int .Values.kafka.internalReplicationFactor) $nodes) }}
{{- end }}
{{- if gt (int .Values.kafka.minInsyncReplicas) (int .Values.kafka.internalReplicationFactor) }}
{{- fail "kafka.minInsyncReplicas exceeds kafka.internalReplicationFactor" }}
{{- end }}
{{- end }}
{{- include "ico-analytics.validateStorage" . }}
{{- end }}

{{/*
Storage changes an upgrade cannot make, refused here at render time: the API server refuses
those of claims and volume claim templates only after the upgrade created its migrations Job,
with a message that does not say what to do; a new recovery partition count would be ignored
by the existing volume. Needs the live objects (`lookup`), so `helm template` and first
installs skip these checks.
*/}}
{{- define "ico-analytics.validateStorage" -}}
{{- $fullname := include "ico-analytics.fullname" . }}
{{- $dataflow := lookup "apps/v1" "StatefulSet" .Release.Namespace (include "ico-analytics.dataflowName" .) }}
{{- range (dig "spec" "template" "spec" "initContainers" list $dataflow) }}
{{- range (.env | default list) }}
{{- if and (eq .name "RECOVERY_PARTITIONS") (ne (toString .value) (toString $.Values.dataflow.recovery.partitions)) }}
{{- fail (printf "dataflow.recovery.partitions cannot change on an installed release: the recovery volume holds %s partitions, and Bytewax fixes their number when it creates them. Keep %s (the most dataflow.replicas can be); more partitions need a new recovery volume, that is a fresh start, which the dataflow refuses against a database holding data unless started with --allow-fresh-start" .value .value) }}
{{- end }}
{{- end }}
{{- end }}
{{- if not .Values.dataflow.recovery.persistence.existingClaim }}
{{- $recovery := printf "%s-recovery" (include "ico-analytics.dataflowName" .) }}
{{- include "ico-analytics.validateClaimChange" (dict "ctx" . "claim" $recovery "persistence" .Values.dataflow.recovery.persistence "value" "dataflow.recovery.persistence") }}
{{- /* A reinstall finds no StatefulSet, but the kept volume says what it holds. */}}
{{- $held := dig "metadata" "annotations" "ico-analytics/recovery-partitions" "" (lookup "v1" "PersistentVolumeClaim" .Release.Namespace $recovery) }}
{{- if and $held (ne $held (toString .Values.dataflow.recovery.partitions)) }}
{{- fail (printf "dataflow.recovery.partitions cannot change: the kept recovery volume %s holds %s partitions, and Bytewax fixes their number when it creates them. Install with dataflow.recovery.partitions=%s; another count needs a new recovery volume (delete PVC %s), that is a fresh start, which the dataflow refuses against a database holding data unless started with --allow-fresh-start" $recovery $held $held $recovery) }}
{{- end }}
{{- end }}
{{- if and .Values.backup.enabled (not .Values.backup.persistence.existingClaim) }}
{{- include "ico-analytics.validateClaimChange" (dict "ctx" . "claim" (printf "%s-backup" $fullname) "persistence" .Values.backup.persistence "value" "backup.persistence") }}
{{- end }}
{{- if .Values.postgresql.enabled }}
{{- $name := include "ico-analytics.postgresqlName" . }}
{{- $live := lookup "apps/v1" "StatefulSet" .Release.Namespace $name }}
{{- range (dig "spec" "volumeClaimTemplates" list $live) }}
{{- if eq .metadata.name "data" }}
{{- $size := include "ico-analytics.quantityBytes" .spec.resources.requests.storage }}
{{- $class := .spec.storageClassName | default "" }}
{{- if or (ne $size (include "ico-analytics.quantityBytes" $.Values.postgresql.persistence.size)) (ne $class $.Values.postgresql.persistence.storageClass) }}
{{- fail (printf "postgresql.persistence cannot change on an installed release: StatefulSet %s has size %s and storageClass %q, and a StatefulSet's volume claim templates are immutable. Keep them; or, to grow the volume, resize PVC data-%s-0 with kubectl (its storage class must allow volume expansion), run `kubectl -n %s delete statefulset %s --cascade=orphan` (the pod and its data stay), then upgrade with the new size" $name .spec.resources.requests.storage $class $name $.Release.Namespace $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A chart-made PVC that exists already may only grow, and only when its storage class allows
volume expansion; its class never changes. Call with (dict "ctx" $ "claim" name "persistence"
values "value" "path.of.values").
*/}}
{{- define "ico-analytics.validateClaimChange" -}}
{{- $live := lookup "v1" "PersistentVolumeClaim" .ctx.Release.Namespace .claim }}
{{- if $live }}
{{- $class := $live.spec.storageClassName | default "" }}
{{- $liveSize := $live.spec.resources.requests.storage }}
{{- if and .persistence.storageClass (ne .persistence.storageClass $class) }}
{{- fail (printf "%s.storageClass cannot change: PVC %s exists with storage class %q, and a claim's class is immutable. Keep %q, or copy the data to a new claim and set %s.existingClaim" .value .claim $class $class .value) }}
{{- end }}
{{- $old := include "ico-analytics.quantityBytes" $liveSize | float64 }}
{{- $new := include "ico-analytics.quantityBytes" .persistence.size | float64 }}
{{- if lt $new $old }}
{{- fail (printf "%s.size %s is smaller than PVC %s (%s): a claim never shrinks. Set it back to %s" .value .persistence.size .claim $liveSize $liveSize) }}
{{- end }}
{{- if gt $new $old }}
{{- $sc := dict }}
{{- if $class }}
{{- $sc = lookup "storage.k8s.io/v1" "StorageClass" "" $class }}
{{- end }}
{{- if not (dig "allowVolumeExpansion" false $sc) }}
{{- fail (printf "%s.size: PVC %s (%s) cannot grow to %s: only a claim of a storage class with allowVolumeExpansion can be resized, and its class %q does not allow it. Keep %s, or copy the data to a bigger claim and set %s.existingClaim" .value .claim $liveSize .persistence.size $class $liveSize .value) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* A Kubernetes quantity (e.g. 8Gi, 500M, 1.5Ti) in bytes, as a decimal string. */}}
{{- define "ico-analytics.quantityBytes" -}}
{{- $q := toString . }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $q }}
{{- $units := dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 }}
{{- $unit := trimPrefix $number $q }}
{{- if or (not $number) (not (hasKey $units $unit)) }}
{{- fail (printf "cannot read the quantity %q: write it as a number with an optional unit k, M, G, T, P, Ki, Mi, Gi, Ti or Pi" $q) }}
{{- end }}
{{- mulf (float64 $number) (get $units $unit) | printf "%.0f" }}
{{- end }}

{{/* Init container that blocks until PostgreSQL accepts connections. */}}
{{- define "ico-analytics.waitForPostgres" -}}
- name: wait-for-postgresql
  image: {{ include "ico-analytics.postgresImage" . }}
  imagePullPolicy: {{ .Values.postgresql.image.pullPolicy }}
  command: ["sh", "-c", "until pg_isready --timeout=5; do echo waiting for PostgreSQL; sleep 2; done"]
  env:
    {{- include "ico-analytics.libpqEnv" . | nindent 4 }}
  {{- with include "ico-analytics.databaseCaMount" . }}
  volumeMounts:
    {{- . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  resources:
    {{- toYaml .Values.migrations.resources | nindent 4 }}
{{- end }}

{{- define "ico-analytics.alertForwarderName" -}}
{{- printf "%s-alert-forwarder" (include "ico-analytics.fullname" .) }}
{{- end }}
