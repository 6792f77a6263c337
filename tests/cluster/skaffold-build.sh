#!/bin/bash
# skaffold's local build of one artifact, done with podman (skaffold itself is not obtainable):
#   skaffold-build.sh build CONTEXT DOCKERFILE IMAGE   builds CONTEXT/DOCKERFILE as IMAGE, adds
#       the tag skaffold uses for an image loaded straight into the cluster (no registry, so no
#       digest): its image ID; loads that into containerd and prints the ID
#   skaffold-build.sh remove IMAGE ID...               drops those tags from podman again
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
. "$E2E_DIR/podman-env.sh"
HOST_CA_BUNDLE=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
case "$1" in
  build)
    context=$2 dockerfile=$3 image=docker.io/library/$4
    podman build -q --pull=never -v "$HOST_CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
      -f "$context/$dockerfile" -t "$image:skaffold-dev" "$context" >/dev/null
    id=$(podman image inspect -f '{{.Id}}' "$image:skaffold-dev")
    podman tag "$image:skaffold-dev" "$image:$id"
    "$E2E_DIR/images.sh" load "$image:$id" >&2
    echo "$id" ;;
  remove)
    image=docker.io/library/$2; shift 2
    for id in "$@"; do podman rmi --force "$image:$id" >/dev/null 2>&1 || true; done
    podman rmi --force "$image:skaffold-dev" >/dev/null 2>&1 || true ;;
  *) echo "usage: skaffold-build.sh build CONTEXT DOCKERFILE IMAGE | remove IMAGE ID..." >&2; exit 2 ;;
esac
