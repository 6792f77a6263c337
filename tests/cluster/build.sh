#!/bin/bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy,
# CoreDNS, helm 3 and helm 4 from the Go module proxy into $K8S_E2E_BIN. Each binary is skipped
# when its stamp names the same version (and, for the local modules, the same go.sum).
# Cold, on 2 cores: about 12+ minutes. The Go caches are the ones `make test` fills first
# (tests/tools.py: .cache/go), so the modules and packages helm, Prometheus and these programs
# share are fetched and compiled once, and later runs only link (override them through the
# environment if you must).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
mkdir -p "$K8S_E2E_BIN"
export GOPATH=${GOPATH:-$REPO_ROOT/.cache/go}
export GOMODCACHE=${GOMODCACHE:-$GOPATH/mod} GOCACHE=${GOCACHE:-$GOPATH/build}
export GOFLAGS="-buildvcs=false -modcacherw ${K8S_E2E_GOFLAGS:-}"
NICE=${NICE-nice -n 10}
TIMES=$K8S_E2E_HOME/build-times.log

# Version stamping: without it /version reports v0.0.0-master+$Format:%H$ and helm's kubeVersion
# checks (the chart says >=1.29.0-0) fail.
kv=${KUBE_VERSION#v}; major=${kv%%.*}; minor=${kv#*.}; minor=${minor%%.*}
LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LD="$LD -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  LD="$LD -X $p.buildDate=2026-01-01T00:00:00Z -X $p.gitCommit=0000000000000000000000000000000000000000"
done

# stamp NAME WANT: true when $K8S_E2E_BIN/.stamp-NAME already says WANT.
fresh() { [ "$(cat "$K8S_E2E_BIN/.stamp-$1" 2>/dev/null)" = "$2" ]; }
step() {  # step NAME WANT CMD...: run CMD unless fresh, record the stamp and the wall time.
  local name=$1 want=$2 s=$SECONDS; shift 2
  if fresh "$name" "$want"; then echo "== $name up to date"; return; fi
  echo "== $name ($want)"
  "$@"
  echo "$want" > "$K8S_E2E_BIN/.stamp-$name"
  echo "$(date -u +%FT%TZ) $name $((SECONDS - s))s" | tee -a "$TIMES"
}
sum() { sha256sum "$E2E_DIR/go/$1/go.sum" | cut -c1-16; }

step etcd "$ETCD_VERSION $(sum etcd)" \
  bash -c "cd '$E2E_DIR/go/etcd' && $NICE go build -o '$K8S_E2E_BIN/etcd' ."

# One go build for the five: they share most packages, so this is much faster than five builds.
step kube "$KUBE_VERSION $(sum kube)" \
  bash -c "cd '$E2E_DIR/go/kube' && $NICE go build -ldflags '$LD' -o '$K8S_E2E_BIN/' \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy"

# Static (no cgo): it runs in a FROM-scratch image as the cluster DNS Deployment. `go/coredns`
# links only the plugins manifests/coredns.yaml uses: 780 packages instead of 1,376 (the full
# build compiles every cloud provider's SDK).
step coredns "$COREDNS_VERSION $(sum coredns)" \
  bash -c "cd '$E2E_DIR/go/coredns' && CGO_ENABLED=0 $NICE go build -ldflags '-s -w' -o '$K8S_E2E_BIN/coredns' ."

# helm 3 and 4 both install as "helm": build each into its own folder and rename. `make test`
# already built the same helm 3 (tests/tools.py): copy it rather than build it twice.
TOOLS_HELM=$REPO_ROOT/.cache/helm/$HELM_VERSION
if [ -f "$TOOLS_HELM/.built" ]; then
  step helm "$HELM_VERSION" cp "$TOOLS_HELM/helm" "$K8S_E2E_BIN/helm"
else
  step helm "$HELM_VERSION" \
    bash -c "GOBIN='$K8S_E2E_HOME/gobin-helm3' $NICE go install -ldflags '-s -w' helm.sh/helm/v3/cmd/helm@$HELM_VERSION \
      && mv '$K8S_E2E_HOME/gobin-helm3/helm' '$K8S_E2E_BIN/helm'"
fi
step helm4 "$HELM4_VERSION" \
  bash -c "GOBIN='$K8S_E2E_HOME/gobin-helm4' $NICE go install -ldflags '-s -w' helm.sh/helm/v4/cmd/helm@$HELM4_VERSION \
    && mv '$K8S_E2E_HOME/gobin-helm4/helm' '$K8S_E2E_BIN/helm4'"

ls -la "$K8S_E2E_BIN"
