#!/bin/bash
# Builds the images the cluster runs, with podman and no image registry:
#   localhost/debian:bookworm      mmdebstrap --variant=minbase rootfs, imported
#   docker.io/library/python:3.11-slim   stand-in (images/python), so the Dockerfile's FROM resolves
#   localhost/pause:e2e            sandbox image from Debian's static catatonit
#   localhost/coredns:e2e          CoreDNS from build.sh
#   docker.io/library/ico-analytics:$APP_TAG   the repository's Dockerfile, unchanged
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
  # The CA bundle is bind-mounted into RUN steps only (pip must trust the egress proxy).
  t app podman build -q --pull=never -v "$HOST_CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
    -t "docker.io/library/ico-analytics:$APP_TAG" "$REPO_ROOT" >/dev/null
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
    [ $# -gt 0 ] || set -- localhost/pause:e2e localhost/coredns:e2e "docker.io/library/ico-analytics:$APP_TAG"
    load "$@" ;;
  *) echo "usage: images.sh [build|load [IMAGE...]]" >&2; exit 2 ;;
esac
