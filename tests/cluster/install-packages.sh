#!/bin/bash
# Debian 12 packages the cluster needs: containerd + runc (crun refuses hybrid cgroups), the CNI
# plugins, podman/buildah to build images, mmdebstrap for the base image, catatonit for the pause
# image, iptables/conntrack for kube-proxy. Skipped when every command is already there.
set -euo pipefail
need=(containerd runc podman buildah mmdebstrap catatonit iptables conntrack ctr)
missing=0
for c in "${need[@]}"; do command -v "$c" >/dev/null || missing=1; done
[ -x /usr/lib/cni/bridge ] || missing=1
if [ $missing = 0 ]; then echo "packages present"; exit 0; fi
export DEBIAN_FRONTEND=noninteractive
# A policy-rc.d that refuses, so no postinst starts a daemon (PID 1 is not systemd anyway).
prc=/usr/sbin/policy-rc.d; made_prc=0
if [ ! -e $prc ]; then printf '#!/bin/sh\nexit 101\n' > $prc; chmod +x $prc; made_prc=1; fi
trap '[ $made_prc = 1 ] && rm -f $prc' EXIT
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends containerd runc containernetworking-plugins \
  podman buildah netavark aardvark-dns mmdebstrap iptables conntrack uidmap catatonit >/dev/null
echo "packages installed"
