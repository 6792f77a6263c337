#!/bin/bash
# Starts a single-node cluster on this machine: containerd (CRI, runc, cgroupfs), etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy (iptables), a bridge
# CNI network, CoreDNS as a Deployment and a hostPath PV provisioner. etcd, KCM, the scheduler and
# kube-proxy listen on 127.0.0.1; the apiserver and the kubelet on the bridge's address (env.sh).
# Pids go to $K8S_E2E_RUN/*.pid, logs to $K8S_E2E_RUN/logs/. Needs build.sh and images.sh.
# Stop with stop-cluster.sh (also after a failed start). Prints readiness times.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
B=$K8S_E2E_BIN; P=$K8S_E2E_PKI; R=$K8S_E2E_RUN; C=$K8S_E2E_CTRD
"$E2E_DIR/make-pki.sh" || exit 1
export GOMAXPROCS=${GOMAXPROCS:-2}
ms() { date +%s%3N; }
wait_for() {  # wait_for SECONDS CMD...: retry CMD every 0.2 s
  local limit=$(($1 * 5)) n=0; shift
  until "$@" >/dev/null 2>&1; do
    n=$((n + 1)); [ "$n" -lt "$limit" ] || { echo "timed out waiting for: $*" >&2; return 1; }; sleep 0.2
  done
}
for port in "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$KCM_PORT" "$SCHED_PORT" \
            "$KUBELET_PORT" "$KUBELET_HEALTHZ_PORT" "$PROXY_HEALTHZ_PORT" "$PROXY_METRICS_PORT"; do
  if ss -Hltn "sport = :$port" | grep -q .; then echo "port $port is in use" >&2; exit 1; fi
done
for c in containerd etcd apiserver kcm sched kubelet proxy pvprov; do
  if [ -f "$R/$c.pid" ] && kill -0 "$(cat "$R/$c.pid")" 2>/dev/null; then
    echo "$c already running (pid $(cat "$R/$c.pid")); run stop-cluster.sh first" >&2; exit 1
  fi
done
rm -rf "$R"; mkdir -p "$R/logs" "$R/pv" "$C"
gw=$NODE_IP
t0=$(ms)

# Host networking the pods need; old values are kept so stop-cluster.sh can restore them.
sysctl -n net.ipv4.ip_forward > "$R/sysctl.ip_forward"
sysctl -qw net.ipv4.ip_forward=1
# The bridge is made here (not by the CNI plugin on the first pod) so the kubelet has its node IP.
if ! ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then
  ip link add "$CNI_BRIDGE" type bridge && ip addr add "$gw/${POD_CIDR#*/}" dev "$CNI_BRIDGE"
fi
ip link set "$CNI_BRIDGE" up
# Replies from a Service's pod to a pod on the same bridge must pass iptables to be un-DNATed.
sysctl -qw net.bridge.bridge-nf-call-iptables=1

# Pod network namespaces are bind-mounted under /run/netns. Make it a shared mount point now, as
# `ip netns` would: if podman/netavark does it later, it mounts over the pods' namespaces and the
# kubelet can no longer remove them ("unlinkat /var/run/netns/cni-…: device or resource busy").
mkdir -p /run/netns
mountpoint -q /run/netns || { mount --bind /run/netns /run/netns && touch "$R/made-netns-mount"; }
mount --make-shared /run/netns

# --- containerd (config written fresh each start; image store kept between runs)
mkdir -p "$C/root" "$C/state" "$C/opt" "$C/cni" "$R/cni-ipam"
containerd config default | sed \
  -e "s|^root = \"/var/lib/containerd\"|root = \"$C/root\"|" \
  -e "s|^state = \"/run/containerd\"|state = \"$C/state\"|" \
  -e "s|^  address = \"/run/containerd/containerd.sock\"|  address = \"$C/containerd.sock\"|" \
  -e "s|restrict_oom_score_adj = false|restrict_oom_score_adj = true|" \
  -e "s|sandbox_image = \".*\"|sandbox_image = \"localhost/pause:e2e\"|" \
  -e "s|bin_dir = \"/opt/cni/bin\"|bin_dir = \"/usr/lib/cni\"|" \
  -e "s|conf_dir = \"/etc/cni/net.d\"|conf_dir = \"$C/cni\"|" \
  -e "s|path = \"/opt/containerd\"|path = \"$C/opt\"|" > "$C/config.toml"
