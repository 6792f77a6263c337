# Settings shared by the cluster e2e scripts. Sourced, not run. Every path and port can be
# overridden through the environment; defaults live under the repo's git-ignored .cache/.
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)             # tests/cluster
REPO_ROOT=${REPO_ROOT:-$(cd "$E2E_DIR/../.." && pwd)}
K8S_E2E_HOME=${K8S_E2E_HOME:-$REPO_ROOT/.cache/k8s-e2e}
K8S_E2E_BIN=${K8S_E2E_BIN:-$K8S_E2E_HOME/bin}     # binaries; kept between runs
K8S_E2E_PKI=${K8S_E2E_PKI:-$K8S_E2E_HOME/pki}     # CA, certs, SA keys, tokens, kubeconfigs
K8S_E2E_RUN=${K8S_E2E_RUN:-$K8S_E2E_HOME/run}     # etcd data, pids, logs, kubelet dirs; thrown away
K8S_E2E_CTRD=${K8S_E2E_CTRD:-$K8S_E2E_HOME/containerd}  # containerd root/state/config/socket
K8S_E2E_IMAGES=${K8S_E2E_IMAGES:-$K8S_E2E_HOME/images}  # rootfs tarballs, image stamps

# Loopback ports (unusual on purpose; start-cluster.sh refuses to start if one is taken).
ETCD_PORT=${ETCD_PORT:-12379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-12380}
APISERVER_PORT=${APISERVER_PORT:-16443}
KCM_PORT=${KCM_PORT:-20257}
SCHED_PORT=${SCHED_PORT:-20259}
KUBELET_PORT=${KUBELET_PORT:-20250}
KUBELET_HEALTHZ_PORT=${KUBELET_HEALTHZ_PORT:-20248}
PROXY_HEALTHZ_PORT=${PROXY_HEALTHZ_PORT:-20256}
PROXY_METRICS_PORT=${PROXY_METRICS_PORT:-20249}

# Cluster networks: pods on a bridge of our own, services on a range kube-proxy programs.
POD_CIDR=${POD_CIDR:-10.244.0.0/24}
SERVICE_CIDR=${SERVICE_CIDR:-10.96.0.0/16}
DNS_IP=${DNS_IP:-10.96.0.10}
CNI_BRIDGE=${CNI_BRIDGE:-icoe2e0}
NODE_NAME=${NODE_NAME:-ico-e2e}
# The bridge's gateway address: the node IP, the kubelet's and the apiserver's listen address (pods
# reach the API through the kubernetes Service, so the apiserver cannot be on loopback only, and a
# kubelet refuses a loopback node IP). Host-local traffic on the cluster's own bridge.
NODE_IP=${NODE_IP:-${POD_CIDR%.*}.1}

# Fixed by go/kube/go.mod, go/etcd/go.mod and go/coredns/go.mod: change them together.
KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
COREDNS_VERSION=v1.14.7
# Installed with `go install …@version`.
HELM_VERSION=${HELM_VERSION:-v3.22.0}
HELM4_VERSION=${HELM4_VERSION:-v4.3.2}

KUBECTL=${KUBECTL:-kubectl}
export KUBECONFIG=${KUBECONFIG_E2E:-$K8S_E2E_PKI/admin.kubeconfig}
