#!/bin/sh
# JAVA_OPTS_APPEND as in the Apicurio image; APICURIO_DATASOURCE_* are reported, not used (see
# the Containerfile).
set -eu
echo "stand-in: Apicurio 2.4.2, H2 storage in /tmp (ignoring APICURIO_STORAGE_KIND=${APICURIO_STORAGE_KIND:-} ${APICURIO_DATASOURCE_URL:-})"
# shellcheck disable=SC2086
exec java -Xms64m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError ${JAVA_OPTS_APPEND:-} \
  -Dquarkus.http.host=0.0.0.0 -Dquarkus.http.port=8080 \
  "-Dquarkus.datasource.jdbc.url=jdbc:h2:file:/tmp/registry/db;DB_CLOSE_ON_EXIT=FALSE" \
  -Dquarkus.datasource.jdbc.min-size=1 -Dquarkus.datasource.jdbc.initial-size=1 \
  -jar /deployments/apicurio-registry-local-2.4.2.Final-runner.jar