# restrict_oom_score_adj: the sandbox's oom_score_adj=-998 needs CAP_SYS_RESOURCE, which root lacks
# here ("can't get final child's PID from pipe: EOF"). The pause image is built locally.
grep -q 'restrict_oom_score_adj = true' "$C/config.toml" || { echo "containerd config edit failed" >&2; exit 1; }
cat > "$C/cni/10-ico-e2e.conflist" <<EOT
{
  "cniVersion": "1.0.0",
  "name": "ico-e2e",
  "plugins": [
    {"type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$gw"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$R/cni-ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOT
containerd --config "$C/config.toml" > "$R/logs/containerd.log" 2>&1 &
echo $! > "$R/containerd.pid"
wait_for 30 ctr --address "$C/containerd.sock" version || exit 1
echo "containerd: $(($(ms) - t0)) ms"
"$E2E_DIR/images.sh" load || exit 1
t0b=$(ms)

# --- etcd (fresh data dir; fsync off since it is thrown away)
"$B/etcd" --name e2e --data-dir "$R/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn \
  > "$R/logs/etcd.log" 2>&1 &
echo $! > "$R/etcd.pid"
wait_for 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health" || exit 1
t1=$(ms); echo "etcd healthy: $((t1 - t0b)) ms"

# On the bridge's address (see env.sh), so the endpoint reconciler publishes a usable, non-loopback
# address for the kubernetes Service.
"$B/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address="$gw" --advertise-address="$gw" --secure-port="$APISERVER_PORT" \
  --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
  --client-ca-file="$P/ca.crt" --token-auth-file="$P/tokens.csv" \
  --kubelet-client-certificate="$P/apiserver-kubelet-client.crt" --kubelet-client-key="$P/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false --v=1 > "$R/logs/apiserver.log" 2>&1 &
echo $! > "$R/apiserver.pid"
wait_for 60 "$KUBECTL" get --raw /readyz || exit 1
t2=$(ms); echo "kube-apiserver /readyz: $((t2 - t1)) ms"

"$B/kube-controller-manager" --kubeconfig="$P/kcm.kubeconfig" \
  --authentication-kubeconfig="$P/kcm.kubeconfig" --authorization-kubeconfig="$P/kcm.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$R/kcm-certs" \
  --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
  --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
  --use-service-account-credentials=true --leader-elect=false \
  --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false > "$R/logs/kcm.log" 2>&1 &
echo $! > "$R/kcm.pid"
"$B/kube-scheduler" --kubeconfig="$P/sched.kubeconfig" \
  --authentication-kubeconfig="$P/sched.kubeconfig" --authorization-kubeconfig="$P/sched.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --cert-dir="$R/sched-certs" \
  --leader-elect=false --profiling=false > "$R/logs/sched.log" 2>&1 &
echo $! > "$R/sched.pid"

# --- kubelet
mkdir -p "$R/kubelet" "$R/pod-logs"
cat > "$R/kubelet-config.yaml" <<EOT
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $gw
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$C/containerd.sock
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
podLogsDir: $R/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $P/ca.crt}
authorization: {mode: Webhook}
failSwapOn: false
# A shared CI machine's disk and memory are not the cluster's to guard: no evictions, no image GC.
evictionHard: {memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
staticPodPath: ""
EOT
"$B/kubelet" --config="$R/kubelet-config.yaml" --kubeconfig="$P/kubelet.kubeconfig" \
  --root-dir="$R/kubelet" --cert-dir="$R/kubelet/pki" --hostname-override="$NODE_NAME" \
  --node-ip="$gw" --v=1 > "$R/logs/kubelet.log" 2>&1 &
echo $! > "$R/kubelet.pid"

# --- kube-proxy (iptables mode)
cat > "$R/kube-proxy-config.yaml" <<EOT
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $P/proxy.kubeconfig}
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
nodePortAddresses: ["$gw/32"]
# Leave the host's conntrack table sizes alone (they are the machine's, not the cluster's).
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOT
"$B/kube-proxy" --config="$R/kube-proxy-config.yaml" > "$R/logs/proxy.log" 2>&1 &
echo $! > "$R/proxy.pid"

wait_for 60 curl -skf "https://127.0.0.1:$KCM_PORT/healthz" || exit 1
wait_for 60 curl -skf "https://127.0.0.1:$SCHED_PORT/healthz" || exit 1
t3=$(ms); echo "kube-controller-manager, kube-scheduler /healthz: $((t3 - t2)) ms"
wait_for 120 "$KUBECTL" wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s || {
  echo "node not Ready; tail of kubelet.log:" >&2; tail -20 "$R/logs/kubelet.log" >&2; exit 1; }
t4=$(ms); echo "node Ready: $((t4 - t3)) ms"

# --- hostPath provisioner for Pending PVCs
"$E2E_DIR/pv-provisioner.sh" > "$R/logs/pvprov.log" 2>&1 &
echo $! > "$R/pvprov.pid"

# --- CoreDNS
sed -e "s|@DNS_IP@|$DNS_IP|" "$E2E_DIR/manifests/coredns.yaml" | "$KUBECTL" apply -f - >/dev/null || exit 1
wait_for 120 "$KUBECTL" -n kube-system rollout status deploy/coredns --timeout=1s || exit 1
t5=$(ms); echo "CoreDNS ready: $((t5 - t4)) ms"
echo "cluster up: $((t5 - t0)) ms (control plane + node + DNS: $((t5 - t0b)) ms)"
