#!/bin/bash
# A tiny provisioner: once a second, every Pending PVC gets a hostPath PV under $K8S_E2E_RUN/pv,
# pre-bound through claimRef. The directory is world-writable (1777) because fsGroup does not
# apply to hostPath volumes and the chart's pods run as non-root users. One node, so every access
# mode (ReadWriteMany included) is honest. Started and stopped by start/stop-cluster.sh.
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
while true; do
  "$KUBECTL" get pvc -A -o jsonpath='{range .items[?(@.status.phase=="Pending")]}{.metadata.namespace} {.metadata.name} {.metadata.uid} {.spec.resources.requests.storage} {.spec.storageClassName}{"\n"}{end}' 2>/dev/null |
  while read -r ns name uid size sc; do
    [ -n "$uid" ] || continue
    "$KUBECTL" get pv "pv-$uid" >/dev/null 2>&1 && continue
    dir=$K8S_E2E_RUN/pv/$uid
    mkdir -p "$dir" && chmod 1777 "$dir"
    cat <<YAML | "$KUBECTL" create -f - >/dev/null && echo "$(date -u +%T) bound $ns/$name to $dir"
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-$uid, labels: {ico-e2e-provisioner: "true"}}
spec:
  capacity: {storage: "$size"}
  accessModes: [ReadWriteOnce, ReadOnlyMany, ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: "$sc"
  claimRef: {namespace: $ns, name: $name, uid: $uid}
  hostPath: {path: $dir, type: Directory}
YAML
  done
  sleep 1
done
